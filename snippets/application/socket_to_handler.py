"""From socket to handler: a small HTTP server that hosts WSGI and ASGI applications.

What it teaches: where the line runs between a server and an application. A threaded
server accepts TCP connections on loopback, reads one HTTP/1.1 request per connection
(with limits on the head, the headers, the body and the time it may take), turns it into
a WSGI `environ` dict, calls the application with `start_response`, sends the head
once, streams the iterable body and always calls its `close()` (PEP 3333). An asyncio
server does the same for an ASGI application through `scope`, `receive` and `send`.
The same applications run on `wsgiref.simple_server` in the tests, with identical
answers, and `wsgiref.validate` checks both sides of the WSGI contract.

Read first: the journey page (`snippets/journey.py`), and the HTTP/1.1 messages page
for the full parser (this module keeps a deliberately small one).

What it leaves out: keep-alive (every response ends with `Connection: close`), chunked
request and response bodies, `Expect: 100-continue`, streaming request bodies to the
application (the body is read into memory first, up to a limit), TLS, graceful
draining on shutdown, and the ASGI lifespan and WebSocket protocols.

Run it: `python -m snippets.application.socket_to_handler`.
"""

# --8<-- [start:parse]
import re
from dataclasses import dataclass

TIMEOUT = 5.0  # seconds a client may take to send its request
MAX_HEAD = 16 * 1024  # request line and header fields, in bytes
MAX_HEADERS = 100  # header fields
MAX_BODY = 1024 * 1024  # request body, in bytes
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 section 5.6.2


class BadRequest(Exception):
    """Input the server refuses; `status` and `reason` are what it answers."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


@dataclass
class RawRequest:
    """One request as it came off the wire: the server's view, before WSGI or ASGI."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""


# --8<-- [end:parse]


# --8<-- [start:parse_head]
def parse_head(head: bytes) -> RawRequest:
    """Parse the request line and header fields (the bytes before the blank line)."""
    request_line, *lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]):
        raise BadRequest(400, "Bad Request")
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(505, "HTTP Version Not Supported")
    if not target.startswith("/"):  # origin-form only: RFC 9112 section 3.2.1
        raise BadRequest(400, "Bad Request")
    if len(lines) > MAX_HEADERS:
        raise BadRequest(431, "Request Header Fields Too Large")
    headers = [parse_field(line) for line in lines]
    hosts = [value for name, value in headers if name.lower() == "host"]
    if version == "HTTP/1.1" and len(hosts) != 1:  # RFC 9112 section 3.2
        raise BadRequest(400, "Bad Request")
    return RawRequest(method, target, version, headers)


def parse_field(line: str) -> tuple[str, str]:
    """Split one `name: value` line (RFC 9112 section 5.1: no space before `:`)."""
    name, colon, value = line.partition(":")
    if not colon or not TOKEN.fullmatch(name) or re.search("[\r\n\0]", value):
        raise BadRequest(400, "Bad Request")  # RFC 9110 section 5.5: no CR, LF, NUL
    return name, value.strip(" \t")


# --8<-- [end:parse_head]


# --8<-- [start:body_length]
from snippets.communication.http_messages.message_parser import (
    HTTPError,
    parse_content_length,
)


def body_length(headers: list[tuple[str, str]]) -> int:
    """The body's length from Content-Length; 0 without one. Chunked is refused.

    The rule for the value is the HTTP messages page's `parse_content_length`:
    plain ASCII digits, one field, within MAX_BODY (400 or 413 otherwise).
    """
    if any(name.lower() == "transfer-encoding" for name, _ in headers):
        raise BadRequest(501, "Not Implemented")
    values = [v for name, v in headers if name.lower() == "content-length"]
    if not values:
        return 0
    try:
        return parse_content_length(values, MAX_BODY)
    except HTTPError as error:
        reason = "Bad Request" if error.status == 400 else "Content Too Large"
        raise BadRequest(error.status, reason) from None


