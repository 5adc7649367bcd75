"""Profiling: measure where the time goes before changing anything, with
cProfile's exact counts and with a sampling profiler built from scratch.

What it teaches: cProfile records every call and return, so it knows exactly
how many times each function ran and how long it took, by itself (tottime) and
with the functions it called (cumtime); the price is overhead on every call,
which distorts programs made of many small calls. A sampling profiler looks at
the running thread's stack every few milliseconds instead (here through
`sys._current_frames`), and counts where it finds it: cheap, statistical, and
blind to how many calls there were. On a workload with a known split, 80% of
the work in one function and 20% in another, both find the split.

Read first: the latency page (`docs/performance/latency.md`, "Latency,
throughput and percentiles"): measure before you change.

What it leaves out: sampling another process (py-spy reads a process's memory
from outside), native code and the time spent waiting (a sampler of this
kind sees a thread blocked in a system call at that call), flame graphs, and
memory profiling (tracemalloc).

Run it: `python -m snippets.performance.profiling`.
"""

from __future__ import annotations


# --8<-- [start:workload]
def spin(steps: int) -> int:
    """Pure CPU work: `steps` rounds of arithmetic."""
    total = 0
    for n in range(steps):
        total += n * n % 7
    return total


def hot(steps: int) -> int:
    return spin(4 * steps)  # four parts of the work


def cold(steps: int) -> int:
    return spin(steps)  # one part


def workload(rounds: int = 40, steps: int = 20_000) -> int:
    """Calls hot and cold alternately: 80% of the work is in hot."""
    return sum(hot(steps) + cold(steps) for _ in range(rounds))


# --8<-- [end:workload]


# --8<-- [start:cprofile]
import cProfile
import pstats


def exact_profile(function, *args) -> pstats.Stats:
    """Run `function(*args)` under cProfile; its statistics."""
    profiler = cProfile.Profile()
    profiler.runcall(function, *args)
    return pstats.Stats(profiler)


def cumulative(stats: pstats.Stats, name: str) -> tuple[int, float]:
    """How many times `name` was called, and its time including callees."""
    for (_, _, function), row in stats.stats.items():
        if function == name:
            calls, _, _, cumtime, _ = row
            return calls, cumtime
    raise KeyError(name)


# --8<-- [end:cprofile]


# --8<-- [start:sampler]
import sys
import threading
from collections import Counter


class Sampler:
    """Looks at one thread's stack every `interval` seconds, from another
    thread, and counts each function found on it (once per sample)."""

    def __init__(self, target: int, interval: float = 0.001) -> None:
        self.target, self.interval = target, interval
        self.counts: Counter[str] = Counter()  # function -> samples on stack
        self.samples = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.done.wait(self.interval):
            frame = sys._current_frames().get(self.target)
            names = set()
            while frame is not None:  # walk from the top of the stack down
                names.add(frame.f_code.co_name)
                frame = frame.f_back
            self.counts.update(names)
            self.samples += 1

    def share(self, name: str) -> float:
        """The share of samples in which `name` was on the stack."""
        return self.counts[name] / self.samples


def sample_profile(function, *args) -> Sampler:
    """Run `function(*args)` in this thread while a Sampler watches it."""
    sampler = Sampler(threading.get_ident())
    sampler.thread.start()
    try:
        function(*args)
    finally:
        sampler.done.set()
        sampler.thread.join()
    return sampler


# --8<-- [end:sampler]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_cprofile]
    stats = exact_profile(workload)
    hot_calls, hot_time = cumulative(stats, "hot")
    cold_calls, cold_time = cumulative(stats, "cold")
    print(hot_calls, cold_calls, cumulative(stats, "spin")[0])
    #> 40 40 80
    share = hot_time / (hot_time + cold_time)
    print("hot's share of the time, by cProfile, 70 to 90%:", 0.7 < share < 0.9)
    #> hot's share of the time, by cProfile, 70 to 90%: True
    # --8<-- [end:demo_cprofile]

    # --8<-- [start:demo_sampler]
    sampler = sample_profile(workload, 100)  # about a second of work
    print("samples taken:", sampler.samples > 50)
    #> samples taken: True
    in_hot, in_cold = sampler.share("hot"), sampler.share("cold")
    hot_share = in_hot / (in_hot + in_cold)
    print("hot's share of the samples, 70 to 90%:", 0.7 < hot_share < 0.9)
    #> hot's share of the samples, 70 to 90%: True
    # --8<-- [end:demo_sampler]
