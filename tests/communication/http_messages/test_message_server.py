"""The server page's claims: real clients get correct answers; bad input gets a 4xx.

Oracles: `http.client` and `urllib.request` talk to the server over loopback and must
get the right status and body, on one kept-alive connection where they allow it.
Malformed, oversized, slow and random input is sent over real sockets: the server must
answer with one well-formed 4xx or 5xx (read back with `http.client`) and close the
connection, within a timeout, and then go on serving.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from snippets.communication.http_messages.message_parser import (
    HTTPError,
    Limits,
    Parser,
    collect,
)
from snippets.communication.http_messages.message_server import (
    MessageServer,
    Request,
    Response,
    echo,
    raw_exchange,
    running,
    serve_connection,
    wants_keep_alive,
)
from tests.helpers import TIMEOUT, run_demo


@pytest.fixture(scope="module")
def server() -> Iterator[MessageServer]:
    """One server for the module (hypothesis reuses it across examples)."""
    with running(echo, timeout=2.0) as server:
        yield server


def address(server: MessageServer) -> tuple[str, int]:
    host, port = server.server_address[:2]
    return host, port


class Stream(io.BytesIO):
    """Bytes that http.client reads responses from, one after the other."""

    def close(self) -> None:
        """http.client closes its file after each response; keep it for the next."""

    def makefile(self, mode: str) -> Stream:  # what HTTPResponse asks a socket for
        return self


def read_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Read every response in `data` with http.client, the oracle for our bytes."""
    stream, found = Stream(data), []
    while stream.tell() < len(data):
        response = http.client.HTTPResponse(stream)  # type: ignore[arg-type]
        response.begin()
        found.append((response.status, dict(response.getheaders()), response.read()))
    return found


def exchange(server: MessageServer, data: bytes) -> bytes:
    """Send bytes, keep our side open, read until the server closes (or time out)."""
    with socket.create_connection(address(server), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# --- Real clients ---------------------------------------------------------------------


def test_http_client_gets_correct_answers_on_one_kept_alive_connection() -> None:
    with running(echo) as server:
        client = http.client.HTTPConnection(*address(server), timeout=TIMEOUT)
        try:
            answers = []
            for method, path, body in [
                ("GET", "/a?x=1", None),
                ("POST", "/orders", b'{"qty": 2}'),
                ("PUT", "/b", b"x" * 100_000),
            ]:
                client.request(method, path, body=body)
                reply = client.getresponse()
                answers.append((reply.status, reply.read()))
            first_socket = client.sock
            client.request("DELETE", "/c")
            reply = client.getresponse()
            answers.append((reply.status, reply.read()))
            assert client.sock is first_socket
        finally:
            client.close()
        assert server.connections == 1  # four requests, one connection
    assert answers == [
        (200, b"GET /a?x=1\n"),
        (200, b'POST /orders\n{"qty": 2}'),
        (200, b"PUT /b\n" + b"x" * 100_000),
        (200, b"DELETE /c\n"),
    ]


def test_http_client_sends_a_chunked_body_and_it_arrives_whole(
    server: MessageServer,
) -> None:
    client = http.client.HTTPConnection(*address(server), timeout=TIMEOUT)
    try:
        client.request("POST", "/up", body=iter([b"Hello, ", b"", b"world"]))
        reply = client.getresponse()
        assert (reply.status, reply.read()) == (200, b"POST /up\nHello, world")
    finally:
        client.close()


def test_a_head_response_has_the_fields_but_no_content(server: MessageServer) -> None:
    client = http.client.HTTPConnection(*address(server), timeout=TIMEOUT)
    try:
        client.request("HEAD", "/x")
        reply = client.getresponse()
        assert reply.read() == b""
        assert reply.getheader("Content-Length") == str(len(b"HEAD /x\n"))
        client.request("GET", "/y")  # the connection is still in step
        assert client.getresponse().read() == b"GET /y\n"
    finally:
        client.close()


def test_urllib_gets_correct_answers_and_the_server_closes_as_asked(
    server: MessageServer,
) -> None:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({})
    )  # loopback only
    host, port = address(server)
    with opener.open(f"http://{host}:{port}/hello", timeout=TIMEOUT) as reply:
        assert (reply.status, reply.read()) == (200, b"GET /hello\n")
        assert reply.headers["Connection"] == "close"  # urllib sent Connection: close
    with opener.open(
        f"http://{host}:{port}/form", data=b"a=1", timeout=TIMEOUT
    ) as reply:
        assert reply.read() == b"POST /form\na=1"


# --- Bad input over real sockets ------------------------------------------------------

GOOD = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
BAD_INPUT = {
    "space before colon": (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400),
    "TE and CL": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "field name not a token": (b"GET / HTTP/1.1\r\nHost: a\r\nX@Y: 1\r\n\r\n", 400),
    "no Host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "TLS hello on a plain port": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    "request line too long": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n", 414),
    "header section too large": (
        b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 20_000 + b"\r\n\r\n",
        431,
    ),
    "too many fields": (
        b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 101 + b"\r\n",
        431,
    ),
    "declared body too large": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n"
        + b"x" * 10_000,
        413,
    ),
    "chunk too large": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n",
        413,
    ),
    "unknown transfer coding": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
}


