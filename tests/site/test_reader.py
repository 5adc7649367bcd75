"""Reader experience in a real browser: REPL-safe copy, progress, page weight, keyboard.

What is copied from a Python block must paste cleanly into the classic REPL (3.11, 3.12),
which ends an indented block at the first blank line. Each copy button of every page is
clicked, the clipboard read, and the text fed line by line to `code.InteractiveConsole` in a
mode that compiles without executing. On every page each button is clicked by a
dispatched event, in one round trip, and the text our handler hands to Material's
clipboard is read; on two pages the buttons are clicked for real and the clipboard read,
which checks that Material copies exactly that text.
"""

from __future__ import annotations

import code
import re
from pathlib import Path

import pytest

from tests.site.browser import follow_instantly
from tests.site.docs_tools import DOCS, page_id, pages, url_path

pytestmark = pytest.mark.browser

PYTHON_PAGES = [p for p in pages() if "```python" in p.read_text(encoding="utf-8")]


class CompileOnlyConsole(code.InteractiveConsole):
    """The classic REPL's line handling, compiling each statement without running it."""

    def __init__(self) -> None:
        super().__init__()
        self.syntax_errors: list[str] = []

    def runcode(self, code_object) -> None:
        """Compiled is all we need to know."""

    def showsyntaxerror(self, filename=None, **kwargs) -> None:
        self.syntax_errors.append("".join(self.buffer) or "?")

    def paste(self, text: str) -> list[str]:
        for line in text.splitlines():
            self.push(line)
        self.push("")  # the Enter that ends the last statement
        return self.syntax_errors


def test_the_compile_only_console_catches_what_breaks_a_classic_paste() -> None:
    """The oracle itself: a class with blank lines between methods fails as the REPL does."""
    broken = "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n"
    assert CompileOnlyConsole().paste(broken)
    fixed = "class A:\n    def f(self):\n        return 1\n    def g(self):\n        return 2\n"
    assert CompileOnlyConsole().paste(fixed) == []


# A copy button inside an unselected content tab or a closed <details> is hidden: show it
# first, as a reader would by choosing the tab or opening the box.
REVEAL = """(button) => {
  for (let el = button; el; el = el.parentElement) {
    if (el.tagName === "DETAILS") el.open = true;
    if (el.classList.contains("tabbed-block")) {
      const index = [...el.parentElement.children].indexOf(el);
      el.closest(".tabbed-set").querySelectorAll(":scope > input")[index].checked = true;
    }
  }
}"""


SELECTOR = ".language-python.highlight button.md-code__button[data-md-type='copy']"


def copy_texts(page, context) -> list[str]:
    """Click every Python copy button on the page; return what reached the clipboard."""
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    texts = []
    for button in page.locator(SELECTOR).all():
        page.evaluate("navigator.clipboard.writeText('')")
        button.evaluate(REVEAL)
        button.click()
        page.wait_for_function(
            "navigator.clipboard.readText().then((t) => t.length > 0)"
        )
        texts.append(page.evaluate("navigator.clipboard.readText()"))
    return texts


# What our capture-phase click handler leaves for Material's clipboard handler to copy,
# for every button at once (a real click costs a round trip and a clipboard read each).
HANDED_TO_CLIPBOARD = """(selector) => [...document.querySelectorAll(selector)].map((b) => {
  b.removeAttribute("data-clipboard-text");
  b.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true }));
  return b.getAttribute("data-clipboard-text");
})"""


@pytest.mark.parametrize("doc", PYTHON_PAGES, ids=page_id)
def test_every_python_copy_button_gives_text_that_pastes_into_the_classic_repl(
    open_page, doc: Path
) -> None:
    page, _ = open_page(url_path(doc))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    texts = page.evaluate(HANDED_TO_CLIPBOARD, SELECTOR)
    assert len(texts) == page.locator(".language-python.highlight").count() > 0
    for text in texts:
        assert text, "a copy button without text for the clipboard"
        assert "#>" not in text, "output lines are left out of the copy"
        assert CompileOnlyConsole().paste(text) == [], text


# The two pages with code in collapsed blocks, which a real click must open first.
REAL_CLICK_PAGES = ["communication/http_messages.md", "communication/connections.md"]


