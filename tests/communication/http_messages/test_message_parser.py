"""The parser page's claims, checked against h11 and by property tests.

The oracle is h11, a real HTTP/1.1 parser. Hypothesis generates requests and responses,
valid and subtly invalid, and splits their bytes into random pieces. On valid input both
parsers must return the same method, target, header fields, body and trailers. On
invalid input, wherever h11 rejects, we reject too; where we reject and h11 accepts, the
mutation must be one of the few this parser refuses on purpose (STRICTER_THAN_H11), each
allowed by RFC 9112 to be either refused or repaired.
"""

from __future__ import annotations

import dataclasses
import itertools
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import h11
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from snippets.communication.http_messages.message_parser import (
    READERS,
    TRANSITIONS,
    BodyChunk,
    Event,
    HTTPError,
    Limits,
    Message,
    MessageEnd,
    Parser,
    ParserStateError,
    RequestHead,
    ResponseHead,
    collect,
    parse_messages,
)
from tests.helpers import run_demo

# --- Generating messages --------------------------------------------------------------

TCHARS = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits
VCHARS = "".join(chr(c) for c in range(0x21, 0x7F))
VALUE_BYTES = [*range(0x21, 0x7F), *range(0x80, 0x100), 0x20, 0x09]
FRAMING = {"host", "content-length", "transfer-encoding"}

one_of = st.sampled_from
tokens = st.text(TCHARS, min_size=1, max_size=12)
names = tokens.filter(lambda name: name.lower() not in FRAMING)
values = st.lists(st.sampled_from(VALUE_BYTES), max_size=20).map(
    lambda b: bytes(b).strip(b" \t")
)
ows = st.sampled_from([b"", b" ", b"\t", b"  ", b" \t "])


@st.composite
def field_lines(draw: st.DrawFn) -> bytes:
    """name ":" OWS value OWS, with the OWS both parsers must strip."""
    name = draw(names).encode()
    return name + b":" + draw(ows) + draw(values) + draw(ows)


@dataclass
class Wire:
    """A message as parts that mutations can edit before it is encoded."""

    start: bytes
    fields: list[bytes]
    content: bytes = b""  # the body, when it is not chunked
    chunks: list[list[bytes]] | None = None  # [size line, data, CRLF] per chunk
    trailers: list[bytes] = field(default_factory=list)
    start_end: bytes = b"\r\n"

    def encode(self) -> bytes:
        head = self.start + self.start_end
        head += b"".join(line + b"\r\n" for line in self.fields) + b"\r\n"
        if self.chunks is None:
            return head + self.content
        body = b"".join(size + b"\r\n" + data + end for size, data, end in self.chunks)
        trailers = b"".join(line + b"\r\n" for line in self.trailers)
        return head + body + b"0\r\n" + trailers + b"\r\n"

    def expected_content(self) -> bytes:
        if self.chunks is None:
            return self.content
        return b"".join(data for _, data, _ in self.chunks)


@st.composite
def chunks_of(draw: st.DrawFn, content: bytes) -> list[list[bytes]]:
    cuts = sorted(draw(st.lists(st.integers(0, len(content)), max_size=4)))
    edges = [0, *cuts, len(content)]
    chunks = []
    for start, end in itertools.pairwise(edges):
        if end > start:
            size = format(end - start, draw(st.sampled_from(["x", "X", "04x"])))
            ext = draw(st.sampled_from([b"", b";a=1", b';name="q v"', b";x;y=z"]))
            chunks.append([size.encode() + ext, content[start:end], b"\r\n"])
    return chunks


def insert_at_random(draw: st.DrawFn, lines: list[bytes], line: bytes) -> None:
    lines.insert(draw(st.integers(0, len(lines))), line)


@st.composite
def requests(
    draw: st.DrawFn, framing: str | None = None, version: str | None = None
) -> Wire:
    """A valid request. framing: "none", "length", "chunked", or None for any."""
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]) | tokens)
    target = "/" + draw(st.text(VCHARS, max_size=30))
    if version is None:
        chunked = framing == "chunked"
        version = "HTTP/1.1" if chunked else draw(one_of(["HTTP/1.1", "HTTP/1.0"]))
    fields = draw(st.lists(field_lines(), max_size=6))
    if version == "HTTP/1.1" or draw(st.booleans()):
        insert_at_random(draw, fields, b"Host:" + draw(ows) + b"example.test")
    choices = ["none", "length"] + (["chunked"] * 2 if version == "HTTP/1.1" else [])
    framing = framing or draw(st.sampled_from(choices))
    content = b"" if framing == "none" else draw(st.binary(max_size=200))
    wire = Wire(f"{method} {target} {version}".encode(), fields)
    if framing == "length":
        insert_at_random(draw, fields, b"Content-Length: %d" % len(content))
        wire.content = content
    elif framing == "chunked":
        insert_at_random(draw, fields, b"Transfer-Encoding: chunked")
        wire.chunks = draw(chunks_of(content))
        wire.trailers = draw(st.lists(field_lines(), max_size=2))
    return wire


