"""Tests for the compression and ranges page.

Oracles: Python's gzip module reads our gzip members; curl (`--compressed`,
`--range`, `-C -`) and urllib talk to our server on loopback; Python's email
parser reads our multipart/byteranges; WebOb picks the same coding as ours on
generated Accept-Encoding values; Werkzeug's Range parser agrees with ours on
well-formed single ranges.
"""

from __future__ import annotations

import email
import gzip
import hashlib
import random
import struct
import subprocess
import urllib.request
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.http import parse_range_header

with warnings.catch_warnings():  # WebOb 1.8 imports the deprecated cgi module
    warnings.simplefilter("ignore", DeprecationWarning)
    from webob.acceptparse import create_accept_encoding_header

from snippets.communication.compression_ranges import (
    cache_key,
    choose_coding,
    cut_download,
    file_handler,
    gzip_member,
    masked,
    page_with_secret,
    parse_range,
    recover_secret,
    resume,
)
from snippets.communication.http_messages.message_server import (
    Request,
    running,
)
from tests.helpers import TIMEOUT, http_request, require_tool

TEXT = b"".join(b"line %d of the log\n" % i for i in range(3000))
PNG = random.Random(3).randbytes(5000)  # stands for bytes compressed already
TINY = b'{"ok": true}'
TARGETS = [("/tiny.json", TINY), ("/photo.png", PNG)]


@pytest.fixture
def files() -> dict[str, tuple[str, bytes]]:
    return {
        "/log.txt": ("text/plain", TEXT),
        "/photo.png": ("image/png", PNG),
        "/tiny.json": ("application/json", TINY),
        "/empty.txt": ("text/plain", b""),
    }


@pytest.fixture
def server(files) -> Iterator[tuple[str, int]]:
    with running(file_handler(files)) as srv:
        yield srv.server_address[:2]


