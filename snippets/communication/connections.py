"""Connections: keep-alive versus a connection per request, pipelining, HOL
blocking.

Read first: the sockets page (`snippets/communication/sockets.py`), for the TCP
handshake, teardown and framing, and the HTTP/1.1 messages page for the message
format. This module builds a small HTTP/1.1 server that keeps connections open
as RFC 9112 section 9 says, counts the connections and requests it sees, and
answers pipelined requests in order. A raw-socket client then measures N
requests on one connection against N connections, shows head-of-line blocking
with a pipelined slow request, measures what Nagle's algorithm and delayed ACKs
do to a response written in two pieces, and models why a lost packet stalls
every HTTP/2 stream but only one HTTP/3 stream.

What it leaves out: TLS (which makes a new connection much more expensive),
HTTP/2 and HTTP/3 themselves (binary frames, HPACK and QPACK, flow control:
shown in diagrams only), chunked bodies, connection pools with many connections,
and the staged "lingering close" real servers do.

Run it: `python -m snippets.communication.connections`.
"""

# --8<-- [start:read_message]
import socket

# Bytes that break the rules raise the parser's HTTPError; its `status` is the
# answer.
from snippets.communication.http_messages.message_parser import (
    BARE_LF,
    HTTPError,
)

TIMEOUT = 5.0  # seconds: every socket and every wait has a limit
MAX_HEAD = 8 * 1024  # start line and header fields
MAX_BODY = 64 * 1024


def read_head(sock: socket.socket, buffer: bytearray) -> bytes | None:
    """Read through the blank line that ends a head; leave later bytes in
    `buffer`.

    Returns None if the peer closed before sending the first byte of a new
    message.
    """
    while (end := buffer.find(b"\r\n\r\n")) == -1:
        if len(buffer) > MAX_HEAD:
            raise HTTPError(431, "Request Header Fields Too Large")
        # it would never end in CRLF CRLF: do not wait
        if BARE_LF.search(buffer):
            raise HTTPError(400, "a line ends with a bare LF")
        chunk = sock.recv(4096)
        if not chunk:
            if buffer:
                # closed in the middle of a head
                raise HTTPError(400, "Bad Request")
            return None
        buffer += chunk
    if end > MAX_HEAD:
        raise HTTPError(431, "Request Header Fields Too Large")
    head = bytes(buffer[:end])
    del buffer[: end + 4]  # what remains may be the start of the next message
    return head


def read_exactly(sock: socket.socket, buffer: bytearray, size: int) -> bytes:
    """Read a body of `size` bytes, taking first what `buffer` already holds."""
    while len(buffer) < size:
        chunk = sock.recv(65536)
        if not chunk:
            raise HTTPError(400, "Bad Request")  # the body was cut off
        buffer += chunk
    body = bytes(buffer[:size])
    del buffer[:size]
    return body


# --8<-- [end:read_message]


# --8<-- [start:persistence]
from snippets.communication.http_messages.message_parser import (
    parse_content_length,
    parse_field_line,
    parse_request_line,
)

# RFC 9112 sections 3.2 and 6.3: never two
ONE_ONLY = {"host", "content-length"}


def parse_head(head: bytes) -> tuple[list[str], dict[str, str]]:
    """Split a head into the words of its start line and its lower-cased fields.

    Each field line goes through the messages page's `parse_field_line`, so a
    space before the colon, a control character or a folded line is refused the
    same way.
    """
    start, *lines = head.split(b"\r\n")
    fields: dict[str, str] = {}
    for line in lines:
        name, value = parse_field_line(line)
        key = name.lower()
        if key in fields and key in ONE_ONLY:
            raise HTTPError(400, f"more than one {name} field")
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return start.decode("latin-1").split(" ", 2), fields


def body_length(fields: dict[str, str]) -> int:
    """The Content-Length of a message without Transfer-Encoding (0 if
    absent)."""
    if "transfer-encoding" in fields:
        raise HTTPError(501, "chunked bodies: see the messages page")
    if "content-length" not in fields:
        return 0
    return parse_content_length([fields["content-length"]], MAX_BODY)


