"""The project's promises to a newcomer: two commands, exact pins, a CI that runs them."""

from __future__ import annotations

import re
import tomllib

from tests.helpers import collected
from tests.site.docs_tools import ROOT


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_every_direct_dependency_is_pinned_exactly_and_locked_at_that_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = lock_pins()
    direct = [d for group in project["optional-dependencies"].values() for d in group]
    assert direct
    for requirement in direct:
        name, sep, version = requirement.partition("==")
        assert sep, f"{requirement} is not pinned with =="
        name = re.sub(r"\[.*\]$", "", name)  # moto[sqs]: the extras are not locked
        assert locked[re.sub(r"[-_.]+", "-", name).lower()] == version, requirement


def test_the_snippets_need_nothing_but_the_standard_library() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == []


def test_readme_gives_the_two_commands_on_its_first_screen() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:25])
    assert "make serve" in first_screen
    assert "make test" in first_screen
    assert "http://127.0.0.1:8000" in first_screen


def test_ci_installs_chromium_and_runs_the_readme_test_command() -> None:
    """CI runs `make test`, then the performance budget on the site the tests built."""
    script = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install" in script
    assert "chromium" in script
    commands = [line for line in script.splitlines() if line.startswith("make ")]
    assert commands[-2:] == [
        "make test",
        "make lighthouse LIGHTHOUSE_SITE=.test-site/html",
    ]


def test_makefile_has_the_documented_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in (
        "serve",
        "build",
        "test",
        "page",
        "vendor-mermaid",
        "lock",
        "lighthouse",
    ):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_browser_tests_are_run_after_every_other_test_of_a_mixed_selection() -> None:
    """`pytest tests/communication` selects both kinds; an open browser must come last."""
    # test_apis.py has a browser test in the middle; test_sockets.py runs asyncio.run()
    files = ["tests/communication/test_apis.py", "tests/communication/test_sockets.py"]
    browser = collected("-m", "browser", *files)
    everything = collected(*files)
    assert browser
    assert len(everything) > len(browser)
    assert everything[-len(browser) :] == browser
