"""The built site, shared by the site tests: built once per worker, served on loopback."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from tests.site.docs_tools import ROOT


@dataclass
class BuiltSite:
    directory: Path
    url: str
    log: str


class StaticHostHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site as a static host such as GitHub Pages does: text compressed
    with gzip when the client accepts it, so transferred sizes measured here are realistic.
    """

    COMPRESSIBLE = frozenset({".html", ".css", ".js", ".json", ".xml", ".svg", ".txt"})
    # Shared by all requests and workers' threads: the built site does not change.
    compressed: ClassVar[dict[Path, bytes]] = {}

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?")[0].endswith("/"):
            path = path / "index.html"
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (accepts_gzip and path.suffix in self.COMPRESSIBLE and path.is_file()):
            return super().send_head()
        if path not in self.compressed:
            self.compressed[path] = gzip.compress(path.read_bytes(), compresslevel=6)
        body = self.compressed[path]
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format: str, *args: object) -> None:
        """The browser tests look at requests themselves; no access log on stderr."""


class StaticHostServer(http.server.ThreadingHTTPServer):
    """A browser context closed mid-response resets its connections: that is the client
    leaving, not a server fault, so only other errors reach stderr."""

    def handle_error(self, request: object, client_address: object) -> None:
        # ConnectionError covers resets and broken pipes
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="session")
def served_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltSite]:
    """`mkdocs build --strict`, served over HTTP on a free loopback port.

    The port is chosen first and the site is built for that URL (SITE_URL): Material's
    instant navigation only follows links whose URL matches the sitemap, host, port and
    path included. Each xdist worker builds its own copy (a few seconds).
    """
    directory = tmp_path_factory.mktemp("site")
    handler = functools.partial(StaticHostHandler, directory=str(directory))
    server = StaticHostServer(("127.0.0.1", 0), handler)
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}/"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "SITE_URL": url},
        check=False,
    )
    log = result.stderr + result.stdout
    if result.returncode != 0:
        server.server_close()
        pytest.fail(f"mkdocs build --strict failed:\n{log}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield BuiltSite(directory, url, log)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def built_site(served_site: BuiltSite) -> Path:
    return served_site.directory


@pytest.fixture(scope="session")
def site_url(served_site: BuiltSite) -> str:
    return served_site.url


@pytest.fixture
def open_page(browser, site_url: str):
    """Open a page of the site in a fresh context that records what the page does.

    Returns `(page, watch)`; `watch` lists every request, those to another host (which are
    aborted), and console errors.
    """
    from urllib.parse import urlsplit

    from tests.site.browser import OPEN_SHADOW_ROOTS, PageWatch

    contexts = []

    def open_(path: str = "", *, color_scheme: str = "light"):
        context = browser.new_context(color_scheme=color_scheme)
        contexts.append(context)
        context.add_init_script(OPEN_SHADOW_ROOTS)
        watch = PageWatch(origin=urlsplit(site_url).netloc)
        context.route("**/*", watch.on_request)
        page = context.new_page()
        page.on("console", watch.on_console)
        page.on("pageerror", watch.on_page_error)
        # generous: a loaded 2-core machine can take seconds to build the search index
        page.set_default_timeout(30_000)
        page.goto(site_url + path, wait_until="load")
        return page, watch

    yield open_
    for context in contexts:
        context.close()
