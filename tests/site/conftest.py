"""The built site, shared by the site tests: built once per worker, served on loopback."""

from __future__ import annotations

import fcntl
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

    def __init__(self, request, client_address, server: StaticHostServer) -> None:
        super().__init__(request, client_address, server, directory=str(server.root))

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?")[0].endswith("/"):
            path = path / "index.html"
        compress = "gzip" in self.headers.get("Accept-Encoding", "")
        compress = compress and path.suffix in self.COMPRESSIBLE
        if not path.is_file() or not (compress or path.name == "sitemap.xml"):
            return super().send_head()
        body = self.server.body(path, compress=compress)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        if compress:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format: str, *args: object) -> None:
        """The browser tests look at requests themselves; no access log on stderr."""


class StaticHostServer(http.server.ThreadingHTTPServer):
    """Serves one built site on a free loopback port, as if it had been built for that
    port: the build's address in sitemap.xml becomes this server's.

    A browser context closed mid-response resets its connections: that is the client
    leaving, not a server fault, so only other errors reach stderr.
    """

    def __init__(self, root: Path, build_url: str) -> None:
        super().__init__(("127.0.0.1", 0), StaticHostHandler)
        host, port = self.server_address[:2]
        self.root, self.build_url, self.url = root, build_url, f"http://{host}:{port}/"
        self.bodies: dict[tuple[Path, bool], bytes] = {}  # the files do not change

    def body(self, path: Path, *, compress: bool) -> bytes:
        if (path, compress) not in self.bodies:
            data = path.read_bytes()
            if path.name == "sitemap.xml":
                data = data.replace(self.build_url.encode(), self.url.encode())
            if compress:
                data = gzip.compress(data, compresslevel=6)
            self.bodies[path, compress] = data
        return self.bodies[path, compress]

    def handle_error(self, request: object, client_address: object) -> None:
        # ConnectionError covers resets and broken pipes
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


# The address the shared build is made for. Each worker serves the same files on its own
# port and rewrites this prefix in sitemap.xml, the one file whose URLs the browser
# compares with its own: Material's instant navigation follows only links the sitemap
# lists, host, port and path included.
BUILD_URL = "http://bfp-test-site.invalid/"


def shared_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`mkdocs build --strict` once for every worker of this run, and for the next run
    too when BFP_TEST_SITE names a directory (`make test` sets it, so its two pytest runs
    build once); returns the directory and the build's log.

    The first worker to get here builds while holding a lock; the others wait for it and
    read the same files. A directory holding `build.log` is complete: `make test` removes
    it before its first run, so a stale build is never served.
    """
    named = os.environ.get("BFP_TEST_SITE")
    if named:
        root = Path(named).resolve()
    else:  # under xdist the workers' temporary directories share a parent
        base = tmp_path_factory.getbasetemp()
        root = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "site"
    root.mkdir(parents=True, exist_ok=True)
    directory, log_file = root / "html", root / "build.log"
    failed = root / "build.failed"  # a failed build is not tried again by each worker
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if failed.exists():
            pytest.fail(failed.read_text(encoding="utf-8"))
        if not log_file.exists():
            try:
                command = ["mkdocs", "build", "--strict", "-d", str(directory)]
                result = subprocess.run(
                    [sys.executable, "-m", *command],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=240,  # under the test's own 300 s, so this message shows
                    env={
                        **os.environ,
                        "NO_MKDOCS_2_WARNING": "1",
                        "SITE_URL": BUILD_URL,
                    },
                    check=False,
                )
                log, ok = result.stderr + result.stdout, result.returncode == 0
            except subprocess.TimeoutExpired:
                log, ok = "it did not finish within 240 s", False
            if not ok:
                failed.write_text(f"mkdocs build --strict failed:\n{log}", "utf-8")
                pytest.fail(failed.read_text(encoding="utf-8"))
            log_file.write_text(log, encoding="utf-8")
    return directory, log_file.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def served_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltSite]:
    """The shared strict build, served over HTTP on a free loopback port."""
    directory, log = shared_build(tmp_path_factory)
    server = StaticHostServer(directory, BUILD_URL)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield BuiltSite(directory, server.url, log)
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
