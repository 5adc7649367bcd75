"""Tests for the cold request page: the round-trip model, the delaying relay,
and the model against a measurement on loopback.

Oracles: Python's `ssl` client (OpenSSL) speaking TLS 1.3 and TLS 1.2 to our
TLS server, with certificates made by trustme; the DNS page's server answering
through the relay. Timing claims are ratios: a measured duration divided by
the round-trip time the relay injects, within half a round trip of the
model's count, each the best of a few runs (noise only adds time).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
import trustme

from snippets.communication import cold_request as cold
from snippets.communication.dns_wire import query_udp
from snippets.communication.sockets import serve_tcp_echo, tcp_echo
from tests.helpers import TIMEOUT

ONE_WAY = 0.05  # seconds: a round trip of 100 ms dwarfs loopback noise
MARGIN = 0.5  # round trips


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A trustme CA and a leaf for the site's name, as files."""
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    leaf = ca.issue_cert(cold.NAME, "127.0.0.1")
    ca.cert_pem.write_to_path(folder / "root.pem")
    for i, pem in enumerate(leaf.cert_chain_pems):
        pem.write_to_path(folder / "chain.pem", append=i > 0)
    leaf.private_key_pem.write_to_path(folder / "leaf.key")
    return {name: folder / name for name in ("root.pem", "chain.pem", "leaf.key")}


@pytest.fixture(scope="module")
def site(pki: dict[str, Path]):
    with cold.delayed_site(pki["chain.pem"], pki["leaf.key"], ONE_WAY) as site:
        yield site


def client(pki: dict[str, Path], version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["root.pem"])
    context.minimum_version = context.maximum_version = version
    return context


# ---------------------------------------------------------------------------
# The model


def test_tls12_costs_one_round_trip_more_than_tls13() -> None:
    assert cold.round_trips("cold, TLS 1.3") == 4
    assert cold.round_trips("cold, TLS 1.2") == cold.round_trips("cold, TLS 1.3") + 1


def test_resumption_saves_no_round_trip_in_tls13_and_0rtt_saves_one() -> None:
    full = cold.round_trips("new connection, DNS cached")
    assert cold.round_trips("resumed TLS 1.3 session") == full
    assert cold.round_trips("resumed with 0-RTT data") == full - 1


def test_http3_merges_the_transport_and_tls_handshakes() -> None:
    tcp = cold.round_trips("cold, TLS 1.3")
    assert cold.round_trips("cold HTTP/3") == tcp - 1
    assert cold.round_trips("HTTP/3 with 0-RTT") == 1


def test_prediction_is_round_trips_times_rtt_plus_server_time() -> None:
    for scenario in cold.SCENARIOS:
        n = cold.round_trips(scenario)
        assert cold.predicted(scenario, 0.05, 0.01) == pytest.approx(n * 0.1 + 0.01)


def test_an_edge_near_the_user_beats_a_distant_origin_for_a_cold_request() -> None:
    far = 0.075
    direct = cold.predicted("cold, TLS 1.3", far, 0)
    assert cold.through_edge(near_one_way=far, far_one_way=far) > direct
    assert cold.through_edge(near_one_way=0.005, far_one_way=far) < direct / 3


# ---------------------------------------------------------------------------
# The relay


def echo_through_relay(payload: bytes) -> tuple[bytes, float]:
    """Send `payload` to an echo server through a relay: (echo, seconds)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        echo = threading.Thread(target=serve_tcp_echo, args=(listener,))
        echo.start()
        line = cold.DelayLine(ONE_WAY)  # relays are set up before it starts
        address = cold.relay_tcp(line, listener.getsockname())
        with line:
            start = time.perf_counter()
            echoed = tcp_echo(address, payload)
            elapsed = time.perf_counter() - start
        echo.join(TIMEOUT)
    return echoed, elapsed


def test_the_relay_delivers_every_byte_in_order_after_two_round_trips() -> None:
    """One round trip for the emulated handshake, one for the echo."""
    payload = bytes(range(256)) * 400  # 100 KiB, many chunks
    runs = [echo_through_relay(payload) for _ in range(2)]
    assert all(echoed == payload for echoed, _ in runs)
    rtts = cold.in_round_trips(min(seconds for _, seconds in runs), ONE_WAY)
    assert abs(rtts - 2) < MARGIN, rtts


def test_a_connect_through_the_relay_returns_before_the_emulated_handshake() -> None:
    """The kernel finishes the handshake; the relay holds the first bytes."""
    line = cold.DelayLine(ONE_WAY)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = cold.relay_tcp(line, listener.getsockname())
        with line:
            start = time.perf_counter()
            socket.create_connection(address, timeout=TIMEOUT).close()
            assert time.perf_counter() - start < ONE_WAY


def test_a_dns_query_through_the_relay_takes_one_round_trip(site) -> None:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        reply = query_udp(site.name, site.resolver)
        times.append(time.perf_counter() - start)
    assert [record.data for record in reply.answers] == ["127.0.0.1"]
    rtts = cold.in_round_trips(min(times), ONE_WAY)
    assert abs(rtts - 1) < MARGIN, rtts


# ---------------------------------------------------------------------------
# The model against the measurement


TLS13 = {
    "cold": "cold, TLS 1.3",
    "kept-alive": "kept-alive connection",
    "resumed": "resumed TLS 1.3 session",
}
TLS12 = {
    "cold": "cold, TLS 1.2",
    "kept-alive": "kept-alive connection",
    "resumed": "resumed TLS 1.2 session",
}


def assert_matches_model(measured: dict[str, float], model: dict[str, str]) -> None:
    expected = {kind: cold.round_trips(scenario) for kind, scenario in model.items()}
    off = [kind for kind in model if abs(measured[kind] - expected[kind]) >= MARGIN]
    assert not off, f"measured {measured}, model {expected}"


def test_tls13_visits_take_the_round_trips_the_model_counts(
    site, pki: dict[str, Path]
) -> None:
    """Four cold, one kept alive, three resumed: resumption saves no round trip."""
    context = client(pki, ssl.TLSVersion.TLSv1_3)
    assert_matches_model(cold.measured_round_trips(site, context), TLS13)


def test_tls12_visits_take_the_round_trips_the_model_counts(
    site, pki: dict[str, Path]
) -> None:
    """Five cold; resumption (the abbreviated handshake) saves one, unlike 1.3."""
    context = client(pki, ssl.TLSVersion.TLSv1_2)
    assert_matches_model(cold.measured_round_trips(site, context), TLS12)


def test_the_first_visit_is_a_full_handshake_and_the_second_resumes(
    site, pki: dict[str, Path]
) -> None:
    context = client(pki, ssl.TLSVersion.TLSv1_3)
    first = cold.visit(site, context)
    again = cold.visit(site, context, address="127.0.0.1", session=first.session)
    assert (first.resumed, again.resumed) == (False, True)
