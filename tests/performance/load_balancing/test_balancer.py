"""What the balancer section of the load balancing page claims, asserted
against haproxy: the same three worker processes (two fast, one ten times
slower), the same closed-loop load (6 clients, 240 requests), once through our
balancer and once through haproxy with the same algorithm.

Margins: round robin gives each backend a third of the requests in both
(exactly 80 each in every run here); the test allows 3 points. Under least
connections the slow backend's share was 7.5% to 10.0% through ours and 5.8%
to 6.7% through haproxy over 5 runs on a shared 2-core machine (haproxy answers
faster, so its fast backends empty sooner); the test allows 8 points between
the two, and asserts both are under 20%, well below round robin's 33%.

haproxy is the Debian package `haproxy`: without it these tests skip, except
in CI (CI=true), where they fail.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator

import pytest

from snippets.application.app_core import Request, Response, serving, text
from snippets.performance.load_balancing.balancer import (
    Address,
    backends,
    balancing,
    forwardable,
    shares,
    spread,
)
from snippets.performance.load_balancing.pickers import (
    LeastConnections,
    RoundRobin,
)
from tests.helpers import TIMEOUT, http_request, raw_exchange, require_tool

DELAYS = {"a": 0.005, "b": 0.005, "slow": 0.05}  # as on the page
CLIENTS, REQUESTS = 6, 240
PICKERS = {"roundrobin": RoundRobin, "leastconn": LeastConnections}


HAPROXY_CONFIG = """\
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
    option http-server-close
frontend front
    bind fd@{fd}
    default_backend workers
backend workers
    balance {algorithm}
{servers}
"""


@contextlib.contextmanager
def haproxy(algorithm: str, addresses: dict[str, Address], folder) -> Iterator[Address]:
    """haproxy in front of `addresses`, on a listening socket we bound to
    port 0 and hand over as an inherited fd: no port race, and connections
    wait in the backlog until haproxy accepts them."""
    executable = require_tool("haproxy", "haproxy")
    servers = "\n".join(
        f"    server {name} {host}:{port}" for name, (host, port) in addresses.items()
    )
    with socket.create_server(("127.0.0.1", 0)) as listener:
        config = folder / f"{algorithm}.cfg"
        config.write_text(
            HAPROXY_CONFIG.format(
                fd=listener.fileno(), algorithm=algorithm, servers=servers
            )
        )
        process = subprocess.Popen(
            [executable, "-db", "-f", str(config)],
            pass_fds=[listener.fileno()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            yield listener.getsockname()
            assert process.poll() is None, process.stderr.read().decode()
        finally:
            process.terminate()
            process.wait(TIMEOUT)
            process.stderr.close()


@pytest.fixture(scope="module")
def workers() -> Iterator[dict[str, Address]]:
    with backends(DELAYS) as addresses:
        yield addresses


def through_ours(algorithm: str, addresses) -> dict[str, float]:
    with serving(balancing(PICKERS[algorithm](list(DELAYS)), addresses)) as s:
        return shares(spread(s.server_address, CLIENTS, REQUESTS))


def through_haproxy(algorithm: str, addresses, folder) -> dict[str, float]:
    with haproxy(algorithm, addresses, folder) as address:
        return shares(spread(address, CLIENTS, REQUESTS))


def test_round_robin_gives_the_slow_backend_a_third_like_haproxy(
    workers, tmp_path
) -> None:
    ours = through_ours("roundrobin", workers)
    theirs = through_haproxy("roundrobin", workers, tmp_path)
    print("round robin, ours:", ours, "haproxy:", theirs)
    assert set(ours) == set(theirs) == set(DELAYS)  # no errors in either
    for name in DELAYS:
        assert abs(ours[name] - 1 / 3) < 0.03
        assert abs(ours[name] - theirs[name]) < 0.03


def test_least_connections_starves_the_slow_backend_like_haproxy(
    workers, tmp_path
) -> None:
    ours = through_ours("leastconn", workers)
    theirs = through_haproxy("leastconn", workers, tmp_path)
    print("least connections, ours:", ours, "haproxy:", theirs)
    assert set(ours) <= set(DELAYS)
    assert set(theirs) <= set(DELAYS)
    assert ours["slow"] < 0.2
    assert theirs.get("slow", 0) < 0.2
    assert abs(ours["slow"] - theirs.get("slow", 0)) < 0.08
    # The fast backends share the rest about evenly.
    assert abs(ours["a"] - ours["b"]) < 0.1


def test_the_balancer_refuses_ambiguous_framing_before_any_backend(
    workers,
) -> None:
    class Counting(RoundRobin):
        picks = 0

        def pick(self) -> str:
            self.picks += 1
            return super().pick()

    picker = Counting(list(DELAYS))
    smuggled = (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    double_length = (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
        b"Content-Length: 40\r\n\r\nabcd"
    )
    with serving(balancing(picker, workers)) as front:
        for attack in (smuggled, double_length):
            answer = raw_exchange(front.server_address, attack)
            assert answer.startswith(b"HTTP/1.1 400 ")
            assert answer.count(b"HTTP/1.1 ") == 1
    assert picker.picks == 0


def echo(request: Request) -> Response:
    """A backend for the relay test: says what arrived."""
    seen = f"{request.method} {request.path} {request.query} {request.body}"
    fields = [f"{name}: {value}" for name, value in request.headers]
    return text("\n".join([seen, *fields]), 201, [("X-From", "echo")])


def test_the_balancer_relays_method_target_fields_and_body() -> None:
    with serving(echo) as backend:
        picker = RoundRobin(["echo"])
        with serving(balancing(picker, {"echo": backend.server_address})) as s:
            reply = http_request(
                s,
                "POST",
                "/orders/7?q=1&q=2",
                body=b"hello",
                headers=[
                    ("Host", "shop.test"),
                    ("Connection", "close, X-Secret"),
                    ("X-Secret", "1"),
                ],
            )
    assert (reply.status, reply.header("x-from")) == (201, "echo")
    seen, *fields = reply.text.split("\n")
    assert seen == "POST /orders/7 {'q': ['1', '2']} b'hello'"
    assert "Host: shop.test" in fields
    assert "Content-Length: 5" in fields
    # The client's Connection and the X-Secret it names stayed behind; the
    # balancer's own Connection: close went instead.
    assert "X-Secret: 1" not in fields
    assert [f for f in fields if f.startswith("Connection")] == ["Connection: close"]


def test_hop_by_hop_fields_and_those_named_in_connection_stay_behind() -> None:
    headers = [
        ("Host", "example.test"),
        ("Connection", "keep-alive, X-Secret"),
        ("X-Secret", "1"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "5"),
        ("Accept", "*/*"),
    ]
    assert forwardable(headers) == [("Host", "example.test"), ("Accept", "*/*")]


def test_a_dead_backend_is_a_502_not_a_crash() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        address = closed.getsockname()
    with serving(balancing(RoundRobin(["gone"]), {"gone": address})) as front:
        reply = http_request(front, "GET", "/")
    assert reply.status == 502
    assert "gone" in reply.json()["detail"]
