"""What the pickers section of the load balancing page claims, asserted.

The oracles: nginx's smooth weighted round robin sequence for weights
{5, 1, 1} ("a a b a c a a", from the changeset that introduced it), and
balls into bins: the fullest of n bins after n balls, measured over seeds,
against the leading terms of Mitzenmacher's formulas. Those are asymptotic,
so the margins are stated: with one choice the measured load was 1.4 to 1.9
times ln n / ln ln n (the 1 + o(1) factor shrinks slowly); with two and three
choices it was within one ball of ln ln n / ln d (the O(1) term).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import Counter

import pytest

from snippets.performance.load_balancing.pickers import (
    LeastConnections,
    RandomChoices,
    RoundRobin,
    WeightedRoundRobin,
    max_load,
    max_load_formula,
)


def test_round_robin_takes_turns_whatever_the_load() -> None:
    picker = RoundRobin(["a", "b", "c"])
    assert [picker.pick() for _ in range(6)] == list("abcabc")


def test_round_robin_gives_each_one_turn_per_round_across_threads() -> None:
    picker, picked = RoundRobin(["a", "b", "c"]), Counter()
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(300):
            name = picker.pick()
            with lock:
                picked[name] += 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert picked == {"a": 400, "b": 400, "c": 400}


def test_smooth_weighted_round_robin_matches_nginx_sequence() -> None:
    picker = WeightedRoundRobin({"a": 5, "b": 1, "c": 1})
    assert "".join(picker.pick() for _ in range(14)) == "aabacaa" * 2


@pytest.mark.parametrize("weights", [{"a": 3, "b": 2}, {"x": 1, "y": 7, "z": 4}])
def test_weighted_round_robin_gives_each_its_weight_per_cycle(weights) -> None:
    picker = WeightedRoundRobin(weights)
    cycle = sum(weights.values())
    assert Counter(picker.pick() for _ in range(cycle)) == weights


def test_least_connections_picks_the_emptiest_and_counts_what_ends() -> None:
    picker = LeastConnections(["a", "b"])
    assert [picker.pick(), picker.pick(), picker.pick()] == ["a", "b", "a"]
    picker.done("a")
    picker.done("a")
    assert picker.pick() == "a"  # a holds 0, b holds 1
    assert picker.in_flight == {"a": 1, "b": 1}


def test_two_random_choices_avoid_a_backend_that_holds_many() -> None:
    picker = RandomChoices(["a", "b", "c", "d"], d=2, seed=1)
    picker.in_flight["a"] = 100  # stuck: its requests never end
    picks = Counter(picker.pick() for _ in range(300))
    # "a" wins only when both draws are "a": about 1/16 of the picks.
    assert picks["a"] < 300 / 16 * 2


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_one_choice_fullest_bin_is_about_ln_n_over_ln_ln_n(n) -> None:
    formula = max_load_formula(n, 1)
    assert formula == pytest.approx(math.log(n) / math.log(math.log(n)))
    for seed in range(5):
        assert 1.2 < max_load(n, 1, seed) / formula < 2.0


@pytest.mark.parametrize(("n", "d"), list(itertools.product([10_000, 100_000], [2, 3])))
def test_d_choices_fullest_bin_is_ln_ln_n_over_ln_d_plus_a_constant(n, d) -> None:
    formula = max_load_formula(n, d)
    for seed in range(5):
        assert abs(max_load(n, d, seed) - formula) <= 1.0


def test_two_choices_gain_far_more_than_a_third_one() -> None:
    n, seeds = 100_000, range(3)
    one, two, three = (sum(max_load(n, d, seed) for seed in seeds) for d in (1, 2, 3))
    assert one - two > 2 * (two - three)
    assert two < 0.65 * one
