"""Admission control: a bounded queue in front of a fixed number of workers.

What it teaches: `Admission` lets `workers` requests run at once and at most
`max_queue` wait behind them, none longer than `max_wait` seconds or past the
caller's deadline; everything else is refused at once with `Shed`. A worker
that finishes is handed straight to the oldest waiting request. `shedding`
turns a refusal into 503 with Retry-After, and `offer` shows the same bound
from a producer's side: a full bounded queue holds it back (backpressure).

Read first: the app_core page (`docs/application/app_core.md`, "The
application core"), whose handlers `shedding` wraps, and the timeouts page
(`docs/reliability/timeouts.md`, "Timeouts and deadlines"), whose
`budget_from_caller` sets the deadline that `shedding` reads with `remaining`
from `snippets.application.middleware`.

What it leaves out: priorities, adaptive concurrency limits, adaptive LIFO and
CoDel (see the page), and a queue shared by several processes.

Run it: `python -m snippets.reliability.load_shedding.admission`.
"""

from __future__ import annotations

# --8<-- [start:admission]
import threading
import time
from collections import deque


class Shed(Exception):
    """A request refused by admission control; the message says why."""


class Admission:
    """`workers` requests at a time, at most `max_queue` waiting behind them,
    none waiting longer than `max_wait` seconds (None: no bound)."""

    def __init__(
        self,
        workers: int,
        max_queue: int | None = None,
        max_wait: float | None = None,
    ) -> None:
        self.workers, self.max_queue = workers, max_queue
        self.max_wait = max_wait
        self.lock = threading.Lock()
        self.busy = 0  # requests holding a worker; 0 <= busy <= workers
        # Waiting requests, oldest first, each woken by the worker it is
        # handed; invariant: nonempty only while busy == workers.
        self.waiting: deque[threading.Event] = deque()

    def enter(self, deadline: float | None = None) -> None:
        """Take a worker, waiting if allowed; raise Shed if not admitted."""
        if deadline is not None and deadline <= time.monotonic():
            raise Shed("the caller's deadline has passed")  # nobody waits
        with self.lock:
            if self.busy < self.workers:
                self.busy += 1
                return
            full = self.max_queue is not None
            if full and len(self.waiting) >= self.max_queue:
                raise Shed("the queue is full")
            turn = threading.Event()
            self.waiting.append(turn)
        if turn.wait(self._patience(deadline)):
            return  # a leaving request handed us its worker
        with self.lock:
            if turn.is_set():  # handed over just as the wait ended
                return
            self.waiting.remove(turn)
        raise Shed("waited too long for a worker")

    def _patience(self, deadline: float | None) -> float | None:
        waits = [self.max_wait] if self.max_wait is not None else []
        if deadline is not None:  # no use waiting past the caller's deadline
            waits.append(max(0.0, deadline - time.monotonic()))
        return min(waits, default=None)

    def leave(self) -> None:
        """Give the worker to the oldest waiting request, or free it."""
        with self.lock:
            if self.busy == 0:
                raise RuntimeError("leave() without enter()")
            if self.waiting:
                self.waiting.popleft().set()  # busy stays the same
            else:
                self.busy -= 1


# --8<-- [end:admission]


# --8<-- [start:middleware]
import math

from snippets.application.app_core import (
    Handler,
    Middleware,
    Request,
    Response,
    problem,
)
from snippets.application.middleware import remaining


def shedding(admission: Admission, retry_after: int = 1) -> Middleware:
    """Run each request under `admission`; a refusal is a 503 at once."""

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            left = remaining()  # set by budget_from_caller, if it is outside
            deadline = None if left == math.inf else time.monotonic() + left
            try:
                admission.enter(deadline)
            except Shed as refusal:
                headers = [("Retry-After", str(retry_after))]
                return problem(503, f"overloaded: {refusal}", headers)
            try:
                return handler(request)
            finally:
                admission.leave()

        return wrapped

    return middleware


# --8<-- [end:middleware]


# --8<-- [start:backpressure]
import queue


def offer(jobs: queue.Queue[int], items: range, wait: float) -> list[int]:
    """Put each item, waiting up to `wait` s for room; return those refused."""
    refused = []
    for item in items:
        try:
            jobs.put(item, timeout=wait)  # a full queue holds the producer back
        except queue.Full:
            refused.append(item)
    return refused


# --8<-- [end:backpressure]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_admission]
    gate = Admission(workers=1, max_queue=1, max_wait=0.2)
    gate.enter()  # the one worker is busy
    waiter = threading.Thread(target=gate.enter)
    waiter.start()  # it takes the one place in the queue
    end = time.monotonic() + 5  # bounded, like every wait
    while not gate.waiting and time.monotonic() < end:
        time.sleep(0.001)
    try:
        gate.enter()
    except Shed as refusal:
        print(refusal)
        #> the queue is full
    gate.leave()  # the worker goes straight to the waiting request
    waiter.join(timeout=1)
    print(gate.busy, len(gate.waiting))
    #> 1 0
    start = time.monotonic()
    try:
        gate.enter()
    except Shed as refusal:
        print(refusal, time.monotonic() - start >= 0.2)
        #> waited too long for a worker True
    # --8<-- [end:demo_admission]

    # --8<-- [start:demo_backpressure]
    jobs: queue.Queue[int] = queue.Queue(maxsize=3)
    print(offer(jobs, range(5), wait=0.01))  # nobody takes jobs out
    #> [3, 4]
    taker = threading.Timer(0.05, jobs.get)  # a consumer takes one, later
    taker.start()
    print(offer(jobs, range(5, 6), wait=1.0), list(jobs.queue))
    #> [] [1, 2, 5]
    taker.join()
    # --8<-- [end:demo_backpressure]