REASON_BYTES = [*range(0x21, 0x7F), *range(0x80, 0x100), 0x20, 0x09]


@st.composite
def responses(draw: st.DrawFn) -> tuple[str, Wire]:
    """A valid response and the method of the request it answers."""
    method = draw(st.sampled_from(["GET", "POST", "HEAD"]))
    status = draw(st.integers(200, 599))
    reason = bytes(draw(st.lists(st.sampled_from(REASON_BYTES), max_size=20)))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    fields = draw(st.lists(field_lines(), max_size=6))
    choices = ["close", "length"] + (["chunked"] if version == "HTTP/1.1" else [])
    framing = draw(st.sampled_from(choices))
    no_content = method == "HEAD" or status in (204, 304)
    content = b"" if no_content else draw(st.binary(max_size=200))
    wire = Wire(b"%s %d %s" % (version.encode(), status, reason), fields)
    if framing == "length":
        size = draw(st.integers(0, 500)) if no_content else len(content)
        insert_at_random(draw, fields, b"Content-Length: %d" % size)
        wire.content = content
    elif framing == "chunked":
        insert_at_random(draw, fields, b"Transfer-Encoding: chunked")
        if not no_content:
            wire.chunks = draw(chunks_of(content))
            wire.trailers = draw(st.lists(field_lines(), max_size=2))
    else:
        wire.content = content
    return method, wire


@st.composite
def pieces_of(draw: st.DrawFn, raw: bytes) -> list[bytes]:
    """The bytes cut at random places, as a socket might deliver them."""
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    edges = [0, *cuts, len(raw)]
    return [raw[start:end] for start, end in itertools.pairwise(edges)]


# --- Running both parsers -------------------------------------------------------------

Outcome = tuple | None  # None: rejected, or no complete message


def normal_fields(fields: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode("latin-1")) for name, value in fields]


def ours(pieces: list[bytes], role: str = "request", method: str = "GET") -> Outcome:
    parser = Parser(role, request_method=method)
    events: list[Event] = []
    try:
        for piece in pieces:
            events += parser.feed(piece)
        events += parser.end_of_input()
    except HTTPError:
        pass
    messages = collect(events)
    if not messages:
        return None
    head, body, trailers = messages[0].head, messages[0].body, messages[0].trailers
    if isinstance(head, RequestHead):
        start = (head.method.encode(), head.target.encode())
    else:
        start = (head.status, head.reason.encode("latin-1"))
    version = head.version.removeprefix("HTTP/").encode()
    return (*start, version, normal_fields(head.headers), body, normal_fields(trailers))


