"""A small threaded HTTP/1.1 server built on the incremental parser.

What it teaches: what a server does around a parser. It receives bytes into the
parser of its connection and turns the events into a request for a handler; it
keeps the connection open for the next request (RFC 9112 section 9.3) or closes
it; it answers `Expect: 100-continue`; and it turns every `HTTPError` into a 4xx
or 5xx response followed by a careful close (RFC 9112 section 9.6), so that
malformed or oversized input never crashes or hangs it. Every wait has a
deadline: an idle or slow client is cut off, with 408 if it stopped in the
middle of a request. `http.client` and `urllib.request` talk to it in the tests.

Read first: `message_parser` in this package, whose `Parser` this server feeds.

What it leaves out: TLS; a bound on the number of threads (one per connection
here: the performance layer builds an event loop); streaming bodies to the
handler instead of collecting them in memory; answering pipelined requests in
parallel; the steps of a graceful shutdown around `Drain` (the reliability
layer); and routing (the application layer builds a server of its own on the
same parser).

Run it: `python -m snippets.communication.http_messages.message_server`.
"""

from __future__ import annotations

# --8<-- [start:imports]
import contextlib
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# seconds a request may take to arrive, and an idle connection may wait
TIMEOUT = 5.0
# --8<-- [end:imports]
from snippets.communication.http_messages.message_anatomy import build_response
from snippets.communication.http_messages.message_parser import (
    BodyChunk,
    Event,
    Headers,
    HTTPError,
    Limits,
    Parser,
    RequestHead,
    field_values,
)

# --8<-- [start:request]


@dataclass(frozen=True)
class Request:
    """A whole request, as a handler sees it."""

    method: str
    target: str
    version: str
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class Response:
    """What a handler returns; the server adds Content-Length and Connection."""

    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=list)


Handler = Callable[[Request], Response]


def echo(request: Request) -> Response:
    """A handler for the demo and the tests: the request line, then the body."""
    text = f"{request.method} {request.target}\n".encode() + request.body
    return Response(200, text, [("Content-Type", "text/plain; charset=utf-8")])


# --8<-- [end:request]


# --8<-- [start:persistence]
def options(head: RequestHead | Request, name: str) -> set[str]:
    """The comma-separated options of a field, lower case (Connection,
    Expect)."""
    values = field_values(head.headers, name)
    return {
        option.strip().lower()
        for value in values
        for option in value.split(",")
    }


def wants_keep_alive(request: Request) -> bool:
    """RFC 9112 section 9.3: HTTP/1.1 persists unless told to close; 1.0 must
    ask."""
    connection = options(request, "connection")
    if "close" in connection:
        return False
    return request.version == "HTTP/1.1" or "keep-alive" in connection


def wants_continue(head: RequestHead) -> bool:
    """RFC 9110 section 10.1.1: the client waits for 100 before sending its
    content.

    A server ignores the expectation in an HTTP/1.0 request.
    """
    return head.version == "HTTP/1.1" and "100-continue" in options(
        head, "expect"
    )


# --8<-- [end:persistence]


# --8<-- [start:connection]
class Connection:
    """One client's socket, read through one parser, one request at a time."""

    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        self.sock = sock
        self.parser = Parser("request", limits)
        self.events: deque[Event] = deque()  # parsed, not used yet (pipelining)

    def next_event(self, deadline: float) -> Event | None:
        """The next event, receiving more bytes as needed; None if the client
        left."""
        while not self.events:
            if self.parser.error:  # an error found after an earlier request
                raise self.parser.error
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the request did not arrive in time")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:  # the client closed its side: fine between requests
                # raises HTTPError in the middle of one
                self.parser.end_of_input()
                return None
            self.events.extend(self.parser.feed(data))
        return self.events.popleft()

    def read_request(self, deadline: float) -> Request | None:
        """Collect one request's events into a `Request`; None if the client
        left."""
        head = self.next_event(deadline)
        if head is None:
            return None
        # the parser starts every message so
        assert isinstance(head, RequestHead)
        if wants_continue(head) and not self.events and not self.parser.error:
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = bytearray()
        while isinstance(event := self.next_event(deadline), BodyChunk):
            body += event.data
        return Request(
            head.method, head.target, head.version, head.headers, bytes(body)
        )


# --8<-- [end:connection]


# --8<-- [start:respond]
# the server's own
FRAMING = {"content-length", "transfer-encoding", "connection"}


