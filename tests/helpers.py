"""Helpers that several test files share."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import strategies as st

from tests.site.docs_tools import ROOT

TIMEOUT = 5.0  # seconds any test waits on a socket: a server that never answers fails


# Any JSON value (integers within the range every JSON parser keeps exact), nested a
# little: for round trips through JSON writers and readers.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def require_tool(name: str, package: str) -> str:
    """The path of a system tool an oracle test runs (haproxy, wrk, promtool...).

    Without it the test skips with the command that installs it, except in CI
    (CI=true), where a missing tool fails: `.ci/run` installs every one of them,
    so a skip there would hide a comparison that was never made.
    """
    path = shutil.which(name)
    if path:
        return path
    how = f"{name} is not installed (apt-get install -y {package})"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the tests that need {name}, but {how}")
    pytest.skip(how)


def run_demo(
    module: str, timeout: float = 60, *, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `python -X dev -W error -m <module>` from the repository root, as a reader would
    (with every warning an error); return the finished process, output as text.
    With `check`, a non-zero exit raises CalledProcessError."""
    return subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-m", module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def raw_exchange(
    address: tuple[str, int], data: bytes, *, half_close: bool = False
) -> bytes:
    """Send raw bytes to a server on loopback and read until it closes the connection.

    A socket timeout (TIMEOUT) means a server that never answers fails the test, never
    hangs it. `half_close` shuts our sending side after the bytes, for servers that read
    to EOF.
    """
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class Reply:
    """A whole HTTP response, as the shared test client read it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of a header field (any case), repeats joined by ", ", or None."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def header_list(self, name: str) -> list[str]:
        """Every value of a header field, in order (for Set-Cookie)."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def address_of(server: Any) -> tuple[str, int]:
    """A (host, port) pair from a server object or a pair already."""
    if isinstance(server, tuple):
        return server[0], server[1]
    for name in ("server_address", "address"):
        if hasattr(server, name):
            host, port = getattr(server, name)[:2]
            return host, port
    raise TypeError(f"no address on {server!r}")


def http_request(
    server: Any,
    method: str,
    target: str,
    *,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] | dict[str, str] = (),
    timeout: float = TIMEOUT,
) -> Reply:
    """The one HTTP test client: one request on a new http.client connection.

    `server` is anything `address_of` reads. Headers may repeat (a list of pairs).
    Content-Length is sent for a body, and for POST, PUT and PATCH without one.
    """
    host, port = address_of(server)
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        names = {name.lower() for name, _ in pairs}
        connection.putrequest(
            method, target, skip_host="host" in names, skip_accept_encoding=True
        )
        for name, value in pairs:
            connection.putheader(name, value)
        if "content-length" not in names and (
            body or method in ("POST", "PUT", "PATCH")
        ):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        reply = connection.getresponse()
        return Reply(reply.status, reply.getheaders(), reply.read())
    finally:
        connection.close()


def collected(*args: str) -> list[str]:
    """The test ids pytest would run, in its order, for these arguments."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "::" in line]
