"""What the Retries page claims, asserted; tenacity's waits and urllib3's rules are oracles."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st
from urllib3.util.retry import Retry

from snippets.application.app_core import Request, Response, call, serving, text
from snippets.reliability import retries as r
from tests.site.docs_tools import DOCS

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


def attempt_state(number: int) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    state.attempt_number = number
    return state


# --- backoff and jitter, against tenacity ------------------------------------------------


@pytest.mark.parametrize(("base", "cap"), [(0.1, 2.0), (1.0, 60.0), (0.5, 1e6)])
@pytest.mark.parametrize("seed", [0, 1, 42])
def test_full_jitter_draws_what_tenacity_draws_with_the_same_seed(
    base: float, cap: float, seed: int
) -> None:
    theirs = tenacity.wait_random_exponential(multiplier=base, max=cap)
    random.seed(seed)
    expected = [theirs(attempt_state(n)) for n in range(1, 41)]
    random.seed(seed)
    assert [r.full_jitter(n, base, cap) for n in range(1, 41)] == expected


@given(
    attempt=st.integers(1, 200),
    base=st.floats(0.001, 10),
    cap=st.floats(0.01, 1e6),
)
def test_exponential_equals_tenacity_wait_exponential(
    attempt: int, base: float, cap: float
) -> None:
    theirs = tenacity.wait_exponential(multiplier=base, max=cap)
    assert r.exponential(attempt, base, cap) == pytest.approx(
        theirs(attempt_state(attempt))
    )


@given(attempt=st.integers(1, 100), seed=st.integers(0, 2**32))
def test_equal_jitter_waits_at_least_half_and_at_most_the_whole_backoff(
    attempt: int, seed: int
) -> None:
    wait = r.equal_jitter(attempt, 0.1, 30.0, random.Random(seed).uniform)
    whole = r.exponential(attempt, 0.1, 30.0)
    assert whole / 2 <= wait <= whole


@given(previous=st.floats(0.1, 100), seed=st.integers(0, 2**32))
def test_decorrelated_jitter_stays_between_base_and_three_times_the_last_wait(
    previous: float, seed: int
) -> None:
    wait = r.decorrelated_jitter(previous, 0.1, 30.0, random.Random(seed).uniform)
    assert 0.1 <= wait <= min(30.0, previous * 3)


# --- what may be retried, against urllib3 --------------------------------------------------

METHODS = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "POST", "PATCH"]
STATUSES = [200, 400, 404, 408, 413, 422, 429, 500, 501, 502, 503, 504]


def test_idempotent_methods_are_urllib3s_default_retryable_methods() -> None:
    assert frozenset(r.IDEMPOTENT) == Retry.DEFAULT_ALLOWED_METHODS


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("has_retry_after", [False, True])
def test_may_retry_agrees_with_urllib3_given_the_same_status_list(
    method: str, status: int, has_retry_after: bool
) -> None:
    """Given our list, urllib3 decides as we do for every method, status and
    Retry-After, but one case the page names: a 413 with Retry-After, which urllib3
    retries (for an idempotent method) and we do not."""
    theirs = Retry(total=3, status_forcelist=r.TRY_LATER)
    they_retry = theirs.is_retry(method, status, has_retry_after)
    if status == 413 and has_retry_after:
        assert they_retry == (method in r.IDEMPOTENT)
        assert not r.may_retry(method, status)
    else:
        assert r.may_retry(method, status) == they_retry


def test_an_idempotency_key_makes_a_post_retryable_on_try_later_answers_only() -> None:
    assert r.may_retry("POST", 503, idempotency_key=True)
    assert not r.may_retry("POST", 400, idempotency_key=True)


@pytest.mark.parametrize("seconds", [0, 1, 30, 3600])
def test_retry_after_reads_seconds_and_http_dates_like_urllib3(seconds: int) -> None:
    date = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)
    assert r.retry_after(str(seconds), NOW) == seconds
    assert r.retry_after(date, NOW) == seconds
    parsed = Retry().parse_retry_after(str(seconds))
    assert parsed == seconds


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "٣", "Mon, 99 Foo"])
def test_retry_after_that_is_not_a_delay_or_a_date_is_ignored(
    value: str | None,
) -> None:
    assert r.retry_after(value, NOW) is None


def test_a_retry_after_date_in_the_past_means_no_wait() -> None:
    past = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert r.retry_after(past, NOW) == 0.0


def test_a_retry_after_date_without_a_zone_is_read_as_utc() -> None:
    assert r.retry_after("Thu, 03 Dec 2026 12:00:10 -0000", NOW) == 10.0


# --- the retry budget ----------------------------------------------------------------------


def test_when_everything_fails_the_budget_allows_about_ratio_of_requests() -> None:
    budget = r.RetryBudget(ratio=0.1, most=10)
    granted = 0
    for _ in range(1000):
        budget.record_request()
        granted += budget.try_spend()
    assert granted == pytest.approx(10 + 1000 * 0.1, abs=2)  # the savings, then 10%


def test_the_budget_never_saves_more_than_most() -> None:
    budget = r.RetryBudget(ratio=0.5, most=3)
    for _ in range(100):
        budget.record_request()
    assert budget.balance == 3
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]


# --- the loop, over a real socket ----------------------------------------------------------


def scripted(statuses: list[int], headers=()) -> tuple[list[str], object]:
    seen: list[str] = []
    answers = iter(statuses)

    def handler(request: Request) -> Response:
        seen.append(request.method)
        status = next(answers)
        return text("ok\n" if status < 300 else "no\n", status, headers)

    return seen, handler


def test_a_get_is_retried_until_the_server_recovers() -> None:
    seen, handler = scripted([503, 502, 200])
    waits: list[float] = []
    with serving(handler) as server:
        response = r.call_with_retries(
            lambda: call(server, "GET", "/"), "GET", sleep=waits.append
        )
    assert (response.status, seen) == (200, ["GET"] * 3)
    assert 0 <= waits[0] <= 0.1
    assert 0 <= waits[1] <= 0.2


def test_a_post_is_sent_once_even_on_503() -> None:
    seen, handler = scripted([503])
    with serving(handler) as server:
        response = r.call_with_retries(
            lambda: call(server, "POST", "/pay", b"{}"), "POST", sleep=pytest.fail
        )
    assert (response.status, seen) == (503, ["POST"])


def test_a_404_is_not_retried() -> None:
    seen, handler = scripted([404])
    with serving(handler) as server:
        response = r.call_with_retries(
            lambda: call(server, "GET", "/gone"), "GET", sleep=pytest.fail
        )
    assert (response.status, len(seen)) == (404, 1)


def test_retry_after_from_the_server_sets_the_wait() -> None:
    seen, handler = scripted([429, 200], headers=[("Retry-After", "3")])
    waits: list[float] = []
    with serving(handler) as server:
        r.call_with_retries(lambda: call(server, "GET", "/"), "GET", sleep=waits.append)
    assert (seen, waits) == (["GET", "GET"], [3.0])


def test_attempts_run_out_and_the_last_answer_is_returned() -> None:
    seen, handler = scripted([503] * 4)
    with serving(handler) as server:
        response = r.call_with_retries(
            lambda: call(server, "GET", "/"), "GET", sleep=lambda s: None
        )
    assert (response.status, len(seen)) == (503, 4)


def test_an_empty_budget_stops_the_retries() -> None:
    seen, handler = scripted([503] * 4)
    budget = r.RetryBudget(ratio=0.0, most=1)
    with serving(handler) as server:
        r.call_with_retries(
            lambda: call(server, "GET", "/"), "GET", budget=budget, sleep=lambda s: None
        )
    assert len(seen) == 2  # the call, and the one retry the budget held


# --- contention: what jitter buys ---------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_full_jitter_needs_2x_fewer_calls_and_finishes_5x_sooner_than_no_jitter(
    seed: int,
) -> None:
    calls, time = r.contention(100, r.POLICIES["no jitter"], seed)
    jitter_calls, jitter_time = r.contention(100, r.POLICIES["full jitter"], seed)
    assert calls == 100 * 101 // 2  # every round, one more commits
    assert calls >= 2 * jitter_calls
    assert time >= 5 * jitter_time


def test_every_client_commits_exactly_once_whatever_the_policy() -> None:
    for policy in r.POLICIES.values():
        calls, _ = r.contention(30, policy)
        assert calls >= 30


def chart_lines() -> list[list[int]]:
    page = (DOCS / "reliability" / "retries.md").read_text(encoding="utf-8")
    chart = page.split("xychart-beta", 1)[1].split("```", 1)[0]
    x_axis = re.search(r'x-axis "clients" \[([^\]]*)\]', chart)
    assert x_axis is not None
    assert [int(x) for x in x_axis[1].split(",")] == list(r.CLIENTS)
    return [
        [int(v) for v in line.split(",")]
        for line in re.findall(r"line \[([^\]]*)\]", chart)
    ]


def test_the_chart_on_the_page_shows_what_the_simulation_computes() -> None:
    assert chart_lines() == [
        r.calls_by_clients(r.POLICIES["no jitter"]),
        r.calls_by_clients(r.POLICIES["full jitter"]),
    ]
