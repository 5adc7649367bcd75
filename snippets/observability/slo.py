"""SLOs, error budgets and burn-rate alerts: when to wake someone up.

What it teaches: an SLI is the ratio of good events to valid events, an SLO
is a target for it over a period, and the error budget is what the target
leaves: 99.9% over 30 days allows 43.2 minutes of total outage. The burn rate
is how fast an error ratio spends that budget (1 spends it in exactly the
period). The module evaluates the SRE Workbook's multiwindow, multi-burn-rate
alerts the way Prometheus does: at each evaluation time it takes `rate()` over
each range window, with Prometheus' extrapolation at the window edges, and an
alert fires when both its long and its short window burn too fast. The same
rules, written as Prometheus recording and alerting rules, go to
`promtool test rules`, which must fire at the same evaluation times.

Read first: the metrics page (`docs/observability/metrics.md`, "Metrics and
the exposition format"), which defines the counters these rules read.

What it leaves out: the `for` clause (the Workbook's rules need none), label
matching across many series (each scenario here is one series pair),
native histograms, Prometheus 3's left-open range windows, and an
Alertmanager that routes, groups and silences the alerts.

Run it: `python -m snippets.observability.slo`.
"""

from __future__ import annotations

# --8<-- [start:budget]
from dataclasses import dataclass
from datetime import timedelta

PERIOD = timedelta(days=30)


def error_budget(slo: float, period: timedelta = PERIOD) -> timedelta:
    """The time of total outage that `slo` allows over `period`."""
    return period * (1 - slo)


@dataclass(frozen=True)
class BurnAlert:
    severity: str  # "page" or "ticket"
    burn_rate: float  # how many times faster than the budget allows
    long: timedelta  # the window that measures the budget spent
    short: timedelta  # the window that checks it is still burning

    def consumed(self, period: timedelta = PERIOD) -> float:
        """The fraction of the budget spent when the long window fires."""
        return self.burn_rate * (self.long / period)

    def detection(self, error_ratio: float, slo: float) -> timedelta:
        """How long `error_ratio` takes to fire the long window, from a
        clean start (the Workbook's detection-time formula)."""
        return self.long * self.burn_rate * (1 - slo) / error_ratio


WORKBOOK = (  # the SRE Workbook's Table 5-8, for a 30-day period
    BurnAlert("page", 14.4, timedelta(hours=1), timedelta(minutes=5)),
    BurnAlert("page", 6, timedelta(hours=6), timedelta(minutes=30)),
    BurnAlert("ticket", 1, timedelta(days=3), timedelta(hours=6)),
)
# --8<-- [end:budget]


# --8<-- [start:rate]
import bisect
import itertools
import math
from functools import cached_property


@dataclass(frozen=True)
class Counter:
    """A scraped counter: `values[i]` was read at `times[i]` (ms)."""

    times: tuple[int, ...]
    values: tuple[float, ...]

    @cached_property
    def resets(self) -> list[int]:
        """The indexes where the counter went down (a process restart)."""
        pairs = itertools.pairwise(self.values)
        return [i + 1 for i, (a, b) in enumerate(pairs) if b < a]


def rate(counter: Counter, at: int, window: int) -> float | None:
    """PromQL's rate(counter[window]) evaluated at `at` (ms), as Prometheus
    2.x computes it: both window ends included, the increase extrapolated
    towards the edges. None when the window holds fewer than 2 samples."""
    start = at - window
    first = bisect.bisect_left(counter.times, start)
    last = bisect.bisect_right(counter.times, at) - 1
    if last - first < 1:
        return None
    v, t = counter.values, counter.times
    increase = v[last] - v[first]
    resets = counter.resets  # each reset adds back what was lost
    for i in resets[bisect.bisect_right(resets, first) :]:
        if i > last:
            break
        increase += v[i - 1]
    to_start, to_end = (t[first] - start) / 1000, (at - t[last]) / 1000
    sampled = (t[last] - t[first]) / 1000
    average = sampled / (last - first)
    if increase > 0 and v[first] >= 0:  # a counter never goes below zero
        to_start = min(to_start, sampled * (v[first] / increase))
    extended = sampled  # extend to an edge if a sample could fit there
    extended += to_start if to_start < average * 1.1 else average / 2
    extended += to_end if to_end < average * 1.1 else average / 2
    factor = extended / sampled / (window / 1000)  # in this order, as 2.42
    return increase * factor


# --8<-- [end:rate]


# --8<-- [start:evaluate]
MINUTE = 60_000  # ms


def error_ratio(good: Counter, total: Counter, at: int, window: int):
    """1 - rate(good[w]) / rate(total[w]): the bad fraction over `window`."""
    good_rate, total_rate = rate(good, at, window), rate(total, at, window)
    if good_rate is None or total_rate is None:
        return None  # no sample pair in the window: no result, no alert
    if total_rate == 0:
        return math.nan  # 0/0 in PromQL; NaN > x is false
    return 1 - good_rate / total_rate


