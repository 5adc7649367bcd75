"""The socket-to-handler page's claims: our server keeps the WSGI and ASGI contracts.

Oracles: `wsgiref.validate.validator` wraps the applications (it checks the app's side
and the server's side: the environ, start_response, the iterable and its close());
`wsgiref.simple_server` serves the same application, and `http.client` must get the
same status, headers and body from it and from ours; `h11` reads our raw bytes as valid
HTTP/1.1 responses.
"""

import asyncio
import gc
import http.client
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import check_environ, validator

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application import socket_to_handler as sth
from snippets.application.socket_to_handler import (
    ASGIServer,
    BadRequest,
    WsgirefServer,
    WSGIServer,
    fetch,
    hello_app,
    hello_asgi,
    make_countdown_app,
    make_environ,
    parse_head,
)
from tests import helpers
from tests.helpers import run_demo

REQUESTS = [
    ("GET", "/hello", None),
    ("GET", "/hello?name=Ada", None),
    ("GET", "/hello?name=J%C3%BCrgen&x=1", None),
    ("HEAD", "/hello?name=Ada", None),
    ("POST", "/echo", b"ping"),
    ("POST", "/echo", b""),
    ("POST", "/echo", bytes(range(256)) * 40),
    ("GET", "/missing", None),
    ("POST", "/hello", b"x"),
    ("GET", "/caf%C3%A9", None),
]


def raw_exchange(address: tuple[str, int], data: bytes) -> bytes:
    """Send raw bytes, half-close, and read until the server closes."""
    return helpers.raw_exchange(address, data, half_close=True)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def validated_servers() -> Iterator[tuple[WSGIServer, WsgirefServer]]:
    app = validator(hello_app)
    with WSGIServer(app) as ours, WsgirefServer(app) as reference:
        yield ours, reference


# ---------------------------------------------------------------------------------------
# The oracle: wsgiref.simple_server and ours answer identically, under the validator


@pytest.mark.parametrize(("method", "target", "body"), REQUESTS)
def test_ours_and_wsgiref_answer_identically_to_http_client(
    validated_servers, method: str, target: str, body: bytes | None
) -> None:
    ours, reference = validated_servers
    mine = fetch(ours.address, method, target, body)
    assert mine == fetch(reference.address, method, target, body)
    assert mine[0] in (200, 404)  # a validator failure would have been a 500


def test_asgi_app_on_our_asgi_server_answers_like_the_wsgi_app_on_wsgiref() -> None:
    with ASGIServer(hello_asgi) as ours, WsgirefServer(hello_app) as reference:
        for method, target, body in REQUESTS:
            mine = fetch(ours.address, method, target, body)
            assert mine == fetch(reference.address, method, target, body), target


def test_our_environ_passes_the_validators_environ_check() -> None:
    request = parse_head(b"GET /a%20b?q=1 HTTP/1.1\r\nHost: x\r\nContent-Type: t/p")
    environ = make_environ(request, ("127.0.0.1", 80), ("127.0.0.1", 5000))
    check_environ(environ)  # raises AssertionError on a broken environ
    assert environ["PATH_INFO"] == "/a b"
    assert environ["CONTENT_TYPE"] == "t/p"
    assert "HTTP_CONTENT_TYPE" not in environ


