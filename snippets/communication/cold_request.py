"""The latency of a cold request: counting round trips, then measuring them.

What it teaches: before the first byte of an HTTPS response arrives, a new
client spends whole round trips on setup: one to ask a DNS resolver for the
address, one for the TCP handshake, one for the TLS 1.3 handshake (two with
TLS 1.2), and one for the HTTP request itself. Far from the server, those
round trips, not the server, set the latency. A small model adds them up for a
cold request, a request on a kept-alive connection, a resumed TLS session,
0-RTT early data and HTTP/3. A delaying relay on loopback then adds a fixed
one-way delay to every TCP chunk and UDP datagram, and a real DNS server, a
real TLS 1.3 server and Python's `ssl` client show the measured time divided
by the round-trip time landing on the model's count.

Read first: the connections page (`docs/communication/connections.md`,
"Connections"), the TLS page (`docs/communication/tls_basics.md`, "TLS") and
the DNS page (`docs/communication/dns_wire.md`, "DNS: names on the wire").
This module builds on `snippets.communication.dns_wire` (the DNS server and the
stub query), `snippets.communication.tls_basics` (the TLS server, its
contexts and the test PKI) and `snippets.communication.connections` (the
HTTP/1.1 request and response reader).

What it leaves out: packet loss and retransmission, TCP slow start and the
congestion window (the relay delays every chunk the same, however large),
bandwidth, DNS recursion beyond one resolver, TLS 0-RTT early data (Python's
`ssl` module cannot send it) and QUIC (no QUIC in the standard library): those
appear in the model only.

Run it: `python -m snippets.communication.cold_request` (needs the `openssl`
command, like the TLS page).
"""

# --8<-- [start:model]
from dataclasses import dataclass

# Round trips each step costs before the client can go on.
STEPS = {
    "dns": 1,  # one question to the resolver, answered from its cache
    "tcp": 1,  # SYN, SYN-ACK: data leaves with the final ACK
    "tls13": 1,  # ClientHello ... Finished (RFC 8446, section 2)
    "tls12": 2,  # TLS 1.2 needs two flights each way (RFC 5246, 7.3)
    "tls12_resumed": 1,  # TLS 1.2's abbreviated handshake (same section)
    "quic": 1,  # transport and TLS 1.3 in one handshake (RFC 9000, 7)
    "http": 1,  # the request goes out, the response comes back
}

SCENARIOS = {
    "cold, TLS 1.3": ("dns", "tcp", "tls13", "http"),
    "cold, TLS 1.2": ("dns", "tcp", "tls12", "http"),
    "new connection, DNS cached": ("tcp", "tls13", "http"),
    "resumed TLS 1.3 session": ("tcp", "tls13", "http"),
    "resumed TLS 1.2 session": ("tcp", "tls12_resumed", "http"),
    "resumed with 0-RTT data": ("tcp", "http"),
    "kept-alive connection": ("http",),
    "cold HTTP/3": ("dns", "quic", "http"),
    "HTTP/3 with 0-RTT": ("http",),
}


def round_trips(scenario: str) -> int:
    """How many round trips a scenario waits for, by the table above."""
    return sum(STEPS[step] for step in SCENARIOS[scenario])


def predicted(scenario: str, one_way: float, server_time: float) -> float:
    """Seconds until the response: round trips x (2 x one-way) + server."""
    return round_trips(scenario) * 2 * one_way + server_time


# --8<-- [end:model]


# --8<-- [start:edge]
def through_edge(near_one_way: float, far_one_way: float) -> float:
    """A cold request through an edge that keeps a warm origin connection.

    The client's four round trips are short (to the nearby edge); the edge
    forwards the request on a connection it already holds: one long trip.
    """
    near = round_trips("cold, TLS 1.3") * 2 * near_one_way
    return near + round_trips("kept-alive connection") * 2 * far_one_way


# --8<-- [end:edge]


# --8<-- [start:relay]
import contextlib
import heapq
import itertools
import selectors
import socket
import threading
import time
from collections.abc import Callable

