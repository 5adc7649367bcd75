"""How TCP delivers: cumulative ACKs, the RTO, windows and Reno's cwnd.

Read first: the sockets page (`docs/communication/sockets.md`, "Sockets, TCP
and UDP") for the handshake and the byte stream, and the connections page
(`docs/communication/connections.md`, "Connections") for head-of-line blocking.
This module models, in whole segments, what the kernel does under a socket: a
receiver that acknowledges cumulatively and the duplicate ACKs a loss causes;
the retransmission timeout of RFC 6298 computed from RTT samples; the window a
sender may use, the initial window of RFC 6928, the bandwidth-delay product and
the window scale of RFC 7323; and a round-by-round simulation of slow start,
congestion avoidance, fast recovery and timeouts as RFC 5681 describes them.
Then it asks Linux for its own view of a real loopback connection: `TCP_INFO`,
decoded at the offsets of `struct tcp_info` in linux/tcp.h.

What it leaves out: bytes (the models count segments), SACK, delayed ACKs,
pacing, the exact timing of fast recovery (one round in the model), CUBIC and
BBR themselves, and every sending or receiving on a real network with loss.

Run it: `python -m snippets.communication.tcp_delivery`.
"""


# --8<-- [start:acks]
def cumulative_acks(arrivals: list[int], mss: int) -> list[int]:
    """The ACK a receiver sends after each segment arrives.

    Segment `n` carries bytes n*mss to (n+1)*mss - 1. An ACK names the next
    byte expected: everything before it has arrived (RFC 9293 section 3.4).
    """
    received: set[int] = set()
    next_segment = 0  # first segment not yet received in order
    acks = []
    for segment in arrivals:
        received.add(segment)
        while next_segment in received:  # a gap filled moves the ACK on
            next_segment += 1
        acks.append(next_segment * mss)
    return acks


def fast_retransmit_after(acks: list[int], threshold: int = 3) -> int | None:
    """Index of the ACK that triggers a fast retransmit, or None.

    RFC 5681 section 3.2: the sender retransmits after 3 duplicate ACKs.
    """
    duplicates = 0
    for i in range(1, len(acks)):
        duplicates = duplicates + 1 if acks[i] == acks[i - 1] else 0
        if duplicates == threshold:
            return i
    return None


# --8<-- [end:acks]


# --8<-- [start:rto]
class RtoEstimator:
    """The retransmission timeout of RFC 6298 section 2, in seconds."""

    ALPHA, BETA, K = 1 / 8, 1 / 4, 4

    def __init__(self, granularity: float = 0.0, min_rto: float = 1.0):
        self.granularity = granularity  # G, the clock's tick
        self.min_rto = min_rto  # (2.4): RTO is rounded up to 1 second
        self.srtt: float | None = None
        self.rttvar: float | None = None
        self.rto = 1.0  # (2.1): 1 second until the first measurement

    def sample(self, r: float) -> float:
        """Take one RTT measurement R; return the new RTO."""
        if self.srtt is None:  # (2.2): the first measurement
            self.srtt, self.rttvar = r, r / 2
        else:  # (2.3): RTTVAR first, from the old SRTT
            self.rttvar = (1 - self.BETA) * self.rttvar + self.BETA * abs(
                self.srtt - r
            )
            self.srtt = (1 - self.ALPHA) * self.srtt + self.ALPHA * r
        rto = self.srtt + max(self.granularity, self.K * self.rttvar)
        self.rto = max(rto, self.min_rto)
        return self.rto

    def backoff(self) -> float:
        """(5.5): the timer expired; double the RTO."""
        self.rto *= 2
        return self.rto


# --8<-- [end:rto]


# --8<-- [start:windows]
MAX_UNSCALED_WINDOW = 65_535  # the header's window field has 16 bits
MAX_WINDOW_SCALE = 14  # RFC 7323 section 2.3


def usable_window(cwnd: int, rwnd: int, in_flight: int) -> int:
    """How much more a sender may send now: the smaller window minus what is
    unacknowledged ("The minimum of cwnd and rwnd governs data
    transmission", RFC 5681 section 3.1)."""
    return max(0, min(cwnd, rwnd) - in_flight)


def initial_window(mss: int) -> int:
    """RFC 6928's initial window, in bytes."""
    return min(10 * mss, max(2 * mss, 14_600))


def bdp_bytes(bits_per_second: float, rtt_seconds: float) -> int:
    """The bandwidth-delay product: the bytes in flight that fill a path."""
    return round(bits_per_second / 8 * rtt_seconds)


