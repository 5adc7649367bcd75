"""Facts about the docs tree that several site tests read: pages, nav, includes, modules."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import markdown
from mkdocs.config import load_config

from tools.project_layout import LAYERS, ROOT

DOCS = ROOT / "docs"
SNIPPETS = ROOT / "snippets"
INCLUDE = re.compile(r'--8<--\s+"([^":]+)(?::[^"]*)?"')


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def url_path(page: Path) -> str:
    """docs/x/y.md is served at x/y/; docs/x/index.md at x/; docs/index.md at the root."""
    relative = page.relative_to(DOCS).with_suffix("")
    if relative.name == "index":
        relative = relative.parent
    return "" if str(relative) == "." else relative.as_posix() + "/"


def built_html(site: Path, page: Path) -> str:
    """The HTML that `mkdocs build` wrote for a Markdown page."""
    return (site / url_path(page) / "index.html").read_text(encoding="utf-8")


@functools.cache
def mkdocs_config():
    return load_config(str(ROOT / "mkdocs.yml"))


@functools.cache
def _snippet_preprocessor():
    """pymdownx.snippets configured as in mkdocs.yml, minus the glossary auto-append."""
    options = dict(mkdocs_config().mdx_configs["pymdownx.snippets"])
    options.pop("auto_append", None)
    md = markdown.Markdown(
        extensions=["pymdownx.snippets"],
        extension_configs={"pymdownx.snippets": options},
    )
    return md.preprocessors["snippet"]


def expand_includes(source: str) -> str:
    """Replace every `--8<--` line of a code block with the lines it includes."""
    lines = _snippet_preprocessor().run(source.splitlines())
    return "\n".join(lines).strip("\n") + "\n"


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_includes" not in p.parts)


def topic_pages() -> list[Path]:
    """Pages that teach one mechanism: every page of a layer except its index."""
    return [
        p
        for p in pages()
        if p.relative_to(DOCS).parts[0] in LAYERS and p.name != "index.md"
    ] + [DOCS / "journey.md"]


def included_files() -> set[str]:
    found: set[str] = set()
    for page in pages():
        found.update(INCLUDE.findall(page.read_text(encoding="utf-8")))
    return found


def snippet_modules() -> list[str]:
    """Dotted names of every topic module under snippets/ (not packages, not private)."""
    names = []
    for path in sorted(SNIPPETS.rglob("*.py")):
        if path.name == "__init__.py" or path.name.startswith("_"):
            continue
        names.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return names


def snippet_packages() -> list[str]:
    return [
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in sorted(SNIPPETS.rglob("__init__.py"))
    ]


def nav_pages() -> set[str]:
    found: set[str] = set()

    def walk(item: object) -> None:
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(mkdocs_config()["nav"])
    return found
