"""Overload on a real server: goodput with an unbounded queue and with
admission control.

What it teaches: an open-loop load generator sends requests on a schedule,
whatever happened to the earlier ones, as independent users do, and gives up
on each after its deadline; each request tells the server its budget.
`overload` offers twice a server's capacity to it for two seconds, once
with an unbounded queue and once with `admission`'s bounds, and reports
what the clients got: answers in time, refusals, and answers too late,
which is work the server did for nobody.

Read first: `admission` in this package, and the timeouts page
(`docs/reliability/timeouts.md`, "Timeouts and deadlines"), whose `BUDGET`
header and `budget_from_caller` this module builds on
(`snippets.reliability.timeouts`). The generator itself is
`snippets.application.load_generator`.

What it leaves out: keep-alive connections (each request here opens one),
coordinated omission and latency histograms (the performance layer), and
capacity that is found by measuring instead of set by construction.

Run it: `python -m snippets.reliability.load_shedding.overload`.
"""

from __future__ import annotations

# --8<-- [start:load]
import asyncio

from snippets.application.load_generator import Outcome, Send, get, open_loop
from snippets.reliability.timeouts import BUDGET


def with_budget(address: tuple[str, int]) -> Send:
    """A `Send` that GETs / and tells the server the client's budget."""

    async def send(deadline: float) -> int:
        return await get(address, [(BUDGET, str(int(deadline * 1000)))])

    return send


# --8<-- [end:load]


# --8<-- [start:experiment]
import statistics
import time
from dataclasses import dataclass

from snippets.application.app_core import (
    Request,
    Response,
    serving,
    stack,
    text,
)
from snippets.application.middleware import log_lines
from snippets.reliability.load_shedding.admission import Admission, shedding
from snippets.reliability.timeouts import budget_from_caller


@dataclass(frozen=True)
class Report:
    capacity: float  # requests a second the workers can finish
    outcomes: list[Outcome]
    finished: int  # requests the application finished, answered in time or not
    seconds: float  # how long the run lasted: the sending, then the backlog

    def count(self, status: int | None) -> int:
        return sum(o.status == status for o in self.outcomes)

    def goodput(self, duration: float) -> float:
        """Answers that were 200 and in time, per second, over capacity."""
        return self.count(200) / duration / self.capacity

    def median(self, status: int) -> float:
        return statistics.median(
            o.seconds for o in self.outcomes if o.status == status
        )

    def lagged(self, late: float = 0.01) -> float:
        """The share of sends that started over `late` s after their time: a
        generator that cannot keep its schedule measures its own machine."""
        return sum(o.lag > late for o in self.outcomes) / len(self.outcomes)


def overload(
    shed: bool, workers=4, service=0.05, load=2.0, duration=2.0, deadline=0.25
) -> Report:
    """Offer `load` times the capacity for `duration` s to clients that wait
    `deadline` s, with admission control (`shed`) or an unbounded queue."""
    done = []  # one item per request the application finished

    def work(request: Request) -> Response:  # a slow dependency, say
        time.sleep(service)
        done.append(request.path)  # list.append is atomic in CPython
        return text("done\n")

    if shed:  # one wait in the queue at most, and never past the deadline
        gate = Admission(workers, max_queue=workers, max_wait=deadline / 2)
        app = stack(work, budget_from_caller(60.0), shedding(gate))
    else:
        gate = Admission(workers)  # no bound on the queue or the wait
        app = stack(work, shedding(gate))
    capacity, start = workers / service, time.monotonic()
    with log_lines(), serving(app) as server:
        address, count = server.server_address, int(load * capacity * duration)
        send = with_budget(address)
        run = open_loop(send, load * capacity, count, deadline)
        outcomes = asyncio.run(run, debug=False)
    # Leaving `serving` joined every connection: the backlog is worked off.
    return Report(capacity, outcomes, len(done), time.monotonic() - start)


def measure(shed: bool, attempts: int = 3) -> Report:
    """`overload`, run again while the machine was too busy to keep the
    schedule (over 10% of sends late); the last run if it never was."""
    for _ in range(attempts):
        report = overload(shed)
        if report.lagged() < 0.1:
            break
    return report


# --8<-- [end:experiment]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_overload]
    plain, shed = measure(shed=False), measure(shed=True)
    collapsed = plain.goodput(2.0) < 0.5
    print("goodput without shedding under half of capacity:", collapsed)
    #> goodput without shedding under half of capacity: True
    print("with shedding over 60% of it:", shed.goodput(2.0) > 0.6)
    #> with shedding over 60% of it: True
    wasted = plain.count(None) > plain.finished / 2
    print("most work without shedding answered too late:", wasted)
    #> most work without shedding answered too late: True
    fast = shed.median(503) < shed.median(200)
    print("a refusal faster than an answer:", fast)
    #> a refusal faster than an answer: True
    # --8<-- [end:demo_overload]
