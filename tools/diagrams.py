"""`make diagrams`: draw every new or changed diagram to SVG, and drop the orphans.

    python -m tools.diagrams            draw the diagrams that have no SVG yet
    python -m tools.diagrams --all      draw them all again
    python -m tools.diagrams --check    only say what is missing or orphaned (exit 1)

How: the site is built with its diagrams left as Mermaid source (BFP_LIVE_DIAGRAMS=1),
served on loopback, and each page that has a diagram to draw is opened in Chromium,
where Material draws it with the vendored Mermaid, as a reader's browser did before.
Each SVG is taken as drawn, with its accessible title and description and Material's
theme CSS, whose colours are CSS variables: the one file follows the light and dark
palettes. Only the SVG's id changes (to the diagram's key), and coordinates are
rounded to 0.01 px, which keeps the files small and the drawing the same. See
tools/diagram_store.py for the naming and the site hook for where the SVGs go.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import defaultdict
from pathlib import Path

from tools.diagram_store import (
    HOW_TO_DRAW,
    ROOT,
    STORE,
    Diagram,
    every_diagram,
    missing_and_orphaned,
    svg_path,
)

# Material attaches each drawing to a closed shadow root; opened, it can be read.
OPEN_SHADOW_ROOTS = """
const attach = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attach.call(this, Object.assign({}, init, { mode: "open" }));
};
"""

DRAWN = """(expected) => {
  const boxes = [...document.querySelectorAll("article div.mermaid")];
  const svgs = boxes.map((b) => b.shadowRoot && b.shadowRoot.querySelector("svg"));
  return boxes.length === expected && svgs.every(Boolean);
}"""

# Each drawing, with the size of its smallest label (CSS px at natural size) recorded
# on it: the site hook uses it to keep every label at 12 px or more on the page. The
# step numbers of a sequence diagram (`autonumber`, 12 px badges) are not labels: were
# they counted, the widest sequence diagrams could not be scaled to the column at all.
SVGS = """() => [...document.querySelectorAll("article div.mermaid")].map((b) => {
  const svg = b.shadowRoot.querySelector("svg");
  const labels = [...svg.querySelectorAll("foreignObject div, text")].filter(
    (el) => el.textContent.trim() && !el.querySelector("div, text") &&
      !el.classList.contains("sequenceNumber")
  );
  const sizes = labels.map((el) => parseFloat(getComputedStyle(el).fontSize));
  svg.setAttribute("data-smallest-label", String(Math.min(16, ...sizes)));
  return svg.outerHTML;
})"""

NUMBER = re.compile(r"-?\d+\.\d{3,}")
GEOMETRY = re.compile(
    r'\b(d|points|transform|viewBox|x|y|x1|y1|x2|y2|width|height)="([^"]*)"'
)


def tidy(svg: str, key: str) -> str:
    """The drawing with a stable id and coordinates rounded to 0.01."""
    drawn_id = re.match(r'<svg id="([^"]+)"', svg).group(1)
    svg = re.sub(re.escape(drawn_id) + r"(?!\d)", f"d-{key}", svg)

    def rounded(match: re.Match) -> str:
        value = NUMBER.sub(lambda n: f"{float(n.group()):.2f}", match.group(2))
        return f'{match.group(1)}="{value}"'

    return GEOMETRY.sub(rounded, svg) + "\n"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log: the output is the list of pages drawn."""


def url_of(page: str) -> str:
    """docs/x/y.md is served at x/y/; index pages at their folder."""
    path = page.removesuffix(".md")
    path = path.removesuffix("index")
    return path if not path or path.endswith("/") else path + "/"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit(f"no Chromium to draw with: {HOW_TO_DRAW}")


def build_live_site(directory: Path) -> None:
    env = {**os.environ, "BFP_LIVE_DIAGRAMS": "1", "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-q", "-d", str(directory)],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )


def draw(diagrams: list[Diagram]) -> None:
    from playwright.sync_api import sync_playwright

    by_page: dict[str, list[Diagram]] = defaultdict(list)
    for diagram in every_diagram():
        by_page[diagram.page].append(diagram)
    wanted = {d.page for d in diagrams}
    with tempfile.TemporaryDirectory() as site:
        build_live_site(Path(site))
        handler = functools.partial(QuietHandler, directory=site)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium())
                for page_path in sorted(wanted):
                    on_page = by_page[page_path]
                    context = browser.new_context()
                    context.add_init_script(OPEN_SHADOW_ROOTS)
                    page = context.new_page()
                    page.goto(base + url_of(page_path), wait_until="load")
                    page.wait_for_function(DRAWN, arg=len(on_page), timeout=60_000)
                    for diagram, svg in zip(on_page, page.evaluate(SVGS), strict=True):
                        svg_path(diagram.key).write_text(
                            tidy(svg, diagram.key), encoding="utf-8"
                        )
                    context.close()
                    print(f"drew {len(on_page)} on {page_path}")
                browser.close()
        finally:
            server.shutdown()
            server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="draw every diagram again")
    parser.add_argument("--check", action="store_true", help="only report")
    args = parser.parse_args(argv)
    missing, orphaned = missing_and_orphaned()
    if args.check:
        for diagram in missing:
            print(f"not drawn: {diagram.page}, diagram {diagram.index + 1}")
        for path in orphaned:
            print(f"orphaned: {path.relative_to(ROOT)}")
        if missing or orphaned:
            print(HOW_TO_DRAW)
        return 1 if missing or orphaned else 0
    STORE.mkdir(parents=True, exist_ok=True)
    todo = every_diagram() if args.all else missing
    if todo:
        draw(todo)
    for path in orphaned:
        path.unlink(missing_ok=True)  # another run may have removed it
        print(f"removed {path.relative_to(ROOT)}")
    print(f"{len(todo)} drawn, {len(orphaned)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
