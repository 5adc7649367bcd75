"""Diagrams drawn once, when they change, instead of in every reader's browser.

A page's diagrams are fenced Mermaid source (```mermaid). Drawing them in the reader's
browser costs every diagram page 3.5 MB of Mermaid and up to seconds of main-thread
work. So each diagram is drawn once by `make diagrams` (tools/diagrams.py: Mermaid, the
vendored copy, run by Material in Chromium, exactly as a reader's browser would) and
kept as an SVG file in docs/assets/diagrams/, named by a hash of what decides the
drawing: the source, the Mermaid version and the Material version (whose theme CSS is
inside each SVG). The site hook puts each SVG in place of its fence when the site is
built; no page loads a diagram script.

Kept free of imports from the rest of the project: the site hook loads it by path.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
STORE = DOCS / "assets" / "diagrams"
MERMAID_VERSION_FILE = DOCS / "assets" / "vendor" / "mermaid" / "VERSION"

# A fenced Mermaid block at the start of a line; group 1 is its source.
FENCE = re.compile(r"^```mermaid[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)

# Where the hook leaves a diagram in the page until the HTML is final.
PLACEHOLDER = '<div class="bfp-diagram" data-diagram="{key}"></div>'
PLACED = re.compile(r'<div class="bfp-diagram" data-diagram="([0-9a-f]+)"></div>')

HOW_TO_DRAW = (
    "run `make diagrams` (it needs Chromium: sudo apt-get install chromium) and "
    "commit the new files in docs/assets/diagrams/"
)


def mermaid_version() -> str:
    text = MERMAID_VERSION_FILE.read_text(encoding="utf-8")
    return re.search(r"^version: (\S+)$", text, re.M).group(1)


def drawing_inputs() -> str:
    """What besides its source decides how a diagram is drawn."""
    return (
        f"mermaid {mermaid_version()}\nmkdocs-material {version('mkdocs-material')}\n"
    )


def key_of(source: str, inputs: str | None = None) -> str:
    inputs = drawing_inputs() if inputs is None else inputs
    return hashlib.sha256((inputs + source).encode()).hexdigest()[:16]


def svg_path(key: str) -> Path:
    return STORE / f"{key}.svg"


@dataclass(frozen=True)
class Diagram:
    page: str  # the page's path under docs/, such as "data/isolation.md"
    index: int  # its place among the page's diagrams, from 0
    source: str
    key: str


def diagrams_in(page: str, markdown: str, inputs: str) -> list[Diagram]:
    return [
        Diagram(page, n, source, key_of(source, inputs))
        for n, source in enumerate(FENCE.findall(markdown))
    ]


def every_diagram() -> list[Diagram]:
    """Every diagram of every page, in page order."""
    inputs = drawing_inputs()
    found = []
    for path in sorted(DOCS.rglob("*.md")):
        page = path.relative_to(DOCS).as_posix()
        found += diagrams_in(page, path.read_text(encoding="utf-8"), inputs)
    return found


def missing_and_orphaned() -> tuple[list[Diagram], list[Path]]:
    """Diagrams with no drawing yet, and drawings no diagram has any more."""
    diagrams = every_diagram()
    keys = {d.key for d in diagrams}
    missing = [d for d in diagrams if not svg_path(d.key).is_file()]
    orphaned = sorted(p for p in STORE.glob("*.svg") if p.stem not in keys)
    return missing, orphaned
