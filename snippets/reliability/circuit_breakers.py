"""Circuit breakers and bulkheads: stop calling what is failing, cap what may
wait.

What it teaches: a circuit breaker counts consecutive failures of a dependency;
at a threshold it opens, and calls fail at once without reaching the dependency,
which gets time to recover and spares the caller a timeout per call. After a
reset timeout the breaker lets a trial call through (half-open): success closes
it, failure opens it again. The states and their moves are a table, and a move
the table does not have raises an error that names the state and the event. A
bulkhead is a bounded semaphore around the calls to one dependency: when it is
full, a call is refused at once instead of taking one more worker thread to wait
on a slow dependency.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): the demos call a dependency started with its `serving`, so this module
builds on `snippets.application.app_core`.

What it leaves out: breakers over a failure rate in a sliding window
(resilience4j), one shared state across processes (pybreaker's Redis storage),
limits on the number of trial calls in half-open, and adaptive concurrency
limits.

Run it: `python -m snippets.reliability.circuit_breakers`.
"""

# --8<-- [start:table]
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

# (state, event) -> next state: every move the breaker can make
TRANSITIONS = {
    (CLOSED, "success"): CLOSED,  # the failure count starts again
    (CLOSED, "failure"): CLOSED,  # one more failure, still under the threshold
    (CLOSED, "trip"): OPEN,  # the failure that reached the threshold
    (OPEN, "timeout"): HALF_OPEN,  # reset_timeout passed: let a trial call in
    (HALF_OPEN, "success"): HALF_OPEN,  # under success_threshold
    (HALF_OPEN, "recover"): CLOSED,  # success_threshold trials succeeded
    (HALF_OPEN, "failure"): OPEN,  # a trial failed: wait again
}


class IllegalMove(Exception):
    """An event that the transition table has no move for in this state."""


def next_state(state: str, event: str) -> str:
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalMove(f"no {event!r} in state {state!r}") from None


# --8<-- [end:table]


# --8<-- [start:breaker]
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class BreakerOpen(Exception):
    """The call was refused without reaching the dependency."""


