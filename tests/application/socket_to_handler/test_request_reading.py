"""`request_reading`'s claims: the head parser, the Content-Length rule and the environ.

Oracles: `wsgiref.validate.check_environ` checks the environ we build; hypothesis
generates well-formed heads that must parse back to their parts, and arbitrary bytes
that must either parse or raise `BadRequest`, never anything else.
"""

from typing import Any
from wsgiref.validate import check_environ, validator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application.socket_to_handler.request_reading import (
    BadRequest,
    body_length,
    make_environ,
    parse_head,
)
from snippets.application.socket_to_handler.wsgi_apps import fetch
from snippets.application.socket_to_handler.wsgi_server import WSGIServer


def test_our_environ_passes_the_validators_environ_check() -> None:
    request = parse_head(b"GET /a%20b?q=1 HTTP/1.1\r\nHost: x\r\nContent-Type: t/p")
    environ = make_environ(request, ("127.0.0.1", 80), ("127.0.0.1", 5000))
    check_environ(environ)  # raises AssertionError on a broken environ
    assert environ["PATH_INFO"] == "/a b"
    assert environ["CONTENT_TYPE"] == "t/p"
    assert "HTTP_CONTENT_TYPE" not in environ


def test_path_info_is_utf8_bytes_seen_as_latin1() -> None:
    request = parse_head(b"GET /caf%C3%A9 HTTP/1.1\r\nHost: x")
    environ = make_environ(request, ("h", 1), ("c", 2))
    assert environ["PATH_INFO"] == "/caf\u00c3\u00a9"
    assert environ["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café"


@pytest.mark.parametrize(("lines", "length"), [([], 0), (["5"], 5), (["0"], 0)])
def test_content_length_is_one_field_of_digits(lines, length) -> None:
    headers = [("Content-Length", line) for line in lines]
    assert body_length(headers) == length


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        (["5", "5"], 400),
        (["5, 5"], 400),
        (["+5"], 400),
        (["²"], 400),
        (["9" * 99], 413),
    ],
)
def test_content_length_follows_the_one_site_wide_rule(lines, status) -> None:
    """The messages page's parser: even identical repeats are refused (stricter than
    RFC 9112 section 6.3 requires, and listed there as a deliberate difference)."""
    headers = [("Content-Length", line) for line in lines]
    with pytest.raises(BadRequest) as refused:
        body_length(headers)
    assert refused.value.status == status


def test_header_names_with_underscores_are_dropped_and_repeats_joined() -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Real-IP: 1.2.3.4\r\nX_Real_IP: 6.6.6.6\r\nA: 1\r\nA: 2"
    environ = make_environ(parse_head(head), ("h", 1), ("c", 2))
    assert environ["HTTP_X_REAL_IP"] == "1.2.3.4"
    assert environ["HTTP_A"] == "1,2"


def test_wsgi_errors_go_to_the_server_log(caplog) -> None:
    def noisy(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.errors"].writelines(["cache miss\n", "\n"])
        environ["wsgi.errors"].flush()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with WSGIServer(validator(noisy)) as ours:
        assert fetch(ours.address, "GET", "/")[0] == 200
    assert "application: cache miss" in caplog.text


# ---------------------------------------------------------------------------------------
# The parser: property tests

token = st.text(alphabet="!#$%&'*+-.^_`|~abcXYZ019", min_size=1, max_size=12)
value = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20
)


@settings(max_examples=100)
@given(
    method=token,
    path=st.text(alphabet="abc/%?=&", max_size=20),
    fields=st.lists(st.tuples(token, value), max_size=8),
)
def test_a_well_formed_head_parses_back_to_its_parts(method, path, fields) -> None:
    fields = [("Host", "example")] + [(n, v) for n, v in fields if n.lower() != "host"]
    lines = [f"{method} /{path} HTTP/1.1"] + [f"{n}: {v}" for n, v in fields]
    request = parse_head("\r\n".join(lines).encode("latin-1"))
    assert (request.method, request.target, request.headers) == (
        method,
        "/" + path,
        fields,
    )


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_any_bytes_either_parse_or_raise_bad_request(data: bytes) -> None:
    def outcome() -> int | str:
        try:
            return parse_head(data).target
        except BadRequest as error:  # anything else fails the test
            return error.status

    result = outcome()
    assert result in (400, 431, 505) or str(result).startswith("/")


def test_an_absolute_form_target_is_accepted_and_names_the_host() -> None:
    """RFC 9112 section 3.2.2: a server MUST accept the absolute-form."""
    head = b"GET http://example.test:8080/a/b?x=1 HTTP/1.1\r\nHost: other"
    request = parse_head(head)
    assert request.target == "/a/b?x=1"
    assert request.headers == [("Host", "example.test:8080")]


@pytest.mark.parametrize(
    "head",
    [
        b"GET /a\x00b HTTP/1.1\r\nHost: x",  # NUL in the target
        b"GET /a\x01b HTTP/1.1\r\nHost: x",  # another control byte
        b"GET /a\rb HTTP/1.1\r\nHost: x",  # a bare CR
        b"GET ftp://x/ HTTP/1.1\r\nHost: x",  # not an HTTP URI
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: b",  # two Host fields, any version
    ],
)
def test_targets_with_control_bytes_and_repeated_hosts_are_refused(head) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_head(head)
    assert refused.value.status == 400