def allowed(slo: float) -> float:
    """The bad fraction the SLO allows: 1 - 0.999 is 0.0010000000000000009
    in binary floating point, so round it to the 0.001 a rule would say."""
    return round(1 - slo, 12)


def burning(alert: BurnAlert, good, total, slo: float, at: int) -> bool:
    """Both windows spend the budget faster than `alert.burn_rate`."""
    threshold = alert.burn_rate * allowed(slo)  # as (14.4 * 0.001) in PromQL
    for window in (alert.long, alert.short):
        ms = window // timedelta(milliseconds=1)
        ratio = error_ratio(good, total, at, ms)
        if ratio is None or not ratio > threshold:
            return False
    return True


def firing_times(alerts, good, total, slo, until: int) -> dict:
    """Evaluate every minute from 0 to `until` (ms), like a rule group with
    a 1m interval; map each severity to the minutes at which it fires."""
    fired: dict[str, list[int]] = {a.severity: [] for a in alerts}
    for at in range(0, until + 1, MINUTE):
        for severity in fired:
            if any(
                burning(a, good, total, slo, at)
                for a in alerts
                if a.severity == severity
            ):
                fired[severity].append(at // MINUTE)
    return fired


# --8<-- [end:evaluate]


# --8<-- [start:scenarios]
HISTORY = 3 * 24 * 60  # minutes of healthy traffic before each incident
RECENT = 6 * 60  # the last minutes of it, sampled each minute
PER_MINUTE = 1000  # requests a minute, steady


def scenario(bad: list[float]) -> tuple[Counter, Counter]:
    """Good and total counters: three healthy days, sampled hourly until
    the last 6 hours, then one sample a minute, ending with the error
    ratios in `bad`, one a minute."""
    older = range(0, HISTORY - RECENT, 60)
    minutes = [*older, *range(HISTORY - RECENT, HISTORY + 1)]
    totals = [m * PER_MINUTE for m in minutes]
    goods = list(totals)
    for ratio in bad:
        minutes.append(minutes[-1] + 1)
        totals.append(totals[-1] + PER_MINUTE)
        goods.append(goods[-1] + PER_MINUTE - round(ratio * PER_MINUTE))
    times = tuple(m * MINUTE for m in minutes)
    return Counter(times, tuple(goods)), Counter(times, tuple(totals))


SCENARIOS = {
    "step": [0.1] * 30 + [0.0] * 150,  # 10% errors for 30 minutes
    "ramp": [0.005 * min(m / 120, 1) for m in range(960)],  # to 0.5%
    "blip": [0.5] + [0.0] * 179,  # half the requests fail for a minute
}
# --8<-- [end:scenarios]


# --8<-- [start:rules]
def duration(window: timedelta) -> str:
    """A Prometheus duration: 5m, 6h, 3d."""
    minutes, rest = divmod(window, timedelta(minutes=1))
    if rest:
        raise ValueError(f"{window} is not a whole number of minutes")
    size, unit = next(
        (size, unit)
        for unit, size in (("d", 1440), ("h", 60), ("m", 1))
        if minutes % size == 0
    )
    return f"{minutes // size}{unit}"


def ratio_rule(window: timedelta) -> dict:
    """A recording rule for the error ratio over `window`, computed as
    error_ratio() does."""
    w = duration(window)
    good = f"sum by (scenario) (rate(slo_good_total[{w}]))"
    total = f"sum by (scenario) (rate(slo_requests_total[{w}]))"
    return {
        "record": f"slo:error_ratio:rate{w}",
        "expr": f"1 - {good} / {total}",
    }


def rule_groups(alerts, slo: float) -> dict:
    """Recording rules for each window's error ratio, and one alerting rule
    per severity: any (long and short) pair above its burn rate."""
    windows = sorted({w for a in alerts for w in (a.short, a.long)})
    rules = [ratio_rule(window) for window in windows]
    for severity in dict.fromkeys(a.severity for a in alerts):
        pairs = [
            f"(slo:error_ratio:rate{duration(a.long)} > {limit}"
            f" and slo:error_ratio:rate{duration(a.short)} > {limit})"
            for a in alerts
            if a.severity == severity
            for limit in [f"({a.burn_rate} * {allowed(slo)})"]
        ]
        rules.append(
            {
                "alert": "ErrorBudgetBurn",
                "expr": " or ".join(pairs),
                "labels": {"severity": severity},
            }
        )
    return {"groups": [{"name": "slo", "interval": "1m", "rules": rules}]}


# --8<-- [end:rules]


# --8<-- [start:promtool]
import json
import shutil
import subprocess
from pathlib import Path


def input_series(series: str, counter: Counter) -> dict:
    """A counter in promtool's notation: one value a minute, `_` where no
    sample was scraped."""
    minutes = (t // MINUTE for t in counter.times)
    by_minute = dict(zip(minutes, counter.values, strict=True))
    values = [
        f"{by_minute[m]:.0f}" if m in by_minute else "_"
        for m in range(max(by_minute) + 1)
    ]
    return {"series": series, "values": " ".join(values)}


def rule_test(series: list[dict], expected: dict[int, list[dict]]) -> dict:
    """A promtool test: at each minute, exactly these alerts fire."""
    cases = [
        {
            "eval_time": f"{minute}m",
            "alertname": "ErrorBudgetBurn",
            "exp_alerts": [{"exp_labels": labels} for labels in alerts],
        }
        for minute, alerts in sorted(expected.items())
    ]
    return {
        "rule_files": ["rules.json"],
        "evaluation_interval": "1m",
        "tests": [
            {"interval": "1m", "input_series": series, "alert_rule_test": cases}
        ],
    }


def promtool_test(folder: Path, rules: dict, test: dict):
    """Write both files (JSON is YAML) and run `promtool test rules`."""
    (folder / "rules.json").write_text(json.dumps(rules))
    (folder / "test.json").write_text(json.dumps(test))
    return subprocess.run(
        [shutil.which("promtool") or "promtool", "test", "rules", "test.json"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --8<-- [end:promtool]


# --8<-- [start:incident]
def spans(minutes: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive minutes, as (first, last) pairs."""
    runs: list[tuple[int, int]] = []
    for minute in minutes:
        if runs and runs[-1][1] == minute - 1:
            runs[-1] = (runs[-1][0], minute)
        else:
            runs.append((minute, minute))
    return runs


def incident(name: str, alerts=WORKBOOK, slo: float = 0.999) -> dict:
    """When each severity fires in a scenario: (first, last) minute spans,
    counted from the incident's start."""
    good, total = scenario(SCENARIOS[name])
    fired = firing_times(alerts, good, total, slo, total.times[-1])
    return {
        severity: [(a - HISTORY, b - HISTORY) for a, b in spans(minutes)]
        for severity, minutes in fired.items()
    }


# --8<-- [end:incident]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_budget]
    print(error_budget(0.999))
    #> 0:43:12
    for alert in WORKBOOK:
        spent = alert.consumed()
        empty = PERIOD / alert.burn_rate / timedelta(hours=1)
        fast = alert.detection(1.0, 0.999).total_seconds()
        print(
            f"{alert.burn_rate}x: {spent:.0%}, empty in {empty:.0f} h, {fast} s"
        )
        #> 14.4x: 2%, empty in 50 h, 51.84 s
        #> 6x: 5%, empty in 120 h, 129.6 s
        #> 1x: 10%, empty in 720 h, 259.2 s
    # --8<-- [end:demo_budget]

    # --8<-- [start:demo_rate]
    # One request a second, scraped every minute at :30 past.
    counter = Counter((30_000, 90_000, 150_000, 210_000, 270_000),
                      (30, 90, 150, 210, 270))
    per_second = rate(counter, at=300_000, window=240_000)  # [4m] at 5m
    inside = counter.values[-1] - counter.values[1]  # from 90 s to 270 s
    print(f"rate: {per_second:.2f}/s, increase seen / 240 s: {inside / 240}/s")
    #> rate: 1.00/s, increase seen / 240 s: 0.75/s
    # --8<-- [end:demo_rate]

    # --8<-- [start:demo_rules]
    rules = rule_groups(WORKBOOK, 0.999)["groups"][0]["rules"]
    record, page = rules[2], rules[5]
    text = f"{record['record']} is\n{record['expr']}\n{page['expr']}"
    for line in (text.replace(" / ", "\n  / ").replace(" or ", "\nor ")
                 .replace(" and ", "\n and ").splitlines()):
        print(line)
        #> slo:error_ratio:rate1h is
        #> 1 - sum by (scenario) (rate(slo_good_total[1h]))
        #>   / sum by (scenario) (rate(slo_requests_total[1h]))
        #> (slo:error_ratio:rate1h > (14.4 * 0.001)
        #>  and slo:error_ratio:rate5m > (14.4 * 0.001))
        #> or (slo:error_ratio:rate6h > (6 * 0.001)
        #>  and slo:error_ratio:rate30m > (6 * 0.001))
    # --8<-- [end:demo_rules]

    # --8<-- [start:demo_scenarios]
    for name in SCENARIOS:
        print(name, incident(name))
        #> step {'page': [(9, 58)], 'ticket': []}
        #> ramp {'page': [], 'ticket': [(916, 960)]}
        #> blip {'page': [], 'ticket': []}
    # --8<-- [end:demo_scenarios]

    # --8<-- [start:demo_naive]
    five = timedelta(minutes=5)
    naive = BurnAlert("naive 5m", 1, five, five)
    hour = BurnAlert("1h only", 14.4, timedelta(hours=1), timedelta(hours=1))
    for name in SCENARIOS:
        print(name, incident(name, (naive, hour, WORKBOOK[0])))
        #> step {'naive 5m': [(1, 34)], '1h only': [(9, 81)], 'page': [(9, 34)]}
        #> ramp {'naive 5m': [(37, 960)], '1h only': [], 'page': []}
        #> blip {'naive 5m': [(1, 5)], '1h only': [], 'page': []}
    # --8<-- [end:demo_naive]
