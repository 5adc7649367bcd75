"""The decoding part's claims: bytes become a JSON value within limits, or a 400.

Oracle: Python's own `json` module, for the values we read back and for the nesting
depth we count without recursion (`depth_of`, a recursive count of what it parses).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from snippets.application.validation import json_decoding as decoding
from snippets.application.validation.problem_details import Problem
from tests.application.validation.validation_helpers import json_values


def depth_of(value: object) -> int:
    """Nesting depth of a parsed JSON value, recursively: the oracle for ours."""
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


# --- Decoding: bytes to a JSON value, within limits ------------------------------------


@settings(max_examples=100)
@given(json_values)
def test_nesting_depth_agrees_with_a_recursive_count_of_what_json_parses(value) -> None:
    """Brackets and quotes inside strings (escaped or not) do not fool the count."""
    text = json.dumps(value, ensure_ascii=False)
    assert decoding.nesting_depth(text) == depth_of(json.loads(text))


@settings(max_examples=100)
@given(json_values)
def test_decode_json_reads_what_json_dumps_writes(value) -> None:
    assert decoding.decode_json(json.dumps(value).encode()) == value


def test_deep_nesting_that_crashes_json_loads_is_a_400() -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises(Problem) as caught:
        decoding.decode_json(deep.encode())
    assert caught.value.status == 400


def test_the_depth_limit_is_exact() -> None:
    at_limit = "[" * decoding.MAX_DEPTH + "]" * decoding.MAX_DEPTH
    assert decoding.decode_json(at_limit.encode()) is not None
    with pytest.raises(Problem, match="nested deeper"):
        decoding.decode_json(("[" + at_limit + "]").encode())


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"a": 1, "a": 2}', "same member name twice"),
        (b"[NaN]", "NaN is not a JSON number"),
        (b"[Infinity]", "Infinity is not"),
        (b"[-Infinity]", "-Infinity is not"),
        (b'"\xff"', "not UTF-8 at byte 1"),
        (b"\xef\xbb\xbf{}", "BOM"),  # RFC 8259 8.1: senders MUST NOT add one
        (b"1" * 5000, "too many digits"),  # Python refuses > 4300 digits
        (b"", "Expecting value"),
        (b"{} {}", "Extra data"),
        (b"[1,]", "Expecting value"),
    ],
)
def test_unreadable_json_is_a_400_that_says_why(body: bytes, detail: str) -> None:
    with pytest.raises(Problem, match=detail) as caught:
        decoding.decode_json(body)
    assert (caught.value.status, caught.value.kind) == (400, "malformed-json")


def test_digit_limit_detail_leaks_no_python_internals() -> None:
    with pytest.raises(Problem) as caught:
        decoding.decode_json(b"1" * 5000)
    assert "sys." not in caught.value.detail
