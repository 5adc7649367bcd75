"""`wsgi_server`'s claims: the WSGI contract kept, every failure answered or closed.

Oracles: `wsgiref.validate.validator` wraps the applications (it checks the server's
side: the environ, start_response, the iterable and its close()); `http.client` reads
the answers and notices a body cut short; `h11` reads our raw bytes as valid HTTP/1.1
responses. Malformed, oversized and slow input goes over real sockets.
"""

import gc
import http.client
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import h11
import pytest

from snippets.application.socket_to_handler.request_reading import TIMEOUT
from snippets.application.socket_to_handler.wsgi_apps import (
    fetch,
    hello_app,
    make_countdown_app,
)
from snippets.application.socket_to_handler.wsgi_server import WSGIServer
from tests import helpers


def raw_exchange(address: tuple[str, int], data: bytes) -> bytes:
    """Send raw bytes, half-close, and read until the server closes."""
    return helpers.raw_exchange(address, data, half_close=True)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


# ---------------------------------------------------------------------------------------
# The iterable body and close()


def test_close_is_called_and_a_body_without_length_ends_with_the_connection() -> None:
    events: list[str] = []
    with WSGIServer(validator(make_countdown_app(events))) as ours:
        status, headers, body = fetch(ours.address, "GET", "/")
    assert (status, body) == (200, b"3\n2\n1\nliftoff\n")
    assert "content-length" not in headers
    assert events == ["closed"]


def test_close_is_called_when_the_client_leaves_halfway() -> None:
    closed = threading.Event()

    def endless(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        try:
            for _ in range(1000):
                yield b"x" * 65536
        finally:
            closed.set()

    with WSGIServer(validator(endless)) as ours:
        with socket.create_connection(ours.address, timeout=TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200 OK")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        assert closed.wait(5), "the server never called close()"


def test_a_one_item_list_gets_a_content_length_from_the_server() -> None:
    def bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"twelve bytes"]

    with WSGIServer(bare) as ours:
        assert fetch(ours.address, "GET", "/")[1]["content-length"] == "12"


def test_an_empty_body_still_gets_its_head() -> None:
    def empty(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("204 No Content", [])
        return []

    with WSGIServer(validator(empty)) as ours:
        assert fetch(ours.address, "GET", "/")[0] == 204


def test_write_callable_sends_before_the_iterable() -> None:
    def legacy(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written, ")
        return [b"then returned"]

    with WSGIServer(validator(legacy)) as ours:
        assert fetch(ours.address, "GET", "/")[2] == b"written, then returned"


def test_nothing_is_left_for_the_garbage_collector_to_complain_about() -> None:
    """The validator's iterator asserts in __del__ if close() was never called."""
    events: list[str] = []
    with WSGIServer(validator(make_countdown_app(events))) as ours:
        for _ in range(3):
            fetch(ours.address, "GET", "/")
    gc.collect()
    assert events == ["closed"] * 3
    assert TIMEOUT > 0


# ---------------------------------------------------------------------------------------
# Errors: a 500 that leaks nothing; exc_info; a broken response


def test_an_exception_becomes_a_500_with_no_internals_and_is_logged(caplog) -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise KeyError("secret_column")

    with WSGIServer(broken) as ours:
        status, _, body = fetch(ours.address, "GET", "/")
    assert (status, body) == (500, b"500 Internal Server Error\n")
    assert "secret_column" in caplog.text  # in the log, not in the answer


def test_exc_info_replaces_the_status_before_the_head_is_sent() -> None:
    def recovering(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "text/plain")],
                sys.exc_info(),
            )
        return [b"try later"]

    with WSGIServer(validator(recovering)) as ours:
        assert fetch(ours.address, "GET", "/")[::2] == (503, b"try later")


def test_exc_info_after_the_head_is_sent_re_raises_and_cuts_the_body(caplog) -> None:
    def failing_late(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")]
        )
        yield b"12345"
        try:
            raise ValueError("disk gone")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())

    with WSGIServer(failing_late) as ours:
        conn = http.client.HTTPConnection(*ours.address, timeout=TIMEOUT)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead):
            response.read()  # 5 of the 10 bytes promised: the client can tell
        conn.close()
    assert "disk gone" in caplog.text


