"""The anatomy page's claims: the bytes we build are messages real parsers accept.

Oracles: h11 reads the requests and chunked bodies we build; `http.client` reads the
responses. The method and status tables are checked against RFC 9110's lists.
"""

from __future__ import annotations

import http.client
import io
import string
from http import HTTPStatus

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.communication.http_messages.message_anatomy import (
    METHODS,
    build_request,
    build_response,
    encode_chunked,
    layout,
    may_retry_automatically,
    status_class,
)
from snippets.communication.http_messages.message_parser import parse_messages
from tests.helpers import run_demo

TCHARS = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits
tokens = st.text(TCHARS, min_size=1, max_size=12)
names = tokens.filter(
    lambda n: n.lower() not in {"host", "content-length", "transfer-encoding"}
)
values = st.text(
    st.sampled_from([chr(c) for c in range(0x21, 0x7F)] + [" "]), max_size=20
).map(str.strip)
fields = st.lists(st.tuples(names, values), max_size=5)


def h11_read_request(data: bytes) -> tuple[h11.Request, bytes, list]:
    conn = h11.Connection(our_role=h11.SERVER)
    conn.receive_data(data)
    head, body, trailers = conn.next_event(), b"", []
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        body += bytes(event.data)
    trailers = [(bytes(n), bytes(v)) for n, v in event.headers]
    return head, body, trailers


class FakeSocket:
    """What http.client.HTTPResponse needs from a socket: a file to read from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def http_client_read(data: bytes, method: str = "GET") -> http.client.HTTPResponse:
    response = http.client.HTTPResponse(FakeSocket(data), method=method)  # type: ignore[arg-type]
    response.begin()
    return response


@settings(max_examples=100)
@given(
    st.sampled_from(list(METHODS)) | tokens,
    st.text([chr(c) for c in range(0x21, 0x7F)], max_size=30),
    fields,
    st.binary(max_size=200),
)
def test_h11_and_our_parser_read_the_requests_we_build(
    method: str, path: str, extra: list[tuple[str, str]], content: bytes
) -> None:
    data = build_request(method, "/" + path, [("Host", "a.test"), *extra], content)
    head, body, _ = h11_read_request(data)
    assert (head.method, head.target, body) == (
        method.encode(),
        b"/" + path.encode(),
        content,
    )
    sent = [(n.lower().encode(), v.encode()) for n, v in [("Host", "a.test"), *extra]]
    assert list(head.headers)[: len(sent)] == sent
    ours = parse_messages(data)[0]
    assert (ours.head.method, ours.body) == (method, content)


@settings(max_examples=100)
@given(st.lists(st.binary(max_size=50), max_size=6), fields)
def test_chunked_bodies_we_encode_decode_to_the_same_bytes(
    pieces: list[bytes], trailers: list[tuple[str, str]]
) -> None:
    head = [("Host", "a.test"), ("Transfer-Encoding", "chunked")]
    data = build_request("POST", "/", head, encode_chunked(pieces, trailers))
    _, body, their_trailers = h11_read_request(data)
    assert body == b"".join(pieces)
    assert their_trailers == [(n.lower().encode(), v.encode()) for n, v in trailers]
    ours = parse_messages(data)[0]
    assert (ours.body, ours.trailers) == (b"".join(pieces), trailers)


FINAL = [s for s in HTTPStatus if s >= 200]


@settings(max_examples=100)
@given(st.sampled_from(FINAL), fields, st.binary(max_size=200))
def test_http_client_reads_the_responses_we_build(
    status: HTTPStatus, extra: list[tuple[str, str]], content: bytes
) -> None:
    if status in (204, 304):
        content = b""
    response = http_client_read(build_response(status, extra, content))
    assert (response.status, response.reason) == (status.value, status.phrase)
    assert response.read() == content
    for name, value in extra:
        assert value in response.headers.get_all(name, [])


def test_responses_that_never_have_content_get_no_content_length() -> None:
    for status in (100, 204, 304):
        assert b"Content-Length" not in build_response(status, [])
        with pytest.raises(ValueError, match="has no content"):
            build_response(status, [], b"x")
    assert b"Content-Length: 0\r\n" in build_response(200, [])


@settings(max_examples=100)
@given(values, st.sampled_from(["\r", "\n", "\r\n", "\x00", "\x7f"]), values)
def test_a_value_with_a_control_character_is_refused_not_sent(
    before: str, control: str, after: str
) -> None:
    """Response splitting (RFC 9112 section 11.1): CR LF in a value writes new fields."""
    with pytest.raises(ValueError, match="refusing to send"):
        build_response(200, [("Set-Cookie", before + control + after)])


@pytest.mark.parametrize("name", ["", "X Y", "X:Y", "Ü", "X\r\nY"])
def test_a_field_name_that_is_not_a_token_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="refusing to send"):
        layout("GET / HTTP/1.1", [(name, "v")], b"")


@pytest.mark.parametrize(
    ("method", "target"), [("G T", "/"), ("GET", "/a b"), ("GET", "")]
)
def test_a_request_line_that_would_not_parse_is_refused(
    method: str, target: str
) -> None:
    with pytest.raises(ValueError, match="not a valid request line"):
        build_request(method, target, [])


def test_the_method_table_follows_rfc_9110_section_9_2() -> None:
    safe = {m for m, (is_safe, _) in METHODS.items() if is_safe}
    idempotent = {m for m, (_, is_idempotent) in METHODS.items() if is_idempotent}
    assert safe == {"GET", "HEAD", "OPTIONS", "TRACE"}  # 9.2.1
    assert idempotent == safe | {"PUT", "DELETE"}  # 9.2.2
    assert safe <= idempotent
    assert may_retry_automatically("PUT")
    assert not may_retry_automatically("POST")
    assert not may_retry_automatically("BREW")  # unknown: assume the worst


def test_every_status_code_has_the_class_of_its_first_digit() -> None:
    expected = {1: "informational", 2: "successful", 3: "redirection"}
    expected |= {4: "client error", 5: "server error"}
    for status in range(100, 600):
        assert status_class(status) == expected[status // 100]
    for status in HTTPStatus:
        assert status_class(status) == expected[status // 100]
    for bad in (0, 99, 600, 1000):
        with pytest.raises(ValueError, match="not a status code"):
            status_class(bad)


def test_the_demo_prints_the_layout_and_the_tables() -> None:
    result = run_demo(
        "snippets.communication.http_messages.message_anatomy", timeout=30, check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "b'POST /orders HTTP/1.1'"
    assert "PUT      False  True" in lines
    assert lines[-1] == "599 server error"
