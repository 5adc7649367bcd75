"""The connections page's claims: reuse, measured; pipelining in order; HOL blocking.

Oracles: `http.client`, a real HTTP/1.1 client, reuses one connection for N requests
(and our server counts 1 connection), or opens N connections when it sends
`Connection: close`; `h11` reads our server's pipelined answers as valid HTTP/1.1.
Timings are asserted only as ratios measured in the same run, with wide margins.
"""

from __future__ import annotations

import http.client
import socket
import sys
import threading
import time
from collections.abc import Iterator

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.communication import connections
from snippets.communication.connections import (
    CountingServer,
    HTTPError,
    connection_per_request,
    deliverable,
    keep_alive,
    keeps_alive,
    pipelined,
    read_head,
    read_response,
    request,
    running,
)
from tests import helpers
from tests.helpers import TIMEOUT


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with running(CountingServer(slow_seconds=0.5, idle_timeout=2.0)) as server:
        yield server


def raw_exchange(server: CountingServer, data: bytes) -> bytes:
    """Send raw bytes, half-close, and read everything until the server closes."""
    return helpers.raw_exchange(server.server_address, data, half_close=True)


# ---------------------------------------------------------------------------------------
# Oracle: http.client reuses a connection, and our server sees it


def test_http_client_sends_n_requests_over_one_connection(server) -> None:
    host, port = server.server_address
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        for i in range(10):
            conn.request("GET", f"/item/{i}")
            answer = conn.getresponse()
            assert (answer.status, answer.read()) == (200, f"/item/{i}".encode())
            assert not answer.will_close  # HTTP/1.1 without "close": it persists
    finally:
        conn.close()
    assert server.take_counts() == (1, 10)


def test_http_client_asking_to_close_needs_a_connection_per_request(server) -> None:
    host, port = server.server_address
    for i in range(10):
        conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        try:
            conn.request("GET", f"/item/{i}", headers={"Connection": "close"})
            answer = conn.getresponse()
            assert answer.read() == f"/item/{i}".encode()
            assert answer.will_close
            assert answer.getheader("Connection") == "close"  # RFC 9112 section 9.6
        finally:
            conn.close()
    assert server.take_counts() == (10, 10)


def test_our_two_clients_get_the_same_bodies_and_are_counted_right(server) -> None:
    targets = [f"/{i}" for i in range(20)]
    assert keep_alive(server.server_address, targets) == [t.encode() for t in targets]
    assert server.take_counts() == (1, 20)
    assert connection_per_request(server.server_address, targets) == [
        t.encode() for t in targets
    ]
    assert server.take_counts() == (20, 20)


