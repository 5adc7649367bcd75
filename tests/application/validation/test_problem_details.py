"""The problem details part's claims: RFC 9457 documents and RFC 6901 pointers.

Oracles: the JSON Schema for problem details in RFC 9457 Appendix A (checked with the
`jsonschema` library, `PROBLEM_VALIDATOR` in validation_helpers.py), and the examples
of RFC 6901 section 5 for our JSON Pointers, read back by a resolver written from the
RFC (`resolve`, same file).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application.validation import problem_details as problems
from tests.application.validation.validation_helpers import PROBLEM_VALIDATOR, resolve

# --- Problem details (RFC 9457) -------------------------------------------------------


def test_problem_response_has_the_rfc_9457_members_and_fits_appendix_a() -> None:
    errors = [{"pointer": "/age", "detail": "must be an integer"}]
    response = problems.Problem(
        "invalid-input", "1 field(s) need attention", errors
    ).response()
    assert response.status == 422
    assert response.header("Content-Type") == "application/problem+json"
    document = response.json()
    PROBLEM_VALIDATOR.validate(document)
    assert document["type"] == problems.PROBLEM_BASE + "invalid-input"
    assert document["status"] == 422  # RFC 9457 3.1.2: the same as the status line
    assert document["title"] == "The input breaks the rules"
    assert document["detail"] == "1 field(s) need attention"
    assert document["instance"].startswith("urn:uuid:")
    assert document["errors"] == errors


def test_every_occurrence_gets_its_own_instance_but_the_title_stays() -> None:
    first = problems.Problem("malformed-json", "a").response().json()
    second = problems.Problem("malformed-json", "b").response().json()
    assert first["instance"] != second["instance"]
    assert first["title"] == second["title"]  # RFC 9457 3.1.3: SHOULD NOT change


def test_a_bare_status_is_about_blank_with_the_status_phrase_as_title() -> None:
    response = problems.Problem(404, "nothing here").response([("X-Extra", "1")])
    document = response.json()
    assert (document["type"], document["title"]) == ("about:blank", "Not Found")
    assert "errors" not in document
    assert response.header("X-Extra") == "1"


def test_every_problem_type_documents_a_4xx_status() -> None:
    assert all(400 <= status < 500 for status, _ in problems.PROBLEM_TYPES.values())


# --- JSON Pointer (RFC 6901) -----------------------------------------------------------

RFC_6901_DOCUMENT = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}
RFC_6901_TABLE = [  # RFC 6901 section 5, the JSON string representation
    ((), "", RFC_6901_DOCUMENT),
    (("foo",), "/foo", ["bar", "baz"]),
    (("foo", 0), "/foo/0", "bar"),
    (("",), "/", 0),
    (("a/b",), "/a~1b", 1),
    (("c%d",), "/c%d", 2),
    (("e^f",), "/e^f", 3),
    (("g|h",), "/g|h", 4),
    (("i\\j",), "/i\\j", 5),
    (('k"l',), '/k"l', 6),
    ((" ",), "/ ", 7),
    (("m~n",), "/m~0n", 8),
]


@pytest.mark.parametrize(("tokens", "pointer", "value"), RFC_6901_TABLE)
def test_json_pointer_matches_every_example_of_rfc_6901(tokens, pointer, value) -> None:
    assert problems.json_pointer(*tokens) == pointer
    assert resolve(RFC_6901_DOCUMENT, pointer) == value


@settings(max_examples=100)
@given(st.lists(st.text(max_size=6) | st.integers(0, 3), max_size=5), st.integers())
def test_a_pointer_to_any_path_finds_the_value_there(path, leaf) -> None:
    document: object = leaf
    for token in reversed(path):  # build a document that has `leaf` at `path`
        document = (
            [None] * token + [document] if isinstance(token, int) else {token: document}
        )
    assert resolve(document, problems.json_pointer(*path)) == leaf