TIMEOUT = 5.0  # seconds: every socket and every wait has a limit


def no_delay(sock: socket.socket) -> socket.socket:
    """Turn Nagle's algorithm off: a small write goes out without waiting
    for the ACK of the one before (see the connections page)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class DelayLine:
    """Relays TCP and UDP on loopback, holding every chunk `one_way` seconds.

    One thread runs a selector over every socket and a heap of deliveries
    that are due later, so chunks keep their order and do not queue behind
    each other's delays. Set up its relays before entering: from then on,
    only its thread touches the selector.
    """

    def __init__(self, one_way: float) -> None:
        self.one_way = one_way
        self.selector = selectors.DefaultSelector()
        # heap of (due time, tie-breaker, action); only the thread touches it
        self.due: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.owned: list[socket.socket] = []  # closed on exit
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def later(self, delay_from: float, action: Callable[[], None]) -> None:
        """Run `action` one one-way delay after `delay_from`."""
        due = delay_from + self.one_way
        heapq.heappush(self.due, (due, next(self.order), action))

    def watch(self, sock: socket.socket, on_ready: Callable[[], None]) -> None:
        sock.settimeout(TIMEOUT)
        self.owned.append(sock)
        self.selector.register(sock, selectors.EVENT_READ, on_ready)

    def _run(self) -> None:
        while not self.stopping.is_set():
            while self.due and self.due[0][0] <= time.monotonic():
                heapq.heappop(self.due)[2]()
            wait = self.due[0][0] - time.monotonic() if self.due else 0.05
            for key, _ in self.selector.select(min(max(wait, 0), 0.05)):
                key.data()

    def __enter__(self) -> "DelayLine":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(TIMEOUT)
        self.selector.close()
        for sock in self.owned:
            sock.close()


# --8<-- [end:relay]


# --8<-- [start:relay_tcp]
def relay_tcp(line: DelayLine, target: tuple[str, int]) -> tuple[str, int]:
    """Listen on a free port; relay each connection to `target`, delayed."""
    listener = socket.create_server(("127.0.0.1", 0))
    line.watch(listener, lambda: _accept(line, listener, target))
    return listener.getsockname()


def _accept(line: DelayLine, listener: socket.socket, target) -> None:
    client, _ = listener.accept()
    server = socket.create_connection(target, timeout=TIMEOUT)
    no_delay(client), no_delay(server)  # a relay forwards chunks as they come
    # The kernel already finished the client's handshake, in microseconds.
    # On a real path its first bytes leave with the last ACK, after the
    # SYN-ACK came back: one round trip after the SYN. Hold them until then.
    handshake_done = time.monotonic() + 2 * line.one_way
    _pipe(line, client, server, not_before=handshake_done)
    _pipe(line, server, client, not_before=0.0)


def _pipe(line: DelayLine, src, dst, not_before: float) -> None:
    def on_ready() -> None:
        try:
            data = src.recv(65536)
        except OSError:  # reset by the peer: treat as the end
            data = b""
        sent_at = max(time.monotonic(), not_before)
        if data:
            line.later(sent_at, lambda: _send(dst, data))
        else:  # end of stream: pass it on, delayed like data
            line.selector.unregister(src)
            line.later(sent_at, lambda: _send(dst, b""))

    line.watch(src, on_ready)


def _send(dst: socket.socket, data: bytes) -> None:
    # the other side may be gone: drop what it cannot receive
    with contextlib.suppress(OSError):
        dst.sendall(data) if data else dst.shutdown(socket.SHUT_WR)


# --8<-- [end:relay_tcp]


# --8<-- [start:relay_udp]
def relay_udp(line: DelayLine, target: tuple[str, int]) -> tuple[str, int]:
    """Relay datagrams to `target` and replies back, each delayed once."""
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(("127.0.0.1", 0))
    upstreams: dict[tuple[str, int], socket.socket] = {}  # one per client

    def reply_to(client, upstream: socket.socket) -> Callable[[], None]:
        def on_reply() -> None:
            data = upstream.recv(65536)
            line.later(time.monotonic(), lambda: front.sendto(data, client))

        return on_reply

    def on_query() -> None:
        data, client = front.recvfrom(65536)
        if client not in upstreams:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            upstream.connect(target)
            upstreams[client] = upstream
            line.watch(upstream, reply_to(client, upstream))
        line.later(time.monotonic(), lambda: upstreams[client].send(data))

    line.watch(front, on_query)
    return front.getsockname()


# --8<-- [end:relay_udp]


# --8<-- [start:site]
import ssl
from collections.abc import Iterator
from pathlib import Path

from snippets.communication.dns_wire import DnsResponder, Soa, Zone
from snippets.communication.tls_basics import TLSServer, server_context

NAME = "www.shop.test"  # .test is reserved for testing (RFC 6761)


class PromptTLSServer(TLSServer):
    """The TLS page's server with Nagle's algorithm off: it writes a head and
    a body, and the body must not wait for the head's ACK."""

    def finish_request(self, request: socket.socket, client_address) -> None:
        super().finish_request(no_delay(request), client_address)


