"""What the histograms page claims, asserted.

Oracle: Prometheus 2.42 itself. `promtool test rules` evaluates
`histogram_quantile` on a few hundred generated bucket sets (sorted or not,
with equal bounds spelled two ways, counts that go down, no +Inf bucket,
empty histograms, negative bounds, q outside [0, 1]) in one run, and compares
its floats with ours exactly: promtool 2.42 has no tolerance, so one ulp off
fails, which a second run with three values nudged by one ulp shows.
prometheus_client is the oracle for how values fall into buckets. The
Prometheus docs' worked example ("Errors of quantile estimation") is
reproduced number for number.
"""

from __future__ import annotations

import math
import random
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from snippets.observability.histograms import (
    DEFAULT_BOUNDS,
    INF,
    SLO_BOUNDS,
    Buckets,
    bucket_around,
    cumulative,
    docs_tail,
    exponential_bounds,
    histogram_quantile,
    prepared,
    spike,
    summed,
    true_quantile,
)
from tests.helpers import require_tool

# --- the promtool corpus ---------------------------------------------------

BOUND_POOL = [-2.0, -0.5, 0.0, 0.005, 0.01, 0.1, 0.25, 0.3, 1.0, 2.5, 10.0]
QS = [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0, -0.1, 1.1]

# Each case: (q, [(le label, count), ...]); several series may share a bound.
Case = tuple[float, list[tuple[str, float]]]


def le_label(le: float, other_spelling: bool = False) -> str:
    if le == INF:
        return "+Inf"
    return f"{le:.4f}" if other_spelling else repr(le)


def random_case(draw: random.Random) -> Case:
    bounds = sorted(draw.sample(BOUND_POOL, draw.randint(0, 6)))
    counts, running = [], 0.0
    for _ in range(len(bounds) + 1):
        running += draw.choice([0, draw.randint(0, 20), draw.uniform(0, 9)])
        counts.append(running)
    if draw.random() < 0.15:  # a torn scrape: one count goes down
        i = draw.randrange(len(counts))
        counts[i] = max(0.0, counts[i] - draw.randint(1, 10))
    if draw.random() < 0.05:
        counts = [0.0] * len(counts)
    series = [
        (le_label(le), count) for le, count in zip([*bounds, INF], counts, strict=True)
    ]
    if bounds and draw.random() < 0.15:  # the same bound, spelled twice
        le = draw.choice(bounds)
        series.append((le_label(le, other_spelling=True), draw.randint(0, 5)))
    if draw.random() < 0.1 and len(series) > 1:  # no +Inf bucket
        series = [(le, count) for le, count in series if le != "+Inf"]
    draw.shuffle(series)
    q = draw.choice([*QS, draw.random()])
    return q, series


def named_cases() -> list[Case]:
    """The page's own examples, and the docs' buckets."""

    def labelled(buckets: Buckets) -> list[tuple[str, float]]:
        return [(le_label(le), count) for le, count in buckets]

    page = cumulative([0.03, 0.08, 0.1, 0.12, 0.2, 0.25, 0.4, 0.9], [0.1, 0.2, 0.5])
    cases = [(q, labelled(page)) for q in (0.0, 0.5, 0.95, 1.0, 1.5, -0.5)]
    cases.append((0.4, labelled([(0.1, 5.0), (0.2, 3.0), (INF, 10.0)])))
    cases.append((0.1, labelled([(-1.0, 2.0), (1.0, 5.0), (INF, 5.0)])))
    cases.append((0.5, labelled([(INF, 8.0)])))
    cases.append((0.5, labelled([(0.1, 0.0), (INF, 0.0)])))
    for at in (0.22, 0.32):
        cases.append((0.95, labelled(cumulative(spike(at), SLO_BOUNDS))))
    tail = [docs_tail((i + 0.5) / 1000) for i in range(1000)]
    cases.append((0.95, labelled(cumulative(tail, SLO_BOUNDS))))
    return cases


def corpus(size: int = 300, seed: int = 42) -> list[Case]:
    draw = random.Random(seed)
    return named_cases() + [random_case(draw) for _ in range(size)]


def ours(case: Case) -> float:
    q, series = case
    return histogram_quantile(q, [(float(le), count) for le, count in series])


def yaml_float(value: float) -> str:
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)


