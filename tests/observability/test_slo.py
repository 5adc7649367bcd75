"""What the SLO page claims, asserted. The oracle is `promtool test rules`
(Debian's prometheus package, promtool 2.42): one run evaluates the same
recording and alerting rules on the step, ramp and blip series, and must fire
at the minutes our evaluator computes. The same run checks our rate() value
for value on counters with resets and unaligned windows, and holds one planted
wrong expectation, which must be the only failure: the test can fail.
"""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
from datetime import timedelta

import pytest

from snippets.observability.slo import (
    HISTORY,
    MINUTE,
    PER_MINUTE,
    SCENARIOS,
    WORKBOOK,
    BurnAlert,
    Counter,
    duration,
    error_budget,
    error_ratio,
    firing_times,
    incident,
    input_series,
    promtool_test,
    rate,
    rule_groups,
    rule_test,
    scenario,
)
from tests.helpers import require_tool

SLO = 0.999
MS = timedelta(milliseconds=1)


def test_three_nines_over_30_days_leave_43_2_minutes() -> None:
    assert error_budget(SLO) == timedelta(minutes=43, seconds=12)
    assert error_budget(0.99) == timedelta(hours=7, minutes=12)


def test_the_workbook_alerts_spend_2_5_and_10_percent_of_the_budget() -> None:
    spent = [alert.consumed() for alert in WORKBOOK]
    assert spent == pytest.approx([0.02, 0.05, 0.10])
    assert [a.severity for a in WORKBOOK] == ["page", "page", "ticket"]


def test_the_step_pages_when_the_detection_formula_says() -> None:
    detection = WORKBOOK[0].detection(0.1, SLO)  # 10% errors, 1h window
    assert detection == pytest.approx(timedelta(minutes=8.64), abs=MS)
    first_page = incident("step")["page"][0][0]
    assert first_page == math.ceil(detection / timedelta(minutes=1))
    at_full_outage = WORKBOOK[0].detection(1.0, SLO)
    assert at_full_outage == pytest.approx(timedelta(seconds=51.84), abs=MS)


def test_the_blip_pages_no_one_but_a_naive_threshold_would() -> None:
    assert incident("blip") == {"page": [], "ticket": []}
    budget = (1 - SLO) * PER_MINUTE * 30 * 24 * 60  # bad requests allowed
    assert 0.5 * PER_MINUTE / budget == pytest.approx(0.0116, abs=1e-4)
    naive = BurnAlert("naive", 1, timedelta(minutes=5), timedelta(minutes=5))
    assert incident("blip", (naive,)) == {"naive": [(1, 5)]}


def test_the_ramp_sits_exactly_on_the_naive_threshold_before_it_fires() -> None:
    good, total = scenario(SCENARIOS["ramp"])
    five = 5 * MINUTE
    ratios = {
        k: error_ratio(good, total, (HISTORY + k) * MINUTE, five) for k in range(40)
    }
    ties = [k for k, r in ratios.items() if r == pytest.approx(0.001, abs=1e-12)]
    assert ties == list(range(18, 37))
    assert ratios[37] > 0.001


def test_the_short_window_resets_the_page_soon_after_recovery() -> None:
    hour = BurnAlert("1h", 14.4, timedelta(hours=1), timedelta(hours=1))
    pair = incident("step", WORKBOOK[:1])["page"]
    alone = incident("step", (hour,))["1h"]
    assert pair[0][0] == alone[0][0]  # the same detection time
    assert pair[0][1] < 30 + 5 < 30 + 45 < alone[0][1]  # outage ends at 30


def test_the_slow_burn_opens_a_ticket_and_pages_no_one() -> None:
    fired = incident("ramp")
    assert fired["page"] == []
    (first, last), *_ = fired["ticket"]
    assert last == len(SCENARIOS["ramp"])  # and it keeps firing
    good, total = scenario(SCENARIOS["ramp"])
    index = total.times.index((HISTORY + first) * MINUTE)
    failed = total.values[index] - good.values[index]  # all in 3 days
    budget = (1 - SLO) * PER_MINUTE * 30 * 24 * 60  # bad requests allowed
    assert failed / budget == pytest.approx(0.10, abs=0.005)


def test_rate_extrapolates_to_the_window_edges() -> None:
    # One request a second, scraped each minute at :30: over [60 s, 300 s]
    # the samples span 180 s, and rate() stretches them to the 240 s window.
    counter = Counter((30_000, 90_000, 150_000, 210_000, 270_000),
                      (30, 90, 150, 210, 270))  # fmt: skip
    assert rate(counter, 300_000, 240_000) == pytest.approx(1.0)
    assert rate(counter, 300_000, 30_000) is None  # one sample: no rate