@dataclass(frozen=True)
class Site:
    """Where a client finds a delayed site: its resolver, name and port."""

    resolver: tuple[str, int]  # the DNS relay, as the client sees it
    name: str
    port: int  # the TLS relay's port (443 on the real web)
    line: DelayLine  # its `one_way` may change between visits


@contextlib.contextmanager
def delayed_site(chain: Path, key: Path, one_way: float) -> Iterator[Site]:
    """A DNS server and a TLS server for NAME, both behind a DelayLine."""
    zone = Zone(
        origin="shop.test",
        soa=Soa("ns1.shop.test", "hostmaster.shop.test", 1, 60, 60, 60, 60),
        addresses={NAME: ["127.0.0.1"]},
    )
    with (
        DnsResponder(zone) as dns,
        PromptTLSServer(server_context(chain, key)) as s,
    ):
        line = DelayLine(one_way)  # relays first, then its thread starts
        resolver = relay_udp(line, dns.server_address[:2])
        port = relay_tcp(line, s.server_address[:2])[1]
        with line:
            yield Site(resolver, NAME, port, line)


# --8<-- [end:site]


# --8<-- [start:client]
from snippets.communication.connections import read_response, request
from snippets.communication.dns_wire import query_udp


@dataclass
class Visit:
    """The seconds each step of a visit took, as the client saw them."""

    dns: float = 0.0
    handshakes: float = 0.0  # TCP and TLS: see the page for why together
    first: float = 0.0  # the first request and its response
    second: float = 0.0  # a second request on the same connection
    resumed: bool = False  # did TLS resume a session (PSK)?
    session: ssl.SSLSession | None = None  # to resume next time


def visit(
    site: Site,
    context: ssl.SSLContext,
    address: str | None = None,  # skip DNS: the address is cached
    session: ssl.SSLSession | None = None,  # resume this TLS session
) -> Visit:
    """Resolve, connect, handshake, then send two requests on one connection."""
    timing, started = Visit(), time.perf_counter()

    def lap() -> float:
        nonlocal started
        elapsed, started = time.perf_counter() - started, time.perf_counter()
        return elapsed

    if address is None:
        address = query_udp(site.name, site.resolver).answers[0].data
        timing.dns = lap()
    raw = no_delay(socket.create_connection((address, site.port), TIMEOUT))
    with (
        raw,
        context.wrap_socket(
            raw, server_hostname=site.name, session=session
        ) as tls,
    ):
        timing.handshakes, buffer = lap(), bytearray()
        for step in ("first", "second"):
            tls.sendall(request("/"))
            if (status := read_response(tls, buffer)[0]) != 200:
                raise ConnectionError(f"the site answered {status}")
            setattr(timing, step, lap())
        timing.resumed, timing.session = tls.session_reused, tls.session
    return timing


# --8<-- [end:client]


# --8<-- [start:rtts]
def in_round_trips(seconds: float, one_way: float) -> float:
    """A duration as a number of round trips (2 x the one-way delay)."""
    return seconds / (2 * one_way)


