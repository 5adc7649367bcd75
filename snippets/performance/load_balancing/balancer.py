"""An HTTP load balancer from scratch: a reverse proxy on loopback in front of
worker processes, one of them slow.

What it teaches: a balancer is a server and a client at once. It reads a
whole request with the chapter 1 parser (limits, and a 400 for ambiguous
framing such as Content-Length with Transfer-Encoding), asks a picker which
backend gets it, sends it there on a connection of its own, and relays the
answer. Hop-by-hop fields stay behind (RFC 9110 section 7.6.1); the body is
framed again by Content-Length, and each backend connection carries one
request, so a client cannot leave bytes behind for the next client's
request (request smuggling). With one backend ten times slower than the
others, round robin still gives it a third of the requests; least
connections sees its requests pile up and sends it far fewer.

Read first: `pickers` in this package, and the app_core page
(`docs/application/app_core.md`, "The application core"). This module
builds on `snippets.application.app_core` for every server and
`snippets.performance.load_balancing.pickers` for the choice.

What it leaves out: health checks and taking a dead backend out, retrying
an idempotent request on another backend, connection reuse to the backends,
streaming bodies (both are held in memory, up to app_core's limit),
Forwarded / X-Forwarded-For, and TLS.

Run it: `python -m snippets.performance.load_balancing.balancer`.
"""

from __future__ import annotations

# --8<-- [start:backend]
import sys
import time

from snippets.application.app_core import Request, Response, serving, text


def backend_app(name: str, delay: float):
    """A worker that takes `delay` seconds per request and says its name."""

    def work(request: Request) -> Response:
        time.sleep(delay)  # a query, a disk, a computation
        return text(name)

    return work


def serve_backend(name: str, delay: float) -> None:
    """Serve until the parent closes our stdin; the first line is the port."""
    with serving(backend_app(name, delay)) as server:
        print("listening", server.server_address[1], flush=True)
        sys.stdin.read()


# --8<-- [end:backend]


# --8<-- [start:processes]
import contextlib
import selectors
import subprocess
from collections.abc import Iterator

from snippets.application.app_core import TIMEOUT

Address = tuple[str, int]


def start(name: str, delay: float) -> subprocess.Popen[bytes]:
    module = "snippets.performance.load_balancing.balancer"
    command = [sys.executable, "-m", module, "serve", name, str(delay)]
    pipe = subprocess.PIPE
    return subprocess.Popen(command, stdin=pipe, stdout=pipe)


def port_of(process: subprocess.Popen[bytes]) -> int:
    """Wait (bounded) for the process's "listening PORT" line."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(4 * TIMEOUT):
            raise TimeoutError("a backend did not start in time")
    word, _, port = process.stdout.readline().decode().partition(" ")
    if word != "listening":
        raise RuntimeError("a backend exited before it listened")
    return int(port)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.stdin.close()  # the backend's stdin.read() returns: it exits
    try:
        process.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(TIMEOUT)
    process.stdout.close()


@contextlib.contextmanager
def backends(delays: dict[str, float]) -> Iterator[dict[str, Address]]:
    """One process per backend, started together; stopped on exit."""
    processes = {name: start(name, delay) for name, delay in delays.items()}
    try:
        yield {
            name: ("127.0.0.1", port_of(process))
            for name, process in processes.items()
        }
    finally:
        for process in processes.values():
            stop(process)


# --8<-- [end:processes]


# --8<-- [start:proxy]
import http.client
from urllib.parse import quote, urlencode

from snippets.application.app_core import Headers, problem

# RFC 9110 section 7.6.1: fields for this connection only, not to forward.
# The proxy frames each message again, so Content-Length goes too.
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length",
}  # fmt: skip


def forwardable(headers: Headers) -> Headers:
    """The fields to pass on: not hop-by-hop, not named in Connection."""
    named = {
        option.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for option in value.split(",")
    }
    drop = HOP_BY_HOP | named
    return [
        (name, value) for name, value in headers if name.lower() not in drop
    ]


def relay(address: Address, request: Request) -> Response:
    """Send the request to one backend on a new connection; read its answer."""
    target = quote(request.path)
    if request.query:
        target += "?" + urlencode(request.query, doseq=True)
    connection = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        connection.putrequest(
            request.method, target, skip_host=True, skip_accept_encoding=True
        )
        for name, value in forwardable(request.headers):
            connection.putheader(name, value)
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(request.body)))
        connection.putheader("Connection", "close")  # one request each
        connection.endheaders(request.body)
        reply = connection.getresponse()
        headers = forwardable(reply.getheaders())
        return Response(reply.status, reply.read(), headers)
    finally:
        connection.close()


def balancing(picker, addresses: dict[str, Address]):
    """A handler that forwards every request to the backend `picker` names."""

    def forward(request: Request) -> Response:
        backend = picker.pick()
        try:
            return relay(addresses[backend], request)
        except (OSError, http.client.HTTPException) as error:
            return problem(502, f"backend {backend} failed: {error!r}")
        finally:
            picker.done(backend)  # least connections: one fewer in flight

    return forward


# --8<-- [end:proxy]


# --8<-- [start:load]
import threading
from collections import Counter


def get(address: Address) -> str:
    """One GET on a new connection: the name of the backend that answered."""
    connection = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        connection.request("GET", "/")
        reply = connection.getresponse()
        body = reply.read().decode()
        return body if reply.status == 200 else f"error {reply.status}"
    finally:
        connection.close()


def spread(address: Address, clients: int, requests: int) -> Counter[str]:
    """`requests` GETs from `clients` threads, each waiting for its answer
    before it sends the next (a closed loop); count who answered each."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()  # guards counts and left
    left = [requests]

    def client() -> None:
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                name = get(address)
            except OSError as error:  # counted, never lost in a thread
                name = f"error {type(error).__name__}"
            with lock:
                counts[name] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=requests * TIMEOUT)
    return counts


def shares(counts: Counter[str]) -> dict[str, float]:
    total = sum(counts.values())
    return {name: counts[name] / total for name in sorted(counts)}


# --8<-- [end:load]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve_backend(sys.argv[2], float(sys.argv[3]))
elif __name__ == "__main__":
    from snippets.performance.load_balancing.pickers import (
        LeastConnections,
        RoundRobin,
    )

    # --8<-- [start:demo_shares]
    delays = {"a": 0.005, "b": 0.005, "slow": 0.05}  # slow: 10 times slower
    names, counts = list(delays), {}
    with backends(delays) as addresses:
        for picker in (RoundRobin(names), LeastConnections(names)):
            with serving(balancing(picker, addresses)) as front:
                got = spread(front.server_address, clients=6, requests=240)
            counts[type(picker).__name__] = got
    print(sorted(counts["RoundRobin"].items()))
    #> [('a', 80), ('b', 80), ('slow', 80)]
    slow = counts["LeastConnections"]["slow"] / 240
    print("least connections: slow got under 15%:", slow < 0.15)
    #> least connections: slow got under 15%: True
    # --8<-- [end:demo_shares]

    # --8<-- [start:demo_smuggling]
    import socket

    smuggled = (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    class Counting(RoundRobin):
        picks = 0  # requests the balancer tried to forward

        def pick(self) -> str:
            self.picks += 1
            return super().pick()

    picker = Counting(["a"])
    with (
        backends({"a": 0.0}) as addresses,
        serving(balancing(picker, addresses)) as front,
        socket.create_connection(front.server_address, TIMEOUT) as sock,
    ):
        sock.sendall(smuggled)
        answer = b""
        while chunk := sock.recv(65536):  # until the balancer closes
            answer += chunk
    print(answer.split(b"\r\n")[0], answer.count(b"HTTP/1.1 "))
    #> b'HTTP/1.1 400 Bad Request' 1
    print("requests forwarded:", picker.picks)
    #> requests forwarded: 0
    # --8<-- [end:demo_smuggling]
