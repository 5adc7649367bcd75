"""The application core: one Request, one Response, one handler contract, one
server.

What it teaches: the small shape every page of this layer builds on. A handler
is a plain function from a `Request` to a `Response`; a middleware is a function
from a handler to a handler, so cross-cutting work wraps an application like
layers of an onion; `serving(...)` starts a real HTTP/1.1 server on loopback for
a handler and stops it in one documented order; `call(...)` is the small client
the pages use to talk to it. The server is the chapter 1 message server, on the
chapter 1 parser: one framing implementation for the whole site, with its limits
and refusals (two Content-Lengths, Transfer-Encoding with Content-Length,
codings it does not implement, non-digit lengths: a 400 or 501, then the
connection closed, as RFC 9112 section 6.3 says).

Read first: the HTTP/1.1 messages page
(`snippets/communication/http_messages/`), whose `message_server` this core
hosts handlers on, and the socket-to-handler page (the same split between server
and application, as WSGI and ASGI define it).

What it leaves out: streaming request and response bodies (both are bytes in
memory, up to a limit), asynchronous handlers, TLS, a bound on the number of
connection threads and graceful draining on shutdown (the reliability and
performance layers add those on top of this core), and everything a framework's
request object grows: forms, files, cookies, sessions. The page lists what a
production server adds.

Run it: `python -m snippets.application.app_core`.
"""

from __future__ import annotations

# --8<-- [start:message]
import json
from dataclasses import dataclass, field
from typing import Any

Headers = list[tuple[str, str]]  # (name, value) in order; a name may repeat


def header_value(headers: Headers, name: str) -> str | None:
    """The value of the field `name` (any case), repeats joined with ", ", or
    None.

    RFC 9110 section 5.3: a recipient may combine field lines of the same name
    into one value, in order, separated by commas. (Set-Cookie is the known
    exception.)
    """
    values = [value for key, value in headers if key.lower() == name.lower()]
    return ", ".join(values) if values else None


@dataclass(frozen=True)
class Request:
    """A whole request, as every handler of this layer sees it."""

    method: str  # "GET", "POST"...: case-sensitive (RFC 9110 section 9.1)
    path: str  # "/orders/7", percent-decoded, without the query
    # ?a=1&a=2 -> a: [1, 2]
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    # filled in by a router
    params: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """The value of one header field, or None (see `header_value`)."""
        return header_value(self.headers, name)


@dataclass(frozen=True)
class Response:
    """What a handler returns. The server adds Content-Length and Connection."""

    status: int = 200
    body: bytes = b""
    headers: Headers = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The value of one header field, or None (see `header_value`)."""
        return header_value(self.headers, name)

    def json(self) -> Any:
        """The body read as JSON (for clients and tests)."""
        return json.loads(self.body)


# --8<-- [end:message]


# --8<-- [start:responses]
from http import HTTPStatus


def text(body: str, status: int = 200, headers: Headers = ()) -> Response:
    """A plain-text response."""
    kind = ("Content-Type", "text/plain; charset=utf-8")
    return Response(status, body.encode(), [kind, *headers])


def json_response(
    data: Any, status: int = 200, headers: Headers = ()
) -> Response:
    """A JSON response (RFC 8259: UTF-8 on the wire)."""
    body = json.dumps(data, ensure_ascii=False).encode()
    return Response(
        status, body, [("Content-Type", "application/json"), *headers]
    )


def problem(
    status: int, detail: str, headers: Headers = (), **members: Any
) -> Response:
    """An RFC 9457 problem details response: what went wrong, for people and
    code."""
    document = {
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    body = json.dumps({**document, **members}, ensure_ascii=False).encode()
    kind = ("Content-Type", "application/problem+json")
    return Response(status, body, [kind, *headers])


# --8<-- [end:responses]


# --8<-- [start:contract]
from collections.abc import Callable

# the one handler contract of this layer
Handler = Callable[[Request], Response]
# takes a handler, returns a wrapped one
Middleware = Callable[[Handler], Handler]


def stack(handler: Handler, *middleware: Middleware) -> Handler:
    """Wrap `handler` in `middleware`; the first one listed is the outermost
    layer.

    `stack(app, a, b)` is `a(b(app))`: a request meets a, then b, then the app,
    and the response comes back out through b, then a.
    """
    for wrap in reversed(middleware):
        handler = wrap(handler)
    return handler


# --8<-- [end:contract]


# --8<-- [start:adapt]
from urllib.parse import parse_qs, unquote

from snippets.communication.http_messages import message_server as wire
from snippets.communication.http_messages.message_parser import Limits

# seconds: a request to arrive, an idle connection, a call
TIMEOUT = wire.TIMEOUT
MAX_BODY = 64 * 1024  # bytes of request content an application here accepts


def from_wire(raw: wire.Request) -> Request:
    """The parsed message of chapter 1, as the application's `Request`."""
    # origin-form is /path?query (RFC 9112 section 3.2.1). Split at the first
    # "?" by hand: urlsplit would read a target starting with "//" as a host
    # name.
    path, _, query = raw.target.partition("?")
    query = parse_qs(query, keep_blank_values=True)
    return Request(raw.method, unquote(path), query, raw.headers, raw.body)


