"""The built site in a real browser: pages, diagrams, dark mode, search, copy buttons, axe.

Every page is loaded from a local HTTP server; any request to another host fails the test
(and is aborted, so nothing leaves the machine). Diagrams are counted in the Markdown source
and must all be SVG in the page, on a direct load and after instant navigation, in light and
in dark. They are drawn when the site is built (tools/diagram_store.py): no page downloads
Mermaid.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.site.browser import follow_instantly
from tests.site.docs_tools import DOCS, built_html, page_id, pages, url_path

pytestmark = pytest.mark.browser

PAGES = pages()
MERMAID_FILE = "assets/vendor/mermaid/mermaid.min.js"


def diagram_count(page: Path) -> int:
    return page.read_text(encoding="utf-8").count("```mermaid")


RENDERED = """
(expected) => {
  const boxes = [...document.querySelectorAll("article div.bfp-diagram")];
  const svgs = boxes.map((box) => box.shadowRoot && box.shadowRoot.querySelector("svg"));
  return boxes.length === expected && svgs.every(Boolean);
}
"""

DIAGRAM_REPORT = """
() => [...document.querySelectorAll("article div.bfp-diagram")].map((box) => {
  const svg = box.shadowRoot.querySelector("svg");
  return {
    text: svg.textContent,
    title: (svg.querySelector(":scope > title") || {}).textContent || "",
    desc: (svg.querySelector(":scope > desc") || {}).textContent || "",
  };
})
"""


def assert_diagrams_render(page, expected: int) -> None:
    page.wait_for_function(RENDERED, arg=expected)
    for diagram in page.evaluate(DIAGRAM_REPORT):
        assert "Syntax error" not in diagram["text"]
        assert diagram["title"].strip(), "diagram without an accessible title"
        assert diagram["desc"].strip(), "diagram without an accessible description"


KIB = 1024
# Any page, its diagrams included, before the reader opens search (issue 11: weight
# budget). Measured as transferred bytes from a host that gzips text, as GitHub Pages does.
PAGE_BUDGET = 300 * KIB

TRANSFERS = """() => [
  ...performance.getEntriesByType("navigation"),
  ...performance.getEntriesByType("resource"),
].map((e) => ({ name: e.name, bytes: e.transferSize, start: e.startTime }))"""

LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({ type: "longtask", buffered: true });
"""


# Colour contrast is three quarters of axe's time on a page (4 of 5 s on the HTTP
# messages page, whose every syntax token is a text node to measure). Contrast depends on
# the colours of the components a page holds, not on its words: so it runs on a set of
# pages that holds every component, in both themes, and every other rule on every page.
WITHOUT_CONTRAST = {"rules": {"color-contrast": {"enabled": False}}}


# The desktop a reader most often has (issue 11 measured at it): there, every code
# block fits the article's column, as the 80-column snippets were sized to.
DESKTOP = {"width": 1366, "height": 900}

SCROLLING_CODE = """() => {
  document.querySelectorAll("article details").forEach((d) => (d.open = true));
  return [...document.querySelectorAll("article pre:not(.mermaid) > code")]
    .filter((code) => code.scrollWidth > code.clientWidth + 1)
    .map((code) => code.innerText.split("\\n").reduce((a, b) => (b.length > a.length ? b : a)));
}"""


# The smallest label of each diagram as the reader sees it (CSS px after the drawing is
# scaled to its box): the site hook keeps it at 12 px or more (issue 11's floor). A
# sequence diagram's step numbers are badges, not labels (tools/diagrams.py says why).
SMALLEST_LABELS = """() => [...document.querySelectorAll("article div.bfp-diagram")].map((box) => {
  const svg = box.shadowRoot.querySelector("svg");
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const labels = [...svg.querySelectorAll("foreignObject div, text")].filter(
    (el) => el.textContent.trim() && !el.querySelector("div, text") &&
      !el.classList.contains("sequenceNumber")
  );
  return Math.min(...labels.map((el) => parseFloat(getComputedStyle(el).fontSize) * scale));
})"""
SMALLEST_LABEL_PX = 12