def url(address: tuple[str, int], target: str) -> str:
    return f"http://{address[0]}:{address[1]}{target}"


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    exe = require_tool("curl", "curl")
    return subprocess.run(
        [exe, "-sS", "--max-time", str(TIMEOUT), *args],
        capture_output=True,
        timeout=TIMEOUT * 2,
        check=True,
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# gzip ---------------------------------------------------------------------


@given(st.binary(max_size=5000), st.integers(1, 9))
def test_python_gzip_reads_our_gzip_member(data: bytes, level: int) -> None:
    assert gzip.decompress(gzip_member(data, level)) == data


def test_our_member_is_rfc_1952_framing_around_zlib_raw_deflate() -> None:
    member = gzip_member(TEXT)
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    magic, method, flags, mtime, _, _ = struct.unpack("<HBBIBB", member[:10])
    assert (magic, method, flags, mtime) == (0x8B1F, 8, 0, 0)
    assert member[10:-8] == raw.compress(TEXT) + raw.flush()
    assert struct.unpack("<II", member[-8:]) == (zlib.crc32(TEXT), len(TEXT))


def test_small_bodies_grow_and_random_bytes_do_not_shrink() -> None:
    assert len(gzip_member(TINY)) > len(TINY)
    assert len(gzip_member(PNG)) > len(PNG)
    assert len(gzip_member(TEXT)) * 5 < len(TEXT)


# negotiation --------------------------------------------------------------

# RFC 9110 section 12.5.3, case by case
NEGOTIATION = [
    (None, "identity"),  # no field: anything goes, we send none
    ("", "identity"),  # empty: no coding wanted
    ("gzip", "gzip"),
    ("GZIP", "gzip"),
    ("x-gzip", "gzip"),
    ("deflate, gzip", "gzip"),  # what curl --compressed may send
    ("gzip;q=0", "identity"),
    ("gzip; q=0.5, identity", "identity"),
    ("identity;q=0", None),  # gzip is not listed: not acceptable either
    ("gzip, identity;q=0", "gzip"),
    ("gzip;q=0, identity;q=0", None),  # 406
    ("*;q=0", None),
    ("*;q=0, identity", "identity"),
    ("*", "gzip"),
    ("br", "identity"),
    ("gzip;q=2", "identity"),  # malformed weight: element skipped
    ("gzip;q=0.001, identity;q=0.0001", "identity"),  # 4 decimals: skipped
]


@pytest.mark.parametrize(("accept", "expected"), NEGOTIATION)
def test_negotiation_follows_rfc_9110(accept, expected) -> None:
    assert choose_coding(accept) == expected


CODINGS = st.sampled_from(["gzip", "GZIP", "identity", "*", "br", "deflate"])
QVALUES = st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", " ; q=0.001", ";q=1.0"])
ACCEPT_ENCODING = st.lists(st.tuples(CODINGS, QVALUES).map("".join), max_size=5).map(
    ", ".join
)


@given(ACCEPT_ENCODING)
def test_negotiation_agrees_with_webob(value: str) -> None:
    header = create_accept_encoding_header(value)
    assert type(header).__name__ == "AcceptEncodingValidHeader"
    theirs = header.acceptable_offers(["gzip", "identity"])  # best first
    assert choose_coding(value) == (theirs[0][0] if theirs else None)


def test_identity_refused_on_a_type_we_do_not_compress_is_406(server) -> None:
    reply = http_request(
        server, "GET", "/photo.png", headers={"Accept-Encoding": "identity;q=0"}
    )
    assert reply.status == 406
    assert reply.header("Vary") == "Accept-Encoding"


def test_curl_compressed_gets_gzip_and_decodes_the_same_bytes(server) -> None:
    done = curl(
        "--compressed",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        url(server, "/log.txt"),
    )
    head, _, size = done.stdout.decode().rpartition("\r\n\r\n")
    assert "content-encoding: gzip" in head.lower()
    assert "vary: accept-encoding" in head.lower()
    assert int(size) * 5 < len(TEXT)  # on the wire
    assert curl("--compressed", url(server, "/log.txt")).stdout == TEXT


def test_curl_without_compressed_and_urllib_get_identity(server) -> None:
    assert curl(url(server, "/log.txt")).stdout == TEXT
    with urllib.request.urlopen(url(server, "/log.txt"), timeout=TIMEOUT) as r:
        assert r.headers["Content-Encoding"] is None
        assert r.headers["Vary"] == "Accept-Encoding"
        assert r.read() == TEXT


@pytest.mark.parametrize("target", ["/tiny.json", "/photo.png"])
def test_not_worth_compressing_is_sent_as_is(server, target) -> None:
    reply = http_request(server, "GET", target, headers={"Accept-Encoding": "gzip"})
    assert reply.header("Content-Encoding") is None
    assert reply.body == dict(TARGETS)[target]


def test_each_coding_has_its_own_strong_etag(server) -> None:
    plain = http_request(server, "GET", "/log.txt")
    coded = http_request(server, "GET", "/log.txt", headers={"Accept-Encoding": "gzip"})
    assert coded.header("Content-Encoding") == "gzip"
    assert gzip.decompress(coded.body) == plain.body == TEXT
    tags = {plain.header("ETag"), coded.header("ETag")}
    assert len(tags) == 2
    assert not any(t.startswith("W/") for t in tags)


def fetch_through_cache(server, cache, headers, honour_vary) -> bytes:
    """A shared cache in front of our server, keyed with or without Vary."""
    request = {name.lower(): value for name, value in headers.items()}
    for key, (vary, body) in cache.items():
        if key == cache_key("/log.txt", request, vary if honour_vary else ""):
            return body
    reply = http_request(server, "GET", "/log.txt", headers=headers)
    vary = reply.header("Vary") or ""
    key = cache_key("/log.txt", request, vary if honour_vary else "")
    cache[key] = (vary, reply.body)
    return reply.body


@pytest.mark.parametrize("honour_vary", [True, False])
def test_only_a_cache_that_honours_vary_serves_each_client_right(
    server, honour_vary
) -> None:
    cache: dict = {}
    first = fetch_through_cache(server, cache, {"Accept-Encoding": "gzip"}, honour_vary)
    second = fetch_through_cache(server, cache, {}, honour_vary)
    assert gzip.decompress(first) == TEXT
    assert (second == TEXT) is honour_vary  # else: gzip to a plain client


# BREACH -------------------------------------------------------------------

HEX = "0123456789abcdef"


def test_breach_recovers_the_secret_from_lengths_alone() -> None:
    for seed in range(5):
        secret = "".join(random.Random(seed).choices(HEX, k=6))

        def length_of(guess: str, secret: str = secret) -> int:
            page = page_with_secret(secret, 'value="' + guess)
            return len(gzip_member(page))

        assert recover_secret(length_of, "", 6, HEX) == secret


def test_without_compression_the_lengths_say_nothing() -> None:
    def length_of(guess: str) -> int:
        return len(page_with_secret("8c1f4a", 'value="' + guess))

    assert len({length_of(c) for c in HEX}) == 1


def test_a_fresh_mask_per_response_defeats_the_attack() -> None:
    rng = random.Random(11)
    for _ in range(5):
        secret = "".join(rng.choices(HEX, k=6))

        def length_of(guess: str, secret: str = secret) -> int:
            token = masked(secret, rng.randbytes(len(secret)))
            page = page_with_secret(token, 'value="' + guess)
            return len(gzip_member(page))

        assert recover_secret(length_of, "", 6, HEX) != secret


def test_a_masked_token_is_unmasked_by_the_server() -> None:
    pad = bytes(range(6))
    token = bytes.fromhex(masked("8c1f4a", pad))
    got = bytes(a ^ b for a, b in zip(token[:6], token[6:], strict=True))
    assert got == b"8c1f4a"


# Range parsing ------------------------------------------------------------

# (value, length, expected): None = ignore (200), [] = 416, else the spans
RANGES = [
    ("bytes=0-9", 100, [(0, 9)]),
    ("bytes=90-", 100, [(90, 99)]),
    ("bytes=-10", 100, [(90, 99)]),
    ("bytes=-1000", 100, [(0, 99)]),  # suffix longer than the file
    ("bytes=50-5000", 100, [(50, 99)]),  # last-pos clamped
    ("bytes=100-", 100, []),  # starts past the end: 416
    ("bytes=-0", 100, []),
    ("bytes=100-200, -0", 100, []),
    ("bytes=0-0,-1", 100, [(0, 0), (99, 99)]),
    ("bytes= 0-9, 20-29", 100, [(0, 9), (20, 29)]),  # OWS in the list
    ("bytes=0-9,,20-29", 100, [(0, 9), (20, 29)]),  # empty element
    ("bytes=0-9,200-300", 100, [(0, 9)]),  # the satisfiable part
    ("BYTES=0-9", 100, [(0, 9)]),  # units are case-insensitive
    ("bytes=0 - 9", 100, None),  # no space inside a range-spec
    ("bytes=9-5", 100, None),  # invalid, not unsatisfiable
    ("bytes=0-9,9-5", 100, None),  # one invalid spec voids the field
    ("bytes=a-b", 100, None),
    ("bytes=", 100, None),
    ("bytes", 100, None),
    ("items=0-9", 100, None),  # an unknown unit is ignored
    ("bytes=0-9", 0, None),  # zero-length: ignored, 200 and no body
    ("bytes=-5", 0, None),
    ("bytes=" + ",".join(["0-0"] * 17), 100, None),  # too many ranges
    ("bytes=0-" + "9" * 19, 100, None),  # a number we refuse to read
    ("bytes=0-" + "9" * 18, 100, [(0, 99)]),
]


@pytest.mark.parametrize(("value", "length", "expected"), RANGES)
def test_range_parsing_edge_cases(value, length, expected) -> None:
    assert parse_range(value, length) == expected


@given(
    st.integers(1, 500),
    st.one_of(
        st.tuples(st.integers(0, 600), st.none() | st.integers(0, 600)),
        st.integers(1, 600),
    ),
)
def test_single_ranges_agree_with_werkzeug(length, spec) -> None:
    if isinstance(spec, int):
        if spec > length:  # Werkzeug refuses; RFC 9110 sends it all
            return
        value = f"bytes=-{spec}"
    else:
        first, last = spec
        if last is not None and last < first:
            return
        value = f"bytes={first}-{'' if last is None else last}"
    ours = parse_range(value, length)
    theirs = parse_range_header(value).range_for_length(length)
    if theirs is None:
        assert ours == []
    else:
        assert ours == [(theirs[0], theirs[1] - 1)]


# Ranges on the wire -------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "expected"),
    [("0-99", TEXT[:100]), ("1000-", TEXT[1000:]), ("-50", TEXT[-50:])],
)
def test_curl_range_gets_the_slice(server, option, expected) -> None:
    done = curl("--range", option, "-w", "\n%{http_code}", url(server, "/log.txt"))
    body, _, status = done.stdout.rpartition(b"\n")
    assert (int(status), body) == (206, expected)


