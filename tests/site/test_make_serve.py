"""The README's first command, `make serve`, really serves the site at the root of its port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.site.docs_tools import ROOT

pytestmark = pytest.mark.site


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, str, str]:
    """(status, the URL answered after any redirect, body)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.url, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, url, ""


def wait_until_served(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180  # a full build on a loaded 2-core machine
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"make serve exited with {server.returncode}:\n{log.read_text()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"make serve did not answer within 180 s:\n{log.read_text()}")


def test_make_serve_serves_the_home_page_at_the_root_of_the_port(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    venv = Path(sys.prefix)
    log = tmp_path / "serve.log"
    # The running environment stands in for .venv; -o: do not reinstall it.
    command = ["make", "--no-print-directory", "serve", f"PORT={port}", f"VENV={venv}"]
    command += ["-o", f"{venv}/.installed-from-lock"]
    with log.open("w") as output:
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make, mkdocs and its watcher in one process group
        )
    try:
        wait_until_served(base, server, log)
        status, answered_by, home = get(base)
        assert (status, answered_by) == (200, base)  # not a redirect to a sub-path
        assert '<h1 id="backend-engineering-from-first-principles">' in home
        status, _, page = get(base + "data/indexes/")
        assert status == 200
        assert "EXPLAIN QUERY PLAN" in page
        # instant navigation follows only links the sitemap lists, host and port included
        locations = re.findall(r"<loc>([^<]+)</loc>", get(base + "sitemap.xml")[2])
        assert locations
        assert all(location.startswith(base) for location in locations), locations[:3]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
