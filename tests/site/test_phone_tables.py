"""On a 390 px phone a wide table scrolls sideways, and shows that it does."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_a_table_wider_than_a_phone_fades_its_hidden_edge_and_takes_the_keyboard(
    browser, site_url: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
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
    finally:
        context.close()
