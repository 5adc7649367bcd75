"""The scaffold makes a page, snippet and test trio that passes the house rules as generated."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.site.docs_tools import ROOT
from tools.new_page import ScaffoldError, main, scaffold


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A minimal copy of the repository: mkdocs.yml, pyproject.toml, the snippets package."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "snippets" / "data").mkdir(parents=True)
    (tmp_path / "snippets" / "__init__.py").write_text("")
    (tmp_path / "snippets" / "data" / "__init__.py").write_text("")
    return tmp_path


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_scaffold_creates_the_trio_and_adds_the_page_after_the_layer_pages(
    repo: Path,
) -> None:
    created = scaffold(repo, "data", "bloom_filters", "Bloom filters")
    assert [p.relative_to(repo).as_posix() for p in created] == [
        "docs/data/bloom_filters.md",
        "snippets/data/bloom_filters.py",
        "tests/data/test_bloom_filters.py",
    ]
    nav = (repo / "mkdocs.yml").read_text().splitlines()
    at = nav.index("      - data/bloom_filters.md")
    assert nav[at - 1].strip().startswith("- data/")
    assert not nav[at + 1].strip().startswith("- data/")
    page = (repo / "docs/data/bloom_filters.md").read_text()
    assert page.startswith("# Bloom filters\n")
    assert "accTitle:" in page
    assert "accDescr:" in page
    assert '--8<-- "snippets/data/bloom_filters.py:mechanism"' in page


def test_generated_snippet_runs_and_prints_what_its_page_shows(repo: Path) -> None:
    scaffold(repo, "data", "bloom_filters", "Bloom filters")
    result = run([sys.executable, "-m", "snippets.data.bloom_filters"], repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "6\n"


def test_generated_files_pass_ruff_and_their_own_tests(repo: Path) -> None:
    scaffold(repo, "data", "bloom_filters", "Bloom filters")
    ruff = [sys.executable, "-m", "ruff"]
    paths = ["snippets/data/bloom_filters.py", "tests/data/test_bloom_filters.py"]
    assert run([*ruff, "check", *paths], repo).returncode == 0
    assert run([*ruff, "format", "--check", *paths], repo).returncode == 0
    tests = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", paths[1]],
        repo,
    )
    assert tests.returncode == 0, tests.stdout


@pytest.mark.parametrize(
    ("layer", "topic", "title", "message"),
    [
        ("storage", "x", "X", "LAYER 'storage' must be one of"),
        ("data", "Bloom-Filters", "X", "lowercase Python identifier"),
        ("data", "class", "X", "lowercase Python identifier"),
        ("data", "json", "X", "would shadow the standard library"),
        ("data", "bloom", " ", "TITLE is required"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(
    repo: Path, layer: str, topic: str, title: str, message: str
) -> None:
    with pytest.raises(ScaffoldError, match=message):
        scaffold(repo, layer, topic, title)


def test_an_existing_page_is_never_overwritten(repo: Path) -> None:
    scaffold(repo, "data", "bloom_filters", "Bloom filters")
    with pytest.raises(ScaffoldError, match="already exists"):
        scaffold(repo, "data", "bloom_filters", "Bloom filters")


def test_command_line_reports_errors_with_exit_status_2(repo: Path, capsys) -> None:
    args = ["--layer", "data", "--topic", "json", "--title", "J", "--root", str(repo)]
    assert main(args) == 2
    assert "shadow" in capsys.readouterr().err
    ok = ["--layer", "data", "--topic", "bloom", "--title", "B", "--root", str(repo)]
    assert main(ok) == 0
    assert "created docs/data/bloom.md" in capsys.readouterr().out
