"""The site as a whole: strict build, every module included and documented, every page in nav."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.site.docs_tools import (
    DOCS,
    LAYERS,
    ROOT,
    built_html,
    included_files,
    nav_pages,
    page_id,
    pages,
    snippet_modules,
    snippet_packages,
    topic_pages,
)


def test_strict_build_passes_without_a_warning(served_site) -> None:
    assert "WARNING" not in served_site.log, served_site.log
    built_site = served_site.directory
    assert (built_site / "index.html").is_file()
    assert (built_site / "sitemap.xml").is_file()


def test_every_page_is_in_the_nav() -> None:
    assert {page_id(p) for p in pages()} == nav_pages()


def test_every_layer_has_an_index_page_and_a_snippet_package() -> None:
    for layer in LAYERS:
        assert (DOCS / layer / "index.md").is_file()
        assert (ROOT / "snippets" / layer / "__init__.py").is_file()


def test_the_reader_script_knows_the_same_layers() -> None:
    """reader.js counts progress per layer: its list must be tools/project_layout.py's."""
    script = (DOCS / "assets" / "javascripts" / "reader.js").read_text(encoding="utf-8")
    listed = re.search(r"var LAYERS = \[([^\]]*)\]", script)
    assert listed, "reader.js declares var LAYERS = [...]"
    assert tuple(re.findall(r'"([a-z]+)"', listed.group(1))) == LAYERS


@pytest.mark.parametrize("page", topic_pages(), ids=page_id)
def test_every_topic_page_has_a_diagram_and_included_code(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "```mermaid" in text, "a topic page shows its mechanism as a diagram"
    assert '--8<-- "snippets/' in text, "a topic page includes its code from snippets/"


@pytest.mark.parametrize("page", pages(), ids=page_id)
def test_every_diagram_has_a_title_and_a_description(page: Path) -> None:
    """Mermaid turns accTitle and accDescr into the SVG's <title> and <desc>."""
    diagrams = re.findall(
        r"```mermaid\n(.*?)```", page.read_text(encoding="utf-8"), re.S
    )
    for diagram in diagrams:
        assert re.search(r"^\s+accTitle: .+", diagram, re.M), diagram
        assert re.search(r"^\s+accDescr: .+", diagram, re.M), diagram


@pytest.mark.parametrize("module", snippet_modules())
def test_every_snippet_module_is_included_by_some_page(module: str) -> None:
    path = module.replace(".", "/") + ".py"
    assert path in included_files(), f"no page includes {path}"


@pytest.mark.parametrize("module", snippet_modules() + snippet_packages())
def test_every_module_is_in_the_api_reference(built_site: Path, module: str) -> None:
    reference = "".join(
        p.read_text(encoding="utf-8")
        for p in (built_site / "reference").rglob("*.html")
    )
    assert f'id="{module}"' in reference, f"{module} is missing from the API reference"


def test_code_blocks_carry_their_language_class(built_site: Path) -> None:
    html = built_html(built_site, DOCS / "journey.md")
    assert html.count('class="language-python highlight"') == 3


def test_pages_link_to_their_source_for_editing(built_site: Path) -> None:
    html = built_html(built_site, DOCS / "journey.md")
    assert "/edit/main/docs/journey.md" in html


def test_glossary_terms_become_tooltips(built_site: Path) -> None:
    html = built_html(built_site, DOCS / "journey.md")
    assert re.search(
        r'<abbr title="Transmission Control Protocol[^"]*">TCP</abbr>', html
    )


def test_no_page_asks_for_google_fonts_or_the_github_api(built_site: Path) -> None:
    for page in built_site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in html, page
        assert 'data-md-component="source"' not in html, page


def test_vendored_mermaid_matches_its_recorded_checksum() -> None:
    folder = DOCS / "assets" / "vendor" / "mermaid"
    record = dict(
        line.split(": ", 1) for line in (folder / "VERSION").read_text().splitlines()
    )
    digest = hashlib.sha256((folder / "mermaid.min.js").read_bytes()).hexdigest()
    assert digest == record["sha256"]
    assert record["version"].startswith("11.")
    assert "MIT" in (folder / "LICENSE").read_text()


def test_no_page_content_carries_a_live_script(built_site: Path) -> None:
    """A docstring that says <script> without backticks becomes a live element in the API
    reference; that happened once. Page content never holds a script element."""
    for page in built_site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for article in re.findall(r"<article.*?</article>", html, re.S):
            assert "<script" not in article, page
