"""Shared test set-up: hypothesis profiles and the pytest-examples workaround."""

import os
from pathlib import Path

import pytest
import pytest_examples.run_code
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

# CI runs derandomized, so a failure reproduces and a green run stays green.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# pytest-examples 0.0.18 on Python 3.11: building its pretty traceback for an exception
# raised inside an example ends in "generator raised StopIteration", a pytest
# INTERNALERROR that hides the real error. Without the pretty traceback, pytest reports
# the example's own exception.
pytest_examples.run_code.create_example_traceback = lambda *args, **kwargs: None


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per test process, shared by every browser test.

    Playwright's sync API keeps an event loop running in this thread while it is open, so
    a second `sync_playwright()` in the same process fails: tests that need a browser take
    this fixture instead of starting their own.
    """
    from playwright.sync_api import sync_playwright

    from tests.site.browser import CHROMIUM_ARGS, require_chromium

    executable = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def pytest_collection_modifyitems(config, items) -> None:
    """Browser tests run last, so that no other test shares a process with an open browser.

    The browser fixture holds Playwright's event loop running for the rest of the session:
    after the first browser test, `asyncio.run()` fails in that process ("cannot be called
    from a running event loop"), and greenlet switching upsets CPython 3.11's AST recursion
    check. `make test` runs the two kinds apart; this makes `pytest tests/communication`,
    which selects both, safe too. With xdist, items are handed to workers in this order, so
    a worker that has started a browser is only ever given browser tests after it.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the page weights the browser suite measured, per page type."""
    rows = []
    for report in terminalreporter.stats.get("passed", []):
        props = dict(report.user_properties)
        if "transferred_bytes" in props:
            page = report.nodeid.rsplit("[", 1)[-1].rstrip("]")
            rows.append((page, props))
    if not rows:
        return

    def kind(page: str, props: dict) -> str:
        if page == "index.md":
            return "home"
        return "diagram page" if props["diagrams"] else "text page"

    terminalreporter.section(
        "page weight (transferred, gzip) and longest main-thread task"
    )
    for page_kind in ("home", "text page", "diagram page"):
        chosen = [(p, props) for p, props in rows if kind(p, props) == page_kind]
        if not chosen:
            continue
        sizes = [props["transferred_bytes"] / 1024 for _, props in chosen]
        tasks = [props["longest_task_ms"] for _, props in chosen]
        terminalreporter.write_line(
            f"{page_kind:>12}: {len(chosen):2} pages, {min(sizes):7.0f}-{max(sizes):.0f} KiB,"
            f" longest task {min(tasks)}-{max(tasks)} ms"
        )
