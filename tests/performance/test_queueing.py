"""What the queueing page claims, asserted: the M/M/1 simulation agrees with
1 / (μ − λ) at 50%, 80% and 90% load, and Little's law holds on a real loopback
server, where the count of requests inside is sampled, not computed.

Margins: the simulation's error over ten seeds was at most 1.2%, 2.1% and 7.0%
at the three loads; the tests allow 3%, 5% and 12%. Little's law on the server
agreed within 5% on an idle machine; the test allows 20%, for a loaded one.
"""

from __future__ import annotations

import pytest

from snippets.performance.queueing import (
    Counted,
    measure_little,
    mm1_formula,
    mm1_response,
)


@pytest.mark.parametrize(("load", "margin"), [(0.5, 0.03), (0.8, 0.05), (0.9, 0.12)])
def test_the_simulation_agrees_with_the_mm1_formula(load, margin) -> None:
    for seed in range(5):
        simulated = mm1_response(load * 100, 100, 200_000, seed)
        assert abs(simulated / mm1_formula(load * 100, 100) - 1) < margin


def test_response_time_is_a_hockey_stick() -> None:
    times = [mm1_formula(load, 1.0) for load in (0.1, 0.5, 0.8, 0.9, 0.95, 0.99)]
    assert times == pytest.approx([1 / 0.9, 2, 5, 10, 20, 100])
    # Each step of 5 points of load near the end costs more than the last.
    steps = [
        mm1_formula(b, 1) - mm1_formula(a, 1) for a, b in [(0.8, 0.85), (0.9, 0.95)]
    ]
    assert steps[1] > 3 * steps[0]


def test_at_or_past_capacity_there_is_no_steady_state() -> None:
    with pytest.raises(ValueError, match="without bound"):
        mm1_formula(100, 100)


def test_light_load_costs_about_one_service_time() -> None:
    simulated = mm1_response(1, 100, 50_000, seed=7)  # 1% busy
    assert simulated == pytest.approx(0.01, rel=0.05)


@pytest.mark.parametrize("seed", [1, 2])
def test_littles_law_holds_on_a_loopback_server(seed) -> None:
    handler = Counted(workers=4, mean_service=0.02, seed=seed)
    result = measure_little(rate=100, duration=2.0, handler=handler, seed=seed)
    assert 150 < result.arrival_rate * 2.0 < 250  # about 200 arrivals
    product = result.arrival_rate * result.mean_time
    assert abs(result.mean_inside / product - 1) < 0.2
    assert handler.inside == 0  # every request left