@pytest.mark.parametrize("path", REAL_CLICK_PAGES)
def test_a_real_click_copies_what_the_handler_prepared(open_page, path: str) -> None:
    """The wiring the fast test relies on: Material copies our text, button by button."""
    doc = DOCS / path
    page, _ = open_page(url_path(doc))
    copied = copy_texts(page, page.context)
    assert copied == page.evaluate(HANDED_TO_CLIPBOARD, SELECTOR)
    assert len(copied) > 3


def test_the_page_keeps_the_code_as_formatted(open_page) -> None:
    """Only what is copied changes: the page still shows blank lines and #> output."""
    page, _ = open_page("journey/")
    shown = page.locator(".language-python.highlight code").nth(0).inner_text()
    assert "\n\n" in shown
    demo = page.locator(".language-python.highlight code").nth(2).inner_text()
    assert "#> HTTP/1.1 200 OK" in demo


def test_repl_transform_keeps_strings_and_continuation_clauses(open_page) -> None:
    page, _ = open_page("journey/")
    source = (
        'def f():\n    """Doc.\n\n    More."""\n\n    return 1\n\n\n'
        "try:\n    f()\nexcept ValueError:\n    pass\nprint(f())\n#> 1\n"
    )
    copied = page.evaluate("(s) => window.bfpForRepl(s)", source)
    assert copied == (
        'def f():\n    """Doc.\n\n    More."""\n    return 1\n\n'
        "try:\n    f()\nexcept ValueError:\n    pass\n\nprint(f())\n"
    )
    assert CompileOnlyConsole().paste(copied) == []


def test_a_page_marked_done_counts_in_its_layer_after_reloads_and_instant_navigation(
    open_page,
) -> None:
    page, _ = open_page("communication/")
    progress = page.locator(".bfp-progress li[data-layer='communication']")
    progress.wait_for()
    total = int(progress.inner_text().split(" of ")[1].split()[0])
    assert total >= 1
    assert "0 of" in progress.inner_text()
    first_topic = page.locator("nav.md-nav a.md-nav__link[href*='communication/']").nth(
        1
    )
    first_topic.click()  # instant navigation
    done = page.locator("button.bfp-done")
    done.click()
    assert done.get_attribute("aria-pressed") == "true"
    page.reload()
    assert page.locator("button.bfp-done").get_attribute("aria-pressed") == "true"
    page.evaluate("window.__sameDocument = true")
    follow_instantly(
        page,
        page.locator("a.md-tabs__link", has_text="Start here").get_attribute("href"),
    )
    home = page.locator(".bfp-progress li[data-layer='communication']")
    home.wait_for()
    assert home.inner_text().startswith(f"Communication: 1 of {total} pages done")
    assert page.evaluate("window.__sameDocument === true")
    page.locator("button.bfp-reset").click()
    assert (
        "0 of"
        in page.locator(".bfp-progress li[data-layer='communication']").inner_text()
    )
    # every layer has pages now: each shows a count and a bar ("in preparation", without
    # a bar, was for a layer with none)
    layers = page.locator(".bfp-progress li[data-layer]")
    assert layers.count() == 6
    for layer in layers.all():
        assert re.search(r": 0 of [1-9]\d* pages done", layer.inner_text())
        assert layer.locator("progress").count() == 1


# ---------------------------------------------------------------------------------------
# Weight (the per-page budget is checked in test_browser.test_page_in_light_mode)

KIB = 1024


def test_search_index_loads_when_the_reader_starts_a_search(open_page) -> None:
    page, watch = open_page("")
    page.wait_for_load_state("networkidle")
    assert not any("search_index" in url for url in watch.requests)
    page.keyboard.press("/")
    page.keyboard.type("handshake")
    page.locator(".md-search-result__item").first.wait_for()
    assert any("search_index" in url for url in watch.requests)


