"""Glossary terms as tooltips a reader can reach with a mouse, a keyboard or a finger.

The glossary page promises: "hover over an underlined term, or focus it with the keyboard".
tools/site_hooks.py makes the first use of each term on a page focusable, and leaves terms
inside headings and links as plain text; Material's `content.tooltips` draws the tooltip.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.site.docs_tools import ROOT, built_html, page_id, pages

# term -> meaning, as docs/_includes/abbreviations.md defines them
GLOSSARY = dict(
    re.findall(
        r"^\*\[([^\]]+)\]:\s*(.+)$",
        (ROOT / "docs" / "_includes" / "abbreviations.md").read_text(encoding="utf-8"),
        re.M,
    )
)

ABBR = re.compile(r"<abbr(?P<attributes>[^>]*)>", re.S)
TITLE = re.compile(r'title="([^"]*)"')
INSIDE_HEADING_OR_LINK = re.compile(r"<(h[1-6]|a)\b[^>]*>(?:(?!</\1>).)*<abbr\b", re.S)


@pytest.mark.site
@pytest.mark.parametrize("doc", pages(), ids=page_id)
def test_the_first_use_of_each_term_is_focusable_and_no_term_sits_in_a_heading_or_link(
    built_site: Path, doc: Path
) -> None:
    content = built_html(built_site, doc)
    content = content.split('<article class="md-content__inner', 1)[-1]
    assert not INSIDE_HEADING_OR_LINK.search(content)
    seen: set[str] = set()
    for match in ABBR.finditer(content):
        title = TITLE.search(match["attributes"])
        assert title, match[0]
        first = title[1] not in seen
        seen.add(title[1])
        assert ('tabindex="0"' in match["attributes"]) == first, (title[1], first)


def first_term(page):
    term = page.locator(".md-content abbr[tabindex='0']").first
    term.wait_for()
    return term


@pytest.mark.browser
def test_a_term_shows_its_meaning_when_focused_with_the_keyboard(open_page) -> None:
    page, watch = open_page("communication/http_messages/")
    first_term(page)
    # The skip link, then Tab through the content to the first term, as a keyboard
    # reader would.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.matches('.md-content h1')")
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "ABBR":
            break
    assert page.evaluate("document.activeElement.tagName") == "ABBR"
    # The tooltip of a link tabbed through on the way ("Permanent link") may still be
    # fading out: wait for the focused term's own meaning, among the active tooltips.
    meaning = GLOSSARY[page.evaluate("document.activeElement.textContent").strip()]
    page.wait_for_function(
        """(meaning) => [...document.querySelectorAll(".md-tooltip2--active")]
             .some((tip) => tip.innerText.trim() === meaning)""",
        arg=meaning,
    )
    assert watch.errors == []


@pytest.mark.browser
def test_a_term_shows_its_meaning_when_tapped_on_a_touch_screen(
    browser, site_url: str
) -> None:
    context = browser.new_context(
        has_touch=True, is_mobile=True, viewport={"width": 390, "height": 844}
    )
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(site_url + "communication/http_messages/")
        term = first_term(page)
        term.scroll_into_view_if_needed()
        term.tap()
        page.locator(".md-tooltip2--active").first.wait_for()
    finally:
        context.close()
