"""Histograms and quantiles: how Prometheus estimates a percentile from
bucket counters, how far off the estimate can be, and why histograms add up
across instances where summary quantiles do not.

What it teaches: a Prometheus histogram is a list of cumulative counters,
one per upper bound `le` ("less than or equal"), the last one `+Inf`.
`histogram_quantile` turns them into a quantile estimate by finding the
bucket that holds the rank q * N and interpolating linearly inside it; the
true quantile is only known to lie somewhere in that bucket. The function
here follows Prometheus 2.42's `promql/quantile.go` rule by rule (sorting,
merging equal bounds, forcing counts to be monotonic, the special cases),
so that its answers are the same floats `promtool` computes. Bucket counters
from several instances can be summed and then estimated; quantiles computed
per instance (a summary) cannot be averaged into anything meaningful.

Read first: the latency page (`docs/performance/latency.md`, "Latency,
throughput and percentiles"), which defined percentiles from raw samples.

What it leaves out: native (sparse, exponential) histograms, which Prometheus
2.40 added as an experimental feature; the streaming algorithms summaries use
on the client; `rate()` over bucket counters, which the page only mentions;
and `histogram_fraction`.

Run it: `python -m snippets.observability.histograms`.
"""

from __future__ import annotations

# --8<-- [start:buckets]
import bisect
import math
from collections.abc import Sequence

INF = math.inf
Buckets = list[tuple[float, float]]  # (le, cumulative count), smallest le first


def cumulative(values: Sequence[float], bounds: Sequence[float]) -> Buckets:
    """Bucket `values` the way a Prometheus client does: each bucket counts
    every value less than or equal to its bound, and `+Inf` counts them all."""
    les = [*sorted(bounds), INF]
    counts = [0] * len(les)
    for value in values:
        counts[bisect.bisect_left(les, value)] += 1  # value == le goes in le
    running = 0
    result = []
    for le, count in zip(les, counts, strict=True):
        running += count
        result.append((le, float(running)))
    return result


# --8<-- [end:buckets]


# --8<-- [start:fixups]
def prepared(buckets: Buckets) -> Buckets:
    """Sort by bound, merge equal bounds (le="1" and le="1.0" are one bucket)
    and raise any count that is below the one before it, as Prometheus 2.42
    does before it estimates."""
    merged: Buckets = []
    for le, count in sorted(buckets, key=lambda bucket: bucket[0]):
        if merged and merged[-1][0] == le:
            merged[-1] = (le, merged[-1][1] + count)
        else:
            merged.append((le, count))
    highest = merged[0][1]
    for i, (le, count) in enumerate(merged):
        highest = max(highest, count)
        merged[i] = (le, highest)  # cumulative counts never go down
    return merged


def holding(rank: float, fixed: Buckets) -> int:
    """The index of the first bucket whose count reaches `rank`."""
    return next(i for i, (_, count) in enumerate(fixed) if count >= rank)


# --8<-- [end:fixups]


