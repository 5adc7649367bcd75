"""Timeouts and deadlines: bound every wait, and pass the remaining time
downstream.

What it teaches: a per-operation timeout (http.client's `timeout`, a socket's
`settimeout`) bounds each wait, not the whole call: a server that trickles one
byte at a time keeps the call alive far past it. A deadline bounds the whole
call: before each socket operation the client sets the timeout to the time that
is left, and stops when none is. Across services, the remaining budget travels
with the request (here in an `X-Request-Budget-Ms` header, relative, so that
clocks need not agree), so that no hop keeps working for a caller that has given
up. And a timeout is chosen from the downstream's latency distribution: the
percentile above which you accept a false timeout.

Read first: the middleware page (`docs/application/middleware.md`, "Middleware
and request context"): this module builds on `snippets.application.middleware`,
whose request deadline (a contextvar, `remaining`, `DeadlineExceeded`, the
`deadline` middleware) is the one used here, on the client side too.

What it leaves out: connect timeouts apart from read timeouts (the socket's
timeout covers both here), cancelling work in other threads, gRPC's
`grpc-timeout` format, and asyncio's `timeout()`.

Run it: `python -m snippets.reliability.timeouts`.
"""

# --8<-- [start:trickle]
import socketserver
import threading
import time


class TrickleHandler(socketserver.BaseRequestHandler):
    """Answers any request with a body sent a byte every `interval` seconds."""

    def handle(self) -> None:
        self.request.settimeout(
            5
        )  # the demo's own bound: nothing waits for ever
        self.request.recv(65536)  # the request; its content does not matter
        body = b"x" * self.server.size
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n"
        try:
            self.request.sendall(head.encode())
            for byte in body:
                time.sleep(self.server.interval)
                self.request.sendall(bytes([byte]))
        except OSError:  # the client gave up and closed: that is the point
            pass


class TrickleServer(socketserver.ThreadingTCPServer):
    """A slow-drip server on a free loopback port; leaving joins its threads."""

    def __init__(self, size: int = 20, interval: float = 0.1) -> None:
        super().__init__(("127.0.0.1", 0), TrickleHandler)
        self.size, self.interval = size, interval

    def __enter__(self) -> "TrickleServer":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


# --8<-- [end:trickle]


# --8<-- [start:per_read]
import http.client


def get_with_read_timeout(address: tuple[str, int], timeout: float) -> bytes:
    """GET / with http.client's timeout: it bounds each wait, not the call."""
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        connection.request("GET", "/")
        return connection.getresponse().read()
    finally:
        connection.close()


# --8<-- [end:per_read]


# --8<-- [start:deadline]
import contextlib
import math
from collections.abc import Iterator

from snippets.application.middleware import (
    DeadlineExceeded,
    deadline_var,
    remaining,
)


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """A deadline `seconds` from now inside, or an outer, sooner one."""
    token = deadline_var.set(time.monotonic() + min(seconds, remaining()))
    try:
        yield
    finally:
        deadline_var.reset(token)


def time_left() -> float:
    """The budget for the next wait; DeadlineExceeded if there is none left."""
    left = remaining()
    if left <= 0:
        raise DeadlineExceeded("the deadline passed")
    return left


def get_by_deadline(address: tuple[str, int]) -> bytes:
    """GET / and read the body, each socket wait bounded by the time left."""
    connection = http.client.HTTPConnection(*address, timeout=time_left())
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        chunks = []
        while True:
            connection.sock.settimeout(time_left())  # shrink the next wait
            try:
                chunk = response.read1(65536)
            except TimeoutError as error:
                raise DeadlineExceeded(
                    "the deadline passed"
                ) from error  # as time_left
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        connection.close()


# --8<-- [end:deadline]


# --8<-- [start:propagate]
from snippets.application.app_core import (
    Handler,
    Middleware,
    Request,
    Response,
    call,
)
from snippets.application.middleware import deadline

