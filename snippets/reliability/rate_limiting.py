"""Rate limiting: five ways to count a client's requests, and a 429 that says
when to come back.

What it teaches: a limiter answers one question per request, "may this client
go on now, and if not, when?". A fixed window counts per calendar window and
lets twice the limit through across a window's edge. A sliding log keeps every
recent timestamp and is exact, at the cost of memory per request. A sliding
window counter weighs the previous window's count by how much of it still
overlaps, in constant memory. A token bucket refills continuously and allows
bursts up to its size; GCRA makes the same decisions as a token bucket from a
single number, the theoretical arrival time. The middleware turns a refusal
into 429 Too Many Requests with Retry-After (RFC 6585 section 4).

Read first: the app_core page (`docs/application/app_core.md`, "The
application core"): `rate_limited` is a middleware around its handlers, so
this module builds on `snippets.application.app_core`.

What it leaves out: sharing one limit across processes or hosts (a store such
as Redis, with an atomic read-and-update), forgetting idle clients' state, and
the IETF draft's RateLimit header fields.

Run it: `python -m snippets.reliability.rate_limiting`.
"""

# --8<-- [start:decision]
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """May this request go on; if not, how many seconds until it could.

    For the sliding log and the window counter, the same request is allowed
    just after `retry_after` has passed; for the others, from that instant.
    """

    allowed: bool
    retry_after: float = 0.0


# --8<-- [end:decision]


# --8<-- [start:windows]
import collections
import math


class FixedWindow:
    """At most `limit` requests per window [k·window, (k+1)·window)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.current, self.count = -1, 0  # the window's number, its count

    def allow(self, now: float) -> Decision:
        number = math.floor(now / self.window)
        if number != self.current:  # a new window: the count starts again
            self.current, self.count = number, 0
        if self.count < self.limit:
            self.count += 1
            return Decision(True)
        return Decision(False, (number + 1) * self.window - now)


class SlidingLog:
    """At most `limit` requests in any window of `window` seconds, exactly:
    one timestamp per allowed request, the last `limit` of them kept."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.log: collections.deque[float] = collections.deque()

    def allow(self, now: float) -> Decision:
        while self.log and self.log[0] < now - self.window:
            self.log.popleft()  # out of the window [now - window, now]
        if len(self.log) < self.limit:
            self.log.append(now)
            return Decision(True)
        return Decision(False, self.log[0] + self.window - now)


class SlidingWindowCounter:
    """The previous window's count, weighted by how much of it still overlaps
    the last `window` seconds, plus the current window's count."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.current, self.count, self.previous = 0, 0, 0

    def allow(self, now: float) -> Decision:
        number = math.floor(now / self.window)
        if number != self.current:  # step forward one window, or more
            one_step = number == self.current + 1
            self.previous = self.count if one_step else 0
            self.current, self.count = number, 0
        left = 1 - (now / self.window) % 1  # share of the previous in view
        if math.floor(self.previous * left + self.count) < self.limit:
            self.count += 1
            return Decision(True)
        return Decision(False, self.next_allowed() - now)

    def next_allowed(self) -> float:
        """The instant after which a request would be allowed again."""
        start = self.current * self.window
        if self.count < self.limit:  # in this window, as the previous fades
            fade = 1 - (self.limit - self.count) / self.previous
            return start + fade * self.window
        # in the next window, where this window's count is the previous one
        return start + (2 - self.limit / self.count) * self.window


# --8<-- [end:windows]


# --8<-- [start:buckets]
class TokenBucket:
    """`rate` tokens a second, up to `burst`; a request takes one."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.last = float(burst), None

    def allow(self, now: float) -> Decision:
        if self.last is not None:  # refill for the time since the last look
            elapsed = now - self.last
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return Decision(True)
        return Decision(False, (1 - self.tokens) / self.rate)


class Gcra:
    """The generic cell rate algorithm: a token bucket kept as one number,
    the theoretical arrival time (TAT) of the next request at the steady
    rate. A request may come up to `tolerance` seconds before it."""

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1 / rate  # seconds between requests at the rate
        self.tolerance = (burst - 1) * self.interval  # how early is allowed
        self.tat = -math.inf

    def allow(self, now: float) -> Decision:
        tat = max(self.tat, now)
        if tat - now <= self.tolerance:
            self.tat = tat + self.interval
            return Decision(True)
        return Decision(False, tat - self.tolerance - now)