def h11_events(conn: h11.Connection, pieces: list[bytes]) -> list[object] | None:
    """Feed h11 and gather events up to the first EndOfMessage; None if it refuses."""
    got: list[object] = []
    try:
        for piece in [p for p in pieces if p] + [b""]:  # b"" tells h11 about EOF
            conn.receive_data(piece)
            while (ev := conn.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
                got.append(ev)
                if isinstance(ev, h11.EndOfMessage):
                    return got
                if isinstance(ev, h11.ConnectionClosed):
                    return None
    except h11.RemoteProtocolError:
        return None
    return None


def theirs(pieces: list[bytes], role: str = "request", method: str = "GET") -> Outcome:
    if role == "request":
        conn = h11.Connection(our_role=h11.SERVER)
    else:
        conn = h11.Connection(our_role=h11.CLIENT)
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
    got = h11_events(conn, pieces)
    if got is None:
        return None
    head, *middle, end = got
    if isinstance(head, h11.InformationalResponse):
        return None  # not generated
    body = b"".join(bytes(ev.data) for ev in middle if isinstance(ev, h11.Data))
    if isinstance(head, h11.Request):
        start = (head.method, head.target)
    else:
        start = (head.status_code, head.reason)
    fields = [(bytes(n), bytes(v)) for n, v in head.headers]
    trailers = [(bytes(n), bytes(v)) for n, v in end.headers]
    return (*start, head.http_version, fields, body, trailers)


# --- The differential tests -----------------------------------------------------------


@settings(max_examples=150)
@given(st.data())
def test_valid_requests_in_random_pieces_parse_exactly_like_h11(
    data: st.DataObject,
) -> None:
    wire = data.draw(requests())
    pieces = data.draw(pieces_of(wire.encode()))
    expected = theirs(pieces)
    assert expected is not None, "the generator made a request h11 refuses"
    assert ours(pieces) == expected
    assert expected[4] == wire.expected_content()
    event(f"framing: {'chunked' if wire.chunks is not None else 'length or none'}")


@settings(max_examples=100)
@given(st.data())
def test_valid_responses_in_random_pieces_parse_exactly_like_h11(
    data: st.DataObject,
) -> None:
    method, wire = data.draw(responses())
    pieces = data.draw(pieces_of(wire.encode()))
    expected = theirs(pieces, "response", method)
    assert expected is not None, "the generator made a response h11 refuses"
    assert ours(pieces, "response", method) == expected
    assert expected[4] == wire.expected_content()


Mutation = Callable[[st.DrawFn, Wire], None]


def add_field(line: bytes) -> Mutation:
    return lambda draw, wire: insert_at_random(draw, wire.fields, line)


def add_drawn_field(strategy: st.SearchStrategy[bytes]) -> Mutation:
    return lambda draw, wire: insert_at_random(draw, wire.fields, draw(strategy))


def replace_start(old: bytes, strategy: st.SearchStrategy[bytes]) -> Mutation:
    def mutate(draw: st.DrawFn, wire: Wire) -> None:
        wire.start = wire.start.replace(old, draw(strategy), 1)

    return mutate


def drop_host(draw: st.DrawFn, wire: Wire) -> None:
    wire.fields = [f for f in wire.fields if not f.lower().startswith(b"host:")]


def set_content_length(strategy: st.SearchStrategy[bytes]) -> Mutation:
    def mutate(draw: st.DrawFn, wire: Wire) -> None:
        wire.fields = [f for f in wire.fields if not f.startswith(b"Content-Length")]
        insert_at_random(draw, wire.fields, b"Content-Length: " + draw(strategy))

    return mutate


def set_transfer_encoding(strategy: st.SearchStrategy[bytes]) -> Mutation:
    def mutate(draw: st.DrawFn, wire: Wire) -> None:
        wire.fields = [f for f in wire.fields if not f.startswith(b"Transfer-Encoding")]
        insert_at_random(draw, wire.fields, b"Transfer-Encoding: " + draw(strategy))

    return mutate


def first_chunk(part: int, strategy: st.SearchStrategy[bytes]) -> Mutation:
    def mutate(draw: st.DrawFn, wire: Wire) -> None:
        assert wire.chunks
        wire.chunks[0][part] = draw(strategy)

    return mutate


def fold_a_line(draw: st.DrawFn, wire: Wire) -> None:
    position = draw(st.integers(1, len(wire.fields)))  # after a field, not first
    wire.fields.insert(position, draw(st.sampled_from([b" folded", b"\tfolded"])))


def cl_and_te(draw: st.DrawFn, wire: Wire) -> None:
    size = len(wire.expected_content()) + draw(st.integers(-3, 3))
    insert_at_random(draw, wire.fields, b"Content-Length: %d" % max(size, 0))


def bare_lf(draw: st.DrawFn, wire: Wire) -> None:
    wire.start_end = b"\n"


def as_http10(draw: st.DrawFn, wire: Wire) -> None:
    wire.start = wire.start.replace(b"HTTP/1.1", b"HTTP/1.0")


def framing_trailer(draw: st.DrawFn, wire: Wire) -> None:
    size = len(wire.expected_content())
    lines = [
        b"Content-Length: %d" % size,
        b"Host: b.test",
        b"Transfer-Encoding: chunked",
    ]
    wire.trailers.append(draw(st.sampled_from(lines)))


def chunk_extension(strategy: st.SearchStrategy[bytes]) -> Mutation:
    def mutate(draw: st.DrawFn, wire: Wire) -> None:
        assert wire.chunks
        wire.chunks[0][0] = wire.chunks[0][0].split(b";")[0] + draw(strategy)

    return mutate


def bad_method(draw: st.DrawFn, wire: Wire) -> None:
    wire.start = (
        draw(one_of([b"GE(T", b"G\x00T", b"GET\x80"]))
        + wire.start[wire.start.index(b" ") :]
    )


def repeat_content_length(draw: st.DrawFn, wire: Wire) -> None:
    wire.fields.append(next(f for f in wire.fields if f.startswith(b"Content-Length")))


def content_length_list(draw: st.DrawFn, wire: Wire) -> None:
    size = len(wire.content)
    set_content_length(st.just(b"%d, %d" % (size, size)))(draw, wire)


NOT_TCHAR = [c for c in range(256) if chr(c) not in TCHARS and c != ord(":")]
HTTP11 = {"version": "HTTP/1.1"}
LENGTH = {"framing": "length"}
CHUNKED_BODY = {"framing": "chunked"}


@dataclass(frozen=True)
class Kind:
    """One way to break a request: the base request it needs, the edit, and whether
    we refuse it on purpose while h11 repairs it (RFC 9112 allows either)."""

    base: dict[str, str]
    mutate: Mutation
    stricter: bool = False


MUTATIONS = {
    # RFC 9112 5.1: no whitespace between field name and colon.
    "space before colon": Kind(
        {}, add_drawn_field(one_of([b"X-Bad : 1", b"X-B\t: 1"]))
    ),
    # RFC 9110 5.1: a field name is a token.
    "bad name byte": Kind(
        {}, add_drawn_field(one_of(NOT_TCHAR).map(lambda c: b"X%cBad: 1" % c))
    ),
    "empty name": Kind({}, add_field(b": 1")),
    "no colon": Kind({}, add_field(b"XBad")),
    # RFC 9110 5.5: CR, LF and NUL in a value are invalid and dangerous.
    "NUL, CR, LF or VT in value": Kind(
        {},
        add_drawn_field(one_of([b"X: a\x00b", b"X: a\rb", b"X: a\nb", b"X: a\x0bb"])),
    ),
    # RFC 9112 2.2: whitespace between the start line and the first field.
    "whitespace before first field": Kind(
        {}, lambda draw, wire: wire.fields.insert(0, b" X-Bad: 1")
    ),
    # RFC 9112 3: method SP request-target SP HTTP-version.
    "bad method": Kind({}, bad_method),
    "bad request line": Kind(
        {},
        replace_start(b" /", one_of([b"  /", b" / x", b" \x7f/", b" /\x80", b"\t/"])),
    ),
    "bad version": Kind(
        {}, replace_start(b"HTTP/1.", one_of([b"http/1.", b"HTTP/1.x/", b"HTTP 1."]))
    ),
    # RFC 9112 3.2: exactly one Host in HTTP/1.1.
    "missing Host": Kind(HTTP11, drop_host),
    "two Host fields": Kind(HTTP11, add_field(b"Host: second.test")),
    # RFC 9112 6.3: an invalid Content-Length is an unrecoverable framing error.
    "bad Content-Length": Kind(
        LENGTH,
        set_content_length(
            one_of([b"-1", b"+5", b"1e3", b"0x10", b"5 5", b"", b"abc", "²".encode()])
        ),
    ),
    "conflicting Content-Length": Kind(LENGTH, add_field(b"Content-Length: 99999")),
    # RFC 9112 6.1 and 7: chunked is the only coding we (and h11) implement.
    "unsupported coding": Kind(
        CHUNKED_BODY,
        set_transfer_encoding(
            one_of([b"gzip", b"gzip, chunked", b"chunked, gzip", b"identity"])
        ),
    ),
    # RFC 9112 7.1: chunk-size is 1*HEXDIG and every chunk ends with CRLF. (Not "5 ;a":
    # whitespace before an extension is BWS, which the RFC allows; see the test below.)
    "bad chunk size": Kind(
        CHUNKED_BODY,
        first_chunk(0, one_of([b"zz", b"-1", b"0x5", b"", b" 5", b"F" * 21])),
    ),
    "chunk data without CRLF": Kind(
        CHUNKED_BODY, first_chunk(2, one_of([b"XY", b"\n", b"\r"]))
    ),
    # Refused by us on purpose; h11 repairs or accepts them:
    "obs-fold": Kind(HTTP11, fold_a_line, stricter=True),  # RFC 9112 5.2: may refuse
    "Transfer-Encoding and Content-Length": Kind(
        CHUNKED_BODY, cl_and_te, stricter=True
    ),
    "bare LF after the request line": Kind({}, bare_lf, stricter=True),  # 2.2: MAY
    "repeated Content-Length": Kind(LENGTH, repeat_content_length, stricter=True),
    "Content-Length list": Kind(LENGTH, content_length_list, stricter=True),  # 9110 8.6
    "control character in value": Kind(
        {},
        add_drawn_field(one_of([b"X: a\x01b", b"X: \x7f", b"X: a\x1fb"])),
        stricter=True,  # RFC 9110 5.5: other CTLs are invalid, MAY be retained
    ),
    "unsupported major version": Kind(
        HTTP11,
        replace_start(b"HTTP/1.1", one_of([b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.1"])),
        stricter=True,  # answered 505 (RFC 9110 section 15.6.6: the major version)
    ),
    "chunked in HTTP/1.0": Kind(CHUNKED_BODY, as_http10, stricter=True),  # 6.1: faulty
    "framing field in trailers": Kind(CHUNKED_BODY, framing_trailer, stricter=True),
    "control character in chunk extension": Kind(
        CHUNKED_BODY, chunk_extension(one_of([b";a\x01", b";\x7f"])), stricter=True
    ),
}
STRICTER_THAN_H11 = {name for name, kind in MUTATIONS.items() if kind.stricter}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
@settings(max_examples=10)
@given(data=st.data())
def test_where_h11_rejects_a_request_we_reject_it_too(
    name: str, data: st.DataObject
) -> None:
    kind = MUTATIONS[name]
    wire = data.draw(requests(**kind.base))
    if kind.base.get("framing") == "chunked" and not wire.chunks:
        wire.chunks = [[b"3", b"abc", b"\r\n"]]  # the edits need a chunk to edit
    kind.mutate(data.draw, wire)
    pieces = data.draw(pieces_of(wire.encode()))
    mine, expected = ours(pieces), theirs(pieces)
    if expected is None:
        assert mine is None, f"h11 refuses {name!r}; so must we"
    if kind.stricter:
        assert mine is None, f"we refuse {name!r} on purpose"
    else:
        assert expected is None, f"the mutation {name!r} must break the request"
    if mine is not None:
        assert mine == expected


def test_whitespace_before_a_chunk_extension_is_read_as_rfc_9112_allows() -> None:
    """The one place h11 is stricter than the RFC, pinned so that the difference stays known.

    chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (RFC 9112
    section 7.1.1), and a recipient must parse bad whitespace and remove it (RFC 9110
    section 5.6.3). h11's chunk header pattern has no room for it, so h11 refuses.
    """
    head = b"GET / HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"
    for size_line in (b"5 ;a", b"5\t;a=b", b"5 ; a"):
        wire = head + size_line + b"\r\nHello\r\n0\r\n\r\n"
        assert theirs([wire]) is None, size_line
        (message,) = parse_in([wire])
        assert message.body == b"Hello", size_line


def test_every_mutation_kind_is_listed_with_its_reason() -> None:
    assert len(MUTATIONS) >= 25
    assert "obs-fold" in STRICTER_THAN_H11
    assert "space before colon" not in STRICTER_THAN_H11


# --- Pieces, pipelining, events -------------------------------------------------------

CHUNKED = (
    b"POST /upload HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;note=x\r\nHello\r\n7\r\n, world\r\n0\r\nChecksum: abc\r\n\r\n"
)


def parse_in(pieces: list[bytes]) -> list[Message]:
    parser = Parser("request")
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    return collect(events + parser.end_of_input())


def test_chunked_body_split_at_every_byte_parses_the_same() -> None:
    whole = parse_in([CHUNKED])
    assert whole[0].body == b"Hello, world"
    assert whole[0].trailers == [("Checksum", "abc")]
    for cut in range(len(CHUNKED) + 1):
        assert parse_in([CHUNKED[:cut], CHUNKED[cut:]]) == whole, cut
    assert parse_in([bytes([b]) for b in CHUNKED]) == whole


def test_pipelined_requests_come_out_in_order() -> None:
    second = b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n"
    messages = parse_messages(CHUNKED + second + CHUNKED)
    assert [m.head.target for m in messages] == ["/upload", "/second", "/upload"]


def test_events_before_an_error_are_returned_and_the_error_comes_next() -> None:
    parser = Parser("request")
    good = b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"
    events = parser.feed(good + b"GET /bad HTTP/1.1\r\nHost : a\r\n\r\n")
    assert isinstance(events[0], RequestHead)
    assert isinstance(events[-1], MessageEnd)
    assert parser.state == "failed"
    with pytest.raises(HTTPError, match="whitespace between the field name") as caught:
        parser.feed(b"")
    assert caught.value.status == 400
    with pytest.raises(HTTPError):
        parser.end_of_input()


def test_a_body_arrives_as_chunks_and_is_never_buffered_whole() -> None:
    parser = Parser("request")
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")
    assert parser.feed(b"12345") == [BodyChunk(b"12345")]
    assert parser.buffer == b""
    assert parser.feed(b"67890") == [BodyChunk(b"67890"), MessageEnd()]
    assert parser.between_messages


# --- Limits ---------------------------------------------------------------------------

SMALL = Limits(
    max_start_line=40,
    max_header_bytes=100,
    max_headers=4,
    max_body=50,
    max_chunk_line=20,
)


def request_with(fields: list[bytes], start: bytes = b"GET / HTTP/1.1") -> bytes:
    return start + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


def parse_small(data: bytes, role: str = "request") -> list[Message]:
    return parse_messages(data, role, SMALL)


def test_a_start_line_at_the_limit_passes_and_one_byte_more_is_414() -> None:
    start = b"GET /" + b"a" * (40 - 14) + b" HTTP/1.1"
    assert len(start) == 40
    assert parse_small(request_with([b"Host: a"], start))
    with pytest.raises(HTTPError) as caught:
        parse_small(request_with([b"Host: a"], start.replace(b"/", b"/b")))
    assert caught.value.status == 414


def test_a_status_line_over_the_limit_is_refused_as_400() -> None:
    with pytest.raises(HTTPError) as caught:
        parse_small(b"HTTP/1.1 200 " + b"O" * 40 + b"\r\n\r\n", "response")
    assert caught.value.status == 400


def test_a_header_section_at_the_limit_passes_and_one_byte_more_is_431() -> None:
    filler = b"X: " + b"v" * (100 - 2 - 2 - 9 - 3)  # the empty line counts too
    fields = [b"Host: a", filler]
    assert sum(len(f) + 2 for f in fields) + 2 == 100
    assert parse_small(request_with(fields))
    with pytest.raises(HTTPError) as caught:
        parse_small(request_with([b"Host: a", filler + b"v"]))
    assert caught.value.status == 431


def test_the_field_count_limit_is_431() -> None:
    assert parse_small(request_with([b"Host: a", b"A: 1", b"B: 2", b"C: 3"]))
    with pytest.raises(HTTPError, match="more than 4 field lines") as caught:
        parse_small(request_with([b"Host: a", b"A: 1", b"B: 2", b"C: 3", b"D: 4"]))
    assert caught.value.status == 431


def test_a_declared_body_over_the_limit_is_413_before_any_content_arrives() -> None:
    assert parse_small(request_with([b"Host: a", b"Content-Length: 50"]) + b"x" * 50)
    parser = Parser("request", SMALL)
    with pytest.raises(HTTPError) as caught:
        parser.feed(request_with([b"Host: a", b"Content-Length: 51"]))
    assert caught.value.status == 413


def test_a_chunked_body_over_the_limit_is_413() -> None:
    head = request_with([b"Host: a", b"Transfer-Encoding: chunked"])
    assert parse_small(head + b"32\r\n" + b"x" * 50 + b"\r\n0\r\n\r\n")
    with pytest.raises(HTTPError) as caught:
        parse_small(head + b"19\r\n" + b"x" * 25 + b"\r\n1A\r\n")
    assert caught.value.status == 413


def test_a_body_read_until_close_over_the_limit_is_413() -> None:
    assert parse_small(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 50, "response")
    with pytest.raises(HTTPError) as caught:
        parse_small(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 51, "response")
    assert caught.value.status == 413


def test_a_long_chunk_extension_is_refused() -> None:
    head = request_with([b"Host: a", b"Transfer-Encoding: chunked"])
    with pytest.raises(HTTPError, match="chunk size line too long"):
        parse_small(head + b"1;" + b"e" * 30 + b"\r\nx\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    ("value", "status"),
    [("²", 400), ("1" * 5000, 413), ("0" * 5000 + "7", None), ("٣", 400)],
    ids=["superscript two", "5000 digits", "leading zeros", "arabic-indic three"],
)
def test_content_length_is_ascii_digits_and_huge_numbers_are_413(
    value: str, status: int | None
) -> None:
    """str.isdigit() says yes to "²", and int() of 5000 digits raises ValueError."""
    data = request_with([b"Host: a", b"Content-Length: " + value.encode("utf-8")])
    if status is None:
        assert parse_messages(data + b"x" * 7, limits=Limits(max_header_bytes=8000))
        return
    with pytest.raises(HTTPError) as caught:
        parse_messages(data, limits=Limits(max_header_bytes=8000))
    assert caught.value.status == status


def test_a_line_that_never_ends_is_refused_after_limit_bytes_not_buffered() -> None:
    parser = Parser("request", SMALL)
    for _ in range(SMALL.max_start_line + 1):
        assert parser.feed(b"A") == []
    assert len(parser.buffer) == SMALL.max_start_line + 1
    with pytest.raises(HTTPError) as caught:
        parser.feed(b"A")
    assert caught.value.status == 414
    assert len(parser.buffer) == SMALL.max_start_line + 2


HTTPISH = [b"GET", b"POST", b" ", b"/", b"HTTP/1.1", b"HTTP/1.0", b"\r\n", b"\r", b"\n"]
HTTPISH += [b"Host", b":", b"Content-Length", b"Transfer-Encoding", b"chunked", b"0"]
HTTPISH += [b"5", b"ff", b";", b"\t", b"a", b"\x00", b"\xff", b"HTTP/1.1 200 OK"]


@settings(max_examples=200)
@given(
    st.lists(st.sampled_from(HTTPISH) | st.binary(max_size=4), max_size=60).map(
        b"".join
    ),
    st.data(),
    st.sampled_from(["request", "response"]),
)
def test_any_bytes_give_events_or_an_http_error_and_stay_within_the_limits(
    raw: bytes, data: st.DataObject, role: str
) -> None:
    parser = Parser(role, SMALL)
    error = feed_all(parser, data.draw(pieces_of(raw)))
    if error is not None:
        assert error.status in (400, 413, 414, 431, 501, 505)
        assert parser.state == "failed"
    event("refused" if error else "accepted or incomplete")


def feed_all(parser: Parser, pieces: list[bytes]) -> HTTPError | None:
    """Feed every piece, then the end of input; return the HTTPError, if any."""
    bound = max(SMALL.max_start_line, SMALL.max_header_bytes, SMALL.max_chunk_line) + 2
    try:
        for piece in pieces:
            parser.feed(piece)
            assert len(parser.buffer) <= bound
        parser.end_of_input()
    except HTTPError as error:
        return error
    return None


# --- Specific rules, each with its RFC ------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status", "detail"),
    [
        ([b"Host : a"], 400, "whitespace between"),  # RFC 9112 5.1
        ([b"Host: a", b"X: 1", b"  folded"], 400, "obs-fold"),  # RFC 9112 5.2
        ([b"Host: a", b'X"y": 1'], 400, "invalid field name"),  # RFC 9110 5.1
        ([b"Host: a", b"X: \x00"], 400, "control character"),  # RFC 9110 5.5
        ([], 400, "0 Host fields"),  # RFC 9112 3.2
        ([b"Host: a", b"Host: b"], 400, "2 Host fields"),
        (
            [b"Host: a", b"Transfer-Encoding: chunked", b"Content-Length: 3"],
            400,
            "together",
        ),
        ([b"Host: a", b"Transfer-Encoding: chunked, gzip"], 400, "not the final"),
        ([b"Host: a", b"Transfer-Encoding: gzip, chunked"], 501, "not implemented"),
        ([b"Host: a", b"Content-Length: 1, 1"], 400, "invalid Content-Length"),
    ],
)
def test_malformed_requests_are_refused_with_the_status_the_rfc_asks_for(
    fields: list[bytes], status: int, detail: str
) -> None:
    with pytest.raises(HTTPError, match=detail) as caught:
        parse_messages(request_with(fields))
    assert caught.value.status == status


def test_transfer_coding_names_are_case_insensitive() -> None:
    data = (
        request_with([b"Host: a", b"Transfer-Encoding:  Chunked "])
        + b"1\r\nx\r\n0\r\n\r\n"
    )
    assert parse_messages(data)[0].body == b"x"


def test_http10_requests_need_no_host_and_may_not_be_chunked() -> None:
    assert parse_messages(b"GET / HTTP/1.0\r\n\r\n")[0].head.version == "HTTP/1.0"
    with pytest.raises(HTTPError, match=r"HTTP/1\.0"):
        parse_messages(
            request_with([b"Transfer-Encoding: chunked"], b"POST / HTTP/1.0")
        )


def test_an_unsupported_major_version_is_505() -> None:
    with pytest.raises(HTTPError) as caught:
        parse_messages(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n")
    assert caught.value.status == 505


def test_a_higher_minor_version_is_read_as_http_1_1() -> None:
    """RFC 9112 section 2.5: a 1.x request with x > 1 is handled as HTTP/1.1."""
    (message,) = parse_messages(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n")
    assert message.head.version == "HTTP/1.1"


@pytest.mark.parametrize(
    "value", ["\xa0chunked", "chunked\xa0", "\x85chunked", "\u3000chunked"]
)
def test_only_sp_and_htab_are_whitespace_around_a_coding(value: str) -> None:
    """str.strip() would read these as chunked; h11 answers them 501, and so do we."""
    wire = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + value.encode(
        "latin-1", "replace"
    )
    with pytest.raises(HTTPError) as caught:
        parse_messages(wire + b"\r\n\r\n0\r\n\r\n")
    assert caught.value.status in (400, 501)


def test_empty_list_elements_in_transfer_encoding_are_ignored() -> None:
    """RFC 9110 section 5.6.1.2: a recipient ignores empty list elements."""
    wire = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked,\r\n\r\n"
    (message,) = parse_messages(wire + b"3\r\nabc\r\n0\r\n\r\n")
    assert message.body == b"abc"


@pytest.mark.parametrize("host", ["a b", "a/b", "user@a", "a:80x", "[zz]"])
def test_a_host_that_is_not_a_host_and_port_is_refused(host: str) -> None:
    """RFC 9112 section 3.2: 400 for a Host field with an invalid value."""
    wire = b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n"
    with pytest.raises(HTTPError) as caught:
        parse_messages(wire)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "host", ["", "example.test", "a.b:8080", "127.0.0.1:1", "[::1]:80"]
)
def test_valid_hosts_are_accepted(host: str) -> None:
    (message,) = parse_messages(
        b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n"
    )
    assert message.head.headers == [("Host", host)]


def test_a_bare_lf_is_refused_at_once_not_after_a_timeout() -> None:
    """The first line ends in LF alone: refused when it arrives, with the rest unsent."""
    parser = Parser("request")
    with pytest.raises(HTTPError) as caught:
        parser.feed(b"GET / HTTP/1.1\nHost: a")
    assert caught.value.status == 400


@pytest.mark.parametrize("name", [b"Content-Length", b"Transfer-Encoding", b"Host"])
def test_fields_that_frame_or_route_are_refused_in_trailers(name: bytes) -> None:
    data = request_with([b"Host: a", b"Transfer-Encoding: chunked"])
    with pytest.raises(HTTPError, match="not allowed in trailer"):
        parse_messages(data + b"0\r\n" + name + b": 1\r\n\r\n")


def test_a_response_to_head_and_204_304_have_no_content_whatever_the_fields_say() -> (
    None
):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"
    parser = Parser("response", request_method="HEAD")
    assert [type(e) for e in parser.feed(head)] == [ResponseHead, MessageEnd]
    for status in (b"204 No Content", b"304 Not Modified"):
        reply = parse_messages(
            b"HTTP/1.1 " + status + b"\r\nContent-Length: 9\r\n\r\n", "response"
        )
        assert reply[0].body == b""


def test_interim_100_continue_comes_before_the_final_response() -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    replies = parse_messages(data, "response")
    assert [(m.head.status, m.body) for m in replies] == [(100, b""), (200, b"ok")]


def test_a_response_without_framing_ends_when_the_server_closes() -> None:
    parser = Parser("response")
    events = parser.feed(b"HTTP/1.0 200 OK\r\n\r\nsome ") + parser.feed(b"bytes")
    assert parser.state == "until_close"
    events += parser.end_of_input()
    assert collect(events)[0].body == b"some bytes"
    assert parser.state == "closed"


@pytest.mark.parametrize(
    "line",
    [b"HTTP/1.1 200", b"HTTP/1.1 099 Low", b"HTTP/1.1 600 High", b"HTTP/2 200 OK"],
)
def test_malformed_status_lines_are_refused(line: bytes) -> None:
    with pytest.raises(HTTPError):
        parse_messages(line + b"\r\n\r\n", "response")


def test_a_connection_closed_mid_message_is_an_error() -> None:
    parser = Parser("request")
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab")
    with pytest.raises(HTTPError, match="length_body") as caught:
        parser.end_of_input()
    assert caught.value.status == 400


# --- The state machine ----------------------------------------------------------------


def test_every_state_with_a_way_out_has_a_reader() -> None:
    states = {state for state, _ in TRANSITIONS} | set(TRANSITIONS.values())
    assert set(READERS) == states - {"closed"}


def test_an_illegal_move_names_the_state_and_the_event() -> None:
    parser = Parser("request")
    with pytest.raises(ParserStateError, match="'start_line' on 'chunk_size'"):
        parser.move("chunk_size")


def test_a_closed_parser_refuses_more_bytes_and_a_second_close() -> None:
    parser = Parser("request")
    assert parser.end_of_input() == []
    with pytest.raises(ParserStateError, match="'closed'"):
        parser.feed(b"GET")
    with pytest.raises(ParserStateError, match="'closed' on 'eof'"):
        parser.end_of_input()


def test_a_parser_has_a_role() -> None:
    with pytest.raises(ValueError, match="role"):
        Parser("proxy")
    with pytest.raises(HTTPError):
        parse_messages(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "response")


def test_the_demo_prints_events_and_refusals() -> None:
    result = run_demo(
        "snippets.communication.http_messages.message_parser", timeout=30, check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("POST /upload")
    assert "MessageEnd(trailers=[])" in lines
    assert [line.split()[0] for line in lines[-6:]] == [
        "400",
        "400",
        "400",
        "400",
        "413",
        "505",
    ]


def test_messages_compare_by_value() -> None:
    assert (
        dataclasses.replace(parse_messages(CHUNKED)[0], body=b"")
        != parse_messages(CHUNKED)[0]
    )
