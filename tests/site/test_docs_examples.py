"""Every Python code block in docs/ is linted, run, and its printed output checked.

A page's blocks run in order in one namespace, as a reader pastes them into one REPL session:
a later block may use what an earlier one defined. `--8<--` includes are expanded first with
the same pymdownx.snippets settings as the site build, so the code checked is the code shown.

A block is skipped only by an explicit setting in its fence that says why, in the braces
form (with this site's superfences settings, `python test="skip"` without braces is not
read as a Python fence, and the page renders wrongly from there on):

    ```{.python test="skip" reason="needs a network connection"}

Only Python blocks are run; `pycon` (REPL transcripts) blocks are refused: write the output as
`#>` comments under the print instead.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples

from tests.site.docs_tools import DOCS, expand_includes, page_id

# The lint rules of pyproject.toml, less the two that cannot hold for one block of a page read
# alone: a block may use names an earlier block defined (F821) and import for a later block
# (F401). An undefined name still fails, when the block runs.
EXAMPLE_RUFF_IGNORE = ["F821", "F401"]

PAGES = sorted(p for p in DOCS.rglob("*.md") if "_includes" not in p.parts)


def python_examples(page: Path) -> list[CodeExample]:
    return list(find_examples(page))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_code_blocks_lint_run_and_print_what_they_show(
    page: Path, eval_example: EvalExample
) -> None:
    eval_example.set_config(
        line_length=88,
        target_version="py311",
        ruff_ignore=EXAMPLE_RUFF_IGNORE,
    )
    namespace: dict[str, object] = {}
    for example in python_examples(page):
        assert not example.prefix.startswith("pycon"), (
            f"{example}: pycon blocks are not run; show output as #> comments instead"
        )
        settings = example.prefix_settings()
        if settings.get("test") == "skip":
            assert settings.get("reason"), (
                f'{example}: test="skip" needs a reason="..."'
            )
            continue
        expanded = dataclasses.replace(example, source=expand_includes(example.source))
        assert "--8<--" not in expanded.source, f"{example}: include not expanded"
        if settings.get("lint") != "skip":
            eval_example.lint_ruff(expanded)
        namespace.update(
            eval_example.run_print_check(expanded, module_globals=namespace)
        )


def test_every_page_with_python_has_its_blocks_found() -> None:
    """Guards the test above: if fences stopped being found, it would pass on nothing."""
    journey = DOCS / "journey.md"
    examples = python_examples(journey)
    assert len(examples) == 3
    assert all("--8<--" in e.source for e in examples)
    expanded = expand_includes(examples[0].source)
    assert "class HelloHandler" in expanded
    assert "[start:" not in expanded, "section markers must be stripped"


def test_a_block_that_prints_something_else_fails(eval_example: EvalExample) -> None:
    """The output check is real: a wrong #> line fails the run."""
    example = CodeExample.create('print("ok")\n#> not ok\n', path=Path("fake.md"))
    with pytest.raises(pytest.fail.Exception, match="Print output changed"):
        eval_example.run_print_check(example)


COLLAPSED = re.compile(r"^(?P<indent> *)\?\?\? ", re.M)  # "???+" starts open


def collapsed_python_blocks(text: str) -> list[int]:
    """Line numbers of Python blocks inside a collapsed `???` admonition."""
    found = []
    lines = text.splitlines()
    for match in COLLAPSED.finditer(text):
        start = text.count("\n", 0, match.start())
        inside = len(match["indent"]) + 4  # the admonition's content is indented
        for number, line in enumerate(lines[start + 1 :], start + 2):
            if line.strip() and len(line) - len(line.lstrip()) < inside:
                break
            if line.strip().startswith("```py"):
                found.append(number)
    return found


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_python_block_is_hidden_in_a_collapsed_admonition(page: Path) -> None:
    """A reader pastes the blocks they can see, in order; the test above runs every block
    in order. The two agree only if no block is hidden in a closed `???` (use `???+`)."""
    assert collapsed_python_blocks(page.read_text(encoding="utf-8")) == []


def test_a_block_in_a_collapsed_admonition_is_found() -> None:
    text = 'Text\n\n??? note "More"\n    ```python\n    x = 1\n    ```\n\nAfter\n'
    assert collapsed_python_blocks(text) == [4]
    assert collapsed_python_blocks(text.replace("??? ", "???+ ")) == []