@pytest.mark.parametrize(
    "misuse",
    [
        "start_response twice",
        "body before start_response",
        "CR LF in a header",
    ],
)
def test_contract_violations_by_the_app_become_500(misuse: str, caplog) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        if misuse == "body before start_response":
            yield b"early"
        headers = [("Content-Type", "text/plain")]
        if misuse == "CR LF in a header":
            headers.append(("Set-Cookie", "a=1\r\nX-Injected: yes"))
        start_response("200 OK", headers)
        if misuse == "start_response twice":
            start_response("200 OK", headers)
        yield b"ok"

    with WSGIServer(app) as ours:
        assert fetch(ours.address, "GET", "/")[0] == 500
    assert "application error" in caplog.text


# ---------------------------------------------------------------------------------------
# Bad input, limits and timeouts: a 4xx, never a crash or a hang


@pytest.fixture(scope="module")
def plain_server() -> Iterator[WSGIServer]:
    with WSGIServer(validator(hello_app)) as server:
        yield server


def test_bad_input_gets_a_4xx_or_5xx_and_a_close(
    plain_server, bad_input: tuple[bytes, int]
) -> None:
    data, status = bad_input
    assert status_of(raw_exchange(plain_server.address, data)) == status


def test_h11_reads_our_error_and_success_responses_as_valid_http() -> None:
    with WSGIServer(validator(hello_app)) as ours:
        for data, status in [
            (b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ]:
            client = h11.Connection(our_role=h11.CLIENT)
            client.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
            client.receive_data(raw_exchange(ours.address, data))
            response = client.next_event()
            assert isinstance(response, h11.Response)
            assert response.status_code == status
            assert dict(response.headers)[b"connection"] == b"close"


def test_a_silent_client_gets_408_after_the_timeout() -> None:
    with WSGIServer(hello_app, timeout=0.3) as ours:
        started = time.monotonic()
        with socket.create_connection(ours.address, timeout=TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")  # and then nothing
            answer = sock.recv(4096)
        elapsed = time.monotonic() - started
    assert status_of(answer) == 408
    assert elapsed < 3  # 0.3 s promised; a wide margin for a busy machine


def test_a_slow_drip_client_is_cut_off_by_the_deadline_for_the_whole_request() -> None:
    """Slowloris: one byte at a time, each well inside the timeout, still gets a 408."""
    with WSGIServer(hello_app, timeout=0.5) as ours:
        started = time.monotonic()
        with socket.create_connection(ours.address, timeout=TIMEOUT) as sock:
            answer = b""
            for byte in b"GET / HTTP/1.1\r\nX-Drip: " + b"a" * 1000:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                ready, _, _ = select.select([sock], [], [], 0.02)
                if ready:
                    answer = sock.recv(4096)
                    break
        elapsed = time.monotonic() - started
    assert status_of(answer) == 408
    assert elapsed < 4


def test_beyond_max_connections_the_server_answers_503() -> None:
    with WSGIServer(hello_app, max_connections=1) as ours:
        with socket.create_connection(ours.address, timeout=TIMEOUT) as first:
            first.sendall(b"GET / HTTP/1.1\r\n")  # holds the only slot
            with socket.create_connection(ours.address, timeout=TIMEOUT) as second:
                assert status_of(second.recv(4096)) == 503
        # once the first connection is gone, its slot is free again
        with ours.lock:
            workers = list(ours.workers)
        for worker in workers:
            worker.join(5)
        assert fetch(ours.address, "GET", "/hello")[0] == 200


def test_a_connection_closed_without_a_request_is_not_answered(plain_server) -> None:
    assert raw_exchange(plain_server.address, b"") == b""


def test_closing_the_server_closes_its_socket_and_threads() -> None:
    before = set(threading.enumerate())
    with WSGIServer(hello_app) as ours:
        fetch(ours.address, "GET", "/hello")
        started = set(threading.enumerate()) - before
        assert started  # at least the accept loop
    assert ours.listener.fileno() == -1
    # the threads this server started are joined; other tests' threads may come and go meanwhile
    assert not started & set(threading.enumerate())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(ours.address, timeout=2).close()