def test_no_image_of_the_site_is_over_100_kib(built_site: Path) -> None:
    images = [
        p
        for p in built_site.rglob("*")
        if p.suffix.lower()
        in {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico"}
    ]
    assert images, "the favicon at least"
    too_big = [p.name for p in images if p.stat().st_size > 100 * KIB]
    assert too_big == []


# ---------------------------------------------------------------------------------------
# Keyboard


def test_the_keyboard_alone_reaches_the_content_with_a_visible_focus(open_page) -> None:
    page, watch = open_page("journey/")
    page.keyboard.press("Tab")
    skip = page.evaluate("document.activeElement.className")
    assert "md-skip" in skip, "the first Tab stop is the skip link"
    fetches_before = len(watch.fetches)
    page.keyboard.press("Enter")
    # The skip link moves the focus to the page's first heading (reader.js) without a
    # navigation: no fetch of the same page, no content swap that drops the focus.
    page.wait_for_function("document.activeElement.matches('.md-content h1')")
    assert watch.fetches[fetches_before:] == [], "the skip link fetches nothing"
    page.keyboard.press("Tab")
    page.wait_for_function("!!document.activeElement.closest('.md-content')")
    # Material marks keyboard focus with a class that its focus-visible polyfill adds a
    # moment later; wait for the outline (the test fails on the timeout if none comes).
    page.wait_for_function(
        """() => {
          const style = getComputedStyle(document.activeElement);
          return style.outlineStyle !== "none" && style.outlineWidth !== "0px";
        }"""
    )


# ---------------------------------------------------------------------------------------
# Search: a core term finds the page that explains it first.

SEARCH_TERMS = {
    "chunked": "communication/http_messages/",
    "TLS handshake": "communication/tls_basics/",
    "head-of-line blocking": "communication/connections/",
    "NXDOMAIN": "communication/dns_wire/",
    "TIME_WAIT": "communication/sockets/",
    "WebSocket": "communication/realtime/",
    "varint": "communication/serialization/",
    "ETag": "communication/apis/",
    "certificate": "communication/tls_basics/",
    "WSGI": "application/socket_to_handler/",
    "405": "application/routing/",
    "contextvars": "application/middleware/",
    "problem details": "application/validation/",
    "scrypt": "application/authentication/",
    "PKCE": "application/authorization/",
    "idempotency": "reliability/idempotency/",
    "CSRF": "application/app_security/",
    "jitter": "reliability/retries/",
    "goodput": "reliability/load_shedding/",
    "SIGTERM": "reliability/graceful_shutdown/",
    "dotenv": "reliability/configuration/",
    "outbox": "reliability/background_work/",
    "hedged": "performance/latency/",
    "Lindley": "performance/queueing/",
    "cProfile": "performance/profiling/",
    "switch interval": "performance/concurrency/",
    "repository": "application/layering/",
    "fsync": "data/why_databases/",
    "foreign key": "data/relational_sql/",
    "index": "data/indexes/",
    "rollback": "data/transactions/",
    "isolation": "data/isolation/",
    "write skew": "data/isolation/",
    "N+1": "data/access_patterns/",
    "LRU": "data/caching/",
    "consistent hashing": "data/beyond_one_node/",
    "BM25": "data/other_stores/",
}


# Marks the results on screen, so the next query's results can be told from them
# (Material draws new elements for every answer of the search worker).
MARK_STALE = """() => document.querySelectorAll(".md-search-result__item > a")
  .forEach((a) => (a.dataset.stale = "1"))"""


def test_search_ranks_the_explaining_page_first(open_page, site_url: str) -> None:
    """The first term comes from a search link (`?q=`), which opens the search with
    it; the others are typed into that open search, as a reader would, so the index
    is built once (a page load per term was 46 s of the browser suite)."""
    from urllib.parse import quote

    (first_term, _), *_ = SEARCH_TERMS.items()
    page, _ = open_page("")
    page.goto(f"{site_url}?q={quote(first_term)}")
    query = page.locator("input.md-search__input")
    wrong = {}
    for term, expected in SEARCH_TERMS.items():
        if term != first_term:
            page.evaluate(MARK_STALE)
            query.fill(term)
            query.press("End")  # Material reads the query on keyup
        first = page.locator(".md-search-result__item > a:not([data-stale])").first
        first.wait_for()
        found = first.evaluate("(a) => new URL(a.href).pathname")
        if found != f"/{expected}":
            wrong[term] = found
    assert wrong == {}