# --8<-- [end:buckets]


# --8<-- [start:middleware]
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from snippets.application.app_core import (
    Handler,
    Middleware,
    Request,
    Response,
    problem,
)


class Limiter(Protocol):
    def allow(self, now: float) -> Decision: ...


def rate_limited(
    new_limiter: Callable[[], Limiter],
    key_of: Callable[[Request], str],
    clock: Callable[[], float],
    max_clients: int = 10_000,
) -> Middleware:
    """One limiter per client key; a refusal is 429 with Retry-After.

    `key_of` must name a client the server has verified (an account, the
    peer's address): a key the client picks freely gets a fresh limit with
    every new value. At most `max_clients` limiters are kept, the least
    recently used forgotten first, so the table cannot grow without bound.
    """
    limiters: OrderedDict[str, Limiter] = OrderedDict()
    lock = threading.Lock()

    def middleware(handler: Handler) -> Handler:
        def limited(request: Request) -> Response:
            key = key_of(request)
            with lock:  # check and count as one step
                if key not in limiters and len(limiters) >= max_clients:
                    limiters.popitem(last=False)  # the least recently used
                limiter = limiters.setdefault(key, new_limiter())
                limiters.move_to_end(key)
                decision = limiter.allow(clock())
            if decision.allowed:
                return handler(request)
            # whole seconds (RFC 9110 section 10.2.3), strictly after the
            # instant, at which some limiters still refuse: 3.5 -> 4, 4 -> 5
            wait = math.floor(decision.retry_after) + 1
            return problem(
                429,
                f"too many requests; try again in {wait} s",
                [("Retry-After", str(wait))],
            )

        return limited

    return middleware


# --8<-- [end:middleware]


# The demo's `#>` lines are checked by the docs test; ruff format would
# rewrite them, so it stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_edge]
    # 5 requests a second allowed; 5 arrive just before a window's edge at
    # t = 1 s and 5 just after it: 10 requests in a tenth of a second.
    arrivals = [0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 1.01, 1.02, 1.03, 1.04]
    for limiter in (FixedWindow(5, 1.0), SlidingLog(5, 1.0),
                    SlidingWindowCounter(5, 1.0)):
        allowed = sum(limiter.allow(t).allowed for t in arrivals)
        print(f"{type(limiter).__name__:20} {allowed} of 10")
        #> FixedWindow          10 of 10
        #> SlidingLog           5 of 10
        #> SlidingWindowCounter 6 of 10
    # --8<-- [end:demo_edge]

    # --8<-- [start:demo_buckets]
    # 2 requests a second, bursts of 4: a burst of 6 at t = 0, then one
    # request every 0.25 s, twice the rate, for 2 seconds.
    arrivals = [0.0] * 6 + [0.25 * k for k in range(1, 9)]
    bucket, gcra = TokenBucket(2, 4), Gcra(2, 4)
    print("".join("x.."[not bucket.allow(t).allowed] for t in arrivals))
    #> xxxx...x.x.x.x
    print("".join("x.."[not gcra.allow(t).allowed] for t in arrivals))
    #> xxxx...x.x.x.x
    print(Gcra(2, 4).tolerance, gcra.allow(2.0))
    #> 1.5 Decision(allowed=False, retry_after=0.5)
    # --8<-- [end:demo_buckets]

    # --8<-- [start:demo_http]
    from snippets.application.app_core import call, serving, stack, text


    def hello(request: Request) -> Response:
        return text("hello\n")


    def api_key(request: Request) -> str:  # a real service verifies it
        return request.header("X-Api-Key") or "anonymous"


    now = [1000.0]  # a clock the demo moves by hand
    limit = rate_limited(lambda: SlidingLog(3, 60), api_key, lambda: now[0])
    with serving(stack(hello, limit)) as server:
        for who in ("alice", "alice", "alice", "alice", "bob"):
            reply = call(server, "GET", "/", headers=[("X-Api-Key", who)])
            print(who, reply.status, reply.header("Retry-After"))
            #> alice 200 None
            #> alice 200 None
            #> alice 200 None
            #> alice 429 61
            #> bob 200 None
        now[0] += 60.5  # alice's first request has left the window
        reply = call(server, "GET", "/", headers=[("X-Api-Key", "alice")])
        print(reply.status)
        #> 200
    # --8<-- [end:demo_http]
