"""`asgi_server`'s claims: the ASGI contract kept, with the same answers as WSGI.

Oracles: `hello_app` on `wsgiref.simple_server` is the reference that `hello_asgi` on
our server must match for `http.client`; the scope, the receive events and the send
order are checked against the ASGI HTTP specification; bad input gets the same status
as from the WSGI server.
"""

import asyncio
import http.client
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from snippets.application.socket_to_handler.asgi_server import ASGIServer, hello_asgi
from snippets.application.socket_to_handler.wsgi_apps import (
    WsgirefServer,
    fetch,
    hello_app,
)
from tests import helpers
from tests.helpers import TIMEOUT


def raw_exchange(address: tuple[str, int], data: bytes) -> bytes:
    """Send raw bytes, half-close, and read until the server closes."""
    return helpers.raw_exchange(address, data, half_close=True)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_asgi_app_on_our_asgi_server_answers_like_the_wsgi_app_on_wsgiref(
    reference_requests: list[tuple[str, str, bytes | None]],
) -> None:
    with ASGIServer(hello_asgi) as ours, WsgirefServer(hello_app) as reference:
        for method, target, body in reference_requests:
            mine = fetch(ours.address, method, target, body)
            assert mine == fetch(reference.address, method, target, body), target


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[ASGIServer]:
    with ASGIServer(hello_asgi) as server:
        yield server


def test_the_asgi_server_refuses_bad_input_the_same_way(
    asgi_server, bad_input: tuple[bytes, int]
) -> None:
    data, status = bad_input
    assert status_of(raw_exchange(asgi_server.address, data)) == status


def test_the_asgi_server_also_times_out_a_silent_client() -> None:
    with (
        ASGIServer(hello_asgi, timeout=0.3) as ours,
        socket.create_connection(ours.address, timeout=TIMEOUT) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\n")
        assert status_of(sock.recv(4096)) == 408


def test_the_asgi_server_stops_its_loop_and_thread() -> None:
    with ASGIServer(hello_asgi) as ours:
        fetch(ours.address, "GET", "/hello")
    assert not ours.thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(ours.address, timeout=2).close()


# ---------------------------------------------------------------------------------------
# ASGI: scope, receive, send


def test_the_scope_has_bytes_where_asgi_wants_bytes() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)
        seen["first"] = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        seen["after"] = await receive()  # the response is out: a disconnect

    with ASGIServer(app) as server:
        conn = http.client.HTTPConnection(*server.address, timeout=TIMEOUT)
        conn.request("PUT", "/caf%C3%A9?x=%20", body=b"data", headers={"X-A": "1"})
        assert conn.getresponse().read() == b"ok"
        conn.close()
    assert seen["path"] == "/café"
    assert seen["raw_path"] == b"/caf%C3%A9"
    assert seen["query_string"] == b"x=%20"
    assert (b"x-a", b"1") in seen["headers"]
    assert seen["first"] == {
        "type": "http.request",
        "body": b"data",
        "more_body": False,
    }
    assert seen["after"] == {"type": "http.disconnect"}
    assert seen["asgi"]["version"] == "3.0"


def test_a_streamed_asgi_body_ends_with_the_connection() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"a", b"b", b""):
            await send(
                {"type": "http.response.body", "body": part, "more_body": bool(part)}
            )

    with ASGIServer(app) as server:
        status, headers, body = fetch(server.address, "GET", "/")
    assert (status, body, "content-length" in headers) == (200, b"ab", False)


async def raises(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise KeyError("secret_column")


async def body_first(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.body", "body": b"x"})


async def unfinished(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


@pytest.mark.parametrize("app", [raises, body_first, unfinished])
def test_a_failing_or_misbehaving_asgi_app_gets_a_500(app: Any, caplog) -> None:
    with ASGIServer(app) as server:
        status, _, body = fetch(server.address, "GET", "/")
    assert (status, body) == (500, b"500 Internal Server Error\n")
    assert "application error" in caplog.text


def test_an_asgi_failure_after_the_head_cuts_the_body(caplog) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-length", b"10")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"12345", "more_body": True})
        raise RuntimeError("upstream gone")

    with ASGIServer(app) as server:
        conn = http.client.HTTPConnection(*server.address, timeout=TIMEOUT)
        conn.request("GET", "/")
        with pytest.raises(http.client.IncompleteRead):
            conn.getresponse().read()
        conn.close()


def test_the_asgi_server_serves_concurrent_requests_on_one_thread() -> None:
    gate = asyncio.Event()
    arrived = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == 5:
            gate.set()
        await asyncio.wait_for(gate.wait(), 5)  # all five must be in flight at once
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"together"})

    with ASGIServer(app) as server:
        results: list[bytes] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(fetch(server.address, "GET", "/")[2])
            )
            for _ in range(5)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert results == [b"together"] * 5
