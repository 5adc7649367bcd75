"""Diagrams drawn at build time (tools/diagram_store.py, tools/diagrams.py, the site hook).

Every fenced diagram has its drawing, named by what decides it, and no drawing outlives
its diagram; each drawing carries its diagram's accessible title and description; the
built page holds the drawings in shadow roots (tests/site/test_site_hooks.py); a diagram
not drawn yet falls back to Mermaid in the browser with a warning that a strict build turns into a
failure.
"""

from __future__ import annotations

import html
import re
import types

import pytest

from tools.diagram_store import (
    STORE,
    every_diagram,
    key_of,
    missing_and_orphaned,
    svg_path,
)
from tools.diagrams import tidy, url_of

ACC = re.compile(r"^\s*acc(Title|Descr):\s*(.+)$", re.M)


def test_every_diagram_is_drawn_and_no_drawing_is_orphaned() -> None:
    missing, orphaned = missing_and_orphaned()
    assert [f"{d.page} #{d.index + 1}" for d in missing] == [], (
        "run `make diagrams` and commit docs/assets/diagrams/"
    )
    assert [p.name for p in orphaned] == [], "run `make diagrams` to remove them"


def test_a_drawing_is_named_by_its_source_and_the_drawing_tools() -> None:
    source = "flowchart TD\n    a --> b\n"
    inputs = "mermaid 11.17.2\nmkdocs-material 9.8.2\n"
    assert key_of(source, inputs) == key_of(source, inputs)
    assert key_of(source + " ", inputs) != key_of(source, inputs)
    assert key_of(source, inputs.replace("11.17.2", "11.18.0")) != key_of(
        source, inputs
    )


@pytest.mark.parametrize(
    "diagram", every_diagram(), ids=lambda d: f"{d.page}#{d.index + 1}"
)
def test_each_drawing_keeps_its_accessible_title_and_description(diagram) -> None:
    svg = svg_path(diagram.key).read_text(encoding="utf-8")
    wanted = dict(ACC.findall(diagram.source))
    title = re.search(r"<title[^>]*>(.*?)</title>", svg, re.S)
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", svg, re.S)
    assert html.unescape(title[1]) == wanted["Title"].strip()
    assert html.unescape(desc[1]) == wanted["Descr"].strip()
    assert f'id="d-{diagram.key}"' in svg, "the id is the key, not the render order"


def test_tidy_rounds_geometry_and_renames_the_drawing_only() -> None:
    drawn = (
        '<svg id="__mermaid_1" viewBox="0 0 10.123456 5"><path d="M1.23456 2.5"/>'
        '<g id="__mermaid_1_x"/><text>3.14159 and __mermaid_10</text></svg>'
    )
    tidied = tidy(drawn, "abc")
    assert 'viewBox="0 0 10.12 5"' in tidied
    assert 'd="M1.23 2.5"' in tidied
    assert 'id="d-abc_x"' in tidied
    assert "3.14159 and __mermaid_10" in tidied  # words and other ids untouched


def test_pages_are_served_where_mkdocs_puts_them() -> None:
    assert url_of("index.md") == ""
    assert url_of("data/index.md") == "data/"
    assert url_of("data/isolation.md") == "data/isolation/"
    assert url_of("journey.md") == "journey/"


def test_a_diagram_not_drawn_yet_is_left_to_mermaid_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.site.test_site_hooks import load_hooks

    hooks = load_hooks()
    source = "flowchart TD\n    accTitle: t\n    accDescr: d\n    new --> node\n"
    page = types.SimpleNamespace(meta={}, file=types.SimpleNamespace(src_uri="x.md"))
    markdown = hooks.place_diagrams(f"Text.\n\n```mermaid\n{source}```\n", page)
    assert "```mermaid" not in markdown
    assert not svg_path(key_of(source)).exists()
    with caplog.at_level("WARNING"):
        placed = markdown.split("\n")[2]
        output = hooks.on_post_page(f"<p>Text.</p>\n{placed}", page, {})
    assert '<pre class="mermaid"><code>flowchart TD' in output
    assert "new --&gt; node" in output
    assert "make diagrams" in caplog.text


def test_the_store_holds_only_drawings() -> None:
    assert {p.suffix for p in STORE.iterdir()} == {".svg"}