def best_times(site: Site, context: ssl.SSLContext, rounds: int) -> dict:
    """Seconds of a cold, a kept-alive and a resumed visit: each step the
    best of `rounds`, since noise (another process taking the CPU) only ever
    adds time: the smallest of a few tries is the closest to the path's cost.
    """
    steps = ("dns", "handshakes", "first", "second", "resumed")
    seen: dict[str, list[float]] = {step: [] for step in steps}
    for _ in range(rounds):
        cold = visit(site, context)
        again = visit(site, context, address="127.0.0.1", session=cold.session)
        if not again.resumed:
            raise RuntimeError("TLS did not resume the session")
        for step in steps[:-1]:
            seen[step].append(getattr(cold, step))
        seen["resumed"].append(again.handshakes + again.first)
    best = {step: min(times) for step, times in seen.items()}
    return {
        "cold": best["dns"] + best["handshakes"] + best["first"],
        "kept-alive": best["second"],
        "resumed": best["resumed"],
    }


def measured_round_trips(
    site: Site, context: ssl.SSLContext, rounds: int = 3
) -> dict[str, float]:
    """Each visit's time with the delay, minus its time without, in RTTs.

    Without the delay, a visit still takes the computers' time (key
    exchanges, signatures, the handler): the model's server time.
    """
    one_way = site.line.one_way
    delayed = best_times(site, context, rounds)
    site.line.one_way = 0.0
    try:
        local = best_times(site, context, rounds)
    finally:
        site.line.one_way = one_way
    return {
        kind: round(in_round_trips(delayed[kind] - local[kind], one_way), 2)
        for kind in delayed
    }


# --8<-- [end:rtts]


if __name__ == "__main__":
    # The page checks the `#>` lines under each print: the formatter must keep
    # them.
    # fmt: off
    # --8<-- [start:demo_model]
    for scenario in SCENARIOS:
        print(f"{scenario}: {round_trips(scenario)}")
        #> cold, TLS 1.3: 4
        #> cold, TLS 1.2: 5
        #> new connection, DNS cached: 3
        #> resumed TLS 1.3 session: 3
        #> resumed TLS 1.2 session: 3
        #> resumed with 0-RTT data: 2
        #> kept-alive connection: 1
        #> cold HTTP/3: 3
        #> HTTP/3 with 0-RTT: 1
    far = predicted("cold, TLS 1.3", one_way=0.075, server_time=0.020)
    print(f"{far * 1000:.0f} ms")
    #> 620 ms
    # --8<-- [end:demo_model]
    # --8<-- [start:demo_edge]
    direct = predicted("cold, TLS 1.3", one_way=0.075, server_time=0)
    edge = through_edge(near_one_way=0.005, far_one_way=0.075)
    print(f"direct {direct * 1000:.0f} ms, through an edge {edge * 1000:.0f} ms")
    #> direct 600 ms, through an edge 190 ms
    # --8<-- [end:demo_edge]
    # --8<-- [start:demo_measure]
    import tempfile

    from snippets.communication.tls_basics import make_test_pki

    with tempfile.TemporaryDirectory() as folder:
        pki = make_test_pki(Path(folder), host=NAME)
        with delayed_site(pki.chain_cert, pki.leaf_key, one_way=0.05) as site:
            context = ssl.create_default_context(cafile=pki.root_cert)
            context.minimum_version = ssl.TLSVersion.TLSv1_3
            measured = measured_round_trips(site, context)
    model = {
        "cold": "cold, TLS 1.3",
        "kept-alive": "kept-alive connection",
        "resumed": "resumed TLS 1.3 session",
    }
    for kind, scenario in model.items():
        close = abs(measured[kind] - round_trips(scenario)) < 0.5
        print(f"{kind}: model {round_trips(scenario)}, close: {close}")
        #> cold: model 4, close: True
        #> kept-alive: model 1, close: True
        #> resumed: model 3, close: True
    # --8<-- [end:demo_measure]