BUDGET = (
    "X-Request-Budget-Ms"  # what is left of the caller's time, in milliseconds
)


def budget_from_caller(most: float) -> Middleware:
    """Run each request with the caller's remaining budget, at most `most` s."""

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            sent = request.header(BUDGET)
            seconds = most
            if sent is not None and sent.isascii() and sent.isdigit():
                seconds = min(most, int(sent) / 1000)
            return deadline(seconds)(handler)(request)  # 503 when it runs out

        return wrapped

    return middleware


MARGIN = 0.05  # seconds kept back for the answer to travel back to us


def call_within_budget(server, method: str, target: str) -> Response:
    """Call the next service with our remaining budget, and wait no longer."""
    left = time_left()
    if left <= MARGIN:  # too late to ask: the answer could not arrive in time
        raise DeadlineExceeded("no time left to call the next service")
    millis = str(math.floor((left - MARGIN) * 1000))
    try:
        headers = [(BUDGET, millis)]
        return call(server, method, target, headers=headers, timeout=left)
    except TimeoutError as error:
        raise DeadlineExceeded(
            "the next service did not answer in time"
        ) from error


# --8<-- [end:propagate]


# --8<-- [start:choose]
def timeout_from(
    latencies: list[float], false_timeouts: float = 0.001
) -> float:
    """The latency only `false_timeouts` of the calls exceed (nearest rank)."""
    ordered = sorted(latencies)
    rank = math.ceil((1 - false_timeouts) * len(ordered))  # 1-based
    return ordered[max(rank, 1) - 1]


# --8<-- [end:choose]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_trickle]
    with TrickleServer(size=20, interval=0.1) as trickle:
        start = time.monotonic()
        body = get_with_read_timeout(trickle.server_address, timeout=0.3)
        took = time.monotonic() - start
        print(len(body), "bytes; took over 1.9 s:", took > 1.9)
        #> 20 bytes; took over 1.9 s: True
        start = time.monotonic()
        try:
            with within(0.5):
                get_by_deadline(trickle.server_address)
        except DeadlineExceeded as error:
            took = time.monotonic() - start
            print(f"{error}; stopped by 0.5 + 0.2 s:", took < 0.7)
            #> the deadline passed; stopped by 0.5 + 0.2 s: True
    # --8<-- [end:demo_trickle]

    # --8<-- [start:demo_chain]
    from snippets.application.app_core import serving, text
    from snippets.application.middleware import check_deadline, log_lines

    finished: dict[str, float] = {}  # service -> when its handler returned

    def service_c(request: Request) -> Response:
        try:
            for _ in range(100):  # a slow job that checks its deadline
                time.sleep(0.02)
                check_deadline()
            return text("done\n")
        finally:
            finished["C"] = time.monotonic()

    def forwarding(name: str, downstream) -> Handler:
        def handler(request: Request) -> Response:
            try:
                return call_within_budget(downstream, "GET", "/")
            finally:
                finished[name] = time.monotonic()

        return handler

    with (
        log_lines(),
        serving(budget_from_caller(5.0)(service_c)) as c,
        serving(budget_from_caller(5.0)(forwarding("B", c))) as b,
        serving(budget_from_caller(5.0)(forwarding("A", b))) as a,
    ):
        start = time.monotonic()
        reply = call(a, "GET", "/", headers=[(BUDGET, "500")])
    by_deadline = all(t - start < 0.5 + 0.1 for t in finished.values())
    print(reply.status, sorted(finished), by_deadline)
    #> 503 ['A', 'B', 'C'] True
    # --8<-- [end:demo_chain]

    # --8<-- [start:demo_choose]
    import random

    draw = random.Random(3)
    latencies = [draw.lognormvariate(-3, 0.5) for _ in range(100_000)]  # ~50 ms
    chosen = timeout_from(latencies, false_timeouts=0.001)
    print(round(chosen, 3), sum(x > chosen for x in latencies))
    #> 0.234 100
    # --8<-- [end:demo_choose]