def keeps_alive(version: str, fields: dict[str, str]) -> bool:
    """RFC 9112 section 9.3: does the connection persist after this message?"""
    options = {
        o.strip().lower() for o in fields.get("connection", "").split(",")
    }
    if "close" in options:
        return False
    # 1.0 keep-alive is optional: we do not honour it
    return version == "HTTP/1.1"


def response(
    status: int, reason: str, body: bytes, close: bool
) -> tuple[bytes, bytes]:
    """The head and body of a response; the head says if the connection will
    close."""
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    if close:
        # RFC 9112 section 9.6: say it, then do it
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii"), body


# --8<-- [end:persistence]


# --8<-- [start:serve_connection]
import socketserver
import threading
from http import HTTPStatus


def serve_connection(conn: socket.socket, server: "CountingServer") -> None:
    """Answer requests on one connection, one at a time, until it should
    close."""
    buffer = bytearray()  # bytes read but not used yet: maybe the next request
    conn.settimeout(server.idle_timeout)  # RFC 9112 section 9.5: drop idle ones
    while not server.stop.is_set():
        try:
            head = read_head(conn, buffer)
            if head is None:
                return  # the client closed between two requests: a clean end
            answer, close = answer_request(conn, buffer, head, server)
        except HTTPError as error:
            phrase, detail = (
                HTTPStatus(error.status).phrase,
                error.detail.encode(),
            )
            answer, close = response(error.status, phrase, detail, True), True
        except OSError:
            return  # idle too long (TimeoutError), or reset by the client
        server.send(conn, answer)
        if close:
            return  # later pipelined requests are not processed (section 9.6)


def answer_request(
    conn: socket.socket,
    buffer: bytearray,
    head: bytes,
    server: "CountingServer",
) -> tuple[tuple[bytes, bytes], bool]:
    """Read the rest of one request and build its answer: the target, echoed."""
    words, fields = parse_head(head)
    # method, target: RFC 9112
    parse_request_line(" ".join(words).encode("latin-1"))
    _method, target, version = words
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise HTTPError(505, "HTTP Version Not Supported")
    if version == "HTTP/1.1" and "host" not in fields:
        raise HTTPError(400, "an HTTP/1.1 request needs a Host field")
    # the next request starts after
    read_exactly(conn, buffer, body_length(fields))
    close = not keeps_alive(version, fields)
    server.count_request()
    if target == "/slow":
        server.stop.wait(server.slow_seconds)  # a slow handler: a database, say
    return response(200, "OK", target.encode("ascii", "replace"), close), close


# --8<-- [end:serve_connection]


# --8<-- [start:server]
import contextlib


class ConnectionHandler(socketserver.BaseRequestHandler):
    """socketserver calls `handle` once per accepted connection, in its own
    thread."""

    # socketserver closes the socket when this returns
    def handle(self) -> None:
        # the client left while we were writing
        with contextlib.suppress(OSError):
            serve_connection(self.request, self.server)


