"""`make benchmark`: how long a contributor waits for the site, measured.

    python -m tools.build_benchmark            both measurements, three times each
    python -m tools.build_benchmark --runs 1   once each

Two figures, each the median of the runs:

- **Full build**: `mkdocs build --strict` into a temporary directory, in seconds and
  in seconds per built page (every `index.html`, the generated reference pages
  included).
- **Edit to reload**: `make serve`'s command is started on a free loopback port; a
  line is added to one chapter page and the time is measured until the served page
  shows it, which is when a reader's browser reloads. The page is restored
  afterwards, even on failure.

A benchmark, not a test: the figures depend on the machine and on what else runs on
it, so nothing here asserts a bound. The README's "Working on the site" section
quotes the figures, with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EDITED = Path("docs/data/indexes.md")  # a chapter page with code, a diagram and terms
EDITED_URL = "data/indexes/"
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def full_build() -> tuple[float, int]:
    """Seconds for one strict build, and the number of pages it wrote."""
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mkdocs",
                "build",
                "--strict",
                "-q",
                "-d",
                directory,
            ],
            cwd=ROOT,
            env=ENV,
            check=True,
            timeout=600,
        )
        seconds = time.perf_counter() - start
        pages = sum(1 for _ in Path(directory).rglob("index.html"))
    return seconds, pages


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8")
    except (urllib.error.URLError, OSError):
        return None


def wait_for(url: str, text: str, timeout: float) -> float:
    """Poll `url` until its body contains `text`; the moment it did, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = fetch(url)
        if body is not None and text in body:
            return time.perf_counter()
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not show {text!r} within {timeout:.0f} s")


def edit_to_reload(runs: int) -> list[float]:
    """Seconds from saving an edit to the served page showing it, once per run."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    command = ["make", "--no-print-directory", "serve", f"PORT={port}"]
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    page = ROOT / EDITED
    original = page.read_text(encoding="utf-8")
    times = []
    try:
        wait_for(base + EDITED_URL, "<article", timeout=600)
        for run in range(runs):
            marker = f"benchmark-edit-{os.getpid()}-{run}"
            page.write_text(original + f"\n{marker}\n", encoding="utf-8")
            saved = time.perf_counter()
            times.append(wait_for(base + EDITED_URL, marker, timeout=300) - saved)
            time.sleep(1)  # let the watcher settle before the next edit
    finally:
        page.write_text(original, encoding="utf-8")
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    builds = [full_build() for _ in range(args.runs)]
    seconds = statistics.median(s for s, _ in builds)
    pages = builds[0][1]
    print(f"full strict build: {seconds:.1f} s for {pages} pages", end=" ")
    print(f"({seconds / pages:.3f} s a page), median of {args.runs}")

    reloads = edit_to_reload(args.runs)
    print(f"edit to reload: {statistics.median(reloads):.1f} s", end=" ")
    print(f"(runs: {', '.join(f'{r:.1f}' for r in reloads)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
