"""What the timeouts page claims, asserted over real sockets on loopback.

Timing claims are checked with margins that hold on a loaded 2-core machine: the
per-read timeout is shown to wait for the whole trickle (at least 90% of it), the
deadline to stop within 0.25 s of its time, far sooner than the trickle.
"""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snippets.application.app_core import Request, Response, call, serving, text
from snippets.application.middleware import (
    DeadlineExceeded,
    check_deadline,
    log_lines,
    remaining,
)
from snippets.reliability import timeouts as t

SIZE, INTERVAL = 10, 0.1  # a trickle of one second
TOLERANCE = 0.25  # seconds a deadline may be overshot on a loaded machine


def test_a_per_read_timeout_waits_for_the_whole_trickle() -> None:
    with t.TrickleServer(SIZE, INTERVAL) as trickle:
        start = time.monotonic()
        body = t.get_with_read_timeout(trickle.server_address, timeout=0.3)
        took = time.monotonic() - start
    assert body == b"x" * SIZE
    assert took >= 0.9 * SIZE * INTERVAL  # 0.3 s per read, yet a second in all


def test_a_deadline_stops_the_trickle_on_time() -> None:
    with t.TrickleServer(SIZE, INTERVAL) as trickle:
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded), t.within(0.35):
            t.get_by_deadline(trickle.server_address)
        took = time.monotonic() - start
    assert 0.35 <= took < 0.35 + TOLERANCE
    assert took < SIZE * INTERVAL / 2


def test_a_deadline_longer_than_the_trickle_lets_it_finish() -> None:
    with t.TrickleServer(5, 0.02) as trickle, t.within(3.0):
        assert t.get_by_deadline(trickle.server_address) == b"xxxxx"


def test_an_outer_deadline_that_is_sooner_wins() -> None:
    with t.within(0.2), t.within(10.0):
        assert remaining() <= 0.2


def test_no_time_left_raises_before_any_wait() -> None:
    with t.within(0.0), pytest.raises(DeadlineExceeded):
        t.time_left()


# --- the budget across three services ------------------------------------------------------


def chain(slow_steps: int):
    """A -> B -> C on loopback; C works in 20 ms steps and checks its deadline."""
    finished: dict[str, float] = {}
    budgets: dict[str, str | None] = {}

    def service_c(request: Request) -> Response:
        budgets["C"] = request.header(t.BUDGET)
        try:
            for _ in range(slow_steps):
                time.sleep(0.02)
                check_deadline()
            return text("done\n")
        finally:
            finished["C"] = time.monotonic()

    def forwarding(name: str, downstream):
        def handler(request: Request) -> Response:
            budgets[name] = request.header(t.BUDGET)
            try:
                return t.call_within_budget(downstream, "GET", "/")
            finally:
                finished[name] = time.monotonic()

        return handler

    return finished, budgets, service_c, forwarding


@pytest.mark.parametrize("budget_ms", [300, 600])
def test_no_hop_outlives_the_callers_deadline(budget_ms: int) -> None:
    finished, budgets, service_c, forwarding = chain(slow_steps=200)  # 4 s of work
    with (
        log_lines(),
        serving(t.budget_from_caller(5.0)(service_c)) as c,
        serving(t.budget_from_caller(5.0)(forwarding("B", c))) as b,
        serving(t.budget_from_caller(5.0)(forwarding("A", b))) as a,
    ):
        start = time.monotonic()
        reply = call(a, "GET", "/", headers=[(t.BUDGET, str(budget_ms))])
        answered = time.monotonic() - start
    deadline = start + budget_ms / 1000
    assert reply.status == 503
    assert sorted(finished) == ["A", "B", "C"]
    assert all(when < deadline + TOLERANCE for when in finished.values())
    assert answered < budget_ms / 1000 + TOLERANCE
    # each hop passes on less than it was given: what is left, minus the margin
    given = [int(budgets[name]) for name in "ABC"]
    assert given[0] == budget_ms
    assert given[0] > given[1] > given[2]


def test_a_fast_chain_answers_within_the_budget() -> None:
    _, _, service_c, forwarding = chain(slow_steps=2)
    with (
        serving(t.budget_from_caller(5.0)(service_c)) as c,
        serving(t.budget_from_caller(5.0)(forwarding("B", c))) as b,
    ):
        reply = call(b, "GET", "/", headers=[(t.BUDGET, "2000")])
    assert (reply.status, reply.body) == (200, b"done\n")


@pytest.mark.parametrize("sent", [None, "abc", "-5", "+5", "1.5", "²"])
def test_a_missing_or_malformed_budget_falls_back_to_the_services_own(
    sent: str | None,
) -> None:
    seen: list[float] = []

    def handler(request: Request) -> Response:
        seen.append(remaining())
        return text("ok\n")

    headers = [] if sent is None else [(t.BUDGET, sent)]
    with serving(t.budget_from_caller(0.8)(handler)) as server:
        assert call(server, "GET", "/", headers=headers).status == 200
    assert 0.5 < seen[0] <= 0.8


def test_a_caller_budget_above_the_services_cap_is_capped() -> None:
    seen: list[float] = []

    def handler(request: Request) -> Response:
        seen.append(remaining())
        return text("ok\n")

    with serving(t.budget_from_caller(0.5)(handler)) as server:
        call(server, "GET", "/", headers=[(t.BUDGET, "60000")])
    assert seen[0] <= 0.5


def test_too_little_budget_refuses_to_call_at_all() -> None:
    calls: list[int] = []

    def handler(request: Request) -> Response:
        calls.append(1)
        return text("ok\n")

    with (
        serving(handler) as server,
        t.within(t.MARGIN / 2),
        pytest.raises(DeadlineExceeded, match="no time left"),
    ):
        t.call_within_budget(server, "GET", "/")
    assert calls == []


def test_a_downstream_slower_than_the_budget_is_a_deadline_not_a_crash() -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)  # ignores its deadline
        return text("late\n")

    with (
        serving(slow) as server,
        t.within(0.3),
        pytest.raises(DeadlineExceeded, match="did not answer"),
    ):
        t.call_within_budget(server, "GET", "/")


# --- choosing a timeout ------------------------------------------------------------------


@given(
    latencies=st.lists(st.floats(0.001, 10), min_size=1, max_size=500),
    rate=st.sampled_from([0.5, 0.1, 0.01, 0.001]),
)
def test_the_chosen_timeout_is_exceeded_by_at_most_the_accepted_share(
    latencies: list[float], rate: float
) -> None:
    chosen = t.timeout_from(latencies, rate)
    assert chosen in latencies
    above = sum(x > chosen for x in latencies)
    assert above <= rate * len(latencies)
    # and it is the smallest such sample: one rank lower would exceed the share
    lower = [x for x in latencies if x < chosen]
    if lower:
        assert sum(x > max(lower) for x in latencies) > rate * len(latencies)


def test_on_the_pages_sample_one_call_in_a_thousand_would_time_out() -> None:
    draw = random.Random(3)
    latencies = [draw.lognormvariate(-3, 0.5) for _ in range(100_000)]
    chosen = t.timeout_from(latencies, 0.001)
    assert sum(x > chosen for x in latencies) == 100
