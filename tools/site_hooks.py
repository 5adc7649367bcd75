"""MkDocs hooks: what the site derives from the sources, so nobody writes it by hand.

- "Run it yourself": each topic page ends with the `python -m` command of every snippet
  module it includes, and the test command for the page, derived from its `--8<--` lines.
- "Last updated": the date of the last commit that touched the page or one of its snippets
  (without git, or where a shallow clone cannot know the date, the line is left out).
- The glossary: docs/_includes/abbreviations.md is appended to every page, so each term
  becomes a tooltip wherever it appears; the glossary page gets the table of every term,
  each linked to the pages that explain it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import subprocess
import sys
from html import escape
from pathlib import Path, PurePosixPath

# MkDocs loads this file by path with its folder on sys.path: `diagram_store` and
# `project_layout` are the modules beside it in tools/.
from diagram_store import (
    FENCE,
    HOW_TO_DRAW,
    PLACED,
    PLACEHOLDER,
    drawing_inputs,
    key_of,
    svg_path,
)
from project_layout import INCLUDE, LAYERS, ROOT

log = logging.getLogger("mkdocs.hooks.site_hooks")

ABBREVIATION = re.compile(r"^\*\[(?P<term>[^\]]+)\]:\s*(?P<meaning>.+)$", re.M)
GLOSSARY_PLACEHOLDER = "<!-- glossary-table -->"
GLOSSARY_FILE = ROOT / "docs" / "_includes" / "abbreviations.md"


def is_topic_page(src_uri: str) -> bool:
    parts = PurePosixPath(src_uri).parts
    return src_uri == "journey.md" or (
        len(parts) == 2 and parts[0] in LAYERS and parts[1] != "index.md"
    )


def included_modules(markdown: str) -> list[str]:
    """Snippet files a page includes, in order of first appearance, without repeats."""
    return list(dict.fromkeys(INCLUDE.findall(markdown)))


def test_file_for(snippet: str) -> str:
    """snippets/<layer>/<topic>.py -> tests/<layer>/test_<topic>.py (mirrored paths)."""
    path = PurePosixPath(snippet).relative_to("snippets")
    return str(PurePosixPath("tests", *path.parts[:-1], f"test_{path.name}"))


def run_it_yourself(src_uri: str, snippets: list[str]) -> str:
    modules = [s.removesuffix(".py").replace("/", ".") for s in snippets]
    tests = [test_file_for(s) for s in snippets if (ROOT / test_file_for(s)).is_file()]
    lines = [f"python -m {module}" for module in modules]
    # Two commands: a `-k` filter in one command would apply to the page's own test
    # files too and deselect most of their tests.
    if tests:  # one file a line where they would not fit a phone's width
        command = " ".join([".venv/bin/pytest", *tests])
        if len(command) > 64:
            command = " \\\n    ".join([".venv/bin/pytest", *tests])
        lines.append(command)
    lines.append(
        f'.venv/bin/pytest tests/site/test_docs_examples.py \\\n    -k "{src_uri}"'
    )
    body = "\n".join(lines)
    return (
        "\n\n## Run it yourself\n\n"
        "From the repository's root (see [Running the snippets]"
        f"({'../' * src_uri.count('/')}running-snippets.md)): each module's demo, then "
        "the tests that check this page.\n\n"
        f"```bash\n{body}\n```\n"
    )


def glossary_definitions() -> str:
    """The glossary's abbreviation definitions, one Markdown block each.

    Appended to every page for the `abbr` extension. As one block of 200+ lines they
    made the build quadratic: the block parser takes one definition off the block and
    runs every block processor's pattern over the rest again, which cost about 1.4 s
    a page (most of a build's time); one block per definition costs about 0.1 s.
    """
    lines = GLOSSARY_FILE.read_text(encoding="utf-8").splitlines()
    return "\n\n" + "\n\n".join(line for line in lines if line.strip()) + "\n"


LOAD_PLACEHOLDER = "<!-- capstone-load -->"


def capstone_load(markdown: str) -> str:
    """The capstone's load table and chart, drawn from the measurements kept in
    docs/capstone/load.json by snippets/capstone/load_report.py."""
    if LOAD_PLACEHOLDER not in markdown:
        return markdown
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from snippets.capstone import load_report

    record = json.loads(load_report.RECORD.read_text(encoding="utf-8"))
    figure = (
        '<div class="bfp-chart-box" tabindex="0" role="group"'
        ' aria-label="Chart: latency against load">'
        + load_report.chart(record)
        + "</div>"
    )
    made = (
        f"Measured on {record['date']} on {record['machine']}, with"
        f" `{record['command']}`."
    )
    block = "\n\n".join([made, load_report.table(record), figure])
    return markdown.replace(LOAD_PLACEHOLDER, block)


def on_page_markdown(markdown: str, page, config, files) -> str:
    src_uri = page.file.src_uri
    markdown = place_diagrams(markdown, page)
    markdown = capstone_load(markdown)
    glossary = glossary_definitions()
    if src_uri == "glossary.md":
        return markdown.replace(GLOSSARY_PLACEHOLDER, glossary_table(files)) + glossary
    snippets = included_modules(markdown)
    if is_topic_page(src_uri) and snippets:
        if re.search(r"^## Run it yourself", markdown, re.M):
            log.warning(
                f"{src_uri}: remove its own 'Run it yourself' section: the site adds "
                "one to every topic page, with the commands of the code it includes"
            )
        markdown += run_it_yourself(src_uri, snippets)
    page.meta["bfp_sources"] = [f"docs/{src_uri}", *snippets]
    return markdown + glossary


@functools.cache
def git_available() -> bool:
    try:
        subprocess.run(
            ["git", "rev-parse", "--git-dir"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        log.info("not a git checkout: pages are built without 'Last updated'")
        return False
    return True


@functools.cache
def shallow_boundary(cwd: Path) -> frozenset[str]:
    """The commits at the edge of a shallow clone: git sees no parent behind them."""
    result = subprocess.run(
        ["git", "rev-parse", "--git-path", "shallow"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    shallow = cwd / result.stdout.strip()
    if result.returncode != 0 or not shallow.is_file():
        return frozenset()
    return frozenset(shallow.read_text(encoding="ascii").split())


def last_commit_date(paths: tuple[str, ...], cwd: Path = ROOT) -> str | None:
    """ISO date of the last commit touching any of `paths`, or None if git cannot know it.

    In a shallow clone, git blames every file that did not change inside the fetched history
    on the boundary commit, whose parent it lacks: that date would be false, so it is left
    out. Full history (the deploy fetches it) gives every page its date.
    """
    if not git_available():
        return None
    result = subprocess.run(
        ["git", "log", "-1", "--format=%H %cs", "--", *paths],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if not result.stdout.strip():
        return None
    commit, date = result.stdout.split()
    return None if commit in shallow_boundary(cwd) else date


def on_page_context(context, page, config, nav):
    sources = tuple(page.meta.get("bfp_sources", ()))
    if sources:
        page.meta["last_updated"] = last_commit_date(sources)
    return context


# --------------------------------------------------------------------------------------
# Diagrams drawn at build time (tools/diagram_store.py says why and how)

# `make diagrams` builds the site with the Mermaid source left in, for Chromium to draw.
LIVE_DIAGRAMS = os.environ.get("BFP_LIVE_DIAGRAMS") == "1"


def place_diagrams(markdown: str, page) -> str:
    """Each ```mermaid fence becomes a placeholder, filled in `on_post_page` (after
    the search index has read the page: an SVG's CSS is not words to search)."""
    if LIVE_DIAGRAMS:
        return markdown
    inputs = drawing_inputs()
    sources = page.meta.setdefault("bfp_diagrams", {})

    def placeholder(match: re.Match) -> str:
        key = key_of(match[1], inputs)
        sources[key] = match[1]
        return PLACEHOLDER.format(key=key)

    return FENCE.sub(placeholder, markdown)


# Mermaid scales a drawing down to fit the column. A drawing is never scaled so far
# that its smallest label (recorded by `make diagrams`) would be under 12 px: where the
# column is narrower than that (a phone, or a very wide diagram), it scrolls sideways.
SMALLEST_LABEL_PX = 12
NATURAL_WIDTH = re.compile(r'(<svg [^>]*style="max-width: )([\d.]+)px;')
SMALLEST_LABEL = re.compile(r'data-smallest-label="([\d.]+)"')
TITLE = re.compile(r"<title[^>]*>([^<]*)</title>")


def legible(svg: str) -> str:
    recorded = SMALLEST_LABEL.search(svg)
    smallest_label = float(recorded[1]) if recorded else 16.0
    scale = min(1.0, SMALLEST_LABEL_PX / smallest_label)

    def floor(match: re.Match) -> str:
        narrowest = float(match[2]) * scale
        return f"{match[1]}{match[2]}px; min-width: {narrowest:.0f}px;"

    return NATURAL_WIDTH.sub(floor, svg, count=1)


def on_post_page(output: str, page, config) -> str:
    """The drawing, in a shadow root of its own (declared in the HTML, so no script is
    needed on a direct load; reader.js attaches it after instant navigation): the page's
    styles cannot reach into the drawing, nor its styles out, as with Material's own
    rendering. A diagram not drawn yet is left to Mermaid in the browser, with a
    warning, which fails a strict build."""
    sources = page.meta.get("bfp_diagrams", {})

    def drawing(match: re.Match) -> str:
        key = match[1]
        path = svg_path(key)
        if path.is_file():
            svg = legible(path.read_text(encoding="utf-8").strip())
            title = TITLE.search(svg)
            name = f' aria-label="{title[1]}"' if title else ""
            # focusable, so a keyboard can scroll a diagram wider than the column
            return (
                f'<div class="bfp-diagram" data-diagram="{key}" tabindex="0" '
                f'role="group"{name}>'
                f'<template shadowrootmode="open">{svg}</template></div>'
            )
        log.warning(
            "%s: a diagram is not drawn yet (%s), so the browser draws it with "
            "Mermaid: %s",
            page.file.src_uri,
            key,
            HOW_TO_DRAW,
        )
        return f'<pre class="mermaid"><code>{escape(sources[key])}</code></pre>'

    return PLACED.sub(drawing, output)


# --------------------------------------------------------------------------------------
# Glossary terms in the rendered page

ABBR = re.compile(r'<abbr title="(?P<title>[^"]*)">(?P<text>.*?)</abbr>', re.S)
NO_TERMS_INSIDE = re.compile(r"<(?P<tag>h[1-6]|a)\b[^>]*>.*?</(?P=tag)>", re.S)


# Pygments wraps every name (`n`) and every run of whitespace (`w`) in a span, and
# Material colours `n` with the code's own colour and `w` not at all: about a quarter of
# a topic page's elements, each styled again at every one of the style recalculations
# Material's script forces while it starts (the cost Lighthouse counts as blocking time).
# As text they look the same and copy the same.
PLAIN_TOKEN = re.compile(r'<span class="[nw]">([^<]*)</span>')
# A `#>` line is what the code above it prints: on a phone it wraps (extra.css).
OUTPUT_LINE = '<span class="c1">#&gt;'


def on_page_content(html: str, page, config, files) -> str:
    """Terms become tooltips (Material's `content.tooltips`) that a keyboard or a tap
    can reach: the first use of each term on a page is focusable. Inside a heading or a
    link a term is plain text: no underline there, and no tooltip over a link. Code
    tokens drawn in the plain colour lose their span (`PLAIN_TOKEN`), and printed output
    is marked (`OUTPUT_LINE`)."""
    html = PLAIN_TOKEN.sub(r"\1", html)
    html = html.replace(OUTPUT_LINE, '<span class="c1 bfp-output">#&gt;')
    html = NO_TERMS_INSIDE.sub(lambda m: ABBR.sub(r"\g<text>", m[0]), html)
    seen: set[str] = set()

    def focusable_once(match: re.Match) -> str:
        if match["title"] in seen:
            return match[0]
        seen.add(match["title"])
        return match[0].replace("<abbr ", '<abbr tabindex="0" ', 1)

    return ABBR.sub(focusable_once, html)


# --------------------------------------------------------------------------------------
# The glossary


def glossary_terms() -> list[tuple[str, str]]:
    text = GLOSSARY_FILE.read_text(encoding="utf-8")
    return sorted(
        ((m["term"], m["meaning"].strip()) for m in ABBREVIATION.finditer(text)),
        key=lambda item: item[0].lower(),
    )


def page_title(markdown: str, fallback: str) -> str:
    match = re.search(r"^# (.+)$", markdown, re.M)
    return match[1].strip() if match else fallback


def pages_explaining(term: str, sources: dict[str, str], limit: int = 3) -> list[str]:
    """The pages that explain a term best: in a heading first, then by mentions."""
    word = re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])")
    scored = []
    for uri, text in sources.items():
        mentions = len(word.findall(text))
        if not mentions:
            continue
        in_headings = sum(
            bool(word.search(h)) for h in re.findall(r"^#+ .+$", text, re.M)
        )
        scored.append((-(in_headings * 10 + mentions), uri))
    return [uri for _, uri in sorted(scored)[:limit]]


def glossary_table(files) -> str:
    sources = {}
    for file in files.documentation_pages():
        if is_topic_page(file.src_uri):
            sources[file.src_uri] = file.content_string
    rows = ["| Term | Meaning | Explained in |", "|---|---|---|"]
    for term, meaning in glossary_terms():
        links = ", ".join(
            f"[{page_title(sources[uri], uri)}]({uri})"
            for uri in pages_explaining(term, sources)
        )
        rows.append(f"| {term} | {meaning} | {links or '-'} |")
    return "\n".join(rows)
