"""The performance budget's own logic: which requests count as another host's, how
the runs are summarised, and that the configured pages exist. Lighthouse itself runs
in `make lighthouse` (called by .ci/run), not here."""

import json

import pytest

from tools import lighthouse_budget as budget

pytestmark = pytest.mark.timeout(30)


def run(page: str, requests: list[str], performance=0.97, tbt=150.0) -> dict:
    """The parts of a Lighthouse result the script reads."""
    return {
        "finalDisplayedUrl": page,
        "categories": {
            "performance": {"score": performance},
            "accessibility": {"score": 1.0},
        },
        "audits": {
            "network-requests": {
                "details": {"items": [{"url": url} for url in requests]}
            },
            "total-blocking-time": {"numericValue": tbt},
            "total-byte-weight": {"numericValue": 100 * 1024},
            "largest-contentful-paint": {"numericValue": 1800.0},
        },
    }


def test_requests_to_another_host_are_found_and_data_urls_are_not():
    page = "http://127.0.0.1:4000/data/isolation/"
    lhr = run(
        page,
        [
            page,
            "http://127.0.0.1:4000/assets/javascripts/bundle.js",
            "data:image/svg+xml;base64,AAAA",
            "https://fonts.googleapis.com/css?family=Roboto",
            "http://127.0.0.1:4001/other-port.js",
        ],
    )
    assert budget.foreign_requests(lhr) == [
        "https://fonts.googleapis.com/css?family=Roboto",
        "http://127.0.0.1:4001/other-port.js",
    ]


def test_the_summary_gives_median_and_range_and_the_goal_per_page():
    home = "http://127.0.0.1:4000/"
    text = "http://127.0.0.1:4000/running-snippets/"
    runs = [
        run(home, [home], performance=0.99, tbt=20),
        run(home, [home], performance=0.97, tbt=60),
        run(home, [home], performance=0.98, tbt=40),
        run(text, [text], performance=0.91, tbt=310),
        run(text, [text], performance=0.96, tbt=150),
        run(text, [text, "https://cdn.example/x.js"], performance=0.93, tbt=250),
    ]
    table, foreign = budget.summarise(runs)
    rows = table.splitlines()
    assert rows[2].startswith("| `/` | 98 (97–99) | 40 (20–60) | 100 (100–100)")
    assert rows[2].endswith("| met |")
    # median performance 93 < 95 and median TBT 250 > 200: below the goal
    assert rows[3].startswith("| `/running-snippets/` | 93 (91–96) | 250 (150–310)")
    assert rows[3].endswith("| not met |")
    assert foreign == ["https://cdn.example/x.js"]


def test_every_measured_page_is_a_page_of_the_site():
    config = json.loads(budget.CONFIG.read_text())
    collect = config["ci"]["collect"]
    assert collect["numberOfRuns"] == 3
    docs = budget.ROOT / "docs"
    for url in collect["url"]:
        path = url.split("//", 1)[1].split("/", 1)[1].strip("/")
        if path.startswith("reference/"):  # generated, one page per snippet module
            module = (
                budget.ROOT / "snippets" / (path.removeprefix("reference/") + ".py")
            )
            assert module.is_file(), url
        else:
            source = docs / ((path or "index") + ".md")
            assert source.is_file(), url
    assertions = config["ci"]["assert"]["assertions"]
    assert assertions["categories:performance"][1]["minScore"] == 0.9
    assert assertions["total-blocking-time"][1]["maxNumericValue"] == 300
    assert assertions["categories:accessibility"][1]["minScore"] == 1
