"""Every snippet module keeps the house conventions that readers rely on.

- It says what it teaches: a module docstring.
- It runs as `python -m snippets.<layer>.<topic>`: a bounded demo that exits 0, quickly,
  prints something, and writes nothing to stderr (no warning, no traceback).
- It has tests at the mirrored path:
  snippets/<layer>/<topic>.py -> tests/<layer>/test_<topic>.py.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest

from tests.site.docs_tools import ROOT, snippet_modules

MODULES = snippet_modules()


def module_path(name: str):
    return ROOT.joinpath(*name.split(".")).with_suffix(".py")


def test_there_are_snippet_modules_to_check() -> None:
    assert "snippets.journey" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_has_a_docstring_that_says_what_it_teaches(name: str) -> None:
    tree = ast.parse(module_path(name).read_text(encoding="utf-8"))
    docstring = ast.get_docstring(tree)
    assert docstring, f"{name} has no module docstring"
    assert len(docstring.split()) >= 15, f"{name}: say what it teaches and leaves out"


@pytest.mark.parametrize("name", MODULES)
def test_module_has_tests_at_the_mirrored_path(name: str) -> None:
    parts = name.split(".")[1:]
    test_file = ROOT.joinpath("tests", *parts[:-1], f"test_{parts[-1]}.py")
    assert test_file.is_file(), f"{name} needs {test_file.relative_to(ROOT)}"


@pytest.mark.parametrize("name", MODULES)
def test_module_runs_as_a_bounded_demo(name: str) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-m", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), f"{name}'s demo prints nothing"
    assert without_slow_step_reports(result.stderr) == "", result.stderr


# asyncio's debug mode (on under -X dev) logs every step of a task that holds the loop
# longer than 0.1 s. That is the machine's load, not a fault of the demo: a busy 2-core CI
# machine produced one for a load generator's task. Only those lines are forgiven.
SLOW_STEP = re.compile(r"^Executing <.*> took \d+\.\d+ seconds\n", re.M)


def without_slow_step_reports(stderr: str) -> str:
    return SLOW_STEP.sub("", stderr)


def test_only_asyncio_slow_step_reports_are_forgiven() -> None:
    slow = "Executing <Task pending name='Task-8' coro=<f()>> took 0.155 seconds\n"
    assert without_slow_step_reports(slow) == ""
    assert without_slow_step_reports(slow + "ResourceWarning: unclosed\n") != ""
