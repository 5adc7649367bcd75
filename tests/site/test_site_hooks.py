"""What the build derives from the sources (tools/site_hooks.py), checked in the built pages.

"Run it yourself" must name every module a page includes, "Last updated" must be the date git
gives for the page and its snippets (or nothing where git cannot know it), and the glossary
page must list every term with links to pages that use it.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from snippets.capstone.load_report import RECORD, chart, table
from tests.helpers import collected
from tests.site.docs_tools import (
    DOCS,
    INCLUDE,
    ROOT,
    built_html,
    page_id,
    topic_pages,
)
from tools.diagram_store import FENCE, key_of

pytestmark = pytest.mark.site

TOOLS = ROOT / "tools"


def load_hooks():
    """tools/site_hooks.py as MkDocs loads it: by path, with its folder on sys.path."""
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    spec = importlib.util.spec_from_file_location("site_hooks", TOOLS / "site_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def text_of(markup: str) -> str:
    """The visible text: tags (syntax highlighting included) removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def included_snippets(page: Path) -> list[str]:
    found = INCLUDE.findall(page.read_text(encoding="utf-8"))
    return [f for f in dict.fromkeys(found) if f.startswith("snippets/")]


def git(*args: str, cwd: Path, check: bool = True) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=check
    )
    return result.stdout.strip()


@pytest.mark.parametrize("page", topic_pages(), ids=page_id)
def test_run_it_yourself_names_every_included_module_and_its_tests(
    built_site: Path, page: Path
) -> None:
    markup = built_html(built_site, page)
    text = text_of(markup)
    assert "Run it yourself" in text
    assert 'id="run-it-yourself_1"' not in markup, "a second one, written by hand"
    for snippet in included_snippets(page):
        module = snippet.removesuffix(".py").replace("/", ".")
        assert f"python -m {module}\n" in text, module
        tests = Path("tests", *Path(snippet).parts[1:-1], f"test_{Path(snippet).name}")
        assert (ROOT / tests).is_file(), f"{snippet} has no mirrored test file"
        assert re.search(rf"\s{re.escape(tests.as_posix())}\s", text), tests


def run_it_yourself_commands(built_site: Path, page: Path) -> list[list[str]]:
    """The pytest commands of a page's "Run it yourself" block, as argument lists."""
    text = text_of(built_html(built_site, page))
    block = text.split("Run it yourself", 1)[1]
    joined = block.replace("\\\n", " ")  # a line ending in \ continues on the next
    commands = [line.split() for line in joined.splitlines()]
    return [c[1:] for c in commands if c[:1] == [".venv/bin/pytest"]]


@pytest.mark.parametrize(
    "src_uri", ["data/isolation.md", "application/authentication.md", "journey.md"]
)
def test_run_it_yourself_selects_every_test_of_the_page_and_its_code_blocks(
    built_site: Path, src_uri: str
) -> None:
    """What the commands collect: every test in the page's test files (a `-k` filter
    shared with them deselected all but one of isolation's 79), and the docs test of
    this page's code blocks, no other page's."""
    page = DOCS / src_uri
    selected = []
    for args in run_it_yourself_commands(built_site, page):
        selected += collected(*(a.strip('"') for a in args))
    test_files = {
        Path("tests", *Path(s).parts[1:-1], f"test_{Path(s).name}").as_posix()
        for s in included_snippets(page)
    }
    docs_tests = [t for t in selected if t.startswith("tests/site/")]
    assert all(t.endswith(f"[{src_uri}]") for t in docs_tests)  # this page's only
    assert (
        "tests/site/test_docs_examples.py::"
        f"test_page_code_blocks_lint_run_and_print_what_they_show[{src_uri}]"
    ) in docs_tests
    for test_file in test_files:
        everything = set(collected(test_file))
        assert everything, test_file
        assert everything <= set(selected), test_file


def expected_date(sources: list[str]) -> str | None:
    """What git can tell of the sources' last change: None outside a git checkout (or one
    git refuses to read), None for sources no commit has, and None where a shallow clone's
    boundary commit takes the blame."""
    checkout = subprocess.run(
        ["git", "rev-parse", "--git-dir"],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
        check=False,
    )
    if checkout.returncode != 0:
        return None
    last = git(
        "log", "-1", "--format=%H %cs", "--", *sources, cwd=ROOT, check=False
    ).split()
    if not last:  # no commit has the sources yet (a checkout with uncommitted work)
        return None
    commit, date = last
    shallow = Path(ROOT, git("rev-parse", "--git-path", "shallow", cwd=ROOT))
    boundary = shallow.read_text().split() if shallow.is_file() else []
    return None if commit in boundary else date


@pytest.mark.parametrize("page", topic_pages(), ids=page_id)
def test_last_updated_is_the_last_commit_touching_the_page_or_its_snippets(
    built_site: Path, page: Path
) -> None:
    date = expected_date([page.relative_to(ROOT).as_posix(), *included_snippets(page)])
    shown = re.findall(
        r'Last updated: <time datetime="([\d-]+)">', built_html(built_site, page)
    )
    assert shown == ([date] if date else [])


