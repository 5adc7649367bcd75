"""The shape of `snippets/`: imports go one way, and docstrings point at things that exist.

Layers import downward only: communication <- application <- reliability, performance,
observability <- capstone (data sits beside application and may use it). A page that
needs a server imports the application core instead of copying it, and a later layer
extends the core instead of growing a second one. Every "Read first" in a module
docstring names a page or a module that exists, so a reader who follows it lands
somewhere.
"""

from __future__ import annotations

import ast
import re

import pytest

from tests.site.docs_tools import ROOT

SNIPPETS = ROOT / "snippets"
DOCS = ROOT / "docs"

# Which snippet layers each layer may import from (itself included).
BASE = {"communication"}
ALLOWED: dict[str, set[str]] = {
    "communication": BASE,
    "application": BASE | {"application"},
    "data": BASE | {"application", "data"},
    "reliability": BASE | {"application", "data", "reliability"},
    "performance": BASE | {"application", "data", "performance"},
    "observability": BASE | {"application", "data", "observability"},
    "capstone": BASE
    | {
        "application",
        "data",
        "reliability",
        "performance",
        "observability",
        "capstone",
    },
    "journey": BASE | {"journey"},
}


def layer_of(module: str) -> str:
    """`snippets.application.routing` -> "application"; `snippets.journey` -> "journey"."""
    return module.split(".")[1]


def snippet_imports(path) -> list[tuple[int, str]]:
    """Every `snippets.*` module a file imports, with the line it is imported on."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: use absolute imports")
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.startswith("snippets.")]
    return found


def module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULE_FILES = sorted(SNIPPETS.rglob("*.py"))


@pytest.mark.parametrize(
    "path", MODULE_FILES, ids=[str(p.relative_to(ROOT)) for p in MODULE_FILES]
)
def test_snippets_import_only_downward_or_within_their_layer(path) -> None:
    name = module_name(path)
    if name == "snippets":
        return  # the package's own __init__ imports nothing
    layer = layer_of(name)
    assert layer in ALLOWED, f"{name}: a new layer must be added to ALLOWED"
    wrong = [
        f"line {line}: {target}"
        for line, target in snippet_imports(path)
        if layer_of(target) not in ALLOWED[layer]
    ]
    assert not wrong, f"{name} ({layer}) imports upward or sideways: {wrong}"


def test_the_import_check_catches_an_upward_import(tmp_path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from snippets.application.app_core import serving\n")
    (target,) = snippet_imports(module)
    assert layer_of(target[1]) not in ALLOWED["communication"]


def test_application_pages_build_on_the_core_not_on_their_own_server() -> None:
    """The issue's measured outcome: one handler contract, no stdlib server plumbing."""
    plumbing = re.compile(r"BaseHTTPRequestHandler|ThreadingHTTPServer|socketserver\.")
    offenders = [
        path.name
        for path in sorted((SNIPPETS / "application").rglob("*.py"))
        if "socket_to_handler" not in path.parts  # its subject is the server itself
        and path.stem != "socket_to_handler"
        and plumbing.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# --- "Read first" and friends: every reference resolves --------------------------------


def page_names() -> set[str]:
    """Every page by its title and by its file name, normalised for matching."""
    names = set()
    for page in DOCS.rglob("*.md"):
        names.add(normalise(page.stem))
        title = re.search(r"^# (.+)$", page.read_text(encoding="utf-8"), re.M)
        if title:
            names.add(normalise(title.group(1)))
    return names


def normalise(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.lower()).strip()


def references(docstring: str) -> list[str]:
    """What the "Read first:" paragraph of a docstring points at."""
    match = re.search(r"Read first:(.*?)(?:\n\s*\n|$)", docstring, re.S)
    return [] if match is None else [" ".join(match.group(1).split())]


def page_mentions(text: str) -> list[str]:
    """`the routing page` -> ["routing"]; `the HTTP/1.1 messages page` too."""
    return re.findall(r"\bthe ([\w/.\- ]+?) page\b", text)


def resolves(mention: str, names: set[str]) -> bool:
    wanted = normalise(mention)
    return any(name == wanted or name.startswith(wanted + " ") for name in names)


DOCSTRINGS = {
    module_name(path): ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    or ""
    for path in MODULE_FILES
}


@pytest.mark.parametrize("name", sorted(DOCSTRINGS))
def test_read_first_names_pages_and_files_that_exist(name: str) -> None:
    names = page_names()
    modules = {module.rsplit(".", 1)[-1] for module in DOCSTRINGS}
    for paragraph in references(DOCSTRINGS[name]):
        for mention in page_mentions(paragraph):
            assert resolves(mention, names), f"{name}: no page called {mention!r}"
        for path in re.findall(r"`?((?:snippets|docs)/[\w/.\-]+)`?", paragraph):
            assert (ROOT / path.rstrip(".")).exists(), f"{name}: {path} does not exist"
        for module in re.findall(r"`(\w+)` in this package", paragraph):
            assert module in modules, f"{name}: no module {module}"


def test_the_reference_check_refuses_a_page_that_does_not_exist() -> None:
    assert resolves("routing", page_names())
    assert resolves("HTTP/1.1 messages", page_names())
    assert not resolves("flux capacitors", page_names())


def test_builds_on_claims_are_real_imports() -> None:
    """A docstring that says it builds on a module imports that module."""
    for path in MODULE_FILES:
        docstring = DOCSTRINGS[module_name(path)]
        imported = {target for _, target in snippet_imports(path)}
        for claimed in re.findall(r"builds on `(snippets\.[\w.]+)`", docstring):
            assert claimed in imported, f"{path.name} claims to build on {claimed}"