def environ_dump(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    keys = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING"]
    keys += ["SERVER_PROTOCOL", "HTTP_X_TRACE", "wsgi.url_scheme"]
    body = json.dumps({k: environ.get(k) for k in keys}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


@pytest.mark.parametrize(
    "target", ["/", "/caf%C3%A9/x", "/a%2Fb?x=%20y&z", "/%FF?%FF", "/p;param"]
)
def test_environ_matches_wsgirefs_for_the_same_request(target: str) -> None:
    """PEP 3333: PATH_INFO holds the decoded bytes as latin-1, QUERY_STRING stays raw."""
    app = validator(environ_dump)
    with WSGIServer(app) as ours, WsgirefServer(app) as reference:
        answers = []
        for server in (ours, reference):
            conn = http.client.HTTPConnection(*server.address, timeout=5)
            conn.request("GET", target, headers={"X-Trace": "t-1"})
            answers.append(json.loads(conn.getresponse().read()))
            conn.close()
    assert answers[0] == answers[1]


def test_path_info_is_utf8_bytes_seen_as_latin1() -> None:
    request = parse_head(b"GET /caf%C3%A9 HTTP/1.1\r\nHost: x")
    environ = make_environ(request, ("h", 1), ("c", 2))
    assert environ["PATH_INFO"] == "/caf\u00c3\u00a9"
    assert environ["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café"


@pytest.mark.parametrize(("lines", "length"), [([], 0), (["5"], 5), (["0"], 0)])
def test_content_length_is_one_field_of_digits(lines, length) -> None:
    headers = [("Content-Length", line) for line in lines]
    assert sth.body_length(headers) == length


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        (["5", "5"], 400),
        (["5, 5"], 400),
        (["+5"], 400),
        (["²"], 400),
        (["9" * 99], 413),
    ],
)
def test_content_length_follows_the_one_site_wide_rule(lines, status) -> None:
    """The messages page's parser: even identical repeats are refused (stricter than
    RFC 9112 section 6.3 requires, and listed there as a deliberate difference)."""
    headers = [("Content-Length", line) for line in lines]
    with pytest.raises(sth.BadRequest) as refused:
        sth.body_length(headers)
    assert refused.value.status == status


def test_header_names_with_underscores_are_dropped_and_repeats_joined() -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Real-IP: 1.2.3.4\r\nX_Real_IP: 6.6.6.6\r\nA: 1\r\nA: 2"
    environ = make_environ(parse_head(head), ("h", 1), ("c", 2))
    assert environ["HTTP_X_REAL_IP"] == "1.2.3.4"
    assert environ["HTTP_A"] == "1,2"


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
        with socket.create_connection(ours.address, timeout=5) as sock:
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
        conn = http.client.HTTPConnection(*ours.address, timeout=5)
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

BAD_INPUT = [
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET /\r\nHost: a\r\n\r\n", 400),
    (b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xb2\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nshort", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\n", 400),  # closed inside the head
]


@pytest.fixture(scope="module")
def plain_server() -> Iterator[WSGIServer]:
    with WSGIServer(validator(hello_app)) as server:
        yield server


@pytest.mark.parametrize(("data", "status"), BAD_INPUT)
def test_bad_input_gets_a_4xx_or_5xx_and_a_close(
    plain_server, data: bytes, status: int
) -> None:
    assert status_of(raw_exchange(plain_server.address, data)) == status


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[ASGIServer]:
    with ASGIServer(hello_asgi) as server:
        yield server


@pytest.mark.parametrize(("data", "status"), BAD_INPUT)
def test_the_asgi_server_refuses_bad_input_the_same_way(
    asgi_server, data: bytes, status: int
) -> None:
    assert status_of(raw_exchange(asgi_server.address, data)) == status


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
        with socket.create_connection(ours.address, timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")  # and then nothing
            answer = sock.recv(4096)
        elapsed = time.monotonic() - started
    assert status_of(answer) == 408
    assert elapsed < 3  # 0.3 s promised; a wide margin for a busy machine


def test_the_asgi_server_also_times_out_a_silent_client() -> None:
    with (
        ASGIServer(hello_asgi, timeout=0.3) as ours,
        socket.create_connection(ours.address, timeout=5) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\n")
        assert status_of(sock.recv(4096)) == 408


def test_beyond_max_connections_the_server_answers_503() -> None:
    with WSGIServer(hello_app, max_connections=1) as ours:
        with socket.create_connection(ours.address, timeout=5) as first:
            first.sendall(b"GET / HTTP/1.1\r\n")  # holds the only slot
            with socket.create_connection(ours.address, timeout=5) as second:
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
        conn = http.client.HTTPConnection(*server.address, timeout=5)
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
        conn = http.client.HTTPConnection(*server.address, timeout=5)
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


# ---------------------------------------------------------------------------------------
# The parser: property tests

token = st.text(alphabet="!#$%&'*+-.^_`|~abcXYZ019", min_size=1, max_size=12)
value = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20
)


@settings(max_examples=100)
@given(
    method=token,
    path=st.text(alphabet="abc/%?=&", max_size=20),
    fields=st.lists(st.tuples(token, value), max_size=8),
)
def test_a_well_formed_head_parses_back_to_its_parts(method, path, fields) -> None:
    fields = [("Host", "example")] + [(n, v) for n, v in fields if n.lower() != "host"]
    lines = [f"{method} /{path} HTTP/1.1"] + [f"{n}: {v}" for n, v in fields]
    request = parse_head("\r\n".join(lines).encode("latin-1"))
    assert (request.method, request.target, request.headers) == (
        method,
        "/" + path,
        fields,
    )


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_any_bytes_either_parse_or_raise_bad_request(data: bytes) -> None:
    def outcome() -> int | str:
        try:
            return parse_head(data).target
        except BadRequest as error:  # anything else fails the test
            return error.status

    result = outcome()
    assert result in (400, 431, 505) or str(result).startswith("/")


def test_the_demo_prints_what_the_page_shows() -> None:
    result = run_demo("snippets.application.socket_to_handler", check=True)
    assert result.stdout.splitlines()[:4] == [
        "200 b'hello, Ada\\n' True",
        "200 b'ping' True",
        "404 b'not found\\n' True",
        "200 False ['3', '2', '1', 'liftoff'] ['closed']",
    ]
    assert result.stderr == ""


def test_nothing_is_left_for_the_garbage_collector_to_complain_about() -> None:
    """The validator's iterator asserts in __del__ if close() was never called."""
    events: list[str] = []
    with WSGIServer(validator(make_countdown_app(events))) as ours:
        for _ in range(3):
            fetch(ours.address, "GET", "/")
    gc.collect()
    assert events == ["closed"] * 3
    assert sth.TIMEOUT > 0


def test_a_slow_drip_client_is_cut_off_by_the_deadline_for_the_whole_request() -> None:
    """Slowloris: one byte at a time, each well inside the timeout, still gets a 408."""
    with WSGIServer(hello_app, timeout=0.5) as ours:
        started = time.monotonic()
        with socket.create_connection(ours.address, timeout=5) as sock:
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


def test_wsgi_errors_go_to_the_server_log(caplog) -> None:
    def noisy(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.errors"].writelines(["cache miss\n", "\n"])
        environ["wsgi.errors"].flush()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with WSGIServer(validator(noisy)) as ours:
        assert fetch(ours.address, "GET", "/")[0] == 200
    assert "application: cache miss" in caplog.text