def adapt(app: Handler) -> wire.Handler:
    """Let the message server call an application handler."""
    return lambda raw: app(from_wire(raw))


# --8<-- [end:adapt]


# --8<-- [start:serving]
import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def serving(
    app: Handler, *, max_body: int = MAX_BODY, timeout: float = TIMEOUT
) -> Iterator[wire.MessageServer]:
    """Serve `app` on 127.0.0.1 and a free port, in a background thread.

    On exit it stops in this order: stop accepting, close the listening socket
    and join every connection thread, join the serving thread. Nothing is left
    behind.
    """
    limits = Limits(max_body=max_body)
    with wire.running(adapt(app), limits, timeout) as server:
        yield server


# --8<-- [end:serving]


# --8<-- [start:call]
import http.client


def call(
    server: wire.MessageServer,
    method: str,
    target: str,
    body: bytes = b"",
    headers: Headers = (),
    timeout: float = TIMEOUT,
) -> Response:
    """Send one request over a new connection and read the whole response."""
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body or method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        reply = connection.getresponse()
        return Response(reply.status, reply.read(), reply.getheaders())
    finally:
        connection.close()


# --8<-- [end:call]


# --8<-- [start:example_app]
def hello(request: Request) -> Response:
    """An application: greets `?name=`, and counts the bytes of a POSTed
    body."""
    if request.method == "POST":
        return json_response({"received": len(request.body)}, status=201)
    if request.method not in ("GET", "HEAD"):
        return problem(
            405, f"{request.method} is not allowed", [("Allow", "GET, POST")]
        )
    name = request.query.get("name", ["world"])[-1]
    return text(f"hello, {name}\n")


def with_server_header(handler: Handler) -> Handler:
    """A middleware: adds a Server field to every response of the handler it
    wraps."""

    def wrapped(request: Request) -> Response:
        response = handler(request)
        headers = [*response.headers, ("Server", "first-principles")]
        return Response(response.status, response.body, headers)

    return wrapped


# --8<-- [end:example_app]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    app = stack(hello, with_server_header)
    with serving(app) as server:
        reply = call(server, "GET", "/greet?name=Ada")
        print(reply.status, reply.body, reply.header("server"))
        #> 200 b'hello, Ada\n' first-principles
        reply = call(server, "POST", "/greet", body=b'{"qty": 2}')
        print(reply.status, reply.json())
        #> 201 {'received': 10}
        reply = call(server, "DELETE", "/greet")
        print(reply.status, reply.header("allow"), reply.json()["detail"])
        #> 405 GET, POST DELETE is not allowed
    # --8<-- [end:demo]

    # --8<-- [start:demo_framing]
    import socket

    smuggled = (
        b"POST /greet HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /greet?name=smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    with (
        serving(app) as server,
        socket.create_connection(
            server.server_address, timeout=TIMEOUT
        ) as sock,
    ):
        sock.sendall(smuggled)
        answer = b""
        while chunk := sock.recv(65536):  # until the server closes
            answer += chunk
    print(answer.split(b"\r\n")[0], answer.count(b"HTTP/1.1 "))
    #> b'HTTP/1.1 400 Bad Request' 1
    print(answer.split(b"\r\n\r\n")[1])
    #> b'400 Transfer-Encoding and Content-Length together\n'
    # --8<-- [end:demo_framing]
