"""The TCP delivery page's claims: cumulative ACKs, RFC 6298's RTO, windows, Reno.

Oracles: the RFCs' own rules (RFC 6298 section 2, RFC 5681 section 3, RFC 6928,
RFC 7323) applied to generated inputs, and the Linux kernel itself: `TCP_INFO`
read from real loopback connections, decoded at the offsets of `struct tcp_info`
in the uapi header linux/tcp.h (checked against the installed header when there
is one). Nothing here times anything: the kernel tests compare the kernel's
numbers with each other and with the models.
"""

from __future__ import annotations

import itertools
import re
import socket
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snippets.communication.tcp_delivery import (
    INFINITE,
    MAX_UNSCALED_WINDOW,
    TCP_ESTABLISHED,
    TCP_INFO_FIELDS,
    TCP_INFO_FORMAT,
    TCPI_OPT_TIMESTAMPS,
    TCPI_OPT_WSCALE,
    RtoEstimator,
    bdp_bytes,
    cumulative_acks,
    fast_retransmit_after,
    initial_window,
    loopback_pair,
    reno,
    rounds_to_reach,
    send_through,
    tcp_info,
    usable_window,
    window_scale,
)

MSS = 1000

# ---------------------------------------------------------------------------------------
# Sequence numbers and cumulative ACKs


def test_in_order_segments_are_acknowledged_one_mss_at_a_time() -> None:
    assert cumulative_acks([0, 1, 2], MSS) == [1000, 2000, 3000]


def test_a_lost_segment_turns_every_later_arrival_into_a_duplicate_ack() -> None:
    acks = cumulative_acks([0, 1, 3, 4, 5], MSS)
    assert acks == [1000, 2000, 2000, 2000, 2000]
    assert fast_retransmit_after(acks) == 4  # the third duplicate


def test_the_retransmission_acknowledges_everything_buffered_behind_the_gap() -> None:
    acks = cumulative_acks([0, 1, 3, 4, 5, 2], MSS)
    assert acks[-1] == 6 * MSS


def test_two_duplicates_from_reordering_do_not_trigger_a_fast_retransmit() -> None:
    acks = cumulative_acks([0, 2, 3, 1, 4], MSS)
    assert acks == [1000, 1000, 1000, 4000, 5000]
    assert fast_retransmit_after(acks) is None


