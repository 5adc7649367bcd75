"""The application core: what its page claims, checked over real loopback sockets.

The client here is the shared test client (`tests.helpers`), an `http.client` connection,
independent of the core's own `call`; h11 reads the raw bytes where framing matters.
"""

from __future__ import annotations

import socket
import threading

import h11
import pytest

from snippets.application.app_core import (
    MAX_BODY,
    Request,
    Response,
    call,
    from_wire,
    hello,
    json_response,
    problem,
    serving,
    stack,
    text,
    with_server_header,
)
from snippets.communication.http_messages import message_server as wire
from tests.helpers import TIMEOUT, http_request, raw_exchange


def recording(name: str, log: list[str]):
    """A middleware that logs when a request passes in and its response passes out."""

    def middleware(handler):
        def wrapped(request: Request) -> Response:
            log.append(f"{name} in")
            response = handler(request)
            log.append(f"{name} out")
            return response

        return wrapped

    return middleware


def test_stack_lists_middleware_from_the_outermost_layer_in() -> None:
    log: list[str] = []

    def app(request: Request) -> Response:
        log.append("app")
        return text("ok")

    handler = stack(app, recording("a", log), recording("b", log))
    handler(Request("GET", "/"))
    assert log == ["a in", "b in", "app", "b out", "a out"]


def test_stack_without_middleware_is_the_handler_itself() -> None:
    assert stack(hello) is hello


def test_from_wire_splits_the_target_and_decodes_the_path() -> None:
    raw = wire.Request(
        "GET", "/caf%C3%A9/a%20b?tag=x&tag=y&empty=", "HTTP/1.1", [("Host", "a")], b""
    )
    request = from_wire(raw)
    assert request.path == "/café/a b"
    assert request.query == {"tag": ["x", "y"], "empty": [""]}
    assert request.params == {}


def test_a_target_starting_with_two_slashes_keeps_its_path() -> None:
    raw = wire.Request("GET", "//evil.example/x?a=1", "HTTP/1.1", [("Host", "a")], b"")
    request = from_wire(raw)
    assert (request.path, request.query) == ("//evil.example/x", {"a": ["1"]})


def test_header_joins_repeated_fields_in_order_and_ignores_case() -> None:
    request = Request("GET", "/", headers=[("Accept", "a/b"), ("ACCEPT", "c/d")])
    assert request.header("accept") == "a/b, c/d"
    assert request.header("missing") is None


def test_problem_is_an_rfc_9457_document() -> None:
    response = problem(409, "the name is taken", [("Retry-After", "1")], field="name")
    assert response.header("content-type") == "application/problem+json"
    assert response.header("retry-after") == "1"
    assert response.json() == {
        "title": "Conflict",
        "status": 409,
        "detail": "the name is taken",
        "field": "name",
    }


def test_json_response_sends_utf8_and_keeps_extra_headers() -> None:
    response = json_response({"name": "Zoë"}, 201, [("Location", "/u/1")])
    assert response.body == '{"name": "Zoë"}'.encode()
    assert (response.status, response.header("location")) == (201, "/u/1")


def test_a_real_client_reaches_the_handler_through_the_middleware() -> None:
    with serving(stack(hello, with_server_header)) as server:
        reply = http_request(server, "GET", "/greet?name=Grace")
        assert (reply.status, reply.text) == (200, "hello, Grace\n")
        assert reply.header("server") == "first-principles"
        posted = http_request(server, "POST", "/greet", body=b"12345")
        assert (posted.status, posted.json()) == (201, {"received": 5})


def test_call_is_the_same_exchange_as_the_test_client() -> None:
    with serving(hello) as server:
        ours = call(server, "POST", "/", body=b"")
        theirs = http_request(server, "POST", "/")
    assert ours.status == theirs.status == 201
    assert ours.json() == theirs.json() == {"received": 0}


def test_a_method_the_app_does_not_serve_gets_405_with_allow() -> None:
    with serving(hello) as server:
        reply = call(server, "DELETE", "/", headers=[("Accept", "application/json")])
    assert (reply.status, reply.header("allow")) == (405, "GET, POST")
    assert reply.json()["detail"] == "DELETE is not allowed"


def test_head_gets_the_get_fields_without_the_content() -> None:
    with serving(hello) as server:
        reply = http_request(server, "HEAD", "/?name=x")
    assert reply.status == 200
    assert reply.header("content-length") == str(len(b"hello, x\n"))
    assert reply.body == b""


def test_a_body_over_max_body_gets_413_and_the_handler_never_runs() -> None:
    calls: list[Request] = []

    def app(request: Request) -> Response:
        calls.append(request)
        return text("ran")

    with serving(app, max_body=8) as server:
        reply = http_request(server, "POST", "/", body=b"123456789")
        assert reply.status == 413
        assert http_request(server, "POST", "/", body=b"12345678").status == 200
    assert len(calls) == 1


def test_the_default_body_limit_is_max_body() -> None:
    with serving(hello) as server:
        assert http_request(server, "POST", "/", body=b"x" * MAX_BODY).status == 201
        assert (
            http_request(server, "POST", "/", body=b"x" * (MAX_BODY + 1)).status == 413
        )


def test_a_handler_that_raises_gets_500_and_the_connection_closes() -> None:
    def broken(request: Request) -> Response:
        raise RuntimeError("secret detail")

    with serving(broken) as server:
        answer = raw_exchange(
            server.server_address, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        )
    assert answer.startswith(b"HTTP/1.1 500 ")
    assert b"secret" not in answer
    assert b"Connection: close" in answer


def test_keep_alive_serves_two_requests_on_one_connection_in_order() -> None:
    two = b"GET /?name=one HTTP/1.1\r\nHost: a\r\n\r\nGET /?name=two HTTP/1.1\r\nHost: a\r\n\r\n"
    with serving(hello) as server:
        answer = raw_exchange(server.server_address, two, half_close=True)
    client = h11.Connection(h11.CLIENT)
    bodies = []
    for _ in range(2):
        client.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
        client.send(h11.EndOfMessage())
        client.receive_data(answer)
        answer = b""
        body = b""
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                body += event.data
        bodies.append(body)
        client.start_next_cycle()
    assert bodies == [b"hello, one\n", b"hello, two\n"]


def test_smuggled_request_in_a_chunked_body_never_runs() -> None:
    seen: list[str] = []

    def app(request: Request) -> Response:
        seen.append(request.path)
        return text("ok")

    smuggled = (
        b"POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    with serving(app) as server:
        answer = raw_exchange(server.server_address, smuggled)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.count(b"HTTP/1.1 ") == 1
    assert seen == []


def test_leaving_serving_closes_the_port_and_joins_every_thread() -> None:
    before = threading.active_count()
    with serving(hello) as server:
        address = server.server_address
        assert http_request(server, "GET", "/").status == 200
        idle = socket.create_connection(address, timeout=TIMEOUT)  # an idle client
        idle.close()
    assert threading.active_count() == before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=TIMEOUT).close()
