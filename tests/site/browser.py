"""Driving a real Chromium against the built site: finding it, and watching what pages do.

Debian's `chromium` (apt-get install chromium) is used where it is installed, else the browser
that `playwright install chromium` downloads. Without either, the browser tests skip with a
message saying how to get one, except in CI (CI=true), where they fail: they must run there.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# Chromium's own background traffic (updates, sync, field trials) would be requests to other
# hosts that no page made; these switches turn it off. --no-sandbox: CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Material renders each diagram into a *closed* shadow root, which hides the SVG from tests.
# Opening it changes nothing else.
OPEN_SHADOW_ROOTS = """
const attach = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attach.call(this, Object.assign({}, init, { mode: "open" }));
};
"""

HOW_TO_GET_A_BROWSER = (
    "no Chromium found: install Debian's (sudo apt-get install chromium) or "
    "Playwright's (.venv/bin/playwright install chromium) to run the browser tests"
)


def find_chromium() -> str | None:
    """The path of a Chromium to drive, or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:  # Playwright could not even say where its browser would be
        return None
    return path if Path(path).is_file() else None


def require_chromium() -> str:
    path = find_chromium()
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but {HOW_TO_GET_A_BROWSER}")
    pytest.skip(HOW_TO_GET_A_BROWSER)


@dataclass
class PageWatch:
    """What one browser context did: requests, foreign hosts, console errors.

    `fetches` are the requests a navigation or a script makes (documents, fetch, XHR), apart
    from those the browser makes on its own: the favicon, for one, comes whenever the browser
    gets to it after the load, which on a busy machine can be seconds later.
    """

    origin: str
    requests: list[str] = field(default_factory=list)
    fetches: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_request(self, route) -> None:
        url = route.request.url
        self.requests.append(url)
        if route.request.resource_type in {"document", "fetch", "xhr"}:
            self.fetches.append(url)
        if urlsplit(url).netloc != self.origin and not url.startswith(
            ("data:", "blob:")
        ):
            self.foreign.append(url)
            route.abort()  # nothing ever leaves the machine, even if a page asks
        else:
            route.continue_()

    def on_console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} at {message.location}")

    def on_page_error(self, error) -> None:
        self.errors.append(f"{error}\n{error.stack or ''}"[:600])


# Clicks a new link to `href` and says whether Material's instant navigation took the click.
# Material takes clicks only once it has the sitemap, which a slow machine can still be
# parsing after the network went quiet; a click it does not take is cancelled here (by a
# listener on the document, which runs after Material's on the body), so it can be retried
# instead of turning into a full page load.
FOLLOW_LINK = """(href) => {
  const link = Object.assign(document.createElement("a"), { href });
  document.querySelector("article").append(link);
  let taken = false;
  const check = (event) => {
    taken = event.defaultPrevented;
    if (!taken) event.preventDefault();
  };
  document.addEventListener("click", check, { once: true });
  link.click();
  link.remove();
  return taken;
}"""


def follow_instantly(page, url: str) -> None:
    """Navigate to `url` the way a reader's click does, through instant navigation."""
    for _ in range(100):  # 10 s
        if page.evaluate(FOLLOW_LINK, url):
            return
        page.wait_for_timeout(100)
    pytest.fail(f"instant navigation never took a click to {url}")