@given(st.permutations(range(12)))
def test_acks_never_go_back_and_end_at_the_last_byte(order: list[int]) -> None:
    acks = cumulative_acks(order, MSS)
    assert acks == sorted(acks)
    assert acks[-1] == 12 * MSS
    for ack, received in zip(
        acks, (set(order[: i + 1]) for i in range(12)), strict=True
    ):
        assert all(segment in received for segment in range(ack // MSS))


# ---------------------------------------------------------------------------------------
# RFC 6298's retransmission timeout


def test_rto_is_one_second_before_any_measurement() -> None:
    assert RtoEstimator().rto == 1.0  # (2.1)


def test_first_measurement_sets_srtt_to_r_and_rttvar_to_half_of_it() -> None:
    estimator = RtoEstimator()
    rto = estimator.sample(0.5)
    assert (estimator.srtt, estimator.rttvar) == (0.5, 0.25)  # (2.2)
    assert rto == pytest.approx(0.5 + 4 * 0.25)  # above the floor: 1.5 s


def test_rttvar_is_updated_from_the_old_srtt_before_srtt_moves() -> None:
    estimator = RtoEstimator(min_rto=0.0)
    estimator.sample(0.1)
    rto = estimator.sample(0.9)
    rttvar = 3 / 4 * 0.05 + 1 / 4 * abs(0.1 - 0.9)  # (2.3), old SRTT = 0.1
    srtt = 7 / 8 * 0.1 + 1 / 8 * 0.9
    assert estimator.rttvar == pytest.approx(rttvar)
    assert estimator.srtt == pytest.approx(srtt)
    assert rto == pytest.approx(srtt + 4 * rttvar)


def test_a_small_rto_is_rounded_up_to_one_second() -> None:
    assert RtoEstimator().sample(0.1) == 1.0  # (2.4): 0.3 s becomes 1 s


def test_the_clock_granularity_is_a_floor_on_the_variance_term() -> None:
    estimator = RtoEstimator(granularity=0.5, min_rto=0.0)
    assert estimator.sample(0.01) == pytest.approx(0.01 + 0.5)


def test_an_expired_timer_doubles_the_rto() -> None:
    estimator = RtoEstimator()
    estimator.sample(0.5)
    assert estimator.backoff() == pytest.approx(3.0)  # (5.5)
    assert estimator.backoff() == pytest.approx(6.0)


@given(st.lists(st.floats(min_value=1e-6, max_value=10.0), min_size=1, max_size=30))
def test_rto_never_falls_below_one_second_or_srtt(samples: list[float]) -> None:
    estimator = RtoEstimator()
    for r in samples:
        rto = estimator.sample(r)
        assert rto >= 1.0
        assert rto >= estimator.srtt


def test_a_linux_like_floor_of_200_ms_gives_a_much_shorter_timeout() -> None:
    assert RtoEstimator(min_rto=0.2).sample(0.00003) == pytest.approx(0.2)


# ---------------------------------------------------------------------------------------
# Windows: flow control, the initial window, the bandwidth-delay product


@given(st.integers(1, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_the_sender_is_held_by_the_smaller_window(cwnd, rwnd, in_flight) -> None:
    usable = usable_window(cwnd, rwnd, in_flight)
    assert usable >= 0
    assert in_flight + usable <= max(min(cwnd, rwnd), in_flight)


def test_a_full_receive_window_stops_the_sender() -> None:
    assert usable_window(cwnd=100, rwnd=8, in_flight=8) == 0


@pytest.mark.parametrize(
    ("mss", "segments"), [(536, 10), (1460, 10), (8960, 2), (65483, 2)]
)
def test_rfc_6928_caps_the_initial_window_at_14600_bytes_or_two_segments(
    mss, segments
) -> None:
    assert initial_window(mss) // mss == segments
    assert initial_window(mss) <= max(14_600, 2 * mss)


def test_a_long_fat_pipe_holds_far_more_than_an_unscaled_window() -> None:
    bdp = bdp_bytes(1e9, 0.100)
    assert bdp == 1e9 / 8 * 0.100
    assert bdp > 100 * MAX_UNSCALED_WINDOW
    assert (bdp >> window_scale(bdp)) <= MAX_UNSCALED_WINDOW


@given(st.integers(0, 2**40))
def test_window_scale_is_the_smallest_shift_that_fits(window: int) -> None:
    shift = window_scale(window)
    assert 0 <= shift <= 14
    if shift < 14:
        assert window >> shift <= MAX_UNSCALED_WINDOW
    if shift > 0:
        assert window >> (shift - 1) > MAX_UNSCALED_WINDOW


def test_slow_start_needs_a_round_trip_per_doubling() -> None:
    segments = bdp_bytes(1e9, 0.100) // 1460
    rounds = rounds_to_reach(segments)
    assert 10 * 2 ** (rounds - 1) < segments <= 10 * 2**rounds


# ---------------------------------------------------------------------------------------
# Reno: slow start, congestion avoidance, fast recovery, timeouts


def test_slow_start_doubles_cwnd_every_round_trip_from_ten_segments() -> None:
    assert [r.cwnd for r in reno(5)] == [10, 20, 40, 80, 160]


def test_above_ssthresh_cwnd_grows_by_one_segment_per_round_trip() -> None:
    assert [r.cwnd for r in reno(4, ssthresh=10)] == [10, 11, 12, 13]


def test_three_duplicate_acks_halve_cwnd_and_a_timeout_restarts_at_one() -> None:
    trace = reno(12, losses={4}, timeouts={8})
    assert trace[5].cwnd == trace[4].cwnd // 2 == trace[5].ssthresh
    assert [r.cwnd for r in trace[5:8]] == [80, 81, 82]
    assert trace[9].cwnd == 1
    assert trace[9].ssthresh == trace[8].cwnd // 2
    assert [r.cwnd for r in trace[9:12]] == [1, 2, 4]


def test_slow_start_after_a_timeout_stops_at_ssthresh() -> None:
    trace = reno(14, timeouts={0}, iw=40)  # ssthresh becomes 20
    assert [r.cwnd for r in trace[1:9]] == [1, 2, 4, 8, 16, 20, 21, 22]


@given(
    st.sets(st.integers(0, 29), max_size=8),
    st.sets(st.integers(0, 29), max_size=4),
    st.integers(2, 200),
)
def test_every_round_follows_one_of_renos_rules(losses, timeouts, ssthresh) -> None:
    trace = reno(30, losses=losses, timeouts=timeouts - losses, ssthresh=ssthresh)
    for before, now in itertools.pairwise(trace):
        if before.event == "timeout":
            assert now.cwnd == 1
        elif before.event:
            assert now.cwnd == max(before.cwnd // 2, 2)
        elif before.cwnd >= before.ssthresh:
            assert now.cwnd == before.cwnd + 1  # additive increase
        else:
            assert before.cwnd < now.cwnd <= max(2 * before.cwnd, before.ssthresh + 1)


# ---------------------------------------------------------------------------------------
# The kernel's view: TCP_INFO on a real loopback connection (Linux)

linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="TCP_INFO and struct tcp_info are Linux's"
)
HEADER = Path("/usr/include/linux/tcp.h")


def proc_int(path: str, default: int) -> int:
    """One number from /proc/sys, or `default` on a kernel without the file."""
    try:
        return int(Path(path).read_text().split()[-1])
    except FileNotFoundError:
        return default


@pytest.mark.skipif(not HEADER.exists(), reason="no kernel headers (linux-libc-dev)")
def test_our_format_follows_struct_tcp_info_in_the_installed_header() -> None:
    text = HEADER.read_text()
    body = re.search(r"struct tcp_info \{(.*?)\};", text, re.S).group(1)
    lines = [line.split(";")[0].split() for line in body.splitlines() if ";" in line]
    u8 = [line for line in lines if line[0] == "__u8"]
    rest = [line for line in lines if line[0] != "__u8"]
    assert len(u8) == 8  # eight bytes: the bit-field lines are one byte each
    u32 = [line[1] for line in rest[:24]]
    assert all(line[0] == "__u32" for line in rest[:24])
    assert [name.removeprefix("tcpi_") for name in u32] == list(TCP_INFO_FIELDS[8:])
    assert rest[24] == ["__u64", "tcpi_pacing_rate"]  # 104 is 8-aligned: no gap
    assert struct.calcsize(TCP_INFO_FORMAT) == 104


@linux_only
def test_a_fresh_reno_connection_starts_where_the_simulation_does() -> None:
    with loopback_pair(congestion=b"reno") as (client, _server):
        info = tcp_info(client)
    assert info["state"] == TCP_ESTABLISHED
    assert info["snd_cwnd"] == reno(1)[0].cwnd == 10  # RFC 6928's ten segments
    assert info["snd_ssthresh"] == INFINITE  # "arbitrarily high"
    assert info["total_retrans"] == 0


@linux_only
def test_cwnd_grows_as_data_is_acknowledged_and_nothing_is_lost() -> None:
    with loopback_pair(congestion=b"reno") as (client, server):
        before = tcp_info(client)
        send_through(client, server, 2_000_000)
        after = tcp_info(client)
    assert after["unacked"] == 0
    assert after["snd_cwnd"] > before["snd_cwnd"]
    assert after["snd_ssthresh"] == INFINITE  # no loss: still in slow start
    assert after["total_retrans"] == 0
    assert after["ca_state"] == 0  # TCP_CA_Open: no recovery going on


@linux_only
def test_the_default_algorithm_also_starts_at_ten_and_grows() -> None:
    with loopback_pair() as (client, server):
        name = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
        before = tcp_info(client)
        send_through(client, server, 2_000_000)
        after = tcp_info(client)
    assert name.rstrip(b"\0")  # cubic by default; bbr or others where configured
    assert before["snd_cwnd"] == 10
    assert after["snd_cwnd"] > before["snd_cwnd"]


@linux_only
def test_the_mss_follows_the_loopback_mtu_and_both_ends_agree() -> None:
    mtu = int(Path("/sys/class/net/lo/mtu").read_text())
    with loopback_pair() as (client, server):
        send_through(client, server, 1_000_000)
        sender, receiver = tcp_info(client), tcp_info(server)
    options = 12 if sender["options"] & TCPI_OPT_TIMESTAMPS else 0
    # an IPv4 packet is at most 65,535 bytes, whatever the MTU says
    assert sender["advmss"] == min(mtu, 65_535) - 20 - 20 - options
    assert sender["snd_mss"] == receiver["rcv_mss"] == sender["advmss"]
    # Linux starts at ten segments, where RFC 6928's byte cap would allow two
    assert initial_window(sender["snd_mss"]) // sender["snd_mss"] == 2


@linux_only
def test_the_kernel_scales_its_window_for_its_largest_receive_buffer() -> None:
    rmem = max(
        proc_int("/proc/sys/net/ipv4/tcp_rmem", 6 * 2**20),
        proc_int("/proc/sys/net/core/rmem_max", 212_992),
    )
    with loopback_pair() as (client, _server):
        info = tcp_info(client)
    assert info["options"] & TCPI_OPT_WSCALE
    assert info["rcv_wscale"] == window_scale(rmem)
    assert info["snd_wscale"] == info["rcv_wscale"]  # same kernel, same sysctls


@linux_only
def test_linux_rto_sits_between_its_200_ms_floor_and_rfc_6298s_one_second() -> None:
    rto_min = proc_int("/proc/sys/net/ipv4/tcp_rto_min_us", 200_000)
    with loopback_pair() as (client, server):
        send_through(client, server, 1_000_000)
        info = tcp_info(client)
    assert rto_min <= info["rto"] < 1_000_000
    assert 0 < info["rtt"] * 10 < info["rto"]  # loopback RTT: far below the RTO
