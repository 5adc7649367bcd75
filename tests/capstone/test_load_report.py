"""The load report's claims: the table and the chart say what the runs measured
(medians and ranges), the chart is accessible and drawn on a log scale, and the
record kept in docs/capstone/load.json is five real runs that met their rates."""

from __future__ import annotations

import json
import statistics
import xml.etree.ElementTree as ET

from snippets.capstone.load_report import RECORD, apart, chart, summary, table

SVG = "{http://www.w3.org/2000/svg}"


def fake_record() -> dict:
    """Three runs whose figures are easy to check by hand."""
    runs = []
    for n, peak in enumerate((900.0, 1000.0, 1100.0)):
        rows = [
            {
                "share": share,
                "offered": share * peak,
                "achieved": share * peak - n,
                "p50": 1.0 + n + share,
                "p99": 10.0 * (1 + n) + share,
                "p999": 100.0 * (1 + n) + share,
                "errors": 0,
            }
            for share in (0.25, 0.5, 0.75)
        ]
        runs.append({"peak": peak, "rows": rows})
    return {"command": "c", "date": "d", "machine": "m", "runs": runs}


def test_the_summary_is_the_median_and_range_of_each_figure() -> None:
    record = fake_record()
    for row in summary(record):
        found = [
            r
            for run in record["runs"]
            for r in run["rows"]
            if r["share"] == row["share"]
        ]
        for figure in ("achieved", "p50", "p99", "p999"):
            values = sorted(r[figure] for r in found)
            assert row[figure] == (statistics.median(values), values[0], values[-1])


def test_the_table_has_a_row_per_load_with_median_and_range() -> None:
    text = table(fake_record())
    assert "median 1000 requests/s, range 900 to 1100, over 3 runs" in text
    # cells keep together: a no-break space before the range, a word joiner after
    # its dash
    rows = [
        line.replace("\u00a0", " ").replace("–\u2060", "–")
        for line in text.splitlines()
        if line.startswith("| 25%")
    ]
    assert text.count("\u00a0(") == text.count("–\u2060") == 3 * 4
    assert rows == [
        "| 25% | 250 | 249 (225–273) | 2.2 (1.2–3.2) | 20.2 (10.2–30.2)"
        " | 200.2 (100.2–300.2) |"
    ]


def test_the_chart_is_accessible_and_draws_each_percentile_in_order() -> None:
    record = fake_record()
    svg = ET.fromstring(chart(record))
    assert svg.find(f"{SVG}title").text.startswith("Latency against load")
    assert "p99.9 200.5 ms" in svg.find(f"{SVG}desc").text
    lines = [
        [tuple(map(float, p.split(","))) for p in line.get("points").split()]
        for line in svg.iter(f"{SVG}polyline")
    ]
    assert len(lines) == 3
    assert all(len(line) == 3 for line in lines)
    p50, p99, p999 = lines
    for low, middle, high in zip(p50, p99, p999, strict=True):
        assert low[1] > middle[1] > high[1]  # higher latency, higher on the chart
    # a log scale, one grid line a decade, from below the least to above the most
    decades = [text.text for text in svg.iter(f"{SVG}text") if "ms" in text.text]
    assert decades == ["1 ms", "10 ms", "100 ms", "1000 ms"]


def test_the_kept_record_is_five_runs_that_met_their_rates() -> None:
    record = json.loads(RECORD.read_text(encoding="utf-8"))
    assert record["command"] == "python -m snippets.capstone.load_report --record"
    assert record["date"]
    assert record["machine"]
    assert len(record["runs"]) == 5
    for run in record["runs"]:
        assert [row["share"] for row in run["rows"]] == [0.25, 0.5, 0.75]
        for row in run["rows"]:
            assert abs(row["offered"] / (row["share"] * run["peak"]) - 1) < 1e-9
            assert abs(row["achieved"] / row["offered"] - 1) < 0.15
            assert row["errors"] == 0
            assert 0 < row["p50"] <= row["p99"] <= row["p999"]


def test_labels_that_would_touch_are_moved_apart_and_others_stay() -> None:
    assert apart([100.0, 104.0, 300.0], gap=16) == [100.0, 116.0, 300.0]
    assert apart([200.0, 195.0, 10.0], gap=16) == [211.0, 195.0, 10.0]