# --8<-- [end:body_length]


# --8<-- [start:read_request]
import socket
import time


def recv_by(conn: socket.socket, deadline: float, size: int) -> bytes:
    """recv at most `size` bytes, but give up (TimeoutError) once `deadline` passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the client took too long to send its request")
    conn.settimeout(remaining)
    return conn.recv(size)


def read_request(conn: socket.socket, timeout: float = TIMEOUT) -> RawRequest | None:
    """Read one request (head, then a Content-Length body) within `timeout` seconds.

    Returns None if the client closed the connection without sending anything.
    """
    deadline = time.monotonic() + timeout  # for the whole request, not each recv
    buffer = bytearray()
    while (end := buffer.find(b"\r\n\r\n")) == -1:
        if len(buffer) > MAX_HEAD:
            raise BadRequest(431, "Request Header Fields Too Large")
        if not (chunk := recv_by(conn, deadline, 4096)):
            if buffer:
                raise BadRequest(400, "Bad Request")  # closed halfway through
            return None
        buffer += chunk
    if end > MAX_HEAD:  # the blank line came, but too late
        raise BadRequest(431, "Request Header Fields Too Large")
    request = parse_head(bytes(buffer[:end]))
    length = body_length(request.headers)
    body = buffer[end + 4 :]
    while len(body) < length:
        if not (chunk := recv_by(conn, deadline, min(65536, length - len(body)))):
            raise BadRequest(400, "Bad Request")  # the body was cut short
        body += chunk
    request.body = bytes(body[:length])
    return request


# --8<-- [end:read_request]


# --8<-- [start:environ]
import io
import logging
import urllib.parse

log = logging.getLogger("socket_to_handler")


class ErrorStream:
    """`wsgi.errors`: a text stream whose lines go to the server's log."""

    def write(self, text: str) -> None:
        if text.strip():
            log.error("application: %s", text.rstrip())

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Nothing is buffered."""


# --8<-- [end:environ]


# --8<-- [start:make_environ]
def make_environ(
    request: RawRequest, server: tuple[str, int], client: tuple[str, int]
) -> dict[str, object]:
    """The WSGI environ of PEP 3333: CGI variables plus the `wsgi.*` keys."""
    path, _, query = request.target.partition("?")
    environ: dict[str, object] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",  # the app is mounted at the root
        "PATH_INFO": urllib.parse.unquote(path, encoding="latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": request.version,
        "REMOTE_ADDR": client[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": ErrorStream(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers:
        if "_" in name:  # X_Real_IP would pose as X-Real-IP: drop it, as nginx does
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


# --8<-- [end:make_environ]


# --8<-- [start:response_head]
from email.utils import formatdate


def response_head(
    status: str, headers: list[tuple[str, str]], length: int | None
) -> bytes:
    """The status line and header fields of a response, ending in the blank line.

    The server adds what the application may leave out: Date, Content-Length when it
    knows the length, and Connection: close, since it serves one request per connection.
    """
    headers = list(headers)
    names = {name.lower() for name, _ in headers}
    if "date" not in names:  # RFC 9110 section 6.6.1
        headers.append(("Date", formatdate(usegmt=True)))
    if length is not None and "content-length" not in names:
        headers.append(("Content-Length", str(length)))
    headers.append(("Connection", "close"))
    lines = [f"HTTP/1.1 {status}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --8<-- [end:response_head]


# --8<-- [start:wsgi_types]
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ClientGone(Exception):
    """Sending to the client failed: it closed the connection or stopped reading."""


# --8<-- [end:wsgi_types]


# --8<-- [start:start_response]
class WSGIResponse:
    """`start_response` and `write` for one request: the head is sent once, late."""

    def __init__(self, conn: socket.socket, method: str) -> None:
        self.conn = conn
        self.head_only = method == "HEAD"  # RFC 9110 section 9.3.2: no content
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.head_sent = False

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self.head_sent:
            raise exc_info[1].with_traceback(exc_info[2])  # too late to change it
        if exc_info is None and self.status is not None:
            raise RuntimeError("start_response called twice without exc_info")
        if any("\r" in x or "\n" in x for header in headers for x in header):
            raise ValueError("CR or LF in a header would split the response")
        self.status, self.headers = status, list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        self.send(data, None)

    def send(self, data: bytes, length: int | None) -> None:
        if self.status is None:
            raise RuntimeError("the application sent a body before start_response")
        try:
            if not self.head_sent:
                self.conn.sendall(response_head(self.status, self.headers, length))
                self.head_sent = True
            if not self.head_only:
                self.conn.sendall(data)
        except OSError as error:
            raise ClientGone from error


# --8<-- [end:start_response]


# --8<-- [start:run_app]
def run_app(app: WSGIApp, environ: dict[str, Any], response: WSGIResponse) -> None:
    """Call the application, send its body, and always call the iterable's close()."""
    result = app(environ, response.start_response)
    try:
        # PEP 3333: with a one-item list, the server may set Content-Length itself.
        one = isinstance(result, list) and len(result) == 1
        for chunk in result:
            if chunk:  # the head waits for the first non-empty chunk
                response.send(chunk, len(chunk) if one else None)
        if not response.head_sent:
            response.send(b"", 0)  # an empty body: send the head now
    finally:
        if hasattr(result, "close"):
            result.close()  # PEP 3333: "must" be called, even after an error