def test_h11_reads_our_pipelined_answers_as_valid_http(server) -> None:
    targets = ["/a", "/b", "/c"]
    data = b"".join(request(t, close=(t == "/c")) for t in targets)
    raw = raw_exchange(server, data)
    client = h11.Connection(our_role=h11.CLIENT)
    client.receive_data(raw)
    client.receive_data(b"")  # the server closed after /c
    bodies = []
    for target in targets:
        client.send(h11.Request(method="GET", target=target, headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        event = client.next_event()
        assert isinstance(event, h11.Response)
        assert event.status_code == 200
        data_event = client.next_event()
        assert isinstance(data_event, h11.Data)
        bodies.append(bytes(data_event.data))
        assert isinstance(client.next_event(), h11.EndOfMessage)
        if target != "/c":
            client.start_next_cycle()
    assert bodies == [b"/a", b"/b", b"/c"]


# ---------------------------------------------------------------------------------------
# The measured claims


def test_keep_alive_is_measurably_faster_than_a_connection_per_request(server) -> None:
    speedup = connections.reuse_speedup(server.server_address, n=100)
    # Typically 9 to 25 on a quiet machine; about 2 when every core is saturated,
    # where thread switches dominate both sides of the ratio.
    assert speedup > 1.5, speedup


def test_a_fast_request_pipelined_behind_a_slow_one_waits_for_it(server) -> None:
    answers = pipelined(server.server_address, ["/slow", "/fast"])
    assert [body for body, _ in answers] == [b"/slow", b"/fast"]
    assert answers[1][1] >= server.slow_seconds
    assert server.take_counts() == (1, 2)


def test_on_its_own_connection_the_fast_request_does_not_wait(server) -> None:
    """The contrast: two connections in parallel, no head-of-line blocking."""
    results: dict[str, float] = {}

    def fetch(target: str) -> None:
        start = time.perf_counter()
        keep_alive(server.server_address, [target])
        results[target] = time.perf_counter() - start

    slow = threading.Thread(target=fetch, args=("/slow",))
    slow.start()
    try:
        fetch("/fast")
        # The claim, free of how loaded the machine is: the fast answer arrived while
        # the slow request was still being handled on the other connection.
        slow_still_running = slow.is_alive()
    finally:
        slow.join(TIMEOUT)
    assert slow_still_running
    assert results["/fast"] < results["/slow"]
    assert results["/slow"] >= server.slow_seconds


def test_many_pipelined_requests_come_back_in_request_order(server) -> None:
    targets = [f"/{i}" for i in range(50)]
    answers = pipelined(server.server_address, targets)
    assert [body for body, _ in answers] == [t.encode() for t in targets]
    assert server.take_counts() == (1, 50)


@pytest.mark.skipif(
    sys.platform != "linux", reason="delayed-ACK timers differ by OS; measured on Linux"
)
def test_a_response_written_in_two_pieces_stalls_until_nodelay() -> None:
    one_write = connections.seconds_per_request(n=6)
    two_writes = connections.seconds_per_request(n=6, split_writes=True)
    fixed = connections.seconds_per_request(n=6, split_writes=True, nodelay=True)
    assert two_writes > 10 * one_write, (two_writes, one_write)  # typically ~300x
    assert two_writes > 10 * fixed, (two_writes, fixed)
    assert two_writes > 0.02  # a lower bound, which load cannot break: 40 ms on Linux


# ---------------------------------------------------------------------------------------
# Connection management rules (RFC 9112 section 9)


@pytest.mark.parametrize(
    ("version", "connection", "persists"),
    [
        ("HTTP/1.1", None, True),
        ("HTTP/1.1", "keep-alive", True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "Upgrade, CLOSE", False),
        ("HTTP/1.0", None, False),
        ("HTTP/1.0", "keep-alive", False),  # allowed, not required: we do not honour it
    ],
)
def test_persistence_follows_rfc_9112_section_9_3(
    version: str, connection: str | None, persists: bool
) -> None:
    fields = {} if connection is None else {"connection": connection}
    assert keeps_alive(version, fields) is persists


def test_after_a_close_request_the_server_answers_it_then_closes(server) -> None:
    """Section 9.6: it MUST NOT process further requests on that connection."""
    raw = raw_exchange(server, request("/first", close=True) + request("/ignored"))
    assert raw.count(b"HTTP/1.1 200 OK") == 1
    assert b"Connection: close" in raw
    assert raw.endswith(b"/first")
    assert server.take_counts() == (1, 1)


def test_an_http_1_0_request_gets_one_answer_and_a_close(server) -> None:
    raw = raw_exchange(server, b"GET /old HTTP/1.0\r\n\r\n" + request("/more"))
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"Connection: close\r\n\r\n/old")


def test_a_request_body_is_read_so_the_next_request_parses(server) -> None:
    post = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    raw = raw_exchange(server, post + request("/after", close=True))
    assert raw.count(b"200 OK") == 2
    assert raw.endswith(b"/after")


def test_the_server_drops_a_connection_that_stays_idle() -> None:
    with (
        running(CountingServer(idle_timeout=0.2)) as server,
        socket.create_connection(server.server_address, timeout=TIMEOUT) as sock,
    ):
        start = time.perf_counter()
        assert sock.recv(1) == b""  # the server closed: our recv sees its FIN
        assert time.perf_counter() - start >= 0.15


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", b"431"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 9000, b"431"),  # no end of head in sight
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n x: folded\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999\r\n\r\n", b"413"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", b"501"),
        (b"GET / HTTP/2.0\r\n\r\n", b"505"),
        (b"GET/\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort", b"400"),
        (b"GET / HTTP/1.1\r\nHost: x", b"400"),  # closed in the middle of the head
    ],
)
def test_bad_requests_get_a_4xx_or_5xx_and_a_close(server, data, status) -> None:
    raw = raw_exchange(server, data)
    assert raw.startswith(b"HTTP/1.1 " + status)
    assert b"Connection: close" in raw


def test_a_client_that_closes_without_a_request_is_a_clean_end(server) -> None:
    assert raw_exchange(server, b"") == b""
    assert server.take_counts() == (1, 0)


# ---------------------------------------------------------------------------------------
# The client side's own limits


def test_read_response_refuses_a_server_that_closes_before_answering() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.close()
        with pytest.raises(ConnectionError, match="before answering"):
            read_response(ours, bytearray())


def test_read_response_refuses_a_malformed_status_line() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"HTTP/1.1 OK\r\n\r\n")
        with pytest.raises(HTTPError, match="502"):
            read_response(ours, bytearray())


def test_read_head_keeps_the_bytes_after_the_head_for_the_next_message() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"HEAD ONE\r\n\r\nbody")
        buffer = bytearray()
        assert read_head(ours, buffer) == b"HEAD ONE"
        assert buffer == b"body"


# ---------------------------------------------------------------------------------------
# The head-of-line model: HTTP/2 over TCP versus HTTP/3 over QUIC


def test_one_lost_packet_blocks_every_stream_in_tcp_but_one_in_quic() -> None:
    packets = [("A", "a1"), ("B", "b1"), ("C", "c1"), ("A", "a2")]
    assert deliverable(packets, {1}, per_stream=False) == {"A": "a1", "B": "", "C": ""}
    assert deliverable(packets, {1}, per_stream=True) == {
        "A": "a1a2",
        "B": "",
        "C": "c1",
    }


packets_strategy = st.lists(
    st.tuples(st.sampled_from("ABC"), st.text("xyz", min_size=1, max_size=3)),
    max_size=12,
)


@settings(max_examples=100)
@given(packets=packets_strategy, data=st.data())
def test_per_stream_delivery_never_delivers_less_than_one_byte_stream(
    packets: list[tuple[str, str]], data: st.DataObject
) -> None:
    lost = data.draw(st.sets(st.integers(0, max(len(packets) - 1, 0))))
    tcp = deliverable(packets, lost, per_stream=False)
    quic = deliverable(packets, lost, per_stream=True)
    for stream in tcp:
        assert quic[stream].startswith(tcp[stream])
    if not lost:
        assert tcp == quic  # with no loss the two transports deliver the same
    first_gap = min(lost, default=len(packets))
    streams_after_gap = {s for s, _ in packets[first_gap + 1 :]}
    for stream in streams_after_gap - {s for s, _ in packets[:first_gap]}:
        assert tcp[stream] == ""  # TCP: nothing after the first gap reaches the app