# Pairs of labels drawn over each other, per diagram. Each label's box is its text's, less
# the line box's leading above and below the glyphs (15% of its height each side), so the
# lines of one multi-line label, which touch, do not count; two labels that cross do.
OVERLAPPING_LABELS = """() => [...document.querySelectorAll("article div.bfp-diagram")].map((box) => {
  const svg = box.shadowRoot.querySelector("svg");
  const labels = [...svg.querySelectorAll("foreignObject div, text")].filter(
    (el) => el.textContent.trim() && !el.querySelector("div, text") &&
      !el.classList.contains("sequenceNumber")
  );
  const boxes = labels.map((el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const r = range.getBoundingClientRect();
    const leading = r.height * 0.15;
    return { text: el.textContent.trim(), left: r.left, right: r.right,
             top: r.top + leading, bottom: r.bottom - leading };
  });
  const pairs = [];
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => {
    const width = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const height = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (width > 1 && height > 1) pairs.push(`${a.text} / ${b.text}`);
  }));
  return pairs;
}).filter((pairs) => pairs.length)"""


def axe_violations(page, *, contrast: bool = True) -> list[str]:
    """Every axe-core violation, at any impact, as one readable line each."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"resultTypes": ["violations"]}
    if not contrast:
        options |= WITHOUT_CONTRAST
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in Axe().run(page, options=options).response["violations"]
    ]


def assert_page_is_clean(
    page, watch, doc: Path, *, axe: bool = True, contrast: bool = True
) -> None:
    expected = diagram_count(doc)
    if expected:
        assert_diagrams_render(page, expected)
    page.wait_for_load_state("networkidle")
    assert watch.foreign == [], "requests to another host"
    assert watch.errors == [], "console errors"
    if axe:
        assert axe_violations(page, contrast=contrast) == []


CLASS_ATTRIBUTE = re.compile(r'class="([^"]*)"')
MERMAID_KIND = re.compile(r"```mermaid\n(?:---\n.*?\n---\n)?\s*([\w-]+)", re.S)


def components(built_site: Path, doc: Path) -> set[str]:
    """What a page is made of, as far as colour goes: every class in its article (the
    admonition types, the syntax-highlighting tokens, tables, tabs, the progress bar,
    API reference blocks), tags that carry their own colours, and its diagram kinds."""
    html = built_html(built_site, doc)
    article = html.split('<article class="md-content__inner', 1)[-1]
    article = article.split("</article>", 1)[0]
    found = {c for value in CLASS_ATTRIBUTE.findall(article) for c in value.split()}
    found |= {
        f"<{tag}>" for tag in ("abbr", "kbd", "mark", "table") if f"<{tag}" in article
    }
    source = doc.read_text(encoding="utf-8")
    return found | {f"mermaid:{kind}" for kind in MERMAID_KIND.findall(source)}


def covering_pages(signatures: dict[Path, set[str]]) -> list[Path]:
    """A small set of pages holding every component: greedily, the page that adds the
    most components not yet held, until none is missing."""
    missing = set().union(*signatures.values())
    chosen: list[Path] = []
    while missing:
        best = max(sorted(signatures), key=lambda doc: len(signatures[doc] & missing))
        chosen.append(best)
        missing -= signatures[best]
    return chosen


@pytest.mark.parametrize("doc", PAGES, ids=page_id)
def test_page_in_light_mode(open_page, doc: Path, record_property) -> None:
    """Loads offline and cleanly, with its diagrams, copy buttons, weight budget,
    every axe rule but colour contrast (checked on the covering pages, below), and
    code blocks that fit the column and diagram labels of 12 px or more, none drawn
    over another, on a desktop."""
    page, watch = open_page(url_path(doc))
    page.evaluate(LONG_TASKS)
    assert_page_is_clean(page, watch, doc, contrast=False)

    blocks = page.locator("div.language-python.highlight")
    copy_buttons = page.locator(
        "div.language-python.highlight pre button.md-code__button[data-md-type='copy']"
    )
    assert copy_buttons.count() == blocks.count()

    transfers = page.evaluate(TRANSFERS)
    assert not any("search_index" in t["name"] for t in transfers), (
        "the search index loads only when the reader starts a search"
    )
    mermaid = [t for t in transfers if t["name"].endswith(MERMAID_FILE)]
    total = sum(t["bytes"] for t in transfers)
    longest = max(page.evaluate("window.__longTasks"), default=0)
    record_property("transferred_bytes", total)
    record_property("longest_task_ms", round(longest))
    record_property("diagrams", diagram_count(doc))
    assert total <= PAGE_BUDGET, f"{total / KIB:.0f} KiB"
    assert mermaid == [], "diagrams are drawn at build time: no page loads Mermaid"
    page.set_viewport_size(DESKTOP)
    assert page.evaluate(SCROLLING_CODE) == [], "code wider than the column"
    smallest = page.evaluate(SMALLEST_LABELS)
    assert all(size >= SMALLEST_LABEL_PX - 0.1 for size in smallest), smallest
    assert page.evaluate(OVERLAPPING_LABELS) == [], (
        "diagram labels drawn over each other"
    )


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_both_themes_on_pages_that_together_hold_every_component(
    open_page, built_site: Path, color_scheme: str
) -> None:
    """What a theme can break depends on the components a page holds (their colours,
    the diagrams), not on its words. So the checks of the light-mode test, axe with its
    contrast rule included, run in each theme on a set of pages that covers every
    component of the site, chosen from the built pages: a new component joins the set by
    itself, and the suite's cost grows with components, not pages."""
    signatures = {doc: components(built_site, doc) for doc in PAGES}
    chosen = covering_pages(signatures)
    everything = set().union(*signatures.values())
    assert set().union(*(signatures[doc] for doc in chosen)) == everything
    assert len(chosen) < len(PAGES) / 2, "the cover should stay small"
    found = {}
    for doc in chosen:
        page, watch = open_page(url_path(doc), color_scheme=color_scheme)
        scheme = page.get_attribute("body", "data-md-color-scheme")
        assert scheme == {"light": "default", "dark": "slate"}[color_scheme]
        assert_page_is_clean(page, watch, doc, axe=False)
        found.update({page_id(doc): v for v in [axe_violations(page)] if v})
        page.context.close()
    assert found == {}


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_diagrams_render_after_instant_navigation_from_a_page_without_any(
    open_page, color_scheme: str
) -> None:
    page, watch = open_page("reference/", color_scheme=color_scheme)
    assert page.locator("article div.bfp-diagram").count() == 0
    page.evaluate("window.__sameDocument = true")
    follow_instantly(
        page,
        page.locator("a.md-tabs__link", has_text="Start here").evaluate("a => a.href"),
    )
    page.wait_for_function(
        "location.pathname.endsWith('/') && !location.pathname.includes('reference')"
    )
    assert_diagrams_render(page, diagram_count(DOCS / "index.md"))
    assert page.evaluate("window.__sameDocument === true"), "navigation was not instant"
    assert not any(url.endswith(MERMAID_FILE) for url in watch.requests)
    assert watch.foreign == []
    assert watch.errors == []


