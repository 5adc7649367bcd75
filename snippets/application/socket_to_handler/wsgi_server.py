"""A threaded WSGI server: start_response, the iterable, close(), and every
failure.

What it teaches: the server's half of the WSGI contract (PEP 3333).
`WSGIResponse` is `start_response`: it stores the status and headers and sends
the head late, with the first non-empty chunk, so the application can still turn
a 200 into a 500. `run_app` drives the iterable body and always calls its
`close()`. Every failure ends in a response or a clean close: a 4xx for bad
input, 408 for a slow client, a 500 that leaks nothing for an application error.
`WSGIServer` gives each connection a thread, up to a cap past which it answers
503 at once.

Read first: `request_reading` in this package, which reads the request and
builds the environ. `wsgi_apps` in this package runs applications on this
server.

What it leaves out: keep-alive (every response ends with `Connection: close`),
chunked response bodies (a body of unknown length ends with the connection),
TLS, and graceful draining on shutdown.

Run it: `python -m snippets.application.socket_to_handler.wsgi_server`.
"""

import socket

from snippets.application.socket_to_handler.request_reading import (
    TIMEOUT,
    BadRequest,
    log,
    make_environ,
    read_request,
)

# isort: split

# --8<-- [start:response_head]
from email.utils import formatdate


def response_head(
    status: str, headers: list[tuple[str, str]], length: int | None
) -> bytes:
    """The status line and header fields of a response, ending in the blank
    line.

    The server adds what the application may leave out: Date, Content-Length
    when it knows the length, and Connection: close, since it serves one request
    per connection.
    """
    headers = list(headers)
    names = {name.lower() for name, _ in headers}
    if "date" not in names:  # RFC 9110 section 6.6.1
        headers.append(("Date", formatdate(usegmt=True)))
    if length is not None and "content-length" not in names:
        headers.append(("Content-Length", str(length)))
    headers.append(("Connection", "close"))
    lines = [f"HTTP/1.1 {status}"] + [
        f"{name}: {value}" for name, value in headers
    ]
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
    """Sending to the client failed: it closed the connection or stopped
    reading."""


# --8<-- [end:wsgi_types]


# --8<-- [start:start_response]
class WSGIResponse:
    """`start_response` and `write` for one request: the head is sent once,
    late."""

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
            # too late to change it
            raise exc_info[1].with_traceback(exc_info[2])
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
            raise RuntimeError(
                "the application sent a body before start_response"
            )
        try:
            if not self.head_sent:
                self.conn.sendall(
                    response_head(self.status, self.headers, length)
                )
                self.head_sent = True
            if not self.head_only:
                self.conn.sendall(data)
        except OSError as error:
            raise ClientGone from error


# --8<-- [end:start_response]


# --8<-- [start:run_app]
def run_app(
    app: WSGIApp, environ: dict[str, Any], response: WSGIResponse
) -> None:
    """Call the application, send its body, and always call the iterable's
    close()."""
    result = app(environ, response.start_response)
    try:
        # PEP 3333: with a one-item list, the server may set Content-Length
        # itself.
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
            respond(
                conn, app, make_environ(request, server, conn.getpeername())
            )
        return None


def respond(conn: socket.socket, app: WSGIApp, environ: dict[str, Any]) -> None:
    """Run the app; an exception becomes a 500 if no byte of the answer left
    yet."""
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

    `__enter__` starts the accept loop, `__exit__` stops it and closes the
    socket. Subclasses say what to do with each connection in `accept`.
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
    """A threaded WSGI server: one thread and one request per connection, a cap
    on the number of connections at once, and a timeout on every socket."""

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
            # each one is bounded by its socket timeout
            worker.join(self.timeout)


# --8<-- [end:server]


if __name__ == "__main__":

    def greet(
        environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello\n"]

    with WSGIServer(greet, timeout=0.5) as ours:
        # a request, a version we do not speak, a request cut short
        for data in (
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            # then nothing: 408 once the timeout has passed
            b"GET / HTTP/1.1\r\n",
        ):
            with socket.create_connection(
                ours.address, timeout=TIMEOUT
            ) as sock:
                sock.sendall(data)
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
            print(answer.split(b"\r\n")[0].decode())