def test_durations_are_written_in_prometheus_units() -> None:
    assert [duration(a.long) for a in WORKBOOK] == ["1h", "6h", "3d"]
    with pytest.raises(ValueError, match="whole number of minutes"):
        duration(timedelta(seconds=90))


def random_counter(seed: int) -> Counter:
    """A counter scraped every minute that restarts now and then."""
    draw, value, values = random.Random(seed), 0.0, []
    for _ in range(40):
        value = 0.0 if draw.random() < 0.1 else value + draw.randint(0, 50)
        values.append(value)
    return Counter(tuple(m * MINUTE for m in range(40)), tuple(values))


def rate_cases(seed: int, counter: Counter) -> list[dict]:
    """promql_expr_test cases with our rate() as the expected value."""
    draw, cases = random.Random(seed), []
    for _ in range(4):
        at = draw.randrange(MINUTE, 40 * MINUTE, 15_000)  # off the grid too
        window = draw.choice([2, 5, 10]) * MINUTE
        value = rate(counter, at, window)
        cases.append(
            {
                "expr": f"rate(counter_{seed}_total[{window // MINUTE}m])",
                "eval_time": f"{at // 1000}s",
                "exp_samples": [] if value is None else [
                    {"labels": "{}", "value": value}
                ],
            }
        )  # fmt: skip
    return cases


def go_duration(minutes: int) -> str:
    """How promtool prints an eval time: 3d8m, 1h, 0s."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (mins, "m")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def promtool_run(folder):
    """One promtool run: every scenario, the times our evaluator chose,
    rate() checks, and one planted wrong expectation."""
    require_tool("promtool", "prometheus")
    series, fired = [], {}
    for name, bad in SCENARIOS.items():
        good, total = scenario(bad)
        series += [
            input_series(f'slo_good_total{{scenario="{name}"}}', good),
            input_series(f'slo_requests_total{{scenario="{name}"}}', total),
        ]
        fired[name] = firing_times(WORKBOOK, good, total, SLO, total.times[-1])
    end = HISTORY + max(len(bad) for bad in SCENARIOS.values())
    chosen = {0, HISTORY, HISTORY + 1, HISTORY + 3, end}  # + the blip's worst
    for severities in fired.values():
        for minutes in severities.values():
            starts = [m for m in minutes if m - 1 not in minutes]
            stops = [m for m in minutes if m + 1 not in minutes]
            chosen |= {m + d for m in starts for d in (-1, 0)}
            chosen |= {m + d for m in stops for d in (0, 1) if m + d <= end}
            chosen |= {(a + b) // 2 for a, b in zip(starts, stops, strict=True)}
    expected = {
        minute: [
            {"scenario": name, "severity": severity}
            for name, severities in fired.items()
            for severity, minutes in severities.items()
            if minute in minutes
        ]
        for minute in chosen
    }
    planted = fired["step"]["page"][0] - 1  # claim the page a minute early
    expected[planted] = [{"scenario": "step", "severity": "page"}]
    test = rule_test(series, expected)
    counters = {seed: random_counter(seed) for seed in range(5)}
    test["tests"][0]["input_series"] += [
        input_series(f"counter_{seed}_total", counter)
        for seed, counter in counters.items()
    ]
    test["tests"][0]["promql_expr_test"] = [
        case for seed, c in counters.items() for case in rate_cases(seed, c)
    ]
    result = promtool_test(folder, rule_groups(WORKBOOK, SLO), test)
    return result, test, planted


def test_promtool_fires_when_we_do_and_computes_the_same_rates(tmp_path) -> None:
    # One promtool run (about 3 s of CPU) carries every check below.
    result, test, planted = promtool_run(tmp_path)
    output = result.stdout + result.stderr
    cases = test["tests"][0]["alert_rule_test"]
    assert len(cases) == 13  # the page says so
    assert sum(bool(case["exp_alerts"]) for case in cases) >= 6
    # The run fails, and the only failure is the planted case: every alert
    # case our evaluator generated agreed, and the comparison can fail.
    assert result.returncode != 0
    failures = re.findall(r"alertname: (\S+), time: (\S+),", output)
    assert failures == [("ErrorBudgetBurn", go_duration(planted))], output[-3000:]
    assert "got:[]" in output.replace(" ", "").replace("\n", "")
    # Our rate() equals Prometheus', value for value, on 20 expressions.
    assert len(test["tests"][0]["promql_expr_test"]) == 20
    assert "expr:" not in output, output[-3000:]


def test_promtool_accepts_the_rules(tmp_path) -> None:
    (tmp_path / "rules.json").write_text(json.dumps(rule_groups(WORKBOOK, SLO)))
    checked = subprocess.run(
        [require_tool("promtool", "prometheus"), "check", "rules", "rules.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout
