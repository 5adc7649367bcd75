"""Retries: exponential backoff, jitter, a retry budget, and what must not be
retried.

What it teaches: a failed call that may succeed later is tried again, after a
wait that doubles with each attempt up to a cap (exponential backoff); the wait
is drawn at random (jitter), so that clients that failed together do not all
come back together; only requests that are safe to repeat are retried
(idempotent methods, or a request with an idempotency key) and only on answers
that say "try later" (408, 429, 502, 503, 504); a `Retry-After` from the server
is honoured; and a retry budget stops retries from multiplying the load on a
server that is already failing. A simulation of 100 clients contending for one
resource measures what jitter buys.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): the demo retries calls to a server started with its `serving`, so this
module builds on `snippets.application.app_core`; and the errors page
(`docs/reliability/errors.md`, "Errors and failure modes"), whose idempotent
methods it uses, so it builds on `snippets.reliability.errors` too.

What it leaves out: deadlines across retries (the timeouts page), circuit
breakers, which stop calling a dependency that keeps failing, and hedged
requests.

Run it: `python -m snippets.reliability.retries`.
"""

# --8<-- [start:backoff]
import random
from collections.abc import Callable

Uniform = Callable[[float, float], float]  # random.uniform, or a seeded one


def exponential(attempt: int, base: float, cap: float) -> float:
    """The wait after failed attempt `attempt` (1, 2, ...): base * 2**(n-1)."""
    if attempt > 64:  # 2**64 seconds is far past any cap: avoid a huge number
        return cap
    return min(cap, base * 2 ** (attempt - 1))


def full_jitter(
    attempt: int, base: float, cap: float, uniform: Uniform = random.uniform
) -> float:
    """Anywhere between 0 and the exponential wait (Brooker's "Full Jitter")."""
    return uniform(0, exponential(attempt, base, cap))


def equal_jitter(
    attempt: int, base: float, cap: float, uniform: Uniform = random.uniform
) -> float:
    """Half the exponential wait for sure, the other half at random."""
    wait = exponential(attempt, base, cap)
    return wait / 2 + uniform(0, wait / 2)


def decorrelated_jitter(
    previous: float, base: float, cap: float, uniform: Uniform = random.uniform
) -> float:
    """Between `base` and three times the last wait (first, previous=base)."""
    return min(cap, uniform(base, previous * 3))


# --8<-- [end:backoff]


# --8<-- [start:policy]
import email.utils
from datetime import UTC, datetime

from snippets.reliability.errors import (
    IDEMPOTENT,
)  # RFC 9110 9.2.2, errors page

TRY_LATER = {
    408,
    429,
    502,
    503,
    504,
}  # timeout, too many, bad/unavailable/timeout


def may_retry(method: str, status: int, idempotency_key: bool = False) -> bool:
    """Is it safe and useful to send this request again after this answer?"""
    safe_to_repeat = method in IDEMPOTENT or idempotency_key
    return safe_to_repeat and status in TRY_LATER


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After field (RFC 9110 10.2.3), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # delay-seconds
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)  # an HTTP-date
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" in the date: no zone, read it as UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# --8<-- [end:policy]


# --8<-- [start:budget]
class RetryBudget:
    """Retries allowed as a share of requests: each request earns `ratio` of a
    retry, each retry spends one, and at most `most` can be saved up."""

    def __init__(self, ratio: float = 0.1, most: float = 10.0) -> None:
        self.ratio, self.most = ratio, most
        self.balance = most  # invariant: 0 <= balance <= most

    def record_request(self) -> None:
        self.balance = min(self.most, self.balance + self.ratio)

    def try_spend(self) -> bool:
        """Take one retry from the budget; say no if less than one is left."""
        if self.balance < 1:
            return False
        self.balance -= 1
        return True


# --8<-- [end:budget]


# --8<-- [start:loop]
import time

from snippets.application.app_core import Response