@pytest.mark.parametrize(("data", "status"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_gets_one_error_response_and_the_connection_closed(
    server: MessageServer, data: bytes, status: int
) -> None:
    started = time.monotonic()
    answer = exchange(server, data)  # returns only once the server has closed
    assert time.monotonic() - started < TIMEOUT
    [(got, fields, body)] = read_responses(answer)
    assert got == status
    assert fields["Connection"] == "close"
    assert body.startswith(str(status).encode())


def test_after_an_error_the_requests_before_it_were_answered(
    server: MessageServer,
) -> None:
    answer = exchange(server, GOOD + GOOD + b"GET / HTTP/1.1\r\nHost : a\r\n\r\n")
    assert [status for status, _, _ in read_responses(answer)] == [200, 200, 400]


def test_a_client_that_stops_halfway_gets_408_and_a_close() -> None:
    with running(echo, timeout=0.3) as server:
        started = time.monotonic()
        answer = exchange(server, b"GET / HTTP/1.1\r\nHost: a\r\n")
        assert time.monotonic() - started < 3
    assert [status for status, _, _ in read_responses(answer)] == [408]


def test_a_client_that_trickles_bytes_is_cut_off_at_the_deadline() -> None:
    """The deadline is for the whole request, not for each recv: slowloris loses."""
    with running(echo, timeout=0.3) as server:
        started, answer = time.monotonic(), b""
        with socket.create_connection(address(server), timeout=TIMEOUT) as sock:
            for byte in GOOD[:-2]:  # never complete, one byte every ~100 ms
                try:
                    sock.sendall(bytes([byte]))
                    sock.settimeout(0.1)
                    answer += sock.recv(65536)  # the pace, and a look for an answer
                except TimeoutError:
                    continue
                except OSError:
                    break
                if answer:
                    break
            sock.settimeout(TIMEOUT)
            while chunk := sock.recv(65536):
                answer += chunk
        elapsed = time.monotonic() - started
    assert read_responses(answer)[0][0] == 408
    assert elapsed < 2.0 < len(GOOD[:-2]) * 0.1  # cut off long before it finished


def test_an_idle_connection_is_closed_without_an_answer() -> None:
    with running(echo, timeout=0.2) as server:
        assert exchange(server, b"") == b""


def test_expect_100_continue_gets_100_before_the_body_is_sent(
    server: MessageServer,
) -> None:
    head = b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
    head += b"Expect: 100-continue\r\n\r\n"
    with socket.create_connection(address(server), timeout=TIMEOUT) as sock:
        sock.sendall(head)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"ok")
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert read_responses(answer)[0][2] == b"POST /e\nok"


def test_expect_100_continue_with_a_body_too_large_gets_413_instead(
    server: MessageServer,
) -> None:
    head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999\r\n"
    answer = exchange(server, head + b"Expect: 100-continue\r\n\r\n")
    assert [status for status, _, _ in read_responses(answer)] == [413]


def test_a_failing_handler_gives_500_and_the_server_keeps_serving() -> None:
    def handler(request: Request) -> Response:
        if request.target == "/boom":
            raise RuntimeError("a bug in the handler")
        return Response(200, b"fine")

    with running(handler) as server:
        boom = exchange(server, b"GET /boom HTTP/1.1\r\nHost: a\r\n\r\n")
        fine = raw_exchange(*address(server), GOOD)
    status, fields, _ = read_responses(boom)[0]
    assert (status, fields["Connection"]) == (500, "close")
    assert read_responses(fine)[0][2] == b"fine"


def test_the_server_frames_the_response_whatever_framing_the_handler_set() -> None:
    """A handler that passes on another response's fields (a proxy) must not produce
    two Content-Lengths, a Transfer-Encoding it does not apply, or its own Connection."""

    def proxying(request: Request) -> Response:
        framing = [
            ("Content-Length", "999"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "keep-alive"),
            ("X-Kept", "yes"),
        ]
        return Response(200, b"body", framing)

    with running(proxying) as server:
        answer = raw_exchange(*address(server), GOOD)
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.count(b"content-length:") == 1
    assert b"content-length: 4" in head
    assert b"transfer-encoding" not in head
    assert b"x-kept: yes" in head
    assert read_responses(answer)[0][2] == b"body"


def test_http10_keeps_the_connection_only_when_asked() -> None:
    with running(echo) as server:
        kept = b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        answer = raw_exchange(*address(server), kept + b"GET /2 HTTP/1.0\r\n\r\n")
    (_, first, _), (_, second, body) = read_responses(answer)
    assert first["Connection"] == "keep-alive"
    assert (second["Connection"], body) == ("close", b"GET /2\n")


@pytest.mark.parametrize(
    ("version", "connection", "keep"),
    [
        ("HTTP/1.1", None, True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "Keep-Alive, Close", False),
        ("HTTP/1.0", None, False),
        ("HTTP/1.0", "keep-alive", True),
    ],
)
def test_persistence_follows_rfc_9112_section_9_3(
    version: str, connection: str | None, keep: bool
) -> None:
    headers = [("Connection", connection)] if connection else []
    assert wants_keep_alive(Request("GET", "/", version, headers, b"")) is keep


def test_one_connection_serves_at_most_max_requests() -> None:
    ours, theirs = socket.socketpair()

    def serve_then_stop_sending() -> None:
        serve_connection(ours, echo, Limits(), TIMEOUT, max_requests=2)
        ours.shutdown(socket.SHUT_WR)

    with ours, theirs:
        worker = threading.Thread(target=serve_then_stop_sending)
        worker.start()
        theirs.sendall(GOOD * 3)
        theirs.settimeout(TIMEOUT)
        answer = b""
        while chunk := theirs.recv(65536):
            answer += chunk
        worker.join(TIMEOUT)
    assert [fields.get("Connection") for _, fields, _ in read_responses(answer)] == [
        None,
        "close",
    ]


HTTPISH = [b"GET ", b"POST ", b"/", b" HTTP/1.1", b"\r\n", b"Host: a", b": ", b"\r"]
HTTPISH += [
    b"Content-Length: ",
    b"Transfer-Encoding: chunked",
    b"5",
    b"0",
    b"\x00",
    b" ",
]


garbage = st.lists(st.sampled_from(HTTPISH) | st.binary(max_size=8), max_size=30)
good_then_garbage = st.tuples(st.integers(0, 2), garbage).map(
    lambda t: GOOD * t[0] + b"".join(t[1])
)


@settings(max_examples=60)
@given(good_then_garbage)
def test_random_input_never_crashes_or_hangs_the_server(
    server: MessageServer, data: bytes
) -> None:
    """Whatever arrives, the server answers with well-formed responses and closes."""
    started = time.monotonic()
    answer = raw_exchange(*address(server), data, timeout=TIMEOUT)
    assert time.monotonic() - started < TIMEOUT
    statuses = [status for status, _, _ in read_responses(answer)]
    expected = statuses_the_parser_predicts(data)
    assert statuses == expected[: len(statuses)]
    assert bool(statuses) == bool(expected)
    event(f"last status: {expected[-1] if expected else 'none'}")
    assert read_responses(raw_exchange(*address(server), GOOD))[0][0] == 200


def statuses_the_parser_predicts(data: bytes) -> list[int]:
    """200 for each complete request, then the status of the error, if any."""
    parser, events = Parser("request"), []
    try:
        events += parser.feed(data)
        events += parser.end_of_input()
    except HTTPError as error:
        return [200] * len(collect(events)) + [error.status]
    return [200] * len(collect(events))


def test_stopping_the_server_joins_every_thread() -> None:
    before = set(threading.enumerate())
    with running(echo) as server:
        raw_exchange(*address(server), GOOD)
        started = set(threading.enumerate()) - before
        assert started  # at least the thread that runs serve_forever
    assert not started & set(threading.enumerate())  # all of them joined


def test_the_demo_talks_http_client_and_gets_a_400_for_bad_input() -> None:
    result = run_demo(
        "snippets.communication.http_messages.message_server", timeout=30, check=True
    )
    assert result.stdout.splitlines()[:4] == [
        "200 b'GET /hello\\n'",
        "200 b'POST /orders\\n{\"qty\": 2}'",
        "connections so far: 1",
        "b'HTTP/1.1 400 Bad Request'",
    ]


def read_until_closed(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_a_drain_closes_an_idle_kept_alive_connection_at_once() -> None:
    with (
        running(echo) as server,
        socket.create_connection(address(server), timeout=TIMEOUT) as sock,
    ):
        sock.sendall(GOOD)
        first = sock.recv(65536)  # answered, and kept alive: now idle
        started = time.monotonic()
        server.drain.start()
        rest = read_until_closed(sock)
        closed_after = time.monotonic() - started
    assert first.startswith(b"HTTP/1.1 200")
    assert b"connection: close" not in first.lower()
    assert rest == b""  # closed without a word: it was between requests
    assert closed_after < TIMEOUT / 5  # at once, not at the idle timeout


def test_a_request_in_the_handler_when_the_drain_starts_ends_with_close() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(request: Request) -> Response:
        entered.set()
        release.wait(TIMEOUT)
        return Response(200, b"done\n")

    with (
        running(slow) as server,
        socket.create_connection(address(server), timeout=TIMEOUT) as sock,
    ):
        sock.sendall(GOOD)
        assert entered.wait(TIMEOUT)
        server.drain.start()
        release.set()
        answer = read_until_closed(sock)
    [(status, fields, body)] = read_responses(answer)
    assert (status, fields["Connection"], body) == (200, "close", b"done\n")


def test_bytes_that_arrived_before_the_drain_are_still_served() -> None:
    with (
        running(echo) as server,
        socket.create_connection(address(server), timeout=TIMEOUT) as sock,
    ):
        sock.sendall(GOOD)
        sock.recv(65536)
        server.drain.start()
        sock.sendall(GOOD)  # may race the close: served whole, or not at all
        answer = read_until_closed(sock)
    assert answer == b"" or read_responses(answer)[0][0] == 200