def test_urllib_with_a_range_header_gets_206(server) -> None:
    request = urllib.request.Request(
        url(server, "/log.txt"), headers={"Range": "bytes=10-19"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes 10-19/{len(TEXT)}"
        assert r.read() == TEXT[10:20]


def test_unsatisfiable_is_416_with_the_length(server) -> None:
    reply = http_request(
        server, "GET", "/log.txt", headers={"Range": f"bytes={len(TEXT)}-"}
    )
    assert reply.status == 416
    assert reply.header("Content-Range") == f"bytes */{len(TEXT)}"


def test_curl_multiple_ranges_read_by_the_email_parser(server) -> None:
    done = curl("--range", "0-9,-5,100-119", "-D", "-", url(server, "/log.txt"))
    message = email.message_from_bytes(done.stdout.split(b"\r\n", 1)[1])
    assert message.get_content_type() == "multipart/byteranges"
    parts = message.get_payload()
    ranges = [p["Content-Range"] for p in parts]
    size = len(TEXT)
    assert ranges == [
        f"bytes 0-9/{size}",
        f"bytes {size - 5}-{size - 1}/{size}",
        f"bytes 100-119/{size}",
    ]
    got = [p.get_payload(decode=True) for p in parts]
    assert got == [TEXT[:10], TEXT[-5:], TEXT[100:120]]


@pytest.mark.parametrize(
    ("value", "headers"),
    [
        ("bytes=0-9,5-14", {}),  # overlapping: whole representation
        ("bytes=0-9,20-29", {"Accept-Encoding": "gzip"}),  # parts of gzip
        ("bytes=0-9", {"If-Range": '"not-the-tag"'}),
    ],
)
def test_ranges_we_choose_to_ignore_get_the_whole_200(server, value, headers) -> None:
    reply = http_request(server, "GET", "/log.txt", headers={"Range": value, **headers})
    assert reply.status == 200
    assert reply.header("Content-Range") is None


def test_head_ignores_range_and_post_is_refused(server) -> None:
    head = http_request(server, "HEAD", "/log.txt", headers={"Range": "bytes=0-9"})
    assert (head.status, head.body) == (200, b"")
    post = http_request(server, "POST", "/log.txt")
    assert (post.status, post.header("Allow")) == (405, "GET, HEAD")


def test_zero_length_file_ignores_the_range(server) -> None:
    reply = http_request(server, "GET", "/empty.txt", headers={"Range": "bytes=-5"})
    assert (reply.status, reply.body) == (200, b"")


@given(st.text(max_size=40))
def test_any_range_value_gets_200_206_or_416(value) -> None:
    handler = file_handler({"/f": ("text/plain", TEXT[:300])})
    request = Request("GET", "/f", "HTTP/1.1", [("Range", value)], b"")
    assert handler(request).status in (200, 206, 416)


# Resuming -----------------------------------------------------------------


@pytest.mark.parametrize("keep", [1, 50_000, len(TEXT) - 1])
def test_a_cut_download_resumed_with_if_range_has_the_same_bytes(server, keep) -> None:
    partial, etag = cut_download(server, "/log.txt", keep)
    assert len(partial) == keep < len(TEXT)
    assert sha(resume(server, "/log.txt", partial, etag)) == sha(TEXT)


def test_a_changed_file_is_sent_whole_with_200(server, files) -> None:
    partial, etag = cut_download(server, "/log.txt", 10_000)
    new = TEXT.replace(b"log", b"LOG")
    files["/log.txt"] = ("text/plain", new)
    reply = http_request(
        server,
        "GET",
        "/log.txt",
        headers={"Range": "bytes=10000-", "If-Range": etag},
    )
    assert reply.status == 200
    assert sha(resume(server, "/log.txt", partial, etag)) == sha(new)


def test_curl_resumes_a_partial_file(server, tmp_path: Path) -> None:
    out = tmp_path / "log.txt"
    out.write_bytes(TEXT[:12_345])
    curl("-C", "-", "-o", str(out), url(server, "/log.txt"))
    assert sha(out.read_bytes()) == sha(TEXT)
