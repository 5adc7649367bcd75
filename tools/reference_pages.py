"""MkDocs hook: the API reference, one page per snippet module, generated at build time.

One page per layer listed every module of the layer, up to 57,000 px tall. Instead:
- each module of `snippets/` gets its own page, reference/<layer>/<module>.md (a package
  gets reference/<layer>/<package>/index.md, with its modules listed), rendered by
  mkdocstrings, with links back to the pages that teach it;
- each layer's reference page lists its modules with the first line of their docstring
  (the `<!-- modules -->` line in docs/reference/<layer>.md);
- each topic page links to the reference pages of the modules it includes;
- in a reference page, a docstring's `docs/x/y.md` and `snippets.x.y` become links.

Nothing is written to docs/: the pages are virtual files (MkDocs' File.generated), each
backed by a file in .cache/reference/ whose time is that of its newest input, so that
`make serve`'s dirty rebuilds render a module's reference again only when the module
or the page changed (a virtual file held in memory counts as changed on every save).
"""

from __future__ import annotations

import ast
import functools
import os
import posixpath
import re
import tempfile
from pathlib import Path, PurePosixPath

from mkdocs.structure.files import File
from project_layout import INCLUDE, ROOT

SNIPPETS = ROOT / "snippets"
DOCS = ROOT / "docs"
CACHE = ROOT / ".cache" / "reference"
MODULES_PLACEHOLDER = "<!-- modules -->"
FRONT_MATTER = """---
# The reference mentions every term; the pages that explain it come first in search.
search:
  boost: 0.1
---
"""


def dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def reference_uri(module: str) -> str:
    """snippets.a.b -> reference/a/b.md; a package -> reference/a/b/index.md."""
    rest = module.split(".")[1:]
    path = SNIPPETS.joinpath(*rest)
    if path.is_dir() and len(rest) == 1:
        return f"reference/{rest[0]}.md"  # a layer: its page lists its modules
    if path.is_dir():
        return "/".join(["reference", *rest, "index.md"])
    return "/".join(["reference", *rest]) + ".md"


@functools.cache
def modules() -> dict[str, Path]:
    """Every module and package under snippets/ (the root package aside), by name."""
    found = {}
    for path in sorted(SNIPPETS.rglob("*.py")):
        name = dotted(path)
        if name != "snippets":
            found[name] = path
    return found


def summary(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = docstring.split("\n\n", 1)[0]
    return " ".join(first.split())


@functools.cache
def teaching_pages() -> dict[str, list[tuple[str, str]]]:
    """Module name -> the pages that include it: (src_uri, title)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        title = re.search(r"^# (.+)$", text, re.M)
        uri = page.relative_to(DOCS).as_posix()
        for included in dict.fromkeys(INCLUDE.findall(text)):
            name = dotted(ROOT / included)
            found.setdefault(name, []).append((uri, title[1] if title else uri))
    return found


def link(from_uri: str, to_uri: str) -> str:
    """A Markdown link target from one page's source path to another's."""
    return posixpath.relpath(to_uri, posixpath.dirname(from_uri) or ".")


def children(package: str) -> list[str]:
    prefix = package + "."
    return [
        m for m in modules() if m.startswith(prefix) and "." not in m[len(prefix) :]
    ]


def module_page(name: str) -> str:
    uri = reference_uri(name)
    taught = teaching_pages().get(name, [])
    lines = [FRONT_MATTER, f"# `{name}`", ""]
    if taught:
        pages = ", ".join(f"[{title}]({link(uri, page)})" for page, title in taught)
        lines += [f"Taught on: {pages}.", ""]
    parts = children(name)
    if parts:
        lines += ["Modules:", ""]
        lines += [
            f"- [`{m}`]({link(uri, reference_uri(m))}): {summary(modules()[m])}"
            for m in parts
        ]
        lines.append("")
    lines += [
        f"::: {name}",
        "    options:",
        "      show_root_heading: false",
        "      show_submodules: false",
        "",
    ]
    return "\n".join(lines)


def on_files(files, config):
    for name in modules():
        if (DOCS / reference_uri(name)).is_file():
            continue  # a layer: docs/reference/<layer>.md lists its modules
        uri = reference_uri(name)
        backing = backing_file(uri, module_page(name), modules()[name])
        files.append(File.generated(config, uri, abs_src_path=str(backing)))
    return files


def backing_file(uri: str, content: str, module: Path) -> Path:
    """The page's Markdown in .cache/reference/, rewritten only when it changes
    (atomically: builds may run side by side), and dated like its newest input."""
    path = CACHE / uri
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != content:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, delete=False
        ) as temporary:
            temporary.write(content)
        os.replace(temporary.name, path)
    newest = max(path.stat().st_mtime, module.stat().st_mtime)
    os.utime(path, (newest, newest))
    return path


def layer_list(src_uri: str, layer: str) -> str:
    listed = "\n".join(
        f"- [`{m}`]({link(src_uri, reference_uri(m))}): {summary(modules()[m])}"
        for m in children(f"snippets.{layer}")
    )
    return listed or "No module yet: the chapter is in preparation."


def on_page_markdown(markdown: str, page, config, files) -> str:
    src_uri = page.file.src_uri
    if MODULES_PLACEHOLDER in markdown:
        layer = PurePosixPath(src_uri).stem
        return markdown.replace(MODULES_PLACEHOLDER, layer_list(src_uri, layer))
    if src_uri.startswith("reference/"):
        return markdown
    included = [dotted(ROOT / s) for s in dict.fromkeys(INCLUDE.findall(markdown))]
    if not included:
        return markdown
    targets = ", ".join(
        f"[`{name}`]({link(src_uri, reference_uri(name))})" for name in included
    )
    return markdown + f"\n\nThe API reference of the code on this page: {targets}.\n"


CODE = re.compile(
    r"(<a\b[^>]*>.*?</a>)|<code>((?:docs/[\w/.-]+\.md)|(?:snippets(?:\.\w+)+)|(?:snippets/[\w/]+(?:\.py|/)))</code>",
    re.S,
)


def on_page_content(html: str, page, config, files) -> str:
    """In a reference page, a docstring's `docs/...md` and `snippets.x` are links."""
    if not page.file.src_uri.startswith("reference/"):
        return html

    def linked(match: re.Match) -> str:
        if match[1]:  # already a link
            return match[0]
        target = match[2]
        if target.startswith("docs/"):
            uri = target.removeprefix("docs/")
            if not (DOCS / uri).is_file():
                return match[0]
        elif target.startswith("snippets/"):
            name = target.removesuffix("/").removesuffix(".py").replace("/", ".")
            if name not in modules():
                return match[0]
            uri = reference_uri(name)
        elif target in modules():
            uri = reference_uri(target)
        else:
            return match[0]
        target_file = files.get_file_from_path(uri)
        if target_file is None or target_file.url == page.url:
            return match[0]
        url = target_file.url  # "data/isolation/", "" for the home page
        href = posixpath.relpath(url or ".", page.url or ".")
        if url.endswith("/") and href != ".":
            href += "/"
        return f'<a href="{href}">{match[0]}</a>'

    return CODE.sub(linked, html)
