"""Load testing: find a server's peak throughput with a closed loop, check it
against wrk, then measure latency at a chosen rate with an open loop, and
write down everything a reader needs to trust the numbers.

What it teaches: the two questions a load test answers need two generators.
"How much can it do?" is a closed loop's question: a few clients that send as
fast as answers come back find the peak. "How fast is it at 500 requests a
second?" is an open loop's: requests are planned at that rate, latency runs
from each planned send time (so a stall is not hidden, see the coordinated
omission page), and HdrHistogram gives the percentiles. A report states the
offered and the achieved rate, the percentiles, the errors, how long the run
lasted and how much warm-up was thrown away, and the machine and versions.

Read first: the coordinated omission page
(`docs/performance/coordinated_omission.md`, "Coordinated omission"), whose
`server_process` this module uses (`snippets.performance.coordinated_omission`).
It builds on `snippets.application.load_generator` for both loops.

What it leaves out: keep-alive connections (each request opens one, with wrk
told to do the same), several load machines, ramps and soak tests, and
comparing two versions of a server (run both in one session, alternating).

Run it: `python -m snippets.performance.load_testing` (wrk is optional).
"""

from __future__ import annotations

# --8<-- [start:peak]
import asyncio
import re
import subprocess

from snippets.application.load_generator import closed_loop, getter


def peak(address, clients: int = 4, seconds: float = 2.0) -> float:
    """Answers a second that `clients` closed-loop clients get."""
    run = closed_loop(getter(address), clients, seconds, deadline=2.0)
    outcomes = asyncio.run(run, debug=False)  # -X dev turns debug on: slow
    return sum(o.status == 200 for o in outcomes) / seconds


def wrk_peak(address, clients: int = 4, seconds: int = 2) -> float:
    """The same question asked of wrk, one connection per request as ours."""
    host, port = address
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s"]
    command += ["-H", "Connection: close", f"http://{host}:{port}/"]
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 10
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])


def both_peaks(address, rounds: int = 3, seconds: int = 1):
    """Our peak and wrk's, each the best of `rounds`, taken in turns so that
    a busy moment on the machine hits both alike."""
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(peak(address, seconds=seconds))
        theirs.append(wrk_peak(address, seconds=seconds))
    return max(ours), max(theirs)


# --8<-- [end:peak]


# --8<-- [start:open]
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from snippets.application.load_generator import Outcome, open_loop


@dataclass(frozen=True)
class Run:
    offered: float  # requests a second, as planned
    duration: float  # seconds measured, after the warm-up
    warmup: float  # seconds sent first and thrown away
    outcomes: list[Outcome]  # the measured ones only

    def errors(self) -> int:
        """Answers that were not 200, and requests with no answer in time."""
        return sum(o.status != 200 for o in self.outcomes)

    def achieved(self) -> float:
        """Good answers a second, over the measured duration."""
        return (len(self.outcomes) - self.errors()) / self.duration

    def lagged(self, late: float = 0.01) -> float:
        """The share of sends over `late` s behind the plan."""
        return sum(o.lag > late for o in self.outcomes) / len(self.outcomes)

    def histogram(self) -> HdrHistogram:
        """Latencies in microseconds from the planned send time; a request
        that timed out counts at its deadline, so it is not hidden."""
        h = HdrHistogram(1, 60_000_000, 3)  # 1 us to 1 min, 3 figures
        for o in self.outcomes:
            h.record_value(max(1, round(o.seconds * 1e6)))
        return h


def open_run(address, rate, duration=2.0, warmup=0.5, deadline=2.0) -> Run:
    """Offer `rate` requests a second for `warmup` + `duration` s."""
    skip, count = round(rate * warmup), round(rate * (warmup + duration))
    run = open_loop(getter(address), rate, count, deadline)
    outcomes = asyncio.run(run, debug=False)  # -X dev turns debug on: slow
    return Run(rate, duration, warmup, outcomes[skip:])


def steady_run(address, rate: float, attempts: int = 3, **options) -> Run:
    """`open_run`, run again while the generator fell behind its schedule
    (over 10% of sends late); the last run if it always did."""
    for _ in range(attempts):
        run = open_run(address, rate, **options)
        if run.lagged() < 0.1:
            break
    return run


# --8<-- [end:open]


# --8<-- [start:report]
import importlib.metadata
import os
import platform
import shutil


def versions() -> str:
    """What produced the numbers: Python, the histogram, wrk if present."""
    found = [f"Python {platform.python_version()}"]
    found.append(f"hdrhistogram {importlib.metadata.version('hdrhistogram')}")
    if shutil.which("wrk"):
        banner = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
        found.append(" ".join(banner.stdout.split()[:2]))
    return ", ".join(found)


def report(run: Run) -> str:
    """The lines a load test must publish with its percentiles."""
    h = run.histogram()
    ms = [h.get_value_at_percentile(p) / 1000 for p in (50, 90, 99, 99.9)]
    return "\n".join(
        [
            f"offered {run.offered:.0f}/s, achieved {run.achieved():.0f}/s",
            f"errors {run.errors()} of {len(run.outcomes)}",
            "latency from the planned send, ms: p50 {:.1f} p90 {:.1f} "
            "p99 {:.1f} p99.9 {:.1f}".format(*ms),
            f"duration {run.duration:g} s after {run.warmup:g} s of warm-up",
            f"sends over 10 ms late: {run.lagged():.1%}",
            f"machine {platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.release()}",
            f"versions {versions()}",
        ]
    )


# --8<-- [end:report]


# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    from snippets.performance.coordinated_omission import server_process

    with server_process() as (address, _pid):
        most = peak(address)
        run = steady_run(address, rate=most / 4)
    near = abs(run.achieved() / run.offered - 1) < 0.1
    print("at a quarter of the peak, achieved within 10%:", near)
    #> at a quarter of the peak, achieved within 10%: True
    print("errors:", run.errors())
    #> errors: 0
    # --8<-- [end:demo]
    print(report(run))
    if shutil.which("wrk"):
        with server_process() as (address, _pid):
            ours, theirs = both_peaks(address)
            print(f"peak: ours {ours:.0f}/s, wrk's {theirs:.0f}/s")
