"""The validation page's claims: parse, don't validate; 4xx problem details, never a 500.

Oracles: the JSON Schema for problem details in RFC 9457 Appendix A (checked with the
`jsonschema` library) for every error document the server sends; the examples of
RFC 6901 section 5 for our JSON Pointers; Python's own `json` module for the nesting
depth we count without recursion; and the shared test client and raw sockets on
loopback, which send the real server (the application core's) random bytes, random
JSON, mutated documents and deep nesting. Framing (Content-Length, chunked, 408, 413
for an announced length) is tested once for every server, in tests/test_bad_framing.py.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from snippets.application import validation as v
from snippets.application.app_core import serving
from tests.helpers import Reply, http_request, raw_exchange

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


def depth_of(value: object) -> int:
    """Nesting depth of a parsed JSON value, recursively: the oracle for ours."""
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


# --- Problem details (RFC 9457) -------------------------------------------------------


def test_problem_response_has_the_rfc_9457_members_and_fits_appendix_a() -> None:
    errors = [{"pointer": "/age", "detail": "must be an integer"}]
    response = v.Problem(
        "invalid-input", "1 field(s) need attention", errors
    ).response()
    assert response.status == 422
    assert response.header("Content-Type") == "application/problem+json"
    document = response.json()
    PROBLEM_VALIDATOR.validate(document)
    assert document["type"] == v.PROBLEM_BASE + "invalid-input"
    assert document["status"] == 422  # RFC 9457 3.1.2: the same as the status line
    assert document["title"] == "The input breaks the rules"
    assert document["detail"] == "1 field(s) need attention"
    assert document["instance"].startswith("urn:uuid:")
    assert document["errors"] == errors


def test_every_occurrence_gets_its_own_instance_but_the_title_stays() -> None:
    first = v.Problem("malformed-json", "a").response().json()
    second = v.Problem("malformed-json", "b").response().json()
    assert first["instance"] != second["instance"]
    assert first["title"] == second["title"]  # RFC 9457 3.1.3: SHOULD NOT change


def test_a_bare_status_is_about_blank_with_the_status_phrase_as_title() -> None:
    response = v.Problem(404, "nothing here").response([("X-Extra", "1")])
    document = response.json()
    assert (document["type"], document["title"]) == ("about:blank", "Not Found")
    assert "errors" not in document
    assert response.header("X-Extra") == "1"


def test_every_problem_type_documents_a_4xx_status() -> None:
    assert all(400 <= status < 500 for status, _ in v.PROBLEM_TYPES.values())


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
    assert v.json_pointer(*tokens) == pointer
    assert resolve(RFC_6901_DOCUMENT, pointer) == value


@settings(max_examples=100)
@given(st.lists(st.text(max_size=6) | st.integers(0, 3), max_size=5), st.integers())
def test_a_pointer_to_any_path_finds_the_value_there(path, leaf) -> None:
    document: object = leaf
    for token in reversed(path):  # build a document that has `leaf` at `path`
        document = (
            [None] * token + [document] if isinstance(token, int) else {token: document}
        )
    assert resolve(document, v.json_pointer(*path)) == leaf


# --- Decoding: bytes to a JSON value, within limits ------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=100)
@given(json_values)
def test_nesting_depth_agrees_with_a_recursive_count_of_what_json_parses(value) -> None:
    """Brackets and quotes inside strings (escaped or not) do not fool the count."""
    text = json.dumps(value, ensure_ascii=False)
    assert v.nesting_depth(text) == depth_of(json.loads(text))


@settings(max_examples=100)
@given(json_values)
def test_decode_json_reads_what_json_dumps_writes(value) -> None:
    assert v.decode_json(json.dumps(value).encode()) == value


def test_deep_nesting_that_crashes_json_loads_is_a_400() -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises(v.Problem) as caught:
        v.decode_json(deep.encode())
    assert caught.value.status == 400


def test_the_depth_limit_is_exact() -> None:
    at_limit = "[" * v.MAX_DEPTH + "]" * v.MAX_DEPTH
    assert v.decode_json(at_limit.encode()) is not None
    with pytest.raises(v.Problem, match="nested deeper"):
        v.decode_json(("[" + at_limit + "]").encode())


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
    with pytest.raises(v.Problem, match=detail) as caught:
        v.decode_json(body)
    assert (caught.value.status, caught.value.kind) == (400, "malformed-json")


def test_digit_limit_detail_leaks_no_python_internals() -> None:
    with pytest.raises(v.Problem) as caught:
        v.decode_json(b"1" * 5000)
    assert "sys." not in caught.value.detail


# --- Parsing: a JSON value to a SignUp, or 422 with every error ------------------------

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
    signup = v.parse_signup(document)
    assert isinstance(signup, v.SignUp)
    assert isinstance(signup.email, v.Email)
    assert v.signup_json(signup) == normalised(document)
    assert v.parse_signup(json.loads(json.dumps(v.signup_json(signup)))) == signup


def test_a_signup_cannot_be_changed_after_parsing() -> None:
    signup = v.parse_signup({"email": "a@b.c", "name": "A", "age": 20})
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
    with pytest.raises(v.Problem) as caught:
        v.parse_signup({"email": "a@b.c", "name": "A", "age": value})
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
    assert str(v.email(address)) == address


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
    with pytest.raises(v.Invalid):
        v.email(address)


def test_email_keeps_the_local_part_case_and_lowers_the_domain() -> None:
    assert str(v.email("Ada.L@Example.ORG")) == "Ada.L@example.org"


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
    with pytest.raises(v.Problem) as caught:
        v.parse_signup(document)
    problem = caught.value
    assert problem.status == 422
    assert problem.errors == [{"pointer": p, "detail": d} for p, d in errors]
    assert problem.detail == f"{len(errors)} field(s) need attention"


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


@settings(max_examples=100)
@given(invalid_documents())
def test_invalid_documents_are_422_and_every_pointer_locates_its_value(
    document,
) -> None:
    with pytest.raises(v.Problem) as caught:
        v.parse_signup(document)
    assert caught.value.status == 422
    assert caught.value.errors
    for error in caught.value.errors:
        if error["detail"] != "is required":
            resolve(document, error["pointer"])  # raises if it points nowhere


# --- The HTTP boundary -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/json", True),
        ("Application/JSON; charset=UTF-8", True),
        ('application/json;charset="utf-8"', True),
        ("application/json; charset=latin-1", False),
        ("application/problem+json", False),
        ("text/json", False),
        ("text/plain", False),
        ("", False),
    ],
)
def test_only_json_in_utf_8_is_accepted(content_type: str, accepted: bool) -> None:
    assert v.is_json(content_type) is accepted


@pytest.fixture(scope="module")
def accepted() -> list[v.SignUp]:
    """What the code behind the boundary received, for the whole module."""
    return []


@pytest.fixture(scope="module")
def server(accepted):
    with serving(v.signups(accepted), max_body=v.SIGNUP_MAX_BODY) as server:
        yield server


def post(
    server, body: bytes, content_type: str = "application/json", path="/signups"
) -> Reply:
    headers = [("Content-Type", content_type)]
    return http_request(server, "POST", path, body=body, headers=headers)


def assert_problem(reply: Reply) -> dict:
    """A 4xx problem details document whose status member matches the status line."""
    assert 400 <= reply.status < 500, (reply.status, reply.body[:200])
    assert reply.header("Content-Type") == "application/problem+json"
    document = reply.json()
    PROBLEM_VALIDATOR.validate(document)
    assert document["status"] == reply.status
    return document


def assert_refused(reply: Reply) -> int:
    """A 4xx: a problem document from the handler, or the core's 413 before it ran."""
    if reply.status == 413:  # the core's refusal: plain text, then it closes
        assert reply.header("Content-Type") == "text/plain; charset=utf-8"
        assert reply.header("Connection") == "close"
        return 413
    return assert_problem(reply)["status"]


