"""What the {{title}} page claims, asserted. Name each test after a claim of the page."""

from snippets.{{layer}} import {{topic}}


def test_mechanism_adds_the_items() -> None:
    assert {{topic}}.mechanism([1, 2, 3]) == 6


def test_mechanism_of_nothing_is_zero() -> None:
    assert {{topic}}.mechanism([]) == 0