# The page of each written layer with the most diagrams, visited one after the other.
INSTANT_TOUR = [
    "data/isolation.md",
    "application/authorization.md",
    "communication/connections.md",
]


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_diagrams_render_on_each_page_of_an_instant_navigation_tour(
    open_page, site_url: str, color_scheme: str
) -> None:
    """From diagram page to diagram page: each one renders all of its own diagrams."""
    page, watch = open_page("reference/", color_scheme=color_scheme)
    page.evaluate("window.__sameDocument = true")
    for doc in INSTANT_TOUR:
        path = "/" + url_path(DOCS / doc)
        follow_instantly(page, site_url.rstrip("/") + path)
        page.wait_for_function("(p) => location.pathname.endsWith(p)", arg=path)
        assert_diagrams_render(page, diagram_count(DOCS / doc))
        assert page.evaluate("window.__sameDocument === true"), (
            f"{doc}: the page was reloaded; last requests {watch.requests[-5:]}"
        )
    assert not any(url.endswith(MERMAID_FILE) for url in watch.requests)
    assert watch.foreign == []
    assert watch.errors == []


def test_dark_mode_toggle_switches_the_palette_and_is_remembered(open_page) -> None:
    page, _ = open_page("journey/")
    assert page.get_attribute("body", "data-md-color-scheme") == "default"
    page.locator("label[title='Switch to dark mode']:visible").click()
    page.wait_for_function("document.body.dataset.mdColorScheme === 'slate'")
    page.reload()
    assert page.get_attribute("body", "data-md-color-scheme") == "slate"
    assert_diagrams_render(page, diagram_count(DOCS / "journey.md"))


def test_search_finds_a_word_from_a_page(open_page) -> None:
    page, watch = open_page("")
    search = page.locator("input.md-search__input")
    search.click()
    # a word only the journey page uses: with more pages, a common phrase ("status line")
    # can push its result below the first ones Material shows
    page.keyboard.type("crossed")  # Material searches on key events
    result = page.locator(".md-search-result__item a[href*='journey/']").first
    result.wait_for()
    assert "journey" in result.get_attribute("href")
    assert watch.foreign == []
