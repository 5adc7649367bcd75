"""What the circuit breakers page claims, asserted; pybreaker is the oracle.

pybreaker reads the time with `datetime.now(UTC)` in its module; the tests replace that
module's `datetime` with one whose `now` reads a clock the test moves, so nothing sleeps.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pybreaker
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snippets.application.app_core import Request, Response, serving, text
from snippets.reliability import circuit_breakers as cb
from tests.helpers import TIMEOUT

START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """One time for both breakers: seconds for ours, a datetime for pybreaker's."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> datetime:
        return START + timedelta(seconds=self.seconds)


def drive_pybreakers_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()

    class DrivenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # pybreaker calls datetime.now(UTC)
            return clock.now()

    monkeypatch.setattr(pybreaker, "datetime", DrivenDatetime)
    return clock


class Boom(Exception):
    """The dependency failed."""


def run(breaker_call, succeed: bool, catch: tuple) -> bool:
    """Make one call through a breaker; True if the function itself ran."""
    ran = []

    def work() -> str:
        ran.append(True)
        if not succeed:
            raise Boom
        return "ok"

    try:
        breaker_call(work)
    except (Boom, *catch):
        pass
    return bool(ran)


STEPS = st.lists(
    st.one_of(
        st.just(("call", True)),
        st.just(("call", False)),
        # waits in reset timeouts, with the boundaries: just under, exactly, over
        st.tuples(st.just("wait"), st.sampled_from([0.25, 0.5, 0.999, 1.0, 1.5, 3.0])),
    ),
    max_size=60,
)


@given(
    steps=STEPS,
    fail_max=st.integers(1, 5),
    reset_timeout=st.integers(1, 30),
    success_threshold=st.integers(1, 3),
)
def test_the_same_steps_give_pybreakers_states_and_decisions(
    steps: list,
    fail_max: int,
    reset_timeout: int,
    success_threshold: int,
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        compare(
            drive_pybreakers_clock(monkeypatch),
            steps,
            fail_max,
            reset_timeout,
            success_threshold,
        )


def compare(
    clock: Clock,
    steps: list,
    fail_max: int,
    reset_timeout: int,
    success_threshold: int,
) -> None:
    theirs = pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        success_threshold=success_threshold,
    )
    ours = cb.CircuitBreaker(
        fail_max, reset_timeout, success_threshold, clock=lambda: clock.seconds
    )
    for kind, value in steps:
        if kind == "wait":
            clock.seconds += value * reset_timeout
            continue
        their_ran = run(theirs.call, value, (pybreaker.CircuitBreakerError,))
        our_ran = run(ours.call, value, (cb.BreakerOpen,))
        assert (our_ran, ours.state) == (their_ran, theirs.current_state)


def test_every_move_in_the_table_and_only_those() -> None:
    states = {cb.CLOSED, cb.OPEN, cb.HALF_OPEN}
    events = {event for _, event in cb.TRANSITIONS}
    for state in states:
        for event in events:
            if (state, event) in cb.TRANSITIONS:
                assert cb.next_state(state, event) in states
            else:
                with pytest.raises(cb.IllegalMove, match=f"{event}.*{state}"):
                    cb.next_state(state, event)


def test_an_open_breaker_stays_open_until_the_reset_timeout_has_passed() -> None:
    now = [0.0]
    breaker = cb.CircuitBreaker(fail_max=1, reset_timeout=10, clock=lambda: now[0])
    breaker.record_failure()
    now[0] = 9.999
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.allow()
    assert breaker.state == cb.HALF_OPEN


def test_a_failed_trial_opens_the_breaker_for_another_full_timeout() -> None:
    now = [0.0]
    breaker = cb.CircuitBreaker(fail_max=1, reset_timeout=10, clock=lambda: now[0])
    breaker.record_failure()
    now[0] = 15.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == cb.OPEN
    now[0] = 24.0
    assert not breaker.allow()
    now[0] = 25.0
    assert breaker.allow()


# --- over a real socket --------------------------------------------------------------------


def test_calls_while_open_fail_far_faster_than_the_dependencys_timeout() -> None:
    """The slow dependency costs each caller its timeout; an open breaker costs nothing."""
    dependency = cb.Dependency()
    dependency.mode = "slow"
    breaker = cb.CircuitBreaker(fail_max=2, reset_timeout=60)
    with serving(dependency.handle) as server:
        started = time.perf_counter()
        for _ in range(2):
            with pytest.raises(ConnectionError, match="in time"):
                breaker.call(lambda: cb.ask(server, timeout=0.2))
        per_timeout = (time.perf_counter() - started) / 2
        started = time.perf_counter()
        for _ in range(20):
            with pytest.raises(cb.BreakerOpen):
                breaker.call(lambda: cb.ask(server, timeout=0.2))
        per_refusal = (time.perf_counter() - started) / 20
    assert dependency.calls == 2
    assert per_timeout >= 0.2
    assert per_refusal * 100 < per_timeout


def test_a_bulkhead_refuses_at_once_when_its_slots_are_taken() -> None:
    inside = threading.Barrier(3, timeout=TIMEOUT)  # two calls and the test
    release = threading.Event()

    def held(request: Request) -> Response:
        inside.wait()
        release.wait(TIMEOUT)
        return text("done\n")

    bulkhead = cb.Bulkhead(size=2)
    results: list[str] = []
    with serving(held) as server:
        workers = [
            threading.Thread(
                target=lambda: results.append(bulkhead.call(lambda: cb.ask(server, 5)))
            )
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        inside.wait()  # both slots are taken, their calls are in the handler
        started = time.perf_counter()
        with pytest.raises(cb.BulkheadFull):
            bulkhead.call(lambda: cb.ask(server, 5))
        refused_in = time.perf_counter() - started
        release.set()
        for worker in workers:
            worker.join(TIMEOUT)
    assert results == ["done", "done"]
    assert refused_in < 0.5  # no waiting for a slot
    assert bulkhead.call(lambda: "free again") == "free again"


def test_a_bulkhead_frees_its_slot_when_the_call_raises() -> None:
    bulkhead = cb.Bulkhead(size=1)

    def failing() -> str:
        raise Boom

    with pytest.raises(Boom):
        bulkhead.call(failing)
    assert bulkhead.call(lambda: "ok") == "ok"


def test_answers_of_503_trip_the_breaker_and_a_recovered_dependency_closes_it() -> None:
    now = [0.0]
    breaker = cb.CircuitBreaker(fail_max=3, reset_timeout=10, clock=lambda: now[0])
    dependency = cb.Dependency()
    dependency.mode = "failing"
    with serving(dependency.handle) as server:
        for _ in range(3):
            with pytest.raises(ConnectionError, match="503"):
                breaker.call(lambda: cb.ask(server))
        with pytest.raises(cb.BreakerOpen):
            breaker.call(lambda: cb.ask(server))
        assert (breaker.state, dependency.calls) == (cb.OPEN, 3)
        dependency.mode, now[0] = "ok", 10.0
        assert breaker.call(lambda: cb.ask(server)) == "fine"
    assert breaker.state == cb.CLOSED
