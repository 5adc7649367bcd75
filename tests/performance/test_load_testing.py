"""What the load testing page claims, asserted against a real server process
on loopback. wrk (Debian's `wrk`) is the oracle for the peak throughput: it
skips without wrk, except in CI (CI=true), where it fails, as the browser
tests do without chromium. Expected figures are in the comments."""

from __future__ import annotations

import pytest

from snippets.performance.coordinated_omission import server_process
from snippets.performance.load_testing import (
    both_peaks,
    open_run,
    peak,
    report,
    steady_run,
)
from snippets.performance.percentiles import nearest_rank
from tests.helpers import require_tool


@pytest.fixture(scope="module")
def server():
    with server_process() as (address, _pid):
        yield address


def test_our_closed_loop_peak_is_within_4x_of_wrks(server):
    require_tool("wrk", "wrk")
    ours, theirs = both_peaks(server)
    # 0.72 to 1.26 in five runs on a shared 2-core machine, where both open a
    # connection per request to one Python server. But 0.39 (our Python
    # generator starved by a build running beside it) and 2.45 (wrk slower
    # than us, alone on the machine) were seen too: two generators and a
    # server share two cores, and whichever gets less CPU is the bottleneck.
    # So this checks the order of magnitude, as the page says.
    assert 0.25 < ours / theirs < 4


def test_below_the_peak_an_open_loop_achieves_what_it_offers(server):
    run = steady_run(server, rate=peak(server, seconds=1.0) / 4)
    assert run.lagged() < 0.1, "the machine was too busy to keep the schedule"
    assert run.errors() == 0
    assert abs(run.achieved() / run.offered - 1) < 0.1  # expected 1.00
    # The warm-up is thrown away: only the measured window is reported.
    assert len(run.outcomes) == round(run.offered * 2.5) - round(run.offered * 0.5)


def test_the_histograms_percentiles_match_the_samples_to_3_figures(server):
    run = open_run(server, rate=100.0, duration=1.0, warmup=0.2)
    samples = [max(1, round(o.seconds * 1e6)) for o in run.outcomes]
    h = run.histogram()
    for p in (50, 90, 99):
        # HdrHistogram reports the top of the bucket that holds the sample.
        ours = nearest_rank(samples, p)
        assert ours <= h.get_value_at_percentile(p) <= ours * 1.002


def test_the_report_states_rates_errors_duration_machine_and_versions(server):
    text = report(open_run(server, rate=50.0, duration=0.5, warmup=0.2))
    for needed in (
        "offered 50/s, achieved",
        "errors 0 of 25",
        "from the planned send",
        "p99",
        "duration 0.5 s after 0.2 s of warm-up",
        "cores",
        "Python",
        "hdrhistogram 0.10.8",
    ):
        assert needed in text