def call_with_retries(
    send: Callable[[], Response],
    method: str,
    *,
    attempts: int = 4,
    base: float = 0.1,
    cap: float = 2.0,
    budget: RetryBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Response:
    """Send, and send again while the answer says "try later" and it is safe."""
    budget = budget or RetryBudget()
    attempt = 1
    while True:
        budget.record_request()
        response = send()
        if (
            attempt == attempts
            or not may_retry(method, response.status)
            or not budget.try_spend()  # retries are failing for everyone
        ):
            return response
        asked = retry_after(response.header("Retry-After"), datetime.now(UTC))
        sleep(max(full_jitter(attempt, base, cap), asked or 0.0))
        attempt += 1


# --8<-- [end:loop]


# --8<-- [start:contention]
import heapq

Policy = Callable[
    [int, float, random.Random], float
]  # attempt, previous -> wait


def contention(clients: int, policy: Policy, seed: int = 1) -> tuple[int, int]:
    """(calls, time) until every client has written once to a shared resource.

    Time runs in slots of one call each. In a slot, the first caller's write
    commits and every other caller's conflicts; a client whose write conflicted
    calls again in the slot after its wait (the policy's, from the end of its
    slot).
    """
    rng = random.Random(seed)
    waiting = [
        (0.0, client, 1, 1.0) for client in range(clients)
    ]  # all at once
    calls = finished = 0
    while waiting:
        slot = int(waiting[0][0])
        callers = []
        while waiting and int(waiting[0][0]) == slot:
            callers.append(heapq.heappop(waiting))
        calls, finished = calls + len(callers), slot + 1
        for _, client, attempt, previous in callers[1:]:  # callers[0] committed
            wait = policy(attempt, previous, rng)
            heapq.heappush(
                waiting, (slot + 1 + wait, client, attempt + 1, wait)
            )
    return calls, finished


BASE, CAP = 1.0, 1000.0  # in slots
POLICIES: dict[str, Policy] = {
    "no jitter": lambda n, prev, rng: exponential(n, BASE, CAP),
    "full jitter": lambda n, prev, rng: full_jitter(n, BASE, CAP, rng.uniform),
    "equal jitter": lambda n, prev, rng: equal_jitter(
        n, BASE, CAP, rng.uniform
    ),
    "decorrelated": lambda n, prev, rng: decorrelated_jitter(
        prev, BASE, CAP, rng.uniform
    ),
}

CLIENTS = (10, 25, 50, 75, 100)  # the chart's x-axis


def calls_by_clients(policy: Policy) -> list[int]:
    """Calls for each number of clients in CLIENTS: a curve of the chart."""
    return [contention(clients, policy)[0] for clients in CLIENTS]


# --8<-- [end:contention]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_backoff]
    print([exponential(n, base=0.1, cap=2.0) for n in range(1, 7)])
    #> [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    draw = random.Random(7).uniform
    print([round(full_jitter(n, 0.1, 2.0, draw), 3) for n in range(1, 7)])
    #> [0.032, 0.03, 0.26, 0.058, 0.857, 0.731]
    # --8<-- [end:demo_backoff]

    # --8<-- [start:demo_policy]
    print(may_retry("GET", 503), may_retry("POST", 503), may_retry("GET", 404))
    #> True False False
    print(may_retry("POST", 503, idempotency_key=True))
    #> True
    now = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
    date = "Thu, 03 Dec 2026 12:00:30 GMT"
    print(retry_after("120", now), retry_after(date, now))
    #> 120.0 30.0
    # --8<-- [end:demo_policy]

    # --8<-- [start:demo_loop]
    from snippets.application.app_core import Request, call, serving, text

    answers = iter([503, 503, 200])  # the server recovers on the third call

    def flaky(request: Request) -> Response:
        status = next(answers)
        return text("ok\n" if status == 200 else "busy\n", status)

    waits: list[float] = []
    with serving(flaky) as server:
        response = call_with_retries(
            lambda: call(server, "GET", "/report"), "GET", sleep=waits.append
        )
    print(response.status, len(waits), all(0 <= w <= 0.2 for w in waits))
    #> 200 2 True
    # --8<-- [end:demo_loop]

    # --8<-- [start:demo_contention]
    for name, policy in POLICIES.items():
        print(name, contention(100, policy))
        #> no jitter (5050, 90123)
        #> full jitter (723, 269)
        #> equal jitter (752, 373)
        #> decorrelated (714, 260)
    # --8<-- [end:demo_contention]
