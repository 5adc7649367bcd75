"""Latency percentiles: why the mean lies, two ways to compute a percentile,
and why the tail decides what users of a fan-out service see.

What it teaches: latency is a distribution with a long right tail, so its mean
describes no real request; percentiles do. `nearest_rank` returns a latency
that was measured (the smallest one with at least p% of the samples at or
below it); `interpolated` draws a straight line between the two samples around
the rank. A request that waits for 100 backends is as slow as the slowest: if
each is slow 1% of the time, 1 - 0.99**100, about 63%, of requests are.
Hedging, sending a second copy of a request that is slower than the 95th
percentile, cuts that tail for a few percent more load.

Read first: the timeouts page (`docs/reliability/timeouts.md`, "Timeouts and
deadlines"), which chose a timeout from a latency percentile.

What it leaves out: histograms that keep percentiles in bounded memory
(HdrHistogram, the observability layer's Prometheus buckets), percentiles over
a sliding window, and confidence intervals for a percentile from few samples.

Run it: `python -m snippets.performance.percentiles`.
"""

from __future__ import annotations

# --8<-- [start:percentiles]
import math
from collections.abc import Sequence


def nearest_rank(samples: Sequence[float], percent: float) -> float:
    """The smallest sample with at least `percent`% of samples at or below
    it; `percent` in [0, 100]. Always a value that was measured."""
    ordered = sorted(samples)
    rank = math.ceil(percent * len(ordered) / 100)  # 1-based
    return ordered[max(rank, 1) - 1]


def interpolated(samples: Sequence[float], percent: float) -> float:
    """The value at position `percent`% along the sorted samples, on a line
    between the two samples around it (numpy's default, "linear")."""
    ordered = sorted(samples)
    position = (len(ordered) - 1) * percent / 100  # 0-based, fractional
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    weight = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * weight


# --8<-- [end:percentiles]


# --8<-- [start:backend]
import random


def one_call(draw: random.Random) -> float:
    """A backend's latency: 10 to 20 ms usually, 1 s one time in fifty."""
    if draw.random() < 0.02:
        return 1.0
    return draw.uniform(0.010, 0.020)


# --8<-- [end:backend]


# --8<-- [start:fan_out]
def slowest_of(backends: int, slow_chance: float, draw: random.Random) -> float:
    """One request that waits for every backend: its latency in seconds.
    Each backend takes 10 ms, or 1 s with probability `slow_chance`."""
    return max(
        1.0 if draw.random() < slow_chance else 0.010 for _ in range(backends)
    )


def share_slow(
    backends: int, slow_chance: float, requests: int, seed: int
) -> float:
    """The share of fanned-out requests that took a second."""
    draw = random.Random(seed)
    slow = sum(
        slowest_of(backends, slow_chance, draw) >= 1.0 for _ in range(requests)
    )
    return slow / requests


# --8<-- [end:fan_out]


# --8<-- [start:hedging]
def hedged(draw: random.Random, after: float) -> tuple[float, int]:
    """Send once; if no answer by `after` s, send a second copy and take the
    first answer. The latency, and how many calls it cost."""
    first = one_call(draw)
    if first <= after:
        return first, 1
    return min(first, after + one_call(draw)), 2


# --8<-- [end:hedging]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_mean]
    draw = random.Random(1)
    latencies = [one_call(draw) for _ in range(10_000)]
    mean = sum(latencies) / len(latencies)
    fast = sum(latency < 0.020 for latency in latencies) / len(latencies)
    print(f"mean {mean * 1000:.0f} ms; {fast:.0%} under 20 ms, the rest 1 s")
    #> mean 37 ms; 98% under 20 ms, the rest 1 s
    # --8<-- [end:demo_mean]

    # --8<-- [start:demo_methods]
    for percent in (50, 90, 99, 99.9):
        print(f"p{percent}: {nearest_rank(latencies, percent) * 1000:.0f} ms")
        #> p50: 15 ms
        #> p90: 19 ms
        #> p99: 1000 ms
        #> p99.9: 1000 ms
    ten = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    print(nearest_rank(ten, 95), interpolated(ten, 95))
    #> 100 95.5
    print(nearest_rank(ten, 50), interpolated(ten, 50))
    #> 50 55.0
    # --8<-- [end:demo_methods]

    # --8<-- [start:demo_fan_out]
    for backends in (1, 10, 100):
        measured = share_slow(backends, 0.01, requests=10_000, seed=2)
        formula = 1 - 0.99 ** backends
        print(f"{backends:3} backends: {measured:.1%} slow, {formula:.1%}")
        #>   1 backends: 1.0% slow, 1.0%
        #>  10 backends: 9.5% slow, 9.6%
        #> 100 backends: 62.9% slow, 63.4%
    # --8<-- [end:demo_fan_out]

    # --8<-- [start:demo_hedging]
    draw = random.Random(3)
    plain = [one_call(draw) for _ in range(100_000)]
    delay = nearest_rank(plain, 95)  # hedge only past the 95th percentile
    runs = [hedged(draw, delay) for _ in range(100_000)]
    hedge = [latency for latency, _ in runs]
    extra = sum(calls for _, calls in runs) / len(runs) - 1
    p99, p99_hedged = nearest_rank(plain, 99), nearest_rank(hedge, 99)
    print(f"p99 {p99 * 1000:.0f} ms, hedged {p99_hedged * 1000:.0f} ms")
    #> p99 1000 ms, hedged 35 ms
    print(f"{extra:.1%} more calls")
    #> 5.0% more calls
    # --8<-- [end:demo_hedging]