def commit_file(repo: Path, name: str, text: str, date: str) -> None:
    (repo / name).write_text(text)
    git("add", name, cwd=repo)
    stamp = f"{date}T12:00:00+00:00"
    subprocess.run(
        ["git", "commit", "-q", "-m", f"{name} on {date}"],
        cwd=repo,
        env={**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
        check=True,
        timeout=30,
    )


def test_a_shallow_clone_shows_no_date_it_cannot_know(tmp_path: Path) -> None:
    hooks = load_hooks()
    full = tmp_path / "full"
    full.mkdir()
    git("init", "-q", cwd=full)
    git("config", "user.email", "test@example.invalid", cwd=full)
    git("config", "user.name", "Test", cwd=full)
    commit_file(full, "old.md", "unchanged since\n", "2020-01-01")
    commit_file(full, "middle.md", "changed once\n", "2021-06-01")
    commit_file(full, "new.md", "changed last\n", "2022-03-01")
    assert hooks.last_commit_date(("old.md",), cwd=full) == "2020-01-01"
    assert hooks.last_commit_date(("old.md", "new.md"), cwd=full) == "2022-03-01"

    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "2", full.as_uri(), str(shallow), cwd=tmp_path)
    # the two fetched commits: the tip is known, the boundary commit gets the blame for
    # every older change, so its date would be false for old.md
    assert hooks.last_commit_date(("new.md",), cwd=shallow) == "2022-03-01"
    assert hooks.last_commit_date(("old.md",), cwd=shallow) is None
    assert hooks.last_commit_date(("middle.md",), cwd=shallow) is None
    assert hooks.last_commit_date(("missing.md",), cwd=shallow) is None


def test_the_glossary_page_lists_every_term_and_links_it_to_pages(
    built_site: Path,
) -> None:
    glossary = (DOCS / "_includes" / "abbreviations.md").read_text(encoding="utf-8")
    terms = re.findall(r"^\*\[([^\]]+)\]: ", glossary, re.M)
    assert len(terms) >= 80
    markup = built_html(built_site, DOCS / "glossary.md")
    rows = re.findall(
        r"<tr>\s*<td>(.*?)</td>\s*<td>.*?</td>\s*<td>(.*?)</td>", markup, re.S
    )
    listed = {text_of(term): links for term, links in rows}
    assert sorted(listed) == sorted(terms)
    # TCP is explained on the sockets page, among others; each link leads to a real page
    assert 'href="../communication/sockets/"' in listed["TCP"]
    for links in listed.values():
        for target in re.findall(r'href="\.\./([^"#]+)"', links):
            assert (built_site / target / "index.html").is_file(), target


def test_the_built_page_holds_drawings_in_shadow_roots_and_no_mermaid(
    built_site: Path,
) -> None:
    page = DOCS / "data" / "isolation.md"
    keys = [key_of(s) for s in FENCE.findall(page.read_text(encoding="utf-8"))]
    built = built_html(built_site, page)
    assert len(keys) > 1
    for key in keys:
        assert f'data-diagram="{key}" tabindex="0"' in built
    assert built.count('<template shadowrootmode="open"><svg') == len(keys)
    assert 'class="mermaid"' not in built
    assert "min-width:" in built  # never scaled below 12 px labels


def test_code_drops_plain_colour_spans_and_marks_printed_output() -> None:
    """The hook removes Pygments' spans around names and spaces (drawn in the plain
    code colour) and nothing else: the code's text is unchanged, every other token keeps
    its colour class, and a `#>` line gets the class that wraps it on a phone."""
    hooks = load_hooks()
    highlighted = (
        '<pre><code><span class="n">total</span><span class="w"> </span>'
        '<span class="o">=</span><span class="w"> </span><span class="nb">sum</span>'
        '<span class="p">(</span><span class="n">xs</span><span class="p">)</span>\n'
        '<span class="nb">print</span><span class="p">(</span><span class="n">total</span>'
        '<span class="p">)</span>\n<span class="c1">#&gt; 6</span>\n'
        '<span class="c1"># a comment</span></code></pre>'
    )
    done = hooks.on_page_content(highlighted, page=None, config=None, files=None)
    assert text_of(done) == text_of(highlighted)
    assert 'class="n"' not in done
    assert 'class="w"' not in done
    for kept in ("o", "nb", "p"):
        assert done.count(f'class="{kept}"') == highlighted.count(f'class="{kept}"')
    assert done.count('<span class="c1 bfp-output">#&gt; 6</span>') == 1
    assert '<span class="c1"># a comment</span>' in done


def test_the_capstone_page_draws_its_load_table_and_chart_from_the_record(
    built_site: Path,
) -> None:
    record = json.loads(RECORD.read_text(encoding="utf-8"))
    built = built_html(built_site, DOCS / "capstone" / "index.md")
    assert "<!-- capstone-load -->" not in built
    assert chart(record) in built  # the SVG, as drawn from the record
    assert f"Measured on {record['date']} on {record['machine']}" in text_of(built)
    median_peak = table(record).split(",")[0].split("median ")[1]  # "1034 requests/s"
    assert median_peak in text_of(built)
