"""What the rate limiting page claims, asserted; `limits` and throttled-py are the oracles.

Each algorithm is compared with its own counterpart, decision for decision, on the same
generated arrivals: our sliding log with limits' moving window, our sliding window
counter with limits' sliding window counter, our GCRA with throttled-py's GCRA. A token
bucket and a moving window are different algorithms and are not compared.

Both libraries read the time themselves; the tests drive it. limits' memory storage
calls `time.time()` from its module, so that module's `time` is replaced by a clock the
test moves; its background expiry timer is switched off, because it would run on the
real clock's schedule and race with the arrivals. throttled-py reads
`throttled.utils.now_mono_f()`, which is replaced the same way.

Arrival times are multiples of 1/64 s and every interval and window is a power of two
seconds, so every sum and product in both implementations is exact: a decision at a
boundary is the algorithm's, not a rounding accident.
"""

from __future__ import annotations

import copy
import random
from datetime import timedelta
from types import SimpleNamespace

import limits
import pytest
import throttled
from hypothesis import given
from hypothesis import strategies as st
from limits.storage import MemoryStorage
from limits.strategies import (
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)

from snippets.application.app_core import Request, call, serving, stack, text
from snippets.reliability import rate_limiting as rl

START = 1024.0  # not 0: throttled-py reads a stored 0.0 as "nothing stored"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", SimpleNamespace(time=clock))
    monkeypatch.setattr(
        MemoryStorage, "_MemoryStorage__schedule_expiry", lambda self: None
    )
    monkeypatch.setattr(throttled.utils, "now_mono_f", clock)
    return clock


def storage() -> MemoryStorage:
    store = MemoryStorage()
    store.timer.cancel()  # the expiry timer the constructor started
    return store


def arrivals(seed: int, count: int, mean_gap: float) -> list[float]:
    """Times from START: exponential gaps rounded to 1/64 s, bursts of equal times
    included (a gap rounds to 0 often when the mean is small)."""
    rng, now, times = random.Random(seed), START, []
    for _ in range(count):
        now += round(rng.expovariate(1 / mean_gap) * 64) / 64
        times.append(now)
    return times


CASES = [  # (limit, window in seconds, mean gap): the arrivals run 1.5x to 4x too fast
    (5, 1, 1 / 8),
    (10, 2, 1 / 16),
    (3, 4, 1 / 2),
    (1, 1, 1 / 2),
]


@pytest.mark.parametrize(("limit", "window", "gap"), CASES)
def test_our_sliding_log_decides_like_limits_moving_window_on_10000_arrivals(
    clock: Clock, limit: int, window: int, gap: float
) -> None:
    theirs = MovingWindowRateLimiter(storage())
    item = limits.RateLimitItemPerSecond(limit, window)
    ours = rl.SlidingLog(limit, window)
    refused = 0
    for clock.now in arrivals(limit * window, 10_000, gap):
        decision = ours.allow(clock.now)
        assert decision.allowed == theirs.hit(item, "client"), clock.now
        refused += not decision.allowed
    assert 0.2 < refused / 10_000 < 0.9  # the limit really was in play


@pytest.mark.parametrize(("limit", "window", "gap"), CASES)
def test_our_window_counter_decides_like_limits_sliding_window_counter(
    clock: Clock, limit: int, window: int, gap: float
) -> None:
    theirs = SlidingWindowCounterRateLimiter(storage())
    item = limits.RateLimitItemPerSecond(limit, window)
    ours = rl.SlidingWindowCounter(limit, window)
    refused = 0
    for clock.now in arrivals(limit + window, 10_000, gap):
        decision = ours.allow(clock.now)
        assert decision.allowed == theirs.hit(item, "client"), clock.now
        refused += not decision.allowed
    assert 0.2 < refused / 10_000 < 0.9


GCRA_CASES = [  # (requests per period, period in seconds, burst, mean gap)
    (4, 1, 1, 1 / 8),
    (4, 1, 4, 1 / 8),
    (8, 2, 3, 1 / 8),
    (2, 1, 5, 1 / 4),
]


@pytest.mark.parametrize(("limit", "period", "burst", "gap"), GCRA_CASES)
def test_our_gcra_decides_like_throttled_py_and_gives_the_same_retry_after(
    clock: Clock, limit: int, period: int, burst: int, gap: float
) -> None:
    quota = throttled.per_duration(timedelta(seconds=period), limit, burst)
    theirs = throttled.Throttled(
        using=throttled.RateLimiterType.GCRA.value,
        quota=quota,
        store=throttled.MemoryStore(),
    )
    ours = rl.Gcra(limit / period, burst)
    refused = 0
    for clock.now in arrivals(burst, 10_000, gap):
        decision, result = ours.allow(clock.now), theirs.limit("client")
        assert decision.allowed == (not result.limited), clock.now
        assert decision.retry_after == result.state.retry_after, clock.now
        refused += not decision.allowed
    assert 0.2 < refused / 10_000 < 0.9


TIMES = st.lists(st.integers(0, 64 * 3), max_size=200).map(
    lambda gaps: [START + sum(gaps[: i + 1]) / 64 for i in range(len(gaps))]
)


@given(times=TIMES, rate=st.sampled_from([1, 2, 4, 8]), burst=st.integers(1, 6))
def test_a_token_bucket_and_gcra_make_the_same_decisions(
    times: list[float], rate: int, burst: int
) -> None:
    bucket, gcra = rl.TokenBucket(rate, burst), rl.Gcra(rate, burst)
    for now in times:
        assert bucket.allow(now) == gcra.allow(now)