# --8<-- [end:run_app]


# --8<-- [start:error_response]
import contextlib
from http import HTTPStatus


def error_response(status: int) -> bytes:
    """A complete plain-text error response, e.g. for a 400 or a 503."""
    text = f"{status} {HTTPStatus(status).phrase}"
    body = f"{text}\n".encode()
    headers = [("Content-Type", "text/plain; charset=utf-8")]
    return response_head(text, headers, len(body)) + body


def send_quietly(conn: socket.socket, data: bytes) -> None:
    """Send an error response if the client still listens; never raise."""
    with contextlib.suppress(OSError):
        conn.sendall(data)


# --8<-- [end:error_response]


# --8<-- [start:handle_connection]
def handle_connection(
    conn: socket.socket, app: WSGIApp, server: tuple[str, int], timeout: float
) -> None:
    """Serve one request on one connection, then close it, whatever happens."""
    with conn:
        try:
            request = read_request(conn, timeout)
        except BadRequest as error:
            return send_quietly(conn, error_response(error.status))
        except TimeoutError:
            return send_quietly(conn, error_response(408))  # RFC 9110 15.5.9
        except OSError:
            return None  # the client went away: nobody to answer
        if request is not None:
            conn.settimeout(timeout)  # now a limit on each send of the response
            respond(conn, app, make_environ(request, server, conn.getpeername()))
        return None


def respond(conn: socket.socket, app: WSGIApp, environ: dict[str, Any]) -> None:
    """Run the app; an exception becomes a 500 if no byte of the answer left yet."""
    response = WSGIResponse(conn, str(environ["REQUEST_METHOD"]))
    try:
        run_app(app, environ, response)
    except ClientGone:
        pass  # nobody is listening any more
    except Exception:
        log.exception("application error")  # the details stay in the log
        if not response.head_sent:
            send_quietly(conn, error_response(500))


# --8<-- [end:handle_connection]


# --8<-- [start:background]
import selectors
import threading
from typing import Self


