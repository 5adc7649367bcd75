"""On a 390 px phone a wide table or code block scrolls sideways, and shows that it
does; what a code block prints (its `#>` lines) wraps instead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser) -> Iterator:
    """A page in a 390 px wide browser context of its own."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
    finally:
        context.close()


def test_a_table_wider_than_a_phone_fades_its_hidden_edge_and_takes_the_keyboard(
    phone, site_url: str
) -> None:
    page = phone
    page.goto(site_url + "data/isolation/")
    wrap = page.locator(".md-typeset__scrollwrap.bfp-scrolls").first
    wrap.wait_for()
    assert wrap.evaluate("(w) => w.scrollWidth > w.clientWidth")
    assert wrap.get_attribute("tabindex") == "0"
    assert wrap.get_attribute("aria-label")
    classes = wrap.evaluate("(w) => [...w.classList]")
    assert "bfp-more-right" in classes
    assert "bfp-more-left" not in classes
    assert wrap.evaluate("(w) => getComputedStyle(w).maskImage") != "none"
    wrap.evaluate("(w) => { w.scrollLeft = w.scrollWidth; }")
    page.wait_for_function(
        "(w) => !w.classList.contains('bfp-more-right')"
        " && w.classList.contains('bfp-more-left')",
        arg=wrap.element_handle(),
    )
    # A table that fits the column is left alone.
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(site_url + "data/transactions/")
    page.wait_for_load_state("load")
    fitting = page.evaluate(
        """() => [...document.querySelectorAll('.md-typeset__scrollwrap')]
             .filter((w) => w.scrollWidth <= w.clientWidth)
             .map((w) => w.classList.contains('bfp-scrolls'))"""
    )
    assert fitting
    assert not any(fitting)


def test_on_a_phone_code_scrolls_with_a_faded_edge_and_its_output_wraps(
    phone, site_url: str
) -> None:
    page = phone
    page.goto(site_url + "communication/http_messages/")
    page.wait_for_load_state("load")
    blocks = page.evaluate(
        """() => [...document.querySelectorAll('.md-typeset pre > code')].map((c) => ({
             scrolls: c.scrollWidth > c.clientWidth + 1,
             marked: c.classList.contains('bfp-more-right'),
             mask: getComputedStyle(c).maskImage !== 'none',
           }))"""
    )
    scrolling = [b for b in blocks if b["scrolls"]]
    assert len(scrolling) > len(blocks) / 2  # 80 columns do not fit 390 px
    assert all(b["marked"] and b["mask"] for b in scrolling)
    assert not any(b["marked"] for b in blocks if not b["scrolls"])
    # Every #> line stays inside its block's visible width: it wraps.
    outputs = page.evaluate(
        """() => [...document.querySelectorAll('.md-typeset pre .bfp-output')]
             .map((span) => {
               const box = span.closest('code').getBoundingClientRect();
               return [...span.getClientRects()].every((r) => r.right <= box.right + 1);
             })"""
    )
    assert len(outputs) > 20
    assert all(outputs)
    # Scrolled to its end, a block fades the other edge instead.
    # (A handle, not the locator: once scrolled, the locator's selector would
    # find the next block.)
    code = page.locator(".md-typeset pre > code.bfp-more-right").first
    handle = code.element_handle()
    handle.evaluate("(c) => { c.scrollLeft = c.scrollWidth; }")
    page.wait_for_function(
        "(c) => !c.classList.contains('bfp-more-right')"
        " && c.classList.contains('bfp-more-left')",
        arg=handle,
    )
    # On a desktop the same page's blocks fit: none is marked, no output wraps.
    page.set_viewport_size({"width": 1366, "height": 900})
    page.wait_for_function(
        "() => !document.querySelector('.md-typeset pre > code.bfp-scrolls')"
    )
    white_space = page.evaluate(
        "() => getComputedStyle(document.querySelector('.bfp-output')).whiteSpace"
    )
    assert white_space == "pre"