class CountingServer(socketserver.ThreadingTCPServer):
    """An HTTP/1.1 server on a free loopback port that counts connections and
    requests.

    Args:
        slow_seconds: How long a request for `/slow` takes.
        idle_timeout: How long a connection may stay silent before the server
            drops it.
        split_writes: Write each response head and body with two `sendall`
            calls.
        nodelay: Turn off Nagle's algorithm (TCP_NODELAY) on accepted
            connections.
    """

    # SO_REUSEADDR: restart on a port whose old connections are still in
    # TIME_WAIT
    allow_reuse_address = True

    def __init__(
        self,
        slow_seconds: float = 0.3,
        idle_timeout: float = 2.0,
        split_writes: bool = False,
        nodelay: bool = False,
    ) -> None:
        super().__init__(("127.0.0.1", 0), ConnectionHandler)
        self.slow_seconds, self.idle_timeout = slow_seconds, idle_timeout
        self.split_writes, self.nodelay = split_writes, nodelay
        # set on shutdown: slow handlers stop waiting
        self.stop = threading.Event()
        self._lock = threading.Lock()  # guards the two counters below
        self._connections = self._requests = 0

    def process_request(
        self, request: socket.socket, client_address: object
    ) -> None:
        """Count each accepted connection, then serve it in a new thread."""
        with self._lock:
            self._connections += 1
        if self.nodelay:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().process_request(request, client_address)

    def count_request(self) -> None:
        """Count one request (called by connection threads)."""
        with self._lock:
            self._requests += 1

    def take_counts(self) -> tuple[int, int]:
        """Return (connections, requests) seen since the last call, and reset
        them."""
        with self._lock:
            counts = (self._connections, self._requests)
            self._connections = self._requests = 0
        return counts

    def send(self, conn: socket.socket, answer: tuple[bytes, bytes]) -> None:
        """Write one response, as one write or (to show a pitfall) as two."""
        head, body = answer
        if self.split_writes:
            conn.sendall(head)
            conn.sendall(body)
        else:
            conn.sendall(head + body)


# --8<-- [end:server]


# --8<-- [start:running]
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def running(server: CountingServer) -> Iterator[CountingServer]:
    """Serve in a background thread; always stop, close and join on the way
    out."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,))
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()  # stops accepting
        server.server_close()  # closes the listener, joins connection threads
        thread.join(TIMEOUT)


# --8<-- [end:running]


# --8<-- [start:client]
def request(target: str, close: bool = False) -> bytes:
    """The bytes of a GET request; `close` asks the server to close
    afterwards."""
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes]:
    """Read exactly one response off the connection: (status, body)."""
    head = read_head(sock, buffer)
    if head is None:
        raise ConnectionError(
            "the server closed the connection before answering"
        )
    words, fields = parse_head(head)
    if len(words) < 2 or not words[1].isdigit():
        raise HTTPError(502, "Bad Gateway")  # what a proxy would answer
    return int(words[1]), read_exactly(sock, buffer, body_length(fields))


def keep_alive(address: tuple[str, int], targets: list[str]) -> list[bytes]:
    """Send the requests one after another on one connection."""
    bodies, buffer = [], bytearray()
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        for target in targets:
            sock.sendall(request(target))
            bodies.append(read_response(sock, buffer)[1])
    return bodies


def connection_per_request(
    address: tuple[str, int], targets: list[str]
) -> list[bytes]:
    """Open a new connection for each request, as HTTP/1.0 did."""
    bodies = []
    for target in targets:
        with socket.create_connection(address, timeout=TIMEOUT) as sock:
            sock.sendall(request(target, close=True))
            bodies.append(read_response(sock, bytearray())[1])
    return bodies


# --8<-- [end:client]


# --8<-- [start:measure]
import time
from collections.abc import Callable


def best_time(run: Callable[[], object], rounds: int = 5) -> float:
    """The fastest of a few runs, in seconds: the least disturbed by other
    work."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def reuse_speedup(address: tuple[str, int], n: int = 100) -> float:
    """How many times faster n requests are on one connection than on n
    connections."""
    targets = ["/"] * n
    one = best_time(lambda: keep_alive(address, targets))
    many = best_time(lambda: connection_per_request(address, targets))
    return many / one


# --8<-- [end:measure]


# --8<-- [start:pipelining]
def pipelined(
    address: tuple[str, int], targets: list[str]
) -> list[tuple[bytes, float]]:
    """Send all requests at once on one connection; return (body, seconds) per
    answer.

    The seconds are counted from the moment the requests were sent.
    """
    answers, buffer = [], bytearray()
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        start = time.perf_counter()
        sock.sendall(b"".join(request(target) for target in targets))
        for _ in targets:  # RFC 9112 section 9.2: answers come in request order
            _, body = read_response(sock, buffer)
            answers.append((body, time.perf_counter() - start))
    return answers