def window_scale(window: int) -> int:
    """The smallest shift that makes `window` fit the 16-bit field."""
    shift = 0
    while window >> shift > MAX_UNSCALED_WINDOW and shift < MAX_WINDOW_SCALE:
        shift += 1
    return shift


# --8<-- [end:windows]


# --8<-- [start:reno]
from dataclasses import dataclass

INFINITE = 2**31 - 1  # "arbitrarily high" initial ssthresh (RFC 5681 3.1)


@dataclass(frozen=True)
class Round:
    number: int
    cwnd: int  # segments the sender may have in flight this round
    ssthresh: int
    event: str  # "", "3 dup ACKs" or "timeout"


def on_ack(cwnd: int, ssthresh: int, acked: int) -> tuple[int, int]:
    """One ACK for one new segment: slow start adds a segment; congestion
    avoidance adds one per window's worth of ACKs (about one per RTT)."""
    if cwnd < ssthresh:
        return cwnd + 1, 0
    acked += 1
    if acked >= cwnd:
        return cwnd + 1, 0
    return cwnd, acked


def reno(rounds: int, losses=(), timeouts=(), iw=10, ssthresh=INFINITE):
    """cwnd per round trip; a loss in round r is seen at its end."""
    cwnd, acked, trace = iw, 0, []
    for r in range(rounds):
        event = "3 dup ACKs" if r in losses else ""
        event = "timeout" if r in timeouts else event
        trace.append(Round(r, cwnd, ssthresh, event))
        flight = cwnd  # every round sends a full window
        if event:  # ssthresh = max(FlightSize / 2, 2 * SMSS)
            ssthresh, acked = max(flight // 2, 2), 0
            # fast recovery ends at ssthresh; a timeout restarts at 1
            cwnd = 1 if event == "timeout" else ssthresh
            continue
        for _ in range(flight):  # one ACK per segment
            cwnd, acked = on_ack(cwnd, ssthresh, acked)
    return trace


def rounds_to_reach(segments: int, iw: int = 10) -> int:
    """Round trips of loss-free slow start until cwnd >= `segments`."""
    n = 1
    while reno(n, iw=iw)[-1].cwnd < segments:
        n += 1
    return n - 1


# --8<-- [end:reno]


# --8<-- [start:tcp_info]
import socket
import struct

# struct tcp_info in linux/tcp.h, from tcpi_state to tcpi_total_retrans:
# eight __u8 (two of them bit fields), then 24 __u32. Native order, no gaps.
TCP_INFO_FORMAT = "=8B24I"
TCP_INFO_FIELDS = (
    *("state", "ca_state", "retransmits", "probes", "backoff", "options"),
    *("wscale", "flags", "rto", "ato", "snd_mss", "rcv_mss", "unacked"),
    *("sacked", "lost", "retrans", "fackets", "last_data_sent"),
    *("last_ack_sent", "last_data_recv", "last_ack_recv", "pmtu"),
    *("rcv_ssthresh", "rtt", "rttvar", "snd_ssthresh", "snd_cwnd", "advmss"),
    *("reordering", "rcv_rtt", "rcv_space", "total_retrans"),
)
TCP_ESTABLISHED = 1  # tcpi_state uses the kernel's TCP state numbers
TCPI_OPT_TIMESTAMPS, TCPI_OPT_WSCALE = 1, 4  # bits of tcpi_options


def tcp_info(sock: socket.socket) -> dict[str, int]:
    """The kernel's view of a connection (Linux only). Times are in
    microseconds, snd_cwnd and snd_ssthresh in segments."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    values = struct.unpack_from(TCP_INFO_FORMAT, raw)
    info = dict(zip(TCP_INFO_FIELDS, values, strict=True))
    # tcpi_snd_wscale : 4, tcpi_rcv_wscale : 4 share one byte
    info["snd_wscale"] = info["wscale"] & 0x0F
    info["rcv_wscale"] = info["wscale"] >> 4
    return info


# --8<-- [end:tcp_info]


# --8<-- [start:connection]
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

TIMEOUT = 5.0  # seconds: every socket and every wait has a limit


@contextmanager
def loopback_pair(congestion: bytes | None = None) -> Iterator[tuple]:
    """A connected (client, server) pair on 127.0.0.1, closed on exit."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.socket()
        client.settimeout(TIMEOUT)
        if congestion:  # the algorithm for this socket, e.g. b"reno"
            client.setsockopt(
                socket.IPPROTO_TCP, socket.TCP_CONGESTION, congestion
            )
        client.connect(listener.getsockname())
        server, _ = listener.accept()
    server.settimeout(TIMEOUT)
    with client, server:
        yield client, server


def send_through(client, server, size: int) -> None:
    """Send `size` bytes client to server; return once all are acknowledged."""
    reader = threading.Thread(target=drain, args=(server, size))
    reader.start()
    client.sendall(b"x" * size)
    reader.join(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while tcp_info(client)["unacked"] and time.monotonic() < deadline:
        time.sleep(0.001)  # the last ACK is on its way


def drain(sock: socket.socket, size: int) -> None:
    received = 0
    while received < size and (chunk := sock.recv(1 << 20)):
        received += len(chunk)


# --8<-- [end:connection]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_acks]
    arrivals = [0, 1, 3, 4, 5, 6, 2]  # segment 2 is lost, then resent
    acks = cumulative_acks(arrivals, mss=1000)
    print(acks)
    #> [1000, 2000, 2000, 2000, 2000, 2000, 7000]
    print("fast retransmit after ACK", fast_retransmit_after(acks))
    #> fast retransmit after ACK 4
    # --8<-- [end:demo_acks]

    # --8<-- [start:demo_rto]
    estimator = RtoEstimator()
    print(estimator.rto)
    #> 1.0
    for r in (0.1, 0.1, 0.9, 0.1):  # seconds
        rto = estimator.sample(r)
        srtt, rttvar = estimator.srtt, estimator.rttvar
        print(f"R={r}: SRTT={srtt:.4f} RTTVAR={rttvar:.4f} RTO={rto:.4f}")
        #> R=0.1: SRTT=0.1000 RTTVAR=0.0500 RTO=1.0000
        #> R=0.1: SRTT=0.1000 RTTVAR=0.0375 RTO=1.0000
        #> R=0.9: SRTT=0.2000 RTTVAR=0.2281 RTO=1.1125
        #> R=0.1: SRTT=0.1875 RTTVAR=0.1961 RTO=1.0000
    print(estimator.backoff())
    #> 2.0
    # --8<-- [end:demo_rto]

    # --8<-- [start:demo_linux_rto]
    linux_like = RtoEstimator(min_rto=0.2)
    print(round(linux_like.sample(0.00003), 3))
    #> 0.2
    # --8<-- [end:demo_linux_rto]

    # --8<-- [start:demo_windows]
    print(usable_window(cwnd=20, rwnd=8, in_flight=5))
    #> 3
    print(initial_window(1460), initial_window(65483) // 65483)
    #> 14600 2
    bdp = bdp_bytes(1e9, 0.100)  # 1 Gbit/s, 100 ms round trip
    ceiling = MAX_UNSCALED_WINDOW * 8 / 0.100 / 1e6
    print(bdp, window_scale(bdp), f"{ceiling:.1f} Mbit/s unscaled")
    #> 12500000 8 5.2 Mbit/s unscaled
    # --8<-- [end:demo_windows]

    # --8<-- [start:demo_reno]
    trace = reno(16, losses={4}, timeouts={9})
    print(" ".join(str(r.cwnd) for r in trace))
    #> 10 20 40 80 160 80 81 82 83 84 1 2 4 8 16 32
    for r in trace:
        if r.event:
            print(r.number, r.event, r.cwnd, "->", trace[r.number + 1].cwnd)
            #> 4 3 dup ACKs 160 -> 80
            #> 9 timeout 84 -> 1
    bdp = bdp_bytes(1e9, 0.100)  # the long fat pipe again
    print(rounds_to_reach(bdp // 1460), "round trips of slow start")
    #> 10 round trips of slow start
    # --8<-- [end:demo_reno]

    # --8<-- [start:demo_kernel]
    with loopback_pair(congestion=b"reno") as (client, server):
        fresh = tcp_info(client)
        send_through(client, server, 2_000_000)
        after = tcp_info(client)
    print(fresh["state"] == TCP_ESTABLISHED, fresh["snd_cwnd"])
    #> True 10
    print("cwnd grew:", after["snd_cwnd"] > fresh["snd_cwnd"])
    #> cwnd grew: True
    print("retransmitted:", after["total_retrans"])
    #> retransmitted: 0
    print("RTO over 10 x RTT:", after["rto"] > 10 * after["rtt"])
    #> RTO over 10 x RTT: True
    print("RTO under RFC 6298's 1 s:", after["rto"] < 1_000_000)
    #> RTO under RFC 6298's 1 s: True
    # --8<-- [end:demo_kernel]