@given(times=TIMES, limit=st.integers(1, 6), window=st.sampled_from([1, 2, 4]))
def test_the_sliding_log_never_allows_more_than_limit_in_any_window(
    times: list[float], limit: int, window: int
) -> None:
    log = rl.SlidingLog(limit, window)
    allowed = [now for now in times if log.allow(now).allowed]
    for i, start in enumerate(allowed):
        inside = [t for t in allowed[i:] if t <= start + window]
        assert len(inside) <= limit


@given(times=TIMES, limit=st.integers(1, 6))
def test_a_fixed_window_allows_up_to_twice_the_limit_across_an_edge(
    times: list[float], limit: int
) -> None:
    fixed = rl.FixedWindow(limit, 1.0)
    allowed = [now for now in times if fixed.allow(now).allowed]
    for i, start in enumerate(allowed):
        inside = [t for t in allowed[i:] if t < start + 1.0]
        assert len(inside) <= 2 * limit


def test_the_edge_burst_on_the_page() -> None:
    edge = [0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 1.01, 1.02, 1.03, 1.04]
    fixed, log = rl.FixedWindow(5, 1.0), rl.SlidingLog(5, 1.0)
    assert sum(fixed.allow(t).allowed for t in edge) == 10  # 2x the limit
    assert sum(log.allow(t).allowed for t in edge) == 5


def test_retry_after_is_when_the_same_request_would_be_allowed() -> None:
    for limiter in (
        rl.FixedWindow(2, 4.0),
        rl.SlidingLog(2, 4.0),
        rl.SlidingWindowCounter(2, 4.0),
        rl.TokenBucket(0.5, 2),
        rl.Gcra(0.5, 2),
    ):
        limiter.allow(1.0)
        limiter.allow(1.5)
        refused = limiter.allow(2.0)
        assert not refused.allowed, limiter
        name = type(limiter).__name__
        at = 2.0 + refused.retry_after
        if name in ("SlidingLog", "SlidingWindowCounter"):  # just after
            assert not limiter.allow(at).allowed, name
            at += 1 / 64
        assert limiter.allow(at).allowed, name


LIMITERS = {
    "FixedWindow": lambda: rl.FixedWindow(3, 2.0),
    "SlidingLog": lambda: rl.SlidingLog(3, 2.0),
    "SlidingWindowCounter": lambda: rl.SlidingWindowCounter(3, 2.0),
    "TokenBucket": lambda: rl.TokenBucket(2, 3),
    "Gcra": lambda: rl.Gcra(2, 3),
}


@pytest.mark.parametrize("name", LIMITERS)
@given(times=TIMES)
def test_retry_after_is_exact_on_generated_arrivals(
    name: str, times: list[float]
) -> None:
    """After any refusal, a copy of the limiter refuses 1/64 s before the promised
    time and allows just after it (the log and the counter) or at it (the others)."""
    limiter, tick = LIMITERS[name](), 1 / 64
    just_after = name in ("SlidingLog", "SlidingWindowCounter")
    for now in times:
        decision = limiter.allow(now)
        if decision.allowed:
            continue
        at = now + decision.retry_after
        if decision.retry_after >= tick:
            assert not copy.deepcopy(limiter).allow(at - tick).allowed
        assert copy.deepcopy(limiter).allow(at + tick * just_after).allowed


# --- the middleware, over HTTP ----------------------------------------------------------


def hello(request: Request):
    return text("hello\n")


def by_key(request: Request) -> str:
    return request.header("X-Api-Key") or "anonymous"


def test_a_refusal_is_429_problem_with_retry_after_in_whole_seconds() -> None:
    now = [START]
    limit = rl.rate_limited(lambda: rl.Gcra(0.25, 1), by_key, lambda: now[0])
    with serving(stack(hello, limit)) as server:
        assert call(server, "GET", "/").status == 200
        refused = call(server, "GET", "/")
        now[0] += 3.5
        still = call(server, "GET", "/")
        now[0] += 0.5
        again = call(server, "GET", "/")
    assert refused.status == 429
    assert refused.header("Content-Type") == "application/problem+json"
    assert refused.header("Retry-After") == "5"  # 4.0 s: strictly after it
    assert still.header("Retry-After") == "1"  # 0.5 s rounds up, never to 0
    assert again.status == 200


def test_each_client_key_has_its_own_limit() -> None:
    limit = rl.rate_limited(lambda: rl.SlidingLog(1, 60), by_key, lambda: START)
    with serving(stack(hello, limit)) as server:
        statuses = [
            call(server, "GET", "/", headers=[("X-Api-Key", who)]).status
            for who in ("a", "b", "a", "b", "c")
        ]
    assert statuses == [200, 200, 429, 429, 200]


def test_the_limiter_table_is_bounded_and_forgets_the_least_recent_client() -> None:
    limit = rl.rate_limited(
        lambda: rl.SlidingLog(1, 60), by_key, lambda: START, max_clients=2
    )
    app = stack(hello, limit)

    def status(who: str) -> int:
        return app(Request("GET", "/", headers=[("X-Api-Key", who)])).status

    assert [status("a"), status("b"), status("a")] == [200, 200, 429]
    assert status("c") == 200  # the table is full: b, the least recent, goes
    assert status("a") == 429  # a was kept
    assert status("b") == 200  # b starts again: forgetting costs a fresh limit
