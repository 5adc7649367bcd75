"""What the profiling page claims, asserted: cProfile counts every call exactly,
and the sampling profiler built from scratch finds the same 80/20 split as
cProfile's own timing, within a margin set by its number of samples.

With about 130 samples, the standard error of a share near 0.8 is about 0.035;
the tests allow 0.12 between the two profilers, and 0.7 to 0.9 for each.
"""

from __future__ import annotations

import threading
import time

import pytest

from snippets.performance.profiling import (
    Sampler,
    cumulative,
    exact_profile,
    sample_profile,
    workload,
)


def test_cprofile_counts_every_call_exactly() -> None:
    stats = exact_profile(workload, 40, 1_000)
    assert cumulative(stats, "hot")[0] == 40
    assert cumulative(stats, "cold")[0] == 40
    assert cumulative(stats, "spin")[0] == 80


def test_the_sampler_finds_the_split_that_cprofile_measures() -> None:
    for _ in range(2):
        stats = exact_profile(workload, 200)
        hot_time, cold_time = cumulative(stats, "hot")[1], cumulative(stats, "cold")[1]
        exact = hot_time / (hot_time + cold_time)
        sampler = sample_profile(workload, 200)
        assert sampler.samples > 60
        in_hot, in_cold = sampler.share("hot"), sampler.share("cold")
        sampled = in_hot / (in_hot + in_cold)
        assert 0.7 < exact < 0.9  # 4 parts in 5, by construction
        assert 0.7 < sampled < 0.9
        assert abs(sampled - exact) < 0.12
        assert sampler.share("workload") > 0.9  # nearly every sample was inside


def test_a_sampler_sees_a_waiting_thread_where_it_waits() -> None:
    def waits() -> None:
        time.sleep(0.3)

    sampler = sample_profile(waits)
    assert sampler.share("waits") > 0.9  # time asleep is counted where it sleeps


def test_the_sampler_watches_only_its_target_thread() -> None:
    def busy() -> None:
        time.sleep(0.2)

    other = threading.Thread(target=busy)
    other.start()
    sampler = Sampler(threading.get_ident())
    sampler.thread.start()
    time.sleep(0.2)
    sampler.done.set()
    sampler.thread.join()
    other.join()
    assert sampler.counts["busy"] == 0
    assert sampler.samples > 0


def test_cumulative_names_a_function_it_does_not_know() -> None:
    stats = exact_profile(workload, 1, 10)
    with pytest.raises(KeyError, match="nowhere"):
        cumulative(stats, "nowhere")
