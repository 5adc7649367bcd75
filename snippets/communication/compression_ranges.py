"""Compression and ranges: gzip negotiated with Accept-Encoding, byte ranges.

What it teaches: how a server sends fewer bytes for the same representation.
It writes a gzip member by hand (RFC 1952) around zlib's deflate; picks a
content coding from Accept-Encoding with weights, `identity` and `*` (RFC 9110
section 12.5.3); says `Vary: Accept-Encoding` so that caches keep the variants
apart (section 12.5.5); gives each coded representation its own strong ETag
(section 8.8.3); shows the BREACH lesson, a secret recovered from compressed
lengths alone, and a mitigation; then parses `Range` (section 14.1.2), answers
206 with Content-Range or multipart/byteranges, 416 with `bytes */length`,
honours If-Range (section 13.1.5), and resumes a download that was cut off.

Read first: the HTTP/1.1 messages page (`docs/communication/http_messages.md`,
"HTTP/1.1 messages") and the APIs over HTTP page (`docs/communication/apis.md`,
"APIs over HTTP") for ETags and negotiation.

It builds on `snippets.communication.http_messages.message_server` (the server
and its `Request` and `Response`) and `snippets.communication.apis` (`weight`,
`TOKEN`, `strong_etag`).

What it leaves out: br and zstd, streaming compression, compressing once and
keeping the result, Last-Modified as an If-Range validator, ranges over a
compressed body split into several parts, and 304 answers.

Run it: `python -m snippets.communication.compression_ranges`.
"""

from __future__ import annotations

# --8<-- [start:gzip]
import struct
import zlib


def gzip_member(data: bytes, level: int = 6) -> bytes:
    """One gzip member (RFC 1952 section 2.3) around a raw deflate stream."""
    # ID1 ID2, CM=8 (deflate), FLG=0, MTIME=0 (none), XFL=0, OS=255 (unknown)
    header = struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, 0, 255)
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)  # -15: no zlib wrap
    body = deflate.compress(data) + deflate.flush()
    # CRC-32 of the original bytes, then their length modulo 2**32
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return header + body + trailer


# --8<-- [end:gzip]


# --8<-- [start:negotiate]
from snippets.communication.apis import TOKEN, weight

ALIASES = {"x-gzip": "gzip"}  # RFC 9110 8.4.1.3: treat x-gzip as gzip


def parse_accept_encoding(value: str) -> dict[str, float]:
    """Each coding of an Accept-Encoding value with its weight; the first
    mention wins and a malformed element is skipped."""
    weights: dict[str, float] = {}
    for element in value.split(","):
        coding, *params = element.split(";")
        coding = coding.strip().lower()
        coding = ALIASES.get(coding, coding)
        q = weight(params)  # 1.0 without q, None if q is malformed
        if TOKEN.fullmatch(coding) and q is not None:  # "*" is a token too
            weights.setdefault(coding, q)
    return weights


def acceptability(coding: str, weights: dict[str, float]) -> float:
    """RFC 9110 12.5.3: a listed coding has its weight, `*` covers the rest,
    and identity is acceptable unless refused."""
    if coding in weights:
        return weights[coding]
    if "*" in weights:
        return weights["*"]
    return 1.0 if coding == "identity" else 0.0


def choose_coding(
    accept_encoding: str | None, offers: tuple[str, ...] = ("gzip", "identity")
) -> str | None:
    """The offer the client weighs highest (ties: the earlier offer), or None
    when it refuses every one (the server answers 406)."""
    if accept_encoding is None:  # no field: any coding would do; send none
        return "identity" if "identity" in offers else offers[0]
    weights = parse_accept_encoding(accept_encoding)
    scored = [(acceptability(c, weights), -i, c) for i, c in enumerate(offers)]
    q, _, best = max(scored)
    return best if q > 0 else None


# --8<-- [end:negotiate]


# --8<-- [start:worth]
COMPRESSIBLE = ("text/", "application/json", "application/javascript")
# bytes; a judgement call: tiny bodies grow, small ones gain little
MIN_SIZE = 256


def worth_compressing(content_type: str, size: int) -> bool:
    """Text-like types of some size; images, video and archives are
    compressed already."""
    return size >= MIN_SIZE and content_type.startswith(COMPRESSIBLE)


# --8<-- [end:worth]


