"""The capstone's load runs, recorded five times and shown as a table and a
chart that the site draws when it is built.

What it teaches: how to report a load test so that a reader can judge it. One
run is an anecdote; five runs show the spread, so the table gives the median
and the range of each figure, and the chart draws the range as a band around
the median. The record says which machine and which command produced it, and
the page prints that next to the figures.

Read first: the load testing page (`docs/performance/load_testing.md`), on
what a load test must report, and `snippets.capstone.load`, whose
`load_table` makes each run.

What it leaves out: statistics beyond the median and the range (five runs
are too few for more), and any run long enough to show a slow leak.

Run it: `python -m snippets.capstone.load_report` prints the table kept in
`docs/capstone/load.json`; `--record` measures it again on this machine (about
half a minute) and rewrites that file.
"""

from __future__ import annotations

# --8<-- [start:summary]
import statistics

FIGURES = ("achieved", "p50", "p99", "p999")  # per run and per share of peak


def summary(record: dict) -> list[dict]:
    """Per share of the peak: each figure's median and range over the runs."""
    shares = sorted(
        {row["share"] for run in record["runs"] for row in run["rows"]}
    )
    rows = []
    for share in shares:
        found = [
            row
            for run in record["runs"]
            for row in run["rows"]
            if row["share"] == share
        ]
        rows.append(
            {
                "share": share,
                "offered": statistics.median(r["offered"] for r in found),
            }
            | {
                figure: (
                    statistics.median(r[figure] for r in found),
                    min(r[figure] for r in found),
                    max(r[figure] for r in found),
                )
                for figure in FIGURES
            }
        )
    return rows


def table(record: dict) -> str:
    """The Markdown table the page shows: median, then the range."""
    peaks = [run["peak"] for run in record["runs"]]
    lines = [
        f"Peak (closed loop): median {statistics.median(peaks):.0f} requests/s,"
        f" range {min(peaks):.0f} to {max(peaks):.0f}, over {len(peaks)} runs.",
        "",
        "| load | offered/s | achieved/s | p50 ms | p99 ms | p99.9 ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary(record):
        cells = [f"{row['share']:.0%}", f"{row['offered']:.0f}"]
        for figure, digits in zip(FIGURES, (0, 1, 1, 1), strict=True):
            median, low, high = (f"{v:.{digits}f}" for v in row[figure])
            # no line break inside a cell: a no-break space, a word joiner
            cells.append(f"{median}\u00a0({low}–\u2060{high})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --8<-- [end:summary]


# --8<-- [start:chart]
import itertools
import math

WIDTH, HEIGHT = 640, 340
LEFT, RIGHT, TOP, BOTTOM = 70, 120, 20, 50  # margins for the axes' labels
SERIES = (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"))


def chart(record: dict) -> str:
    """An SVG of latency against load: one line per percentile through the
    medians, a band from the lowest to the highest run, on a log scale (the
    tail is tens of times the median). Colours are the theme's, so the one
    drawing follows light and dark; text is 14 px."""
    rows = summary(record)
    values = [row[key][i] for row in rows for key, _ in SERIES for i in (1, 2)]
    low = 10 ** math.floor(math.log10(min(values)))
    high = 10 ** math.ceil(math.log10(max(values)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + plot_w * (index + 0.5) / len(rows)

    def y(ms: float) -> float:
        share = math.log10(ms / low) / math.log10(high / low)
        return TOP + plot_h * (1 - share)

    svg = 'xmlns="http://www.w3.org/2000/svg" role="img" class="bfp-chart"'
    size = f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"'
    parts = [
        f'<svg {svg} {size} aria-labelledby="load-title load-desc">',
        '<title id="load-title">Latency against load, median of'
        f" {len(record['runs'])} runs</title>",
        '<desc id="load-desc">' + describe(rows) + "</desc>",
    ]
    decade = low
    while decade <= high:  # one grid line and label per power of ten
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(decade):.1f}"'
            f' y2="{y(decade):.1f}" class="grid"/>'
            + label(LEFT - 8, y(decade) + 5, f"{decade:g} ms", "end")
        )
        decade *= 10
    for index, row in enumerate(rows):
        where = HEIGHT - BOTTOM + 24
        parts.append(label(x(index), where, f"{row['share']:.0%} of peak"))
    ends = apart([y(rows[-1][key][0]) for key, _ in SERIES], gap=16)
    for number, (key, name) in enumerate(SERIES):
        band = [(x(i), y(row[key][2])) for i, row in enumerate(rows)]
        band += [(x(i), y(row[key][1])) for i, row in enumerate(rows)][::-1]
        line = [(x(i), y(row[key][0])) for i, row in enumerate(rows)]
        parts.append(
            f'<g class="series s{number}">'
            f'<polygon points="{points(band)}" class="band"/>'
            f'<polyline points="{points(line)}" class="median"/>'
            + label(WIDTH - RIGHT + 8, ends[number] + 5, name, "start")
            + "</g>"
        )
    return "".join(parts) + "</svg>"


def apart(ys: list[float], gap: float) -> list[float]:
    """The labels' heights, moved down where needed so that no two are
    closer than `gap` (two percentiles can end at almost the same value)."""
    placed = list(ys)
    lowest_first = sorted(range(len(ys)), key=lambda i: ys[i])
    for before, after in itertools.pairwise(lowest_first):
        placed[after] = max(placed[after], placed[before] + gap)
    return placed


def label(x: float, y: float, text: str, anchor: str = "middle") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{text}</text>'


def points(xy: list[tuple[float, float]]) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in xy)


def describe(rows: list[dict]) -> str:
    """The chart in words, for a screen reader: the medians per load."""
    return "; ".join(
        f"at {row['share']:.0%} of peak, p50 {row['p50'][0]:.1f} ms,"
        f" p99 {row['p99'][0]:.1f} ms, p99.9 {row['p999'][0]:.1f} ms"
        for row in rows
    )


# --8<-- [end:chart]


import json
from pathlib import Path

RECORD = Path(__file__).resolve().parents[2] / "docs" / "capstone" / "load.json"


def record(repetitions: int = 5) -> dict:
    """Measure the load table `repetitions` times, each on a fresh service."""
    import datetime
    import os
    import platform
    from dataclasses import asdict

    from snippets.capstone.load import load_table, ours

    runs = []
    for _ in range(repetitions):
        with ours() as (address, _token):
            peak, rows = load_table(address)
        runs.append({"peak": peak, "rows": [asdict(row) for row in rows]})
    return {
        "command": "python -m snippets.capstone.load_report --record",
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPUs, {platform.system()}"
        f" {platform.release()}, Python {platform.python_version()}",
        "runs": runs,
    }


if __name__ == "__main__":
    import sys

    if "--record" in sys.argv:
        RECORD.write_text(
            json.dumps(record(), indent=1) + "\n", encoding="utf-8"
        )
    kept = json.loads(RECORD.read_text(encoding="utf-8"))
    print(f"measured {kept['date']} on {kept['machine']}:")
    print(table(kept))
