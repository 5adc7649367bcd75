"""Scaffold a topic: its page, its snippet module and its tests, and a line in the nav.

    make page LAYER=data TOPIC=bloom_filters TITLE="Bloom filters"

creates docs/data/bloom_filters.md, snippets/data/bloom_filters.py and
tests/data/test_bloom_filters.py from the templates in tools/templates/, and adds the page to
the layer's section of the nav in mkdocs.yml. The trio passes every test as generated; replace
its placeholder mechanism with yours.
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from pathlib import Path

from tools.project_layout import LAYERS, ROOT

TEMPLATES = Path(__file__).resolve().parent / "templates"


class ScaffoldError(Exception):
    """A scaffold request that cannot be carried out; the message says why."""


def check_topic(topic: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", topic) or keyword.iskeyword(topic):
        raise ScaffoldError(
            f"TOPIC {topic!r} must be a lowercase Python identifier, e.g. bloom_filters"
        )
    if topic in sys.stdlib_module_names:
        raise ScaffoldError(f"TOPIC {topic!r} would shadow the standard library module")


def render(template: str, *, layer: str, topic: str, title: str) -> str:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    return (
        text.replace("{{layer}}", layer)
        .replace("{{topic}}", topic)
        .replace("{{title}}", title)
    )


def add_to_nav(mkdocs_yml: Path, layer: str, topic: str) -> None:
    """Insert `- <layer>/<topic>.md` after the last page of the layer's nav section."""
    lines = mkdocs_yml.read_text(encoding="utf-8").splitlines(keepends=True)
    index_line = f"- {layer}/index.md"
    positions = [i for i, line in enumerate(lines) if line.strip() == index_line]
    if not positions:
        raise ScaffoldError(f"mkdocs.yml has no nav entry {index_line!r}")
    at = positions[0]
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    while at + 1 < len(lines) and lines[at + 1].startswith(indent + f"- {layer}/"):
        at += 1
    lines.insert(at + 1, f"{indent}- {layer}/{topic}.md\n")
    mkdocs_yml.write_text("".join(lines), encoding="utf-8")


def scaffold(root: Path, layer: str, topic: str, title: str) -> list[Path]:
    """Create the trio under `root` and add the page to its nav; return the new files."""
    if layer not in LAYERS:
        raise ScaffoldError(f"LAYER {layer!r} must be one of: {', '.join(LAYERS)}")
    check_topic(topic)
    if not title.strip():
        raise ScaffoldError('TITLE is required, e.g. TITLE="Bloom filters"')
    files = {
        root / "docs" / layer / f"{topic}.md": "page.md",
        root / "snippets" / layer / f"{topic}.py": "snippet.py",
        root / "tests" / layer / f"test_{topic}.py": "test_snippet.py",
    }
    for path in files:
        if path.exists():
            raise ScaffoldError(f"{path.relative_to(root)} already exists")
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            render(template, layer=layer, topic=topic, title=title.strip()),
            encoding="utf-8",
        )
    add_to_nav(root / "mkdocs.yml", layer, topic)
    return list(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        created = scaffold(args.root, args.layer, args.topic, args.title)
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in created:
        print(f"created {path.relative_to(args.root)}")
    print(f"added {args.layer}/{args.topic}.md to the nav in mkdocs.yml")
    print(f"next: .venv/bin/pytest tests/{args.layer}/test_{args.topic}.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