# --8<-- [start:vary]
def cache_key(target: str, request: dict[str, str], vary: str) -> tuple:
    """A shared cache's key for a stored response: the URL, plus the request's
    value of each field that the response's Vary names (RFC 9111 section 4.1;
    real caches also normalise the values, and `Vary: *` never matches)."""
    names = [name.strip().lower() for name in vary.split(",") if name.strip()]
    return (target, *(request.get(name, "") for name in names))


# --8<-- [end:vary]


# --8<-- [start:breach]
from collections.abc import Callable


def page_with_secret(secret: str, reflected: str) -> bytes:
    """A page that holds a secret and echoes what the attacker put in the
    URL."""
    return (
        f'<form><input type="hidden" name="csrf" value="{secret}"></form>'
        f"<p>You searched for: {reflected}</p>"
    ).encode()


def recover_secret(
    length_of: Callable[[str], int], known: str, size: int, alphabet: str
) -> str:
    """Guess one character at a time: keep the guess whose response is
    shortest (the guess that repeats the secret compresses best)."""
    for _ in range(size):
        known += min(alphabet, key=lambda c: length_of(known + c))
    return known


# --8<-- [end:breach]


# --8<-- [start:mask]
def masked(secret: str, pad: bytes) -> str:
    """The secret XOR a fresh pad, sent with the pad: the same secret looks
    different in every response, so no guess can repeat it."""
    mixed = bytes(a ^ b for a, b in zip(secret.encode(), pad, strict=True))
    return pad.hex() + mixed.hex()


# --8<-- [end:mask]


# --8<-- [start:ranges]
import itertools
import re

MAX_RANGES = 16  # more parts than this: send the whole representation
RANGE_SPEC = re.compile(r"([0-9]{1,18})-([0-9]{0,18})|-([0-9]{1,18})")

Span = tuple[int, int]  # first and last byte position, both included


def parse_range(value: str, length: int) -> list[Span] | None:
    """The satisfiable spans of a Range value (RFC 9110 14.1.2).

    None means: ignore the field and send 200 (another unit, bad syntax, an
    empty representation, too many ranges). An empty list means none is
    satisfiable: 416.
    """
    unit, equals, range_set = value.partition("=")
    if not equals or unit.lower() != "bytes" or length == 0:
        return None
    # a list: OWS around commas, empty elements ignored (RFC 9110 5.6.1)
    elements = [e.strip() for e in range_set.split(",") if e.strip()]
    if not elements or len(elements) > MAX_RANGES:
        return None
    spans = []
    for element in elements:
        match = RANGE_SPEC.fullmatch(element)
        if match is None:
            return None  # one invalid range-spec voids the field
        first, last, suffix = match.groups()
        if suffix is not None:  # -n: the last n bytes, all if n > length
            if int(suffix) > 0:
                spans.append((max(length - int(suffix), 0), length - 1))
            continue
        start, end = int(first), int(last or length - 1)
        if last and end < start:
            return None  # "5-2" is invalid, not unsatisfiable
        if start < length:  # a last position past the end is clamped
            spans.append((start, min(end, length - 1)))
    return spans


def overlapping(spans: list[Span]) -> bool:
    ordered = sorted(spans)
    return any(a[1] >= b[0] for a, b in itertools.pairwise(ordered))


# --8<-- [end:ranges]


# --8<-- [start:if_range]
def if_range_holds(value: str | None, etag: str) -> bool:
    """RFC 9110 13.1.5: true when the validator is the current ETag by strong
    comparison. A weak tag or a date (not supported here) is false."""
    if value is None:
        return True
    value = value.strip()
    return not value.startswith("W/") and value == etag


# --8<-- [end:if_range]


# --8<-- [start:multipart]
import secrets