def rules_test(cases: list[Case], expected: list[float]) -> str:
    """One promtool unit test file: every case's buckets as input series at
    t=0, and one expression per case with our value as the expected one."""
    series, exprs = [], []
    for i, ((q, buckets), value) in enumerate(zip(cases, expected, strict=True)):
        for le, count in buckets:
            series.append(
                f'      - series: \'h_bucket{{case="{i}",le="{le}"}}\'\n'
                f"        values: '{count!r}'\n"
            )
        quantile = f'histogram_quantile({q!r}, h_bucket{{case="{i}"}})'
        if math.isnan(value):  # NaN != NaN: 2.42 cannot compare NaNs
            quantile, value = f"{quantile} != bool {quantile}", 1.0
        exprs.append(
            f"      - expr: '{quantile}'\n"
            "        eval_time: 0m\n"
            "        exp_samples:\n"
            f"          - labels: '{{case=\"{i}\"}}'\n"
            f"            value: {yaml_float(value)}\n"
        )
    return (
        "rule_files: []\nevaluation_interval: 1m\ntests:\n"
        "  - interval: 1m\n    input_series:\n"
        + "".join(series)
        + "    promql_expr_test:\n"
        + "".join(exprs)
    )


def promtool(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "histogram_quantile_test.yml"
    path.write_text(text, encoding="utf-8")
    return subprocess.run(
        [require_tool("promtool", "prometheus"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_our_estimates_equal_promtools_to_the_last_bit(tmp_path) -> None:
    cases = corpus()
    expected = [ours(case) for case in cases]
    assert sum(math.isnan(value) for value in expected) > 20  # rules exercised
    assert sum(math.isfinite(value) for value in expected) > 150
    result = promtool(rules_test(cases, expected), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_fails_a_value_one_ulp_off(tmp_path) -> None:
    cases = corpus()
    expected = [ours(case) for case in cases]
    finite = [i for i, value in enumerate(expected) if math.isfinite(value)]
    nudged = finite[10:13]
    for i in nudged:
        expected[i] = math.nextafter(expected[i], INF)
    result = promtool(rules_test(cases, expected), tmp_path)
    assert result.returncode != 0
    failed = re.findall(r'h_bucket\{case=\\"(\d+)\\"\}\)", time', result.stderr)
    assert sorted(map(int, failed)) == nudged


# --- the rules, one by one ---------------------------------------------------

PAGE = cumulative([0.03, 0.08, 0.1, 0.12, 0.2, 0.25, 0.4, 0.9], [0.1, 0.2, 0.5])


def test_values_fall_into_buckets_as_prometheus_client_puts_them() -> None:
    draw = random.Random(3)
    values = [round(draw.uniform(0, 1.2), 1) for _ in range(500)]  # on bounds
    registry = CollectorRegistry()
    histogram = Histogram("h", "test", buckets=DEFAULT_BOUNDS, registry=registry)
    for value in values:
        histogram.observe(value)
    theirs = [
        (float(sample.labels["le"]), sample.value)
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "h_bucket"
    ]
    assert cumulative(values, DEFAULT_BOUNDS) == theirs


def test_interpolation_is_linear_inside_the_bucket() -> None:
    # rank 4 of 8; 3 below 0.1, 2 in (0.1, 0.2]: one of the two, halfway
    assert histogram_quantile(0.5, PAGE) == pytest.approx(0.15)


def test_lowest_bucket_starts_at_zero_when_its_bound_is_positive() -> None:
    assert histogram_quantile(0.2, [(1.0, 10.0), (INF, 10.0)]) == pytest.approx(0.2)


def test_lowest_bucket_at_or_below_zero_returns_its_bound() -> None:
    assert histogram_quantile(0.1, [(-1.0, 2.0), (1.0, 5.0), (INF, 5.0)]) == -1.0


def test_the_inf_bucket_returns_the_largest_finite_bound() -> None:
    assert histogram_quantile(0.95, PAGE) == 0.5
    assert histogram_quantile(1.0, PAGE) == 0.5


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (1.5, PAGE, INF),
        (-0.5, PAGE, -INF),
        (-0.5, [(0.1, 3.0)], -INF),  # q is checked first
        (0.5, [(0.1, 3.0), (0.2, 5.0)], math.nan),  # no +Inf bucket
        (0.5, [(INF, 8.0)], math.nan),  # fewer than 2 buckets
        (0.5, [(0.1, 0.0), (INF, 0.0)], math.nan),  # no observations
        (math.nan, PAGE, math.nan),
    ],
)
def test_special_cases(q, buckets, expected) -> None:
    assert histogram_quantile(q, buckets) == pytest.approx(expected, nan_ok=True)


def test_counts_that_go_down_are_raised_to_the_envelope() -> None:
    broken = [(0.2, 3.0), (INF, 10.0), (0.1, 5.0)]  # unsorted too
    assert prepared(broken) == [(0.1, 5.0), (0.2, 5.0), (INF, 10.0)]
    assert histogram_quantile(0.4, broken) == pytest.approx(0.08)


def test_equal_bounds_are_merged() -> None:
    assert prepared([(1.0, 7.0), (0.1, 5.0), (1.0, 1.0), (INF, 10.0)]) == [
        (0.1, 5.0),
        (1.0, 8.0),
        (INF, 10.0),
    ]


# --- the error of the estimate ------------------------------------------------

latencies = st.lists(st.floats(1e-6, 20), min_size=1, max_size=200)
bound_sets = st.lists(st.floats(0.001, 15), min_size=1, max_size=12, unique=True)


@given(latencies, bound_sets, st.floats(0.001, 1))
def test_the_true_quantile_and_the_estimate_share_one_bucket(values, bounds, q) -> None:
    buckets = cumulative(values, bounds)
    low, high = bucket_around(q, buckets)
    assert low < true_quantile(values, q) <= high
    assert low <= histogram_quantile(q, buckets) <= high * (1 + 1e-12)


@given(st.integers(0, 10_000), st.sampled_from([0.5, 0.9, 0.99]))
def test_exponential_buckets_bound_the_relative_error_by_their_factor(seed, q) -> None:
    draw = random.Random(seed)
    values = [draw.lognormvariate(math.log(0.08), 0.6) for _ in range(500)]
    estimate = histogram_quantile(
        q, cumulative(values, exponential_bounds(0.01, 1.25, 25))
    )
    if estimate < exponential_bounds(0.01, 1.25, 25)[-1]:  # not in +Inf
        assert 1 / 1.25 <= estimate / true_quantile(values, q) <= 1.25


def test_the_docs_worked_example_is_reproduced() -> None:
    # prometheus.io/docs/practices/histograms/, "Errors of quantile estimation"
    near_220 = cumulative(spike(0.22), SLO_BOUNDS)
    assert histogram_quantile(0.95, near_220) == pytest.approx(0.295)
    assert bucket_around(0.95, near_220) == (0.2, 0.3)
    assert 0.22 < true_quantile(spike(0.22), 0.95) < 0.221  # "a tiny bit above"
    near_320 = cumulative(spike(0.32), SLO_BOUNDS)
    assert histogram_quantile(0.95, near_320) == pytest.approx(0.4425)
    tail = [docs_tail((i + 0.5) / 1000) for i in range(1000)]
    assert histogram_quantile(0.95, cumulative(tail, SLO_BOUNDS)) == pytest.approx(0.3)
    assert docs_tail(0.94) == pytest.approx(0.27)
    assert docs_tail(0.96) == pytest.approx(0.33)
    assert true_quantile(tail, 0.95) == pytest.approx(0.3, abs=0.002)  # sampled


# --- aggregation --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_averaging_quantiles_is_meaningless_summing_buckets_is_sound(seed) -> None:
    draw = random.Random(seed)
    busy = [draw.expovariate(1 / 0.02) for _ in range(9_900)]
    idle = [draw.uniform(1.0, 2.0) for _ in range(100)]
    pooled = true_quantile(busy + idle, 0.95)
    averaged = (true_quantile(busy, 0.95) + true_quantile(idle, 0.95)) / 2
    assert averaged > 10 * pooled
    together = summed(
        cumulative(busy, DEFAULT_BOUNDS), cumulative(idle, DEFAULT_BOUNDS)
    )
    assert together == cumulative(busy + idle, DEFAULT_BOUNDS)  # nothing is lost
    low, high = bucket_around(0.95, together)
    assert low < pooled <= high
    assert low <= histogram_quantile(0.95, together) <= high


def test_default_bounds_are_prometheus_clients() -> None:
    assert [*DEFAULT_BOUNDS, INF] == list(Histogram.DEFAULT_BUCKETS)
