"""The endpoint's claims: every bad input gets a 4xx problem document, never a 500.

Oracles: the JSON Schema for problem details in RFC 9457 Appendix A (checked with the
`jsonschema` library) for every error document the server sends, and the shared test
client and raw sockets on loopback, which send the real server (the application
core's) random bytes, random JSON, mutated documents and deep nesting. Framing
(Content-Length, chunked, 408, 413 for an announced length) is tested once for every
server, in tests/test_bad_framing.py.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application.app_core import serving
from snippets.application.validation import signup_endpoint as endpoint
from snippets.application.validation.json_decoding import MAX_DEPTH
from snippets.application.validation.problem_details import PROBLEM_BASE
from snippets.application.validation.signup_parsing import SignUp, parse_signup
from tests.application.validation.validation_helpers import (
    PROBLEM_VALIDATOR,
    invalid_documents,
    valid_documents,
)
from tests.helpers import Reply, http_request, raw_exchange

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
    assert endpoint.is_json(content_type) is accepted


@pytest.fixture(scope="module")
def accepted() -> list[SignUp]:
    """What the code behind the boundary received, for the whole module."""
    return []


@pytest.fixture(scope="module")
def server(accepted):
    with serving(
        endpoint.signups(accepted), max_body=endpoint.SIGNUP_MAX_BODY
    ) as server:
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
    if len(body) > endpoint.SIGNUP_MAX_BODY:
        assert status == 413
    elif closed and depth <= MAX_DEPTH:  # well-formed, but not a sign-up
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
    assert parse_signup(reply.json()) == parse_signup(document)


def test_only_parsed_signups_reach_the_code_behind_the_boundary() -> None:
    accepted: list[SignUp] = []
    good = {"email": "a@b.c", "name": "A", "age": 20}
    with serving(
        endpoint.signups(accepted), max_body=endpoint.SIGNUP_MAX_BODY
    ) as server:
        assert post(server, b'{"email": "a@b.c"}').status == 422
        assert post(server, json.dumps(good).encode(), "text/plain").status == 415
        reply = post(server, json.dumps(good).encode())
    assert (reply.status, reply.header("Location")) == (201, "/signups/1")
    assert accepted == [parse_signup(good)]


def test_the_size_limit_is_the_pages_constant_enforced_by_the_core(accepted) -> None:
    """At the limit the handler parses the body; one byte over, the core says 413."""
    document = json.dumps({"email": "a@b.c", "name": "Limit", "age": 20})
    calls: list[int] = []

    def spy(request):
        calls.append(len(request.body))
        return endpoint.signups(accepted)(request)

    with serving(spy, max_body=endpoint.SIGNUP_MAX_BODY) as server:
        at_limit = document.ljust(
            endpoint.SIGNUP_MAX_BODY
        ).encode()  # JSON allows spaces
        assert post(server, at_limit).status == 201
        assert_refused(post(server, at_limit + b" "))
    assert calls == [endpoint.SIGNUP_MAX_BODY]


def test_a_415_says_which_media_type_would_do(server) -> None:
    reply = post(server, b"{}", "text/plain")
    problem = assert_problem(reply)
    assert problem["type"] == PROBLEM_BASE + "unsupported-media-type"
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