# --8<-- [start:quantile]
def histogram_quantile(q: float, buckets: Buckets) -> float:
    """Estimate the q-quantile from cumulative buckets, rule for rule as
    Prometheus 2.42's `histogram_quantile` on classic histograms."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -INF
    if q > 1:
        return INF
    if not buckets or max(le for le, _ in buckets) != INF:
        return math.nan  # no +Inf bucket: the total is unknown
    fixed = prepared(buckets)
    if len(fixed) < 2 or fixed[-1][1] == 0:
        return math.nan  # one bucket only, or no observations
    rank = q * fixed[-1][1]
    b = holding(rank, fixed)
    if b == len(fixed) - 1:
        return fixed[-2][0]  # in the +Inf bucket: the largest finite bound
    if b == 0 and fixed[0][0] <= 0:
        return fixed[0][0]  # no lower bound to interpolate from
    start, end, count = 0.0, fixed[b][0], fixed[b][1]
    if b > 0:
        start = fixed[b - 1][0]
        count -= fixed[b - 1][1]
        rank -= fixed[b - 1][1]
    share = rank / count if count else math.nan  # Go: 0 / 0 is NaN
    return start + (end - start) * share


# --8<-- [end:quantile]


# --8<-- [start:interval]
def true_quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile of raw values: the smallest value with at least
    q * N values at or below it (the nearest-rank definition)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def bucket_around(q: float, buckets: Buckets) -> tuple[float, float]:
    """The bucket (lower, upper] that holds the q-quantile: all that the
    counts know about it, for values that are never negative.
    `histogram_quantile` picks one point inside it."""
    fixed = prepared(buckets)
    b = holding(q * fixed[-1][1], fixed)
    lower = fixed[b - 1][0] if b > 0 else (0.0 if fixed[0][0] > 0 else -INF)
    return lower, fixed[b][0]


# --8<-- [end:interval]


# --8<-- [start:docs_example]
SLO_BOUNDS = [0.1, 0.2, 0.3, 0.45]  # the docs' buckets around a 300 ms SLO


def spike(at: float, n: int = 1000, width: float = 0.002) -> list[float]:
    """`n` durations spread evenly over `width` seconds around `at`."""
    return [at + width * ((i + 0.5) / n - 0.5) for i in range(n)]


def docs_tail(p: float) -> float:
    """The docs' third distribution, as its quantile function: 90% of
    requests take 150 ms, 10% spread evenly from 150 ms to 450 ms."""
    return 0.15 if p <= 0.9 else 0.15 + 0.3 * (p - 0.9) / 0.1


# --8<-- [end:docs_example]


# --8<-- [start:aggregate]
def summed(*histograms: Buckets) -> Buckets:
    """Add several histograms bucket by bucket, as `sum by (le)` does."""
    totals: dict[float, float] = {}
    for buckets in histograms:
        for le, count in buckets:
            totals[le] = totals.get(le, 0.0) + count
    return sorted(totals.items())


# --8<-- [end:aggregate]


# --8<-- [start:exponential]
def exponential_bounds(start: float, factor: float, count: int) -> list[float]:
    """`count` bounds, each `factor` times the one before (like the Go
    client's ExponentialBuckets): the same relative width everywhere."""
    return [start * factor**i for i in range(count)]


# prometheus_client's default bounds, in seconds (+Inf is added to them)
DEFAULT_BOUNDS = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0,
]  # fmt: skip
# --8<-- [end:exponential]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_buckets]
    durations = [0.03, 0.08, 0.1, 0.12, 0.2, 0.25, 0.4, 0.9]
    buckets = cumulative(durations, [0.1, 0.2, 0.5])
    print(buckets)
    #> [(0.1, 3.0), (0.2, 5.0), (0.5, 7.0), (inf, 8.0)]
    # --8<-- [end:demo_buckets]

    # --8<-- [start:demo_quantile]
    print(histogram_quantile(0.5, buckets))  # rank 4 of 8: in (0.1, 0.2]
    #> 0.15000000000000002
    print(histogram_quantile(0.95, buckets))  # in the +Inf bucket
    #> 0.5
    print(histogram_quantile(0.1, [(-1.0, 2.0), (1.0, 5.0), (INF, 5.0)]))
    #> -1.0
    specials = [
        histogram_quantile(1.5, buckets),  # q > 1
        histogram_quantile(-0.5, buckets),  # q < 0
        histogram_quantile(0.5, [(0.1, 3.0), (0.2, 5.0)]),  # no +Inf
        histogram_quantile(0.5, [(INF, 8.0)]),  # one bucket only
        histogram_quantile(0.5, [(0.1, 0.0), (INF, 0.0)]),  # empty
    ]
    print(specials)
    #> [inf, -inf, nan, nan, nan]
    broken = [(0.1, 5.0), (0.2, 3.0), (INF, 10.0)]  # 3 < 5: torn scrape
    print(prepared(broken), histogram_quantile(0.4, broken))
    #> [(0.1, 5.0), (0.2, 5.0), (inf, 10.0)] 0.08000000000000002
    # --8<-- [end:demo_quantile]

    # --8<-- [start:demo_docs]
    for at in (0.22, 0.32):
        hist = cumulative(spike(at), SLO_BOUNDS)
        estimate = histogram_quantile(0.95, hist) * 1000
        true = true_quantile(spike(at), 0.95) * 1000
        low, high = (bound * 1000 for bound in bucket_around(0.95, hist))
        line = f"estimate {estimate:.1f} ms, true {true:.1f} ms,"
        print(f"{line} somewhere in ({low:.0f}, {high:.0f}] ms")
        #> estimate 295.0 ms, true 220.9 ms, somewhere in (200, 300] ms
        #> estimate 442.5 ms, true 320.9 ms, somewhere in (300, 450] ms
    # --8<-- [end:demo_docs]

    # --8<-- [start:demo_tail]
    tail = [docs_tail((i + 0.5) / 1000) for i in range(1000)]
    estimate = histogram_quantile(0.95, cumulative(tail, SLO_BOUNDS))
    print(f"histogram p95: {estimate * 1000:.1f} ms")
    #> histogram p95: 300.0 ms
    low, high = docs_tail(0.94), docs_tail(0.96)
    print(f"summary p95 ± 0.01: ({low * 1000:.0f}, {high * 1000:.0f}) ms")
    #> summary p95 ± 0.01: (270, 330) ms
    # --8<-- [end:demo_tail]

    # --8<-- [start:demo_bounds]
    import random

    draw = random.Random(7)
    latencies = [draw.lognormvariate(math.log(0.08), 0.6) for _ in range(10_000)]
    true = true_quantile(latencies, 0.99)
    for name, bounds in [("default", DEFAULT_BOUNDS),
                         ("x1.25", exponential_bounds(0.01, 1.25, 25))]:
        hist = cumulative(latencies, bounds)
        low, high = bucket_around(0.99, hist)
        error = histogram_quantile(0.99, hist) / true - 1
        where = f"({low * 1000:.0f}, {high * 1000:.0f}] ms"
        print(f"{name}: p99 in {where}, estimate off by {error:+.0%}")
        #> default: p99 in (250, 500] ms, estimate off by +32%
        #> x1.25: p99 in (284, 355] ms, estimate off by +5%
    # --8<-- [end:demo_bounds]

    # --8<-- [start:demo_aggregate]
    draw = random.Random(6)
    busy = [draw.expovariate(1 / 0.02) for _ in range(9_900)]  # healthy
    idle = [draw.uniform(1.0, 2.0) for _ in range(100)]  # one slow host
    averaged = (true_quantile(busy, 0.95) + true_quantile(idle, 0.95)) / 2
    pooled = true_quantile(busy + idle, 0.95)
    together = summed(cumulative(busy, DEFAULT_BOUNDS),
                      cumulative(idle, DEFAULT_BOUNDS))
    estimate = histogram_quantile(0.95, together)
    ms = [f"{value * 1000:.0f} ms" for value in (averaged, pooled, estimate)]
    print(f"average of p95s {ms[0]}, true p95 {ms[1]}, summed buckets {ms[2]}")
    #> average of p95s 1010 ms, true p95 63 ms, summed buckets 68 ms
    # --8<-- [end:demo_aggregate]