class BreakerState:
    """A breaker's state, its counters, and `move`, which follows the table."""

    def __init__(
        self,
        fail_max: int = 5,
        reset_timeout: float = 30.0,
        success_threshold: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fail_max, self.reset_timeout = fail_max, reset_timeout
        self.success_threshold, self.clock = success_threshold, clock
        self.state, self.failures, self.successes = CLOSED, 0, 0
        self.opened_at = 0.0
        self.lock = threading.Lock()  # guards state, counters and opened_at

    def move(self, event: str) -> None:
        self.state = next_state(self.state, event)
        if event == "trip" or (event == "failure" and self.state == OPEN):
            self.opened_at = self.clock()
        if self.state != HALF_OPEN:
            self.successes = 0
        if event == "recover":
            self.failures = 0


# --8<-- [end:breaker]


# --8<-- [start:decide]
class CircuitBreaker(BreakerState):
    """Opens after `fail_max` failures in a row; tries after `reset_timeout`."""

    def allow(self) -> bool:
        """May a call go through? An open breaker turns half-open in time."""
        with self.lock:
            waited = self.clock() - self.opened_at
            if self.state == OPEN and waited >= self.reset_timeout:
                self.move("timeout")
            return self.state != OPEN

    def record_success(self) -> None:
        with self.lock:
            self.failures = 0
            if self.state == HALF_OPEN:
                self.successes += 1
                done = self.successes >= self.success_threshold
                self.move("recover" if done else "success")
            else:
                self.move("success")

    def record_failure(self) -> None:
        with self.lock:
            self.failures += 1
            tripped = self.state == CLOSED and self.failures >= self.fail_max
            self.move("trip" if tripped else "failure")

    def call(self, func: Callable[[], T]) -> T:
        """Run `func` if the breaker allows it; count how it ended."""
        if not self.allow():
            raise BreakerOpen(f"open for {self.reset_timeout} s after failures")
        try:
            result = func()
        except Exception:
            self.record_failure()
            raise
        self.record_success()
        return result


# --8<-- [end:decide]


# --8<-- [start:bulkhead]
class BulkheadFull(Exception):
    """Every slot for this dependency is taken; the call was refused at once."""


class Bulkhead:
    """At most `size` calls to one dependency at a time; others are refused."""

    def __init__(self, size: int) -> None:
        self.slots = threading.BoundedSemaphore(size)

    def call(self, func: Callable[[], T]) -> T:
        if not self.slots.acquire(blocking=False):  # never wait for a slot
            raise BulkheadFull("too many calls in flight to this dependency")
        try:
            return func()
        finally:
            self.slots.release()


# --8<-- [end:bulkhead]


# --8<-- [start:dependency]
from snippets.application.app_core import Request, Response, call, text


class Dependency:
    """A downstream service, switched by the demo: ok, failing or slow."""

    def __init__(self) -> None:
        self.mode = (
            "ok"  # read by the server's threads; only the demo writes it
        )
        self.calls = 0
        self.lock = threading.Lock()  # guards calls

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.calls += 1
        if self.mode == "slow":
            time.sleep(0.5)
        if self.mode == "failing":
            return text("down\n", 503)
        return text("fine\n")


def ask(server, timeout: float = 0.25) -> str:
    """Call the dependency; a 5xx or a timeout is a failure (an exception)."""
    try:
        reply = call(server, "GET", "/price", timeout=timeout)
    except TimeoutError as error:  # socket.timeout is TimeoutError since 3.10
        raise ConnectionError(
            "the dependency did not answer in time"
        ) from error
    if reply.status >= 500:
        raise ConnectionError(f"the dependency answered {reply.status}")
    return reply.body.decode().strip()


# --8<-- [end:dependency]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_table]
    print(next_state(CLOSED, "trip"), next_state(OPEN, "timeout"))
    #> open half-open
    try:
        next_state(OPEN, "success")
    except IllegalMove as error:
        print(error)
        #> no 'success' in state 'open'
    # --8<-- [end:demo_table]

    # --8<-- [start:demo_breaker]
    from snippets.application.app_core import serving

    now = [0.0]  # a clock the demo moves by hand
    breaker = CircuitBreaker(fail_max=3, reset_timeout=10, clock=lambda: now[0])
    dependency = Dependency()
    with serving(dependency.handle) as server:
        dependency.mode = "failing"
        for _ in range(5):
            try:
                breaker.call(lambda: ask(server))
            except (ConnectionError, BreakerOpen) as error:
                print(type(error).__name__, "and now", breaker.state)
                #> ConnectionError and now closed
                #> ConnectionError and now closed
                #> ConnectionError and now open
                #> BreakerOpen and now open
                #> BreakerOpen and now open
        print("calls that reached it:", dependency.calls)
        #> calls that reached it: 3
        dependency.mode, now[0] = "ok", 10.0  # it recovers; the timeout passes
        print(breaker.call(lambda: ask(server)), breaker.state)
        #> fine closed
    # --8<-- [end:demo_breaker]

    # --8<-- [start:demo_bulkhead]
    from concurrent.futures import ThreadPoolExecutor

    bulkhead = Bulkhead(size=2)
    dependency = Dependency()
    dependency.mode = "slow"  # every call takes half a second
    with (
        serving(dependency.handle) as server,
        ThreadPoolExecutor(max_workers=5) as pool,
    ):
        futures = [
            pool.submit(bulkhead.call, lambda: ask(server, timeout=2))
            for _ in range(5)
        ]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result())
            except BulkheadFull:
                outcomes.append("refused")
    print(sorted(outcomes), dependency.calls)
    #> ['fine', 'fine', 'refused', 'refused', 'refused'] 2
    # --8<-- [end:demo_bulkhead]