def multipart_byteranges(
    body: bytes, spans: list[Span], content_type: str
) -> tuple[bytes, str]:
    """The content and Content-Type of a 206 with several parts (RFC 9110
    section 14.6), parts in the order the client asked for them."""
    boundary = secrets.token_hex(12)  # random, so unlikely to be in the body
    parts = []
    for first, last in spans:
        head = (
            f"--{boundary}\r\nContent-Type: {content_type}\r\n"
            f"Content-Range: bytes {first}-{last}/{len(body)}\r\n\r\n"
        )
        parts.append(head.encode() + body[first : last + 1] + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/byteranges; boundary={boundary}"


# --8<-- [end:multipart]


# --8<-- [start:ranged]
from snippets.communication.http_messages.message_server import (
    Request,
    Response,
)


def field(request: Request, name: str) -> str | None:
    """The value of a request field, repeats joined with ", "."""
    values = [v for k, v in request.headers if k.lower() == name]
    return ", ".join(values) if values else None


def ranged(
    request: Request, body: bytes, content_type: str, fields: list
) -> Response:
    """200, 206 or 416 for one representation (RFC 9110 section 14.2)."""
    etag, size = dict(fields)["ETag"], len(body)
    value = field(request, "range")
    spans = None  # ranges are defined for GET only
    holds = if_range_holds(field(request, "if-range"), etag)
    if value and request.method == "GET" and holds:
        spans = parse_range(value, size)
    whole = [*fields, ("Content-Type", content_type)]
    gzipped = ("Content-Encoding", "gzip") in fields
    if spans is None or overlapping(spans) or (len(spans) > 1 and gzipped):
        return Response(200, body, whole)  # a server MAY ignore Range
    if not spans:
        unsatisfied = [f for f in fields if f[0] != "Content-Encoding"]
        unsatisfied.append(("Content-Range", f"bytes */{size}"))
        return Response(416, b"", unsatisfied)
    if len(spans) == 1:
        first, last = spans[0]
        part = [*whole, ("Content-Range", f"bytes {first}-{last}/{size}")]
        return Response(206, body[first : last + 1], part)
    content, multipart_type = multipart_byteranges(body, spans, content_type)
    return Response(206, content, [*fields, ("Content-Type", multipart_type)])


# --8<-- [end:ranged]


# --8<-- [start:handler]
from snippets.communication.apis import strong_etag

Files = dict[str, tuple[str, bytes]]  # target -> (Content-Type, bytes)


def file_handler(files: Files) -> Callable[[Request], Response]:
    """A handler that serves `files`, gzipped when worth it, with ranges."""

    def handle(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"read only\n", [("Allow", "GET, HEAD")])
        if request.target not in files:
            return Response(404, b"not found\n")
        content_type, data = files[request.target]
        vary = [("Vary", "Accept-Encoding")]  # the answer depends on it
        worth = worth_compressing(content_type, len(data))
        offers = ("gzip", "identity") if worth else ("identity",)
        coding = choose_coding(field(request, "accept-encoding"), offers)
        if coding is None:
            return Response(406, b"no acceptable content coding\n", vary)
        body = gzip_member(data) if coding == "gzip" else data
        fields = [
            *vary,
            ("ETag", strong_etag(body)),
            ("Accept-Ranges", "bytes"),
        ]
        if coding == "gzip":
            fields.append(("Content-Encoding", "gzip"))
        return ranged(request, body, content_type, fields)

    return handle


# --8<-- [end:handler]


# --8<-- [start:resume]
import http.client

TIMEOUT = 5.0  # seconds for every socket operation of the client


def cut_download(
    address: tuple[str, int], target: str, keep: int
) -> tuple[bytes, str]:
    """Start a download and lose the connection after `keep` bytes: the
    bytes received and the ETag they belong to."""
    conn = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        conn.request("GET", target)
        reply = conn.getresponse()
        return reply.read(keep), reply.getheader("ETag", "")
    finally:
        conn.close()  # the rest of the body is never read


def resume(
    address: tuple[str, int], target: str, partial: bytes, etag: str
) -> bytes:
    """Ask for the rest if the representation is still `etag`; a 200 means
    it changed, and the whole new body replaces what we had."""
    conn = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        headers = {"Range": f"bytes={len(partial)}-", "If-Range": etag}
        conn.request("GET", target, headers=headers)
        reply = conn.getresponse()
        rest = reply.read()
    finally:
        conn.close()
    if reply.status == 206:
        expected = f"bytes {len(partial)}-"
        if not reply.getheader("Content-Range", "").startswith(expected):
            raise ValueError("the server sent another range")
        return partial + rest
    if reply.status == 200:
        return rest
    raise ValueError(f"cannot resume: {reply.status}")


# --8<-- [end:resume]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    import hashlib

    from snippets.communication.http_messages.message_server import running

    data = b"".join(b"line %d of the log\n" % i for i in range(2000))
    files = {"/log.txt": ("text/plain", data)}
    with running(file_handler(files)) as server:
        address = server.server_address[:2]
        partial, etag = cut_download(address, "/log.txt", keep=10_000)
        whole = resume(address, "/log.txt", partial, etag)
        same = hashlib.sha256(whole).digest() == hashlib.sha256(data).digest()
        print(len(partial), len(whole), same)
        #> 10000 40890 True
    # --8<-- [end:demo]
