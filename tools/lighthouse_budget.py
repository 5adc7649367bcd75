"""`make lighthouse`: the site's performance budget, measured with Lighthouse.

    python -m tools.lighthouse_budget                 build the site, then measure
    python -m tools.lighthouse_budget --site .test-site/html   measure a built site

One page of each type (tools/lighthouse/lighthouserc.json): the home page, a text
page, the page with the most diagrams, an API reference page. Each is loaded three
times by Lighthouse 12.2.3 with its mobile defaults (a mid-range phone, simulated
slow 4G, CPU slowed 4x), served with gzip from loopback (tools/lighthouse/collect.mjs).

The budget, asserted by Lighthouse CI 0.14.0 (`lhci assert`) on the median run:
performance at least 90, accessibility 100, total blocking time at most 300 ms. A
loaded 2-core machine cannot push a page that meets the goal (performance 95, total
blocking time 200 ms) past that margin. This script adds one check Lighthouse CI has
no assertion for: no run requested anything from another host.

The table it prints gives the median and the range of the three runs per page; the
goal columns say whether the median meets the goal, which is reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / "tools" / "lighthouse"
CONFIG = LIGHTHOUSE / "lighthouserc.json"
RESULTS = ROOT / ".lighthouseci"  # where `lhci assert` reads the runs
GOAL_PERFORMANCE = 95
GOAL_TBT_MS = 200


def build_site(target: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    mkdocs = Path(sys.executable).with_name("mkdocs")
    subprocess.run(
        [mkdocs, "build", "--strict", "--quiet", "--site-dir", target],
        cwd=ROOT,
        env=env,
        check=True,
    )


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    sys.exit("Chromium is needed: apt-get install chromium")


def collect(site: Path) -> None:
    shutil.rmtree(RESULTS, ignore_errors=True)
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH") or chromium()}
    subprocess.run(
        ["node", LIGHTHOUSE / "collect.mjs", site, RESULTS],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )


def lhci_assert() -> bool:
    lhci = LIGHTHOUSE / "node_modules" / ".bin" / "lhci"
    done = subprocess.run([lhci, "assert", f"--config={CONFIG}"], cwd=ROOT, timeout=120)
    return done.returncode == 0


def foreign_requests(lhr: dict) -> list[str]:
    """Every request a run made to another host than the page's."""
    page = urlsplit(lhr["finalDisplayedUrl"]).netloc
    items = lhr["audits"]["network-requests"]["details"]["items"]
    return [
        item["url"]
        for item in items
        if urlsplit(item["url"]).scheme in ("http", "https")
        and urlsplit(item["url"]).netloc != page
    ]


def summarise(runs: list[dict]) -> tuple[str, list[str]]:
    """A Markdown table of the runs per page, and every foreign request."""
    pages: dict[str, list[dict]] = {}
    foreign: list[str] = []
    for lhr in runs:
        pages.setdefault(urlsplit(lhr["finalDisplayedUrl"]).path, []).append(lhr)
        foreign += foreign_requests(lhr)

    def spread(values: list[float]) -> str:
        middle = statistics.median(values)
        return f"{middle:.0f} ({min(values):.0f}–{max(values):.0f})"

    lines = [
        "| page | performance | TBT ms | accessibility | KiB sent | LCP ms | goal |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for path, lhrs in pages.items():
        perf = [lhr["categories"]["performance"]["score"] * 100 for lhr in lhrs]
        a11y = [lhr["categories"]["accessibility"]["score"] * 100 for lhr in lhrs]
        audits = [lhr["audits"] for lhr in lhrs]
        tbt = [a["total-blocking-time"]["numericValue"] for a in audits]
        kib = [a["total-byte-weight"]["numericValue"] / 1024 for a in audits]
        lcp = [a["largest-contentful-paint"]["numericValue"] for a in audits]
        met = (
            statistics.median(perf) >= GOAL_PERFORMANCE
            and statistics.median(tbt) <= GOAL_TBT_MS
        )
        lines.append(
            f"| `{path}` | {spread(perf)} | {spread(tbt)} | {spread(a11y)} "
            f"| {spread(kib)} | {spread(lcp)} | {'met' if met else 'not met'} |"
        )
    return "\n".join(lines), foreign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="a built site (default: build one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bfp-lighthouse-") as scratch:
        site = args.site
        if site is None:
            site = Path(scratch) / "site"
            build_site(site)
        if not (site / "index.html").is_file():
            sys.exit(f"no built site in {site}")
        collect(site.resolve())
    passed = lhci_assert()
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("lhr-*.json"))]
    table, foreign = summarise(runs)
    (RESULTS / "summary.md").write_text(table + "\n", encoding="utf-8")
    print(f"\nLighthouse, median (range) of the runs per page:\n\n{table}\n")
    if foreign:
        print("Requests to another host:", *sorted(set(foreign)), sep="\n  ")
    return 0 if passed and not foreign else 1


if __name__ == "__main__":
    sys.exit(main())