class BackgroundServer:
    """A listening socket on 127.0.0.1 served by a thread; a context manager.

    `__enter__` starts the accept loop, `__exit__` stops it and closes the socket.
    Subclasses say what to do with each connection in `accept`.
    """

    timeout = TIMEOUT

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self.listener.getsockname()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def serve_forever(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            while not self.stopping.is_set():
                if selector.select(timeout=0.05):  # wake up to see `stopping`
                    self.accept()

    def accept(self) -> None:
        """Take one connection off the listening socket and serve it."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(self.timeout)
        self.listener.close()


# --8<-- [end:background]


# --8<-- [start:refuse]
def refuse(conn: socket.socket) -> None:
    """Answer 503 without reading the request, then close without a reset."""
    with conn:
        conn.setblocking(False)
        send_quietly(conn, error_response(503))
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
            conn.recv(65536)  # unread input would turn our close into a reset


# --8<-- [end:refuse]


# --8<-- [start:server]
class WSGIServer(BackgroundServer):
    """A threaded WSGI server: one thread and one request per connection, a cap on
    the number of connections at once, and a timeout on every socket."""

    def __init__(
        self, app: WSGIApp, max_connections: int = 32, timeout: float = TIMEOUT
    ) -> None:
        super().__init__()
        self.app, self.timeout = app, timeout
        self.slots = threading.BoundedSemaphore(max_connections)
        self.workers: set[threading.Thread] = set()  # guarded by self.lock
        self.lock = threading.Lock()

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return  # the client gave up before we accepted
        if not self.slots.acquire(blocking=False):
            return refuse(conn)  # every slot is busy: answer 503 at once
        worker = threading.Thread(target=self.work, args=(conn,), daemon=True)
        with self.lock:
            self.workers = {w for w in self.workers if w.is_alive()} | {worker}
        worker.start()

    def work(self, conn: socket.socket) -> None:
        try:
            handle_connection(conn, self.app, self.address, self.timeout)
        finally:
            self.slots.release()

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        with self.lock:
            workers = list(self.workers)
        for worker in workers:
            worker.join(self.timeout)  # each one is bounded by its socket timeout


# --8<-- [end:server]


# --8<-- [start:app]
from urllib.parse import parse_qs


def hello_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """A WSGI application written by hand: greet, echo a POST body, or answer 404."""
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
    if path == "/hello" and method in ("GET", "HEAD"):
        name = parse_qs(environ["QUERY_STRING"]).get("name", ["world"])[0]
        body, content_type, status = f"hello, {name}\n".encode(), "text/plain", "200 OK"
    elif path == "/echo" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        content_type = environ.get("CONTENT_TYPE") or "application/octet-stream"
        status = "200 OK"
    else:
        body, content_type, status = b"not found\n", "text/plain", "404 Not Found"
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    start_response(status, headers)
    return [body]


# --8<-- [end:app]


# --8<-- [start:streaming_app]
from collections.abc import Iterator


def make_countdown_app(events: list[str]) -> WSGIApp:
    """An app whose body is made piece by piece, with no Content-Length.

    It appends "closed" to `events` when the server calls its iterable's close().
    """

    def countdown_app(
        environ: dict[str, Any], start_response: StartResponse
    ) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            for n in (3, 2, 1):
                yield f"{n}\n".encode()
            yield b"liftoff\n"
        finally:  # runs on close(), even if the client left halfway
            events.append("closed")

    return countdown_app


# --8<-- [end:streaming_app]


# --8<-- [start:fetch]
import http.client


def fetch(
    address: tuple[str, int], method: str, target: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send one request with http.client; return status, some headers and the body."""
    conn = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        headers = {"Content-Type": "text/plain"} if body is not None else {}
        conn.request(method, target, body=body, headers=headers)
        answer = conn.getresponse()
        wanted = ("content-type", "content-length")
        kept = {k.lower(): v for k, v in answer.getheaders() if k.lower() in wanted}
        return answer.status, kept, answer.read()
    finally:
        conn.close()


# --8<-- [end:fetch]


# --8<-- [start:wsgiref]
import wsgiref.simple_server


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    """wsgiref's request handler without its access log on stderr."""

    def log_message(self, format: str, *args: object) -> None:
        """Say nothing."""


class WsgirefServer:
    """`wsgiref.simple_server` on 127.0.0.1, started and stopped like `WSGIServer`."""

    def __init__(self, app: WSGIApp) -> None:
        self.server = wsgiref.simple_server.make_server(
            "127.0.0.1", 0, app, handler_class=QuietHandler
        )
        self.address: tuple[str, int] = self.server.server_address[:2]
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(TIMEOUT)
        self.server.server_close()


# --8<-- [end:wsgiref]


# --8<-- [start:asgi_read]
import asyncio


async def read_request_async(reader: asyncio.StreamReader) -> RawRequest | None:
    """The asyncio twin of `read_request`; the reader's limit is MAX_HEAD."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise BadRequest(400, "Bad Request") from None
        return None  # closed without sending anything
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "Request Header Fields Too Large") from None
    request = parse_head(head[:-4])
    try:
        request.body = await reader.readexactly(body_length(request.headers))
    except asyncio.IncompleteReadError:
        raise BadRequest(400, "Bad Request") from None
    return request


# --8<-- [end:asgi_read]


# --8<-- [start:asgi_scope]
def make_scope(
    request: RawRequest, server: tuple[str, int], client: tuple[str, int]
) -> dict[str, Any]:
    """The ASGI HTTP connection scope: like environ, but bytes where bytes belong."""
    path, _, query = request.target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.version.removeprefix("HTTP/"),
        "method": request.method,
        "scheme": "http",
        "path": urllib.parse.unquote(path),  # percent-decoded, then UTF-8
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [
            (n.lower().encode("latin-1"), v.encode("latin-1"))
            for n, v in request.headers
        ],
        "client": client,
        "server": server,
    }


# --8<-- [end:asgi_scope]


# --8<-- [start:asgi_run]
from collections.abc import Awaitable

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


class ASGIResponse:
    """`send` for one request: checks the order of the messages, writes the bytes."""

    def __init__(self, writer: asyncio.StreamWriter, method: str) -> None:
        self.writer, self.head_only = writer, method == "HEAD"
        self.start: Message | None = None
        self.head_sent = False
        self.done = asyncio.Event()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start" and self.start is None:
            self.start = message
        elif kind == "http.response.body" and self.start and not self.done.is_set():
            await self.send_body(
                message.get("body", b""), message.get("more_body", False)
            )
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    async def send_body(self, body: bytes, more_body: bool) -> None:
        if not self.head_sent and self.start is not None:
            status = self.start["status"]
            headers = [
                (n.decode("latin-1"), v.decode("latin-1"))
                for n, v in self.start.get("headers", [])
            ]
            status_text = f"{status} {HTTPStatus(status).phrase}"
            self.writer.write(
                response_head(status_text, headers, None if more_body else len(body))
            )
            self.head_sent = True
        if not self.head_only:
            self.writer.write(body)
        await self.writer.drain()
        if not more_body:
            self.done.set()


# --8<-- [end:asgi_run]


# --8<-- [start:asgi_call]
async def run_asgi(
    app: ASGIApp, scope: dict[str, Any], body: bytes, response: ASGIResponse
) -> None:
    """Call an ASGI app: `receive` hands it the body, `send` writes its response."""
    inbox = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        if inbox:
            return inbox.pop()
        await response.done.wait()  # no more body: wait until the answer is out
        return {"type": "http.disconnect"}

    await app(scope, receive, response.send)
    if not response.done.is_set():
        raise RuntimeError("the application returned before finishing its response")


# --8<-- [end:asgi_call]


# --8<-- [start:asgi_connection]
async def serve_asgi_connection(
    app: ASGIApp,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    timeout: float,
) -> None:
    """Read one request within `timeout`, run the app, answer errors with 4xx or 500."""
    try:
        async with asyncio.timeout(timeout):
            request = await read_request_async(reader)
    except BadRequest as error:
        return writer.write(error_response(error.status))
    except TimeoutError:
        return writer.write(error_response(408))
    if request is None:
        return None
    response = ASGIResponse(writer, request.method)
    server, client = (writer.get_extra_info(k) for k in ("sockname", "peername"))
    try:
        await run_asgi(app, make_scope(request, server, client), request.body, response)
    except Exception:
        log.exception("application error")
        if not response.head_sent:
            writer.write(error_response(500))
    return None


# --8<-- [end:asgi_connection]


# --8<-- [start:asgi_server]
class ASGIServer:
    """An asyncio server for one ASGI app, run in a thread with its own event loop."""

    def __init__(self, app: ASGIApp, timeout: float = TIMEOUT) -> None:
        self.app, self.timeout = app, timeout
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.main()))
        self.address: tuple[str, int] = ("127.0.0.1", 0)
        self.tasks: set[asyncio.Task[None]] = set()  # touched by the loop only

    async def main(self) -> None:
        self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(
            self.connection, "127.0.0.1", 0, limit=MAX_HEAD
        )
        async with server:
            self.address = server.sockets[0].getsockname()
            self.ready.set()
            await self.stop.wait()
        if self.tasks:  # let requests in flight finish, within the timeout
            await asyncio.wait(self.tasks, timeout=self.timeout)

    async def connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await serve_asgi_connection(self.app, reader, writer, self.timeout)
        finally:
            self.tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def __enter__(self) -> Self:
        self.thread.start()
        if not self.ready.wait(self.timeout):
            raise RuntimeError("the ASGI server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(self.timeout)


# --8<-- [end:asgi_server]


# --8<-- [start:asgi_app]
async def hello_asgi(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """`hello_app` again, as an ASGI application."""
    body = b""
    while (message := await receive())["type"] == "http.request":
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status, content_type = 200, b"text/plain"
    if scope["path"] == "/hello" and scope["method"] in ("GET", "HEAD"):
        name = parse_qs(scope["query_string"].decode()).get("name", ["world"])[0]
        body = f"hello, {name}\n".encode()
    elif scope["path"] == "/echo" and scope["method"] == "POST":
        content_type = dict(scope["headers"]).get(b"content-type", content_type)
    else:
        status, body = 404, b"not found\n"
    headers = [(b"content-type", content_type)]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --8<-- [end:asgi_app]


# The demo's `#>` lines are the output that the docs test checks; ruff format would
# rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    from wsgiref.validate import validator

    app = validator(hello_app)  # checks the app's side and ours on every call
    requests = [
        ("GET", "/hello?name=Ada", None),
        ("POST", "/echo", b"ping"),
        ("GET", "/missing", None),
    ]
    with WSGIServer(app) as ours, WsgirefServer(app) as reference:
        for method, target, body in requests:
            mine = fetch(ours.address, method, target, body)
            same = mine == fetch(reference.address, method, target, body)
            print(mine[0], mine[2], same)
            #> 200 b'hello, Ada\n' True
            #> 200 b'ping' True
            #> 404 b'not found\n' True
    # --8<-- [end:demo]
    # --8<-- [start:demo_stream]
    events: list[str] = []
    with WSGIServer(validator(make_countdown_app(events))) as ours:
        status, headers, body = fetch(ours.address, "GET", "/")
    print(status, "content-length" in headers, body.decode().split(), events)
    #> 200 False ['3', '2', '1', 'liftoff'] ['closed']
    # --8<-- [end:demo_stream]
    # --8<-- [start:demo_asgi]
    with ASGIServer(hello_asgi) as ours, WsgirefServer(hello_app) as reference:
        for method, target, body in requests:
            mine = fetch(ours.address, method, target, body)
            same = mine == fetch(reference.address, method, target, body)
            print(mine[0], same)
            #> 200 True
            #> 200 True
            #> 404 True
    # --8<-- [end:demo_asgi]