def respond(
    sock: socket.socket,
    request: Request,
    handler: Handler,
    keep: bool,
    drain: Drain | None = None,
) -> bool:
    """Run the handler, send its response; return whether the connection stays
    open."""
    try:
        response = handler(request)
    except Exception:  # a bug in one handler must not take the server down
        response, keep = Response(500, b"internal server error\n"), False
    if drain and drain.started.is_set():  # a shutdown began while it worked
        keep = False
    # The server frames the message: a handler's own Content-Length (a proxied
    # one, say) would be a second, maybe different one (RFC 9112 section 6.3).
    headers = [(n, v) for n, v in response.headers if n.lower() not in FRAMING]
    if not keep:
        headers.append(("Connection", "close"))
    elif request.version == "HTTP/1.0":
        headers.append(("Connection", "keep-alive"))
    data = build_response(response.status, headers, response.body)
    # the fields, not the content
    if request.method == "HEAD" and response.body:
        data = data[: -len(response.body)]
    sock.sendall(data)
    return keep


def refuse(sock: socket.socket, status: int, detail: str) -> None:
    """Answer input we will not serve, then close gently."""
    fields = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Connection", "close"),
    ]
    sock.sendall(
        build_response(status, fields, f"{status} {detail}\n".encode())
    )
    close_gently(sock)


def close_gently(
    sock: socket.socket, linger: float = 1.0, most: int = 65536
) -> None:
    """Stop sending, then read and drop what the client still sends, for a
    moment.

    Closing with unread bytes makes the kernel send a reset, which can destroy
    the error response before the client reads it (RFC 9112 section 9.6).
    """
    sock.shutdown(socket.SHUT_WR)
    deadline, drained = time.monotonic() + linger, 0
    with contextlib.suppress(OSError):  # a timeout or a reset ends the draining
        while drained < most and (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not (data := sock.recv(4096)):
                break
            drained += len(data)


# --8<-- [end:respond]


# --8<-- [start:drain]
import selectors


class Drain:
    """A graceful shutdown's word to every connection of a server: finish the
    request in hand, then close; a connection idle between requests closes now.
    """

    def __init__(self) -> None:
        self.started = threading.Event()
        # One byte written to `_wake` and never read keeps `_alarm` readable, so
        # it wakes every idle connection at once, however many there are.
        self._alarm, self._wake = socket.socketpair()

    def start(self) -> None:
        if not self.started.is_set():
            self.started.set()
            self._wake.send(b"!")

    def wait_for_request(self, sock: socket.socket, timeout: float) -> bool:
        """Wait until `sock` has bytes (True), the drain starts or time is
        up."""
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            selector.register(self._alarm, selectors.EVENT_READ)
            ready = {key.fileobj for key, _ in selector.select(timeout)}
        return sock in ready  # bytes that came in time are served, drain or not

    def close(self) -> None:
        self._alarm.close()
        self._wake.close()


# --8<-- [end:drain]


# --8<-- [start:serve_connection]
def serve_connection(
    sock: socket.socket,
    handler: Handler,
    limits: Limits,
    timeout: float,
    max_requests: int = 100,
    drain: Drain | None = None,
) -> None:
    """Answer the requests of one connection until it closes, fails or times
    out."""
    conn = Connection(sock, limits)
    for count in range(1, max_requests + 1):  # bounded, like every network loop
        idle = not conn.events and conn.parser.between_messages
        if drain and idle and not drain.wait_for_request(sock, timeout):
            return  # idle until the drain started or the time ran out: close
        try:
            request = conn.read_request(time.monotonic() + timeout)
        except HTTPError as error:
            refuse(sock, error.status, error.detail)
            return
        except TimeoutError:
            if not conn.parser.between_messages:  # stopped halfway: say so
                refuse(sock, 408, "the request did not arrive in time")
            return
        if request is None:
            return
        sock.settimeout(timeout)  # for sending the response
        keep = wants_keep_alive(request) and count < max_requests
        if not respond(sock, request, handler, keep, drain):
            return


# --8<-- [end:serve_connection]


# --8<-- [start:server]
class ConnectionHandler(socketserver.BaseRequestHandler):
    """socketserver calls `handle` in a new thread for each accepted
    connection."""

    def handle(self) -> None:
        s = self.server
        # invariant: connections == the number of handle() calls so far
        with s.lock:
            s.connections += 1
        # the client went away: nobody to answer
        with contextlib.suppress(OSError):
            serve_connection(
                self.request, s.handler, s.limits, s.timeout, drain=s.drain
            )


class MessageServer(socketserver.ThreadingTCPServer):
    """A threaded HTTP/1.1 server on 127.0.0.1 and a port the system picks.

    Args:
        handler: Turns each `Request` into a `Response`.
        limits: The parser's limits for every connection.
        timeout: Seconds a request may take to arrive, and an idle connection
            may wait.
    """

    daemon_threads = False  # server_close() joins every connection thread
    block_on_close = True
    # Connections the kernel may hold until accept() takes them (listen's
    # backlog). socketserver's default of 5 resets clients in a burst of 50;
    # Linux caps this at net.core.somaxconn.
    request_queue_size = 128

    def __init__(
        self,
        handler: Handler,
        limits: Limits | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.handler, self.limits, self.timeout = (
            handler,
            limits or Limits(),
            timeout,
        )
        self.lock = threading.Lock()
        self.connections = 0  # accepted so far; guarded by self.lock
        # started by a graceful shutdown (the reliability layer)
        self.drain = Drain()
        super().__init__(("127.0.0.1", 0), ConnectionHandler)

    def server_close(self) -> None:
        super().server_close()  # joins the connection threads first
        self.drain.close()


@contextlib.contextmanager
def running(
    handler: Handler = echo,
    limits: Limits | None = None,
    timeout: float = TIMEOUT,
) -> Iterator[MessageServer]:
    """Serve in a background thread; on exit, stop, close and join
    everything."""
    server = MessageServer(handler, limits, timeout)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,))
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()  # stop accepting: serve_forever returns
        server.server_close()  # close the socket, join the connection threads
        thread.join(timeout=TIMEOUT)


