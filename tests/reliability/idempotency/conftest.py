"""What the idempotency package's tests share: a database file, a way to count
its charges, and a client that POSTs a charge with a key."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from snippets.application.app_core import Response, call
from tests.helpers import raw_exchange

KEY = '"8e03978e-40d5-43e8-bc93-6894a57f9324"'
PAY = b'{"amount_cents": 500}'


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "charges.db")


@pytest.fixture
def charges(path: str) -> Callable[[], list[tuple[int, int]]]:
    """The rows of the charges table, read through a connection of its own."""

    def rows() -> list[tuple[int, int]]:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return conn.execute("SELECT id, amount_cents FROM charges").fetchall()

    return rows


@pytest.fixture
def post() -> Callable[..., Response]:
    def post(server, key: str = KEY, body: bytes = PAY) -> Response:
        return call(server, "POST", "/charges", body, [("Idempotency-Key", key)])

    return post


@pytest.fixture
def raw_post() -> Callable[..., bytes]:
    def raw_post(server, key: str = KEY, body: bytes = PAY) -> bytes:
        """The whole answer, as bytes off the socket."""
        head = (
            f"POST /charges HTTP/1.1\r\nHost: t\r\nIdempotency-Key: {key}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        return raw_exchange(server.server_address, head + body)

    return raw_post