@settings(max_examples=50)
@given(st.binary(max_size=600))
def test_random_bytes_always_get_a_4xx_problem_never_a_500(server, body) -> None:
    assert assert_refused(post(server, body)) in (400, 422)


@settings(max_examples=50)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.floats(allow_nan=False)
        | st.integers()
        | st.text(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_random_json_values_always_get_a_4xx_problem(server, value) -> None:
    assert assert_refused(post(server, json.dumps(value).encode())) in (400, 422)


@settings(max_examples=50)
@given(invalid_documents())
def test_mutated_valid_documents_get_a_422_with_pointers(server, document) -> None:
    problem = assert_problem(post(server, json.dumps(document).encode()))
    assert problem["status"] == 422
    assert all(set(error) == {"pointer", "detail"} for error in problem["errors"])


@settings(max_examples=50)
@given(valid_documents, st.data())
def test_truncated_documents_get_a_400(server, document, data) -> None:
    text = json.dumps(document).encode()
    cut = data.draw(st.integers(0, len(text) - 1))
    assert assert_problem(post(server, text[:cut]))["status"] == 400


NESTINGS = {  # opener, the innermost value, closer
    "array": ("[", "", "]"),
    "object": ('{"a":', "0", "}"),
}


@settings(max_examples=50)
@given(st.integers(1, 6_000), st.sampled_from(sorted(NESTINGS)), st.booleans())
def test_deep_nesting_gets_a_4xx_not_a_crash(server, depth, shape, closed) -> None:
    opener, inner, closer = NESTINGS[shape]
    body = opener * depth + inner + (closer * depth if closed else "")
    status = assert_refused(post(server, body.encode()))
    if len(body) > v.SIGNUP_MAX_BODY:
        assert status == 413
    elif closed and depth <= v.MAX_DEPTH:  # well-formed, but not a sign-up
        assert status == 422
    else:
        assert status == 400


@settings(max_examples=50)
@given(valid_documents)
def test_valid_documents_over_http_come_back_as_the_parsed_object(
    server, document
) -> None:
    reply = post(server, json.dumps(document).encode())
    assert reply.status == 201, reply.body
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("Location").startswith("/signups/")
    assert v.parse_signup(reply.json()) == v.parse_signup(document)


def test_only_parsed_signups_reach_the_code_behind_the_boundary() -> None:
    accepted: list[v.SignUp] = []
    good = {"email": "a@b.c", "name": "A", "age": 20}
    with serving(v.signups(accepted), max_body=v.SIGNUP_MAX_BODY) as server:
        assert post(server, b'{"email": "a@b.c"}').status == 422
        assert post(server, json.dumps(good).encode(), "text/plain").status == 415
        reply = post(server, json.dumps(good).encode())
    assert (reply.status, reply.header("Location")) == (201, "/signups/1")
    assert accepted == [v.parse_signup(good)]


def test_the_size_limit_is_the_pages_constant_enforced_by_the_core(accepted) -> None:
    """At the limit the handler parses the body; one byte over, the core says 413."""
    document = json.dumps({"email": "a@b.c", "name": "Limit", "age": 20})
    calls: list[int] = []

    def spy(request):
        calls.append(len(request.body))
        return v.signups(accepted)(request)

    with serving(spy, max_body=v.SIGNUP_MAX_BODY) as server:
        at_limit = document.ljust(v.SIGNUP_MAX_BODY).encode()  # JSON allows spaces
        assert post(server, at_limit).status == 201
        assert_refused(post(server, at_limit + b" "))
    assert calls == [v.SIGNUP_MAX_BODY]


def test_a_415_says_which_media_type_would_do(server) -> None:
    reply = post(server, b"{}", "text/plain")
    problem = assert_problem(reply)
    assert problem["type"] == v.PROBLEM_BASE + "unsupported-media-type"
    assert problem["detail"] == "send Content-Type: application/json, in UTF-8"
    assert reply.header("Accept") == "application/json"


def test_a_missing_content_type_is_a_415_too(server) -> None:
    reply = http_request(server, "POST", "/signups", body=b"{}")
    assert assert_problem(reply)["status"] == 415


def test_other_paths_and_methods_are_problems_too(server) -> None:
    assert assert_problem(post(server, b"{}", path="/users"))["title"] == "Not Found"
    reply = http_request(server, "GET", "/signups")
    assert assert_problem(reply)["title"] == "Method Not Allowed"
    assert reply.header("Allow") == "POST"


def test_a_refusal_keeps_the_connection_open_for_the_next_request(server) -> None:
    """The core read the whole body, so nothing unread is left on the connection."""
    good = json.dumps({"email": "a@b.c", "name": "A", "age": 20}).encode()

    def request(body: bytes, *extra: bytes) -> bytes:
        head = b"POST /signups HTTP/1.1\r\nHost: a\r\n"
        head += b"Content-Type: application/json\r\n" + b"".join(extra)
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    answer = raw_exchange(
        server.server_address,
        request(b"[1,]") + request(good, b"Connection: close\r\n"),
    )
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)  # bodies are JSON
    assert statuses == [b"400", b"201"]


def test_a_chunked_body_is_parsed_like_any_other(server) -> None:
    """The core decodes chunked framing; the handler sees only the bytes."""
    good = json.dumps({"email": "a@b.c", "name": "Chunked", "age": 20}).encode()
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part) for part in (good[:9], good[9:])
    )
    answer = raw_exchange(
        server.server_address,
        b"POST /signups HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + chunks
        + b"0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 201 ")
    assert answer.endswith(b'"name": "Chunked", "age": 20, "tags": []}')
