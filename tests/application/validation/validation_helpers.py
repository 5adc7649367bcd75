"""Oracles and strategies that the validation parts' tests share (no fixtures here).

- `PROBLEM_VALIDATOR`: the JSON Schema of RFC 9457 Appendix A, for the problem documents
  of `problem_details` and of the endpoint.
- `resolve`: an RFC 6901 resolver written from the RFC, the oracle for the pointers of
  `problem_details` and of the 422s of `signup_parsing`.
- `json_values`, `valid_documents`, `invalid_documents`: Hypothesis strategies for the
  decoder, the parser and the endpoint.
"""

from __future__ import annotations

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

# RFC 9457 Appendix A: the (non-normative) JSON Schema of a problem details object.
PROBLEM_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "format": "uri-reference"},
    },
}
PROBLEM_VALIDATOR = Draft202012Validator(
    PROBLEM_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)


def resolve(document: object, pointer: str) -> object:
    """RFC 6901 section 4, written from the RFC: the oracle for our pointers."""
    if pointer == "":
        return document
    assert pointer.startswith("/")
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(document, list):
            assert token.isdigit()
            assert token == "0" or not token.startswith("0")
            document = document[int(token)]
        else:
            assert isinstance(document, dict)
            document = document[token]
    return document


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
printable = st.text(
    st.characters(categories=["L", "N", "P", "S"]) | st.just(" "),
    min_size=1,
    max_size=20,
)
labels = st.text(ALNUM, min_size=1, max_size=8) | st.builds(
    "{}-{}".format, st.text(ALNUM, min_size=1, max_size=4), st.text(ALNUM, min_size=1)
)
emails = st.builds(
    "{}@{}".format,
    st.text(ALNUM + ".!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=20),
    st.lists(labels, min_size=1, max_size=3).map(".".join),
)
postcodes = st.builds(
    "{}{}{}".format,
    st.sampled_from(UPPER),
    st.text(UPPER + " -", min_size=1, max_size=8),
    st.sampled_from(UPPER),
)
valid_documents = st.fixed_dictionaries(
    {"email": emails, "name": printable, "age": st.integers(13, 130)},
    optional={
        "tags": st.lists(
            st.text("abcxyz0189-", min_size=1, max_size=20), max_size=5, unique=True
        ),
        "address": st.fixed_dictionaries({"city": printable, "postcode": postcodes}),
    },
)

KNOWN = ("email", "name", "age", "tags", "address")
WRONG_TYPES = {  # a JSON value of a type the field can never accept
    "email": st.integers() | st.booleans() | st.none() | st.lists(st.integers()),
    "name": st.integers() | st.none() | st.dictionaries(st.text(), st.integers()),
    "age": st.text() | st.none() | st.booleans() | st.floats(allow_nan=False),
    "tags": st.text() | st.integers() | st.dictionaries(st.text(), st.integers()),
    "address": st.text() | st.integers() | st.lists(st.integers()),
}


@st.composite
def invalid_documents(draw) -> dict:
    """A valid document with one change that always breaks it."""
    document = dict(draw(valid_documents))
    change = draw(st.sampled_from(["unknown", "drop", "retype"]))
    if change == "unknown":
        document[draw(st.text().filter(lambda k: k not in KNOWN))] = draw(json_values)
    elif change == "drop":
        del document[draw(st.sampled_from(["email", "name", "age"]))]
    else:
        field = draw(st.sampled_from(KNOWN))
        value = draw(WRONG_TYPES[field])
        if field == "age" and isinstance(value, float) and value.is_integer():
            value += 0.5  # 36.0 is still refused, but make the point plainly
        document[field] = value
    return document