# --8<-- [end:server]


# --8<-- [start:raw]
def raw_exchange(
    host: str, port: int, data: bytes, timeout: float = TIMEOUT
) -> bytes:
    """Send raw bytes, close our side, and read everything until the server
    closes."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # no more requests: the server may close
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# --8<-- [end:raw]


# --8<-- [start:stdlib_guard]
import http.server

from snippets.communication.http_messages.message_parser import (
    body_framing,
    check_host,
    parse_field_line,
    parse_request_line,
)


class FramedRequestHandler(http.server.BaseHTTPRequestHandler):
    """`http.server`'s handler, with this page's framing rules in front of it.

    The standard library's handler is lenient: it ignores Transfer-Encoding,
    reads no body unless the subclass does, and lets a line it cannot parse end
    the header section. Behind a proxy that reads the same bytes differently,
    that is request smuggling. This subclass checks each head with the parser's
    own functions before any `do_GET` runs, refuses what the parser refuses with
    `send_error` (which closes the connection), and sets `content_length` for
    subclasses that read a body; for those that do not, a request with content
    is answered and the connection closed.
    """

    # so that error answers have a status line
    default_request_version = "HTTP/1.0"
    # bytes a subclass may read; a larger Content-Length: 413
    max_body = 1024 * 1024
    # set per request: how many bytes of content follow the head
    content_length = 0
    reads_body = False  # a subclass that reads `content_length` bytes sets True

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False  # the standard checks answered already
        try:
            self.check_framing()
        except HTTPError as error:
            self.send_error(error.status, error.detail)
            return False
        if self.content_length and not self.reads_body:
            # unread content must not become a request
            self.close_connection = True
        return True

    def check_framing(self) -> None:
        """Raise HTTPError for a head this page's parser would refuse."""
        # a line that is not a field line ended the head
        if self.headers.defects:
            raise HTTPError(400, "a malformed field line")
        head = parse_request_line(self.raw_requestline.rstrip(b"\r\n"))
        for name, value in self.headers.items():
            parse_field_line(f"{name}: {value}".encode("latin-1"))
        head = RequestHead(
            head.method, head.target, head.version, self.headers.items()
        )
        check_host(head)
        framing, self.content_length = body_framing(
            head, head.method, self.max_body
        )
        # RFC 9112 section 6.3: a server may answer 411
        if framing == "chunked":
            raise HTTPError(411, "this server reads Content-Length bodies only")


# --8<-- [end:stdlib_guard]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    import http.client

    with running(echo) as server:
        host, port = server.server_address[:2]
        client = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        try:
            client.request("GET", "/hello")
            reply = client.getresponse()
            print(reply.status, reply.read())
            #> 200 b'GET /hello\n'
            client.request("POST", "/orders", body=b'{"qty": 2}')
            reply = client.getresponse()
            print(reply.status, reply.read())
            #> 200 b'POST /orders\n{"qty": 2}'
        finally:
            client.close()
        print("connections so far:", server.connections)
        #> connections so far: 1
        answer = raw_exchange(host, port, b"GET / HTTP/1.1\r\nHost : a\r\n\r\n")
        print(answer.split(b"\r\n")[0])
        #> b'HTTP/1.1 400 Bad Request'
        print(answer.split(b"\r\n\r\n")[1])
        #> b"400 whitespace between the field name b'Host' and colon\n"
    # --8<-- [end:demo]
