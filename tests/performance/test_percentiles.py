"""What the latency page claims, asserted; numpy's `percentile` is the oracle:
`method="inverted_cdf"` for the nearest rank, `method="linear"` (its default)
for interpolation, on generated samples and percents.

numpy computes the rank from `percent / 100 * n` in binary floating point, so
at a percent such as 7 with 100 samples it lands on 7.000000000000001 and takes
the next sample; we compute the rank exactly. The tests assert agreement where
the float product is exact, and assert the difference, with its cause, where it
is not.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snippets.performance.percentiles import (
    hedged,
    interpolated,
    nearest_rank,
    one_call,
    share_slow,
)

SAMPLES = st.lists(
    st.floats(0, 10, allow_nan=False, allow_subnormal=False), min_size=1, max_size=60
)
PERCENTS = st.one_of(
    st.sampled_from([0, 1, 7, 25, 50, 90, 95, 99, 99.9, 100]),
    st.floats(0, 100, allow_nan=False),
)


def float_rank_is_exact(percent: float, n: int) -> bool:
    """Whether numpy's float rank (percent / 100 * n) is the exact rank."""
    return Fraction(percent / 100 * n) == Fraction(percent) * n / 100


@given(SAMPLES, PERCENTS)
def test_nearest_rank_equals_numpy_inverted_cdf(samples, percent) -> None:
    expected = np.percentile(samples, percent, method="inverted_cdf")
    if float_rank_is_exact(percent, len(samples)):
        assert nearest_rank(samples, percent) == expected
    else:  # numpy's float product may cross a whole rank; ours does not
        ranks, n = sorted(samples), len(samples)
        float_rank = max(math.ceil(percent / 100 * n), 1)
        exact_rank = max(math.ceil(Fraction(percent) * n / 100), 1)
        assert expected == ranks[float_rank - 1]  # numpy: the float's rank
        assert nearest_rank(samples, percent) == ranks[exact_rank - 1]


def test_numpy_takes_the_next_sample_where_its_float_rank_crosses() -> None:
    samples = list(range(1, 101))
    assert 7 / 100 * 100 == 7.000000000000001
    assert np.percentile(samples, 7, method="inverted_cdf") == 8
    assert nearest_rank(samples, 7) == 7  # the 7th of 100: exactly 7%


@given(SAMPLES, PERCENTS)
def test_interpolated_equals_numpy_linear(samples, percent) -> None:
    expected = float(np.percentile(samples, percent, method="linear"))
    assert math.isclose(interpolated(samples, percent), expected, abs_tol=1e-9)


def test_nearest_rank_is_always_a_measured_value() -> None:
    draw = random.Random(4)
    samples = [draw.expovariate(50) for _ in range(999)]
    for percent in (1, 50, 90, 99, 99.9):
        assert nearest_rank(samples, percent) in samples


def test_the_mean_of_a_long_tail_describes_no_request() -> None:
    draw = random.Random(1)
    latencies = [one_call(draw) for _ in range(10_000)]
    mean = sum(latencies) / len(latencies)
    # No request took anything near the mean: they are fast or a second.
    assert not any(abs(latency - mean) < 0.010 for latency in latencies)
    assert nearest_rank(latencies, 50) < mean < nearest_rank(latencies, 99)


@pytest.mark.parametrize("backends", [1, 10, 100])
def test_fan_out_makes_the_tail_common(backends) -> None:
    formula = 1 - 0.99**backends
    for seed in range(3):
        measured = share_slow(backends, 0.01, requests=10_000, seed=seed)
        # Binomial spread of 10,000 requests: at most 0.5 percentage points
        # (one standard deviation); allow four.
        assert abs(measured - formula) < 0.02
    assert round(1 - 0.99**100, 2) == 0.63  # The Tail at Scale's figure


def test_hedging_after_the_95th_percentile_cuts_p99_for_about_5_percent_more_calls():
    for seed in range(3):
        draw = random.Random(seed)
        plain = [one_call(draw) for _ in range(50_000)]
        delay = nearest_rank(plain, 95)
        runs = [hedged(draw, delay) for _ in range(50_000)]
        extra = sum(calls for _, calls in runs) / len(runs) - 1
        p99_hedged = nearest_rank([latency for latency, _ in runs], 99)
        assert nearest_rank(plain, 99) == 1.0
        assert p99_hedged < nearest_rank(plain, 99) / 20
        assert 0.04 < extra < 0.06  # 5% of requests are past the 95th percentile


def test_a_hedged_request_takes_the_first_answer() -> None:
    class Fixed(random.Random):
        def __init__(self, values):
            super().__init__(0)
            self.values = list(values)

        def random(self):
            return self.values.pop(0)

        def uniform(self, a, b):
            return a

    # First call slow (random() < 0.02), second call fast: hedged at 0.02 s.
    latency, calls = hedged(Fixed([0.01, 0.5]), after=0.02)
    assert (calls, latency) == (2, pytest.approx(0.03))
    latency, calls = hedged(Fixed([0.5]), after=0.02)  # fast: no second call
    assert (calls, latency) == (1, 0.010)
