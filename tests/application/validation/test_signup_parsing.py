"""The parsing part's claims: parse, don't validate; a 422 locates every error.

Oracles: generated valid documents, which must parse and round-trip through
`signup_json`; generated documents with one change that breaks them, whose every
pointer must resolve (`resolve` in validation_helpers.py, written from RFC 6901) to
the value it complains about.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings

from snippets.application.validation import signup_parsing as parsing
from snippets.application.validation.problem_details import Problem
from tests.application.validation.validation_helpers import (
    invalid_documents,
    resolve,
    valid_documents,
)

# --- Parsing: a JSON value to a SignUp, or 422 with every error ------------------------


def normalised(document: dict) -> dict:
    """What signup_json gives back: domain in lower case, tags always present."""
    local, _, domain = document["email"].rpartition("@")
    return {
        **document,
        "email": f"{local}@{domain.lower()}",
        "tags": document.get("tags", []),
    }


@settings(max_examples=100)
@given(valid_documents)
def test_valid_documents_parse_into_a_signup_and_round_trip(document) -> None:
    signup = parsing.parse_signup(document)
    assert isinstance(signup, parsing.SignUp)
    assert isinstance(signup.email, parsing.Email)
    assert parsing.signup_json(signup) == normalised(document)
    assert (
        parsing.parse_signup(json.loads(json.dumps(parsing.signup_json(signup))))
        == signup
    )


def test_a_signup_cannot_be_changed_after_parsing() -> None:
    signup = parsing.parse_signup({"email": "a@b.c", "name": "A", "age": 20})
    with pytest.raises(dataclasses.FrozenInstanceError):
        signup.age = 12  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (True, "must be an integer"),  # bool is a subclass of int in Python
        (36.0, "must be an integer"),
        ("36", "must be an integer"),
        (None, "must be an integer"),
        (12, "must be from 13 to 130"),
        (131, "must be from 13 to 130"),
    ],
)
def test_age_accepts_only_whole_numbers_in_range(value: object, detail: str) -> None:
    with pytest.raises(Problem) as caught:
        parsing.parse_signup({"email": "a@b.c", "name": "A", "age": value})
    assert caught.value.errors == [{"pointer": "/age", "detail": detail}]


@pytest.mark.parametrize(
    "address",
    [
        "user@example.com",
        "first.last+tag@sub.example.co",
        "x@localhost",  # the WHATWG shape allows a one-label domain
        "a" * 64 + "@example.com",
    ],
)
def test_email_shapes_that_pass(address: str) -> None:
    assert str(parsing.email(address)) == address


@pytest.mark.parametrize(
    "address",
    [
        "",
        "plain",
        "@example.com",
        "user@",
        "user@-example.com",
        "user@example-.com",
        "user@exa mple.com",
        '"quoted"@example.com',  # RFC 5322 allows it; the WHATWG shape does not
        "a" * 65 + "@example.com",  # RFC 5321 4.5.3.1.1: local part <= 64 octets
        "a@" + ".".join(["b" * 60] * 5),  # over 254 characters in all
        "ü@example.com",
    ],
)
def test_email_shapes_that_fail(address: str) -> None:
    with pytest.raises(parsing.Invalid):
        parsing.email(address)


def test_email_keeps_the_local_part_case_and_lowers_the_domain() -> None:
    assert str(parsing.email("Ada.L@Example.ORG")) == "Ada.L@example.org"


@pytest.mark.parametrize(
    ("document", "errors"),
    [
        ([], [("", "must be an object")]),
        (
            {},
            [
                ("/email", "is required"),
                ("/name", "is required"),
                ("/age", "is required"),
            ],
        ),
        (
            {"email": "a@b.c", "name": "\ud800", "age": 20},
            [("/name", "must be printable text")],
        ),
        (
            {"email": "a@b.c", "name": "tab\there", "age": 20},
            [("/name", "must be printable text")],
        ),
        (
            {"email": "a@b.c", "name": "A", "age": 20, "a/b": 1, "m~n": 2},
            [("/a~1b", "is not a known field"), ("/m~0n", "is not a known field")],
        ),
        (
            {"email": "a@b.c", "name": "A", "age": 20, "tags": ["x", "x"]},
            [("/tags", "must not repeat an item")],
        ),
        (
            {"email": "a@b.c", "name": "A", "age": 20, "tags": list("abcdef")},
            [("/tags", "must have at most 5 items")],
        ),
        (
            {"email": "a@b.c", "name": "A", "age": 20, "tags": "x"},
            [("/tags", "must be an array")],
        ),
        (
            {"email": "a@b.c", "name": 42, "age": 20, "tags": ["ok", 5, "Bad!"]},
            [
                ("/name", "must be a string"),
                ("/tags/1", "must be a string"),
                ("/tags/2", "must match [a-z0-9-]+"),
            ],
        ),
        (
            {"email": "a@b.c", "name": "", "age": 20, "address": {"postcode": "ab"}},
            [
                ("/name", "must be 1 to 80 characters"),
                ("/address/city", "is required"),
                ("/address/postcode", "must be 3 to 10 characters"),
            ],
        ),
    ],
)
def test_every_error_is_reported_with_its_pointer(document, errors) -> None:
    with pytest.raises(Problem) as caught:
        parsing.parse_signup(document)
    problem = caught.value
    assert problem.status == 422
    assert problem.errors == [{"pointer": p, "detail": d} for p, d in errors]
    assert problem.detail == f"{len(errors)} field(s) need attention"


@settings(max_examples=100)
@given(invalid_documents())
def test_invalid_documents_are_422_and_every_pointer_locates_its_value(
    document,
) -> None:
    with pytest.raises(Problem) as caught:
        parsing.parse_signup(document)
    assert caught.value.status == 422
    assert caught.value.errors
    for error in caught.value.errors:
        if error["detail"] != "is required":
            resolve(document, error["pointer"])  # raises if it points nowhere
