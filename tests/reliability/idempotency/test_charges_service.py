"""What the charges service claims, over HTTP on loopback: 400 without a key, 422
stored like a result, and 50 concurrent POSTs with one key that charge once."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from snippets.application.app_core import Request, Response, call, serving
from snippets.reliability.idempotency import charges_service as cs
from tests.helpers import TIMEOUT

KEY = '"8e03978e-40d5-43e8-bc93-6894a57f9324"'
PAY = b'{"amount_cents": 500}'


def test_the_operation_refuses_a_missing_or_malformed_key_with_400(
    path, charges
) -> None:
    with serving(cs.charges_app(path)) as server:
        for headers in ([], [("Idempotency-Key", "no-quotes")]):
            reply = call(server, "POST", "/charges", PAY, headers)
            assert reply.status == 400
            assert reply.header("Link") == f'<{cs.DOCS}>; rel="describedby"'
        assert call(server, "GET", "/charges").status == 404
    assert charges() == []


def test_a_validation_error_is_a_result_stored_and_replayed(
    path, charges, post
) -> None:
    with serving(cs.charges_app(path)) as server:
        bad = b'{"amount_cents": -5}'
        first, again = post(server, body=bad), post(server, body=bad)
    assert first.status == again.status == 422
    assert first == again
    assert charges() == []


@pytest.mark.parametrize(
    "body", [b"{", b"[]", b'{"amount_cents": "5"}', b'{"amount_cents": true}']
)
def test_bodies_that_are_not_a_positive_amount_are_422(path, body: bytes, post) -> None:
    with serving(cs.charges_app(path)) as server:
        assert post(server, body=body).status == 422


@pytest.mark.timeout(60)
def test_50_concurrent_posts_with_one_key_charge_once_and_replay_the_same_bytes(
    path, charges, post, raw_post
) -> None:
    """The first claimant stands still until the other 49 have been answered, so
    every one of them really overlaps it: exactly 49 must be 409."""
    answered, runs = threading.Semaphore(0), []

    def hold_the_first(point: str) -> None:
        if point == "claimed":
            runs.append(point)
            for _ in range(49):
                assert answered.acquire(timeout=4 * TIMEOUT)

    def attempt(server) -> Response:
        reply = post(server)
        if reply.status != 201:
            answered.release()
        return reply

    app = cs.charges_app(path, checkpoint=hold_the_first)
    with serving(app) as server, ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(attempt, [server] * 50))
        replays = {raw_post(server) for _ in range(3)}
    assert Counter(reply.status for reply in replies) == {201: 1, 409: 49}
    assert all(r.header("Retry-After") for r in replies if r.status == 409)
    assert runs == ["claimed"]
    assert charges() == [(1, 500)]
    assert len(replays) == 1
    (replay,) = replays
    assert replay.startswith(b"HTTP/1.1 201 ")
    assert replay.endswith(b'{"id": 1, "amount_cents": 500}')


def test_a_request_that_is_not_the_operation_is_not_claimed(path) -> None:
    app = cs.charges_app(path)
    reply = app(Request("POST", "/refunds", headers=[("Idempotency-Key", KEY)]))
    assert reply.status == 404
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM idempotency_keys").fetchone() == (0,)