# --8<-- [end:pipelining]


# --8<-- [start:nagle]
import statistics


def seconds_per_request(n: int = 9, **options: bool) -> float:
    """Median time of n keep-alive requests to a server with `options`."""
    times, buffer = [], bytearray()
    with (
        running(CountingServer(**options)) as server,
        socket.create_connection(
            server.server_address, timeout=TIMEOUT
        ) as sock,
    ):
        for _ in range(n):
            start = time.perf_counter()
            sock.sendall(request("/"))
            read_response(sock, buffer)
            times.append(time.perf_counter() - start)
    # the median ignores a few disturbed requests
    return statistics.median(times)


# --8<-- [end:nagle]


# --8<-- [start:hol_model]
def deliverable(
    packets: list[tuple[str, str]], lost: set[int], per_stream: bool
) -> dict[str, str]:
    """What a receiver can hand to the application while some packets are
    missing.

    `packets` are (stream, data) in the order sent. With `per_stream=False` all
    streams share one sequence space, as HTTP/2 frames do inside one TCP byte
    stream: nothing after a gap is delivered. With `per_stream=True` each stream
    has its own offsets, as in QUIC: a gap blocks only its own stream.
    """
    delivered = {stream: "" for stream, _ in packets}
    blocked: set[str] = set()  # the sequence spaces that have a gap so far
    for index, (stream, data) in enumerate(packets):
        space = stream if per_stream else "the TCP byte stream"
        if index in lost:
            blocked.add(space)
        elif space not in blocked:
            delivered[stream] += data
    return delivered


# --8<-- [end:hol_model]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_counts]
    with running(CountingServer()) as server:
        address = server.server_address
        print(keep_alive(address, ["/a", "/b", "/c"]))
        #> [b'/a', b'/b', b'/c']
        print(server.take_counts())  # (connections, requests)
        #> (1, 3)
        connection_per_request(address, ["/a", "/b", "/c"])
        print(server.take_counts())
        #> (3, 3)
    # --8<-- [end:demo_counts]

    # --8<-- [start:demo_speedup]
    with running(CountingServer()) as server:
        speedup = reuse_speedup(server.server_address, n=100)
    print(speedup > 1)  # the ratio itself varies by machine and load
    #> True
    # --8<-- [end:demo_speedup]

    # --8<-- [start:demo_pipelining]
    with running(CountingServer(slow_seconds=0.3)) as server:
        answers = pipelined(server.server_address, ["/slow", "/fast"])
        print(server.take_counts())  # one connection carried both requests
        #> (1, 2)
    print([body for body, _ in answers])
    #> [b'/slow', b'/fast']
    fast_seconds = answers[1][1]
    # /fast was ready at once, yet waited behind /slow
    print(fast_seconds >= 0.3)
    #> True
    # --8<-- [end:demo_pipelining]

    # --8<-- [start:demo_nagle]
    one_write = seconds_per_request()
    two_writes = seconds_per_request(split_writes=True)
    two_writes_nodelay = seconds_per_request(split_writes=True, nodelay=True)
    print(two_writes > 10 * one_write)
    #> True
    print(two_writes > 10 * two_writes_nodelay)
    #> True
    # --8<-- [end:demo_nagle]

    # --8<-- [start:demo_hol]
    packets = [("A", "a1"), ("B", "b1"), ("C", "c1"), ("A", "a2")]
    lost = {1}  # the packet that carried b1
    print(deliverable(packets, lost, per_stream=False))  # HTTP/2 over TCP
    #> {'A': 'a1', 'B': '', 'C': ''}
    print(deliverable(packets, lost, per_stream=True))  # HTTP/3 over QUIC
    #> {'A': 'a1a2', 'B': '', 'C': 'c1'}
    # --8<-- [end:demo_hol]
