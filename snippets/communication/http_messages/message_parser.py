"""An incremental HTTP/1.1 parser: bytes in, in any pieces; events out.

What it teaches: how a server or a client finds where one HTTP/1.1 message ends
and the next begins (RFC 9112). Bytes arrive from a socket in pieces of any
size; `Parser.feed` takes each piece and returns the events it completes: a head
(request line or status line plus header fields), chunks of content, and the end
of the message. The body is framed by Content-Length or by the chunked transfer
coding. The parser refuses what real servers must refuse: whitespace before a
colon, obsolete line folding, invalid field names, Transfer-Encoding together
with Content-Length. Hard limits on the start line, the header section, the
number of fields and the body raise `HTTPError`, whose `status` is what a server
answers: 400, 413, 414, 431, 501 or 505. The parser is a state machine: a table
of transitions, and one small reader function per state.

Read first: `message_anatomy` in this package (how messages are laid out), and
the sockets page (a byte stream is not a message stream).

What it leaves out: transfer codings other than chunked; CONNECT tunnels and 101
Switching Protocols (after which the bytes are not HTTP any more); and the
leniencies that RFC 9112 allows but does not require (bare LF line endings,
folded lines, a repeated Content-Length, empty lines before a request). Where
RFC 9112 says a response whose transfer coding is not chunked is read until the
connection closes, this parser refuses it instead.

Run it: `python -m snippets.communication.http_messages.message_parser`.
"""

from __future__ import annotations

# --8<-- [start:errors]
import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


class HTTPError(Exception):
    """A message the parser refuses, with the status code a server answers.

    Attributes:
        status: 400 malformed, 413 content too large, 414 request line too long,
            431 header fields too large, 501 transfer coding not implemented,
            505 HTTP version not supported.
        detail: What was wrong, for the log and the body of the error response.
    """

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail


class ParserStateError(RuntimeError):
    """A move the transition table does not allow: a bug in the caller or the
    parser."""


@dataclass(frozen=True)
class Limits:
    """Hard limits. Input beyond them is refused, never buffered without end."""

    # RFC 9112 section 3: support at least 8000 octets
    max_start_line: int = 8000
    # all field lines of one message (h11: 16 KiB)
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100  # field lines (Apache's LimitRequestFields default)
    # content bytes (nginx's client_max_body_size: 1m)
    max_body: int = 1024 * 1024
    # chunk size plus extensions (RFC 9112 section 7.1.1)
    max_chunk_line: int = 256


# --8<-- [end:errors]


# --8<-- [start:events]
# (name as received, value), in order, repeats kept
Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class RequestHead:
    """A request line and its header fields: the request is known, its body is
    not."""

    method: str
    target: str
    version: str
    headers: Headers


@dataclass(frozen=True)
class ResponseHead:
    """A status line and its header fields."""

    status: int
    reason: str
    version: str
    headers: Headers


@dataclass(frozen=True)
class BodyChunk:
    """Some bytes of content, in order. One body may arrive as many chunks."""

    data: bytes


@dataclass(frozen=True)
class MessageEnd:
    """The message is complete. A chunked body may end with trailer fields."""

    trailers: Headers = field(default_factory=list)


Event = RequestHead | ResponseHead | BodyChunk | MessageEnd
# --8<-- [end:events]


# --8<-- [start:states]
# (state, what the reader found) -> next state. A pair that is not here is a
# bug.
TRANSITIONS = {
    ("start_line", "start_line"): "fields",
    ("start_line", "eof"): "closed",  # the peer closed between messages: fine
    ("fields", "field_line"): "fields",
    # e.g. a GET: the next message may follow
    ("fields", "no_body"): "start_line",
    ("fields", "content_length"): "length_body",
    ("fields", "chunked"): "chunk_size",
    ("fields", "until_close"): "until_close",  # responses only
    ("length_body", "body_bytes"): "length_body",
    ("length_body", "body_done"): "start_line",
    ("chunk_size", "chunk_size"): "chunk_data",
    ("chunk_size", "last_chunk"): "trailers",
    ("chunk_data", "body_bytes"): "chunk_data",
    ("chunk_data", "chunk_done"): "chunk_end",
    ("chunk_end", "crlf"): "chunk_size",
    ("trailers", "field_line"): "trailers",
    ("trailers", "empty_line"): "start_line",
    ("until_close", "body_bytes"): "until_close",
    ("until_close", "eof"): "closed",
}
# Any state goes to "failed" on an HTTPError. "failed" and "closed" have no way
# out.
# --8<-- [end:states]


# --8<-- [start:lines]
# an LF without its CR: RFC 9112 section 2.2
BARE_LF = re.compile(rb"(?<!\r)\n")


def take_line(
    buffer: bytearray, limit: int, too_long: HTTPError
) -> bytes | None:
    """Cut one line, ending in CRLF, off the front of the buffer.

    Returns the line without its CRLF, or None if the line has not all arrived.
    Only the first `limit` + 2 bytes are searched, so a line that never ends
    costs bounded work and is refused with `too_long` instead of being buffered
    forever. A line ending in a bare LF is refused at once, not waited on until
    a timeout.
    """
    end = buffer.find(b"\n", 0, limit + 2)
    if end == -1:
        if len(buffer) >= limit + 2:
            raise too_long
        return None
    if BARE_LF.match(buffer, end):  # RFC 9112 section 2.2: a MAY
        raise HTTPError(400, "a line ends with a bare LF, not CRLF")
    line = bytes(buffer[: end - 1])
    del buffer[: end + 1]
    return line


def take_bytes(buffer: bytearray, most: int) -> bytes:
    """Cut up to `most` bytes off the front of the buffer: fewer if fewer
    arrived."""
    data = bytes(buffer[:most])
    del buffer[:most]
    return data


# --8<-- [end:lines]


# --8<-- [start:parser_state]
@dataclass
class ParserState:
    """Everything a parser remembers between two pieces of input, and its
    moves."""

    role: str  # "request": a server reads requests; "response": a client
    limits: Limits = field(default_factory=Limits)
    # responses to HEAD have no content: set per response
    request_method: str = "GET"
    state: str = "start_line"  # a state of TRANSITIONS, or "failed"
    error: HTTPError | None = None  # why the state became "failed"
    # received, not parsed yet
    buffer: bytearray = field(default_factory=bytearray)
    head: RequestHead | ResponseHead | None = None  # the message being read
    # its header fields, then trailers
    fields: Headers = field(default_factory=list)
    field_bytes: int = 0  # bytes of field lines in this message, for the limit
    remaining: int = 0  # content bytes left in this body or this chunk
    body_size: int = 0  # content bytes of this message so far, for the limit

    def __post_init__(self) -> None:
        if self.role not in ("request", "response"):
            raise ValueError(
                f"role must be 'request' or 'response', not {self.role!r}"
            )

    def move(self, found: str) -> None:
        """Take the transition for what a reader found; an unknown pair is a
        bug."""
        if (self.state, found) not in TRANSITIONS:
            raise ParserStateError(
                f"no move from state {self.state!r} on {found!r}"
            )
        self.state = TRANSITIONS[self.state, found]


# --8<-- [end:parser_state]


# --8<-- [start:grammar]
# RFC 9110 section 5.6.2: token characters
TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
TOKEN = re.compile(TCHAR + rb"+")
VERSION = rb"(HTTP/[0-9]\.[0-9])"  # RFC 9112 section 2.3, case-sensitive
REQUEST_LINE = re.compile(rb"(" + TCHAR + rb"+) ([\x21-\x7e]+) " + VERSION)
STATUS_LINE = re.compile(VERSION + rb" ([0-9]{3}) ([\t\x20-\x7e\x80-\xff]*)")
# no control character but TAB
FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
VERSIONS = ("HTTP/1.0", "HTTP/1.1")


def parse_request_line(line: bytes) -> RequestHead:
    """RFC 9112 section 3: method SP request-target SP HTTP-version, one space
    each."""
    match = REQUEST_LINE.fullmatch(line)
    if match is None:
        raise HTTPError(400, f"malformed request line {line[:60]!r}")
    method, target, version = (part.decode("ascii") for part in match.groups())
    if not version.startswith("HTTP/1."):  # 505 is for another major version
        raise HTTPError(505, f"unsupported version {version}")
    # RFC 9112 section 2.5: HTTP/1.2 and up read as 1.1
    if version not in VERSIONS:
        version = "HTTP/1.1"
    return RequestHead(method, target, version, [])


def parse_status_line(line: bytes) -> ResponseHead:
    """RFC 9112 section 4: HTTP-version SP status-code SP reason-phrase."""
    match = STATUS_LINE.fullmatch(line)
    if match is None or match[1].decode() not in VERSIONS:
        raise HTTPError(400, f"malformed status line {line[:60]!r}")
    version, status, reason = match[1].decode(), int(match[2]), match[3]
    if not 100 <= status <= 599:
        raise HTTPError(400, f"status code {status} is not 100-599")
    return ResponseHead(status, reason.decode("latin-1"), version, [])


# --8<-- [end:grammar]


# --8<-- [start:field_line]
def parse_field_line(line: bytes) -> tuple[str, str]:
    """RFC 9112 section 5: field-name ":" OWS field-value OWS."""
    if line[:1] in (b" ", b"\t"):
        raise HTTPError(400, "obs-fold: a field line starts with whitespace")
    name, colon, value = line.partition(b":")
    if not colon:
        raise HTTPError(400, f"field line without a colon {line[:60]!r}")
    if name.endswith((b" ", b"\t")):
        name = name.strip(b" \t")
        raise HTTPError(
            400, f"whitespace between the field name {name!r} and colon"
        )
    if not TOKEN.fullmatch(name):
        raise HTTPError(400, f"invalid field name {name[:60]!r}")
    value = value.strip(b" \t")  # OWS around the value is not part of it
    if not FIELD_VALUE.fullmatch(value):
        raise HTTPError(
            400, f"control character in the value of {name.decode()}"
        )
    return name.decode("ascii"), value.decode("latin-1")


def field_values(headers: Headers, name: str) -> list[str]:
    """Every value of the field `name` (lower case), in order.

    Field names are case-insensitive (RFC 9110 section 5.1).
    """
    return [value for key, value in headers if key.lower() == name]


# --8<-- [end:field_line]


# --8<-- [start:read_head]
# (what the reader found, the events it completed)
Step = tuple[str, list[Event]]


def read_start_line(p: ParserState) -> Step | None:
    """Read the request line or the status line."""
    if p.role == "request" and p.buffer and not TOKEN.match(p.buffer[:1]):
        # fail fast on garbage
        raise HTTPError(400, "a request starts with a method")
    # RFC 9112 section 3: 414 URI Too Long
    status = 414 if p.role == "request" else 400
    too_long = HTTPError(
        status, f"start line over {p.limits.max_start_line} bytes"
    )
    line = take_line(p.buffer, p.limits.max_start_line, too_long)
    if line is None:
        return None
    parse = parse_request_line if p.role == "request" else parse_status_line
    p.head = parse(line)
    p.fields, p.field_bytes, p.body_size = [], 0, 0
    return "start_line", []


def read_field_line(p: ParserState) -> bytes | None:
    """Read one field line into p.fields, within the limits. b"" is the empty
    line."""
    budget = p.limits.max_header_bytes - p.field_bytes - 2  # CRLF counts too
    line = take_line(
        p.buffer, budget, HTTPError(431, "header section too large")
    )
    if line:
        p.fields.append(parse_field_line(line))
        if len(p.fields) > p.limits.max_headers:
            raise HTTPError(
                431, f"more than {p.limits.max_headers} field lines"
            )
    if line is not None:
        p.field_bytes += len(line) + 2
    return line


# RFC 9110 section 7.2: Host = uri-host [ ":" port ], uri-host from RFC 3986
# 3.2.2
HOST = re.compile(
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(:[0-9]*)?"
)


def check_host(head: RequestHead) -> None:
    """RFC 9112 section 3.2: an HTTP/1.1 request carries exactly one Host field.

    Any request with two Host fields, or one whose value is not a host and port,
    gets a 400 too.
    """
    hosts = field_values(head.headers, "host")
    if len(hosts) > 1 or (head.version == "HTTP/1.1" and not hosts):
        raise HTTPError(
            400, f"{len(hosts)} Host fields: a request needs exactly one"
        )
    if hosts and not HOST.fullmatch(hosts[0]):
        raise HTTPError(400, f"invalid Host {hosts[0][:60]!r}")


# --8<-- [end:read_head]


# --8<-- [start:lengths]
DIGITS = re.compile(r"[0-9]+")  # not str.isdigit(), which says yes to "²"


def parse_content_length(values: list[str], max_body: int) -> int:
    """RFC 9110 section 8.6: Content-Length = 1*DIGIT. Anything else breaks
    framing."""
    if len(values) != 1 or not DIGITS.fullmatch(values[0]):
        raise HTTPError(400, f"invalid Content-Length {values!r}")
    digits = values[0].lstrip("0") or "0"
    if len(digits) > len(str(max_body)) or int(digits) > max_body:
        raise HTTPError(413, f"Content-Length over {max_body} bytes")
    return int(digits)


def transfer_codings(headers: Headers) -> list[str]:
    """The transfer codings, in the order they were applied (case-insensitive).

    Only SP and HTAB are whitespace here (RFC 9110 section 5.6.3): `str.strip()`
    would also remove a no-break space and read "\xa0chunked" as chunked.
    """
    values = field_values(headers, "transfer-encoding")
    codings = [c.strip(" \t") for value in values for c in value.split(",")]
    return [coding.lower() for coding in codings if coding]  # RFC 9110 5.6.1.2


def check_chunked(codings: list[str], version: str) -> None:
    """RFC 9112 section 6.1: chunked must come last; HTTP/1.0 knows no
    codings."""
    if version == "HTTP/1.0":
        raise HTTPError(400, "Transfer-Encoding in an HTTP/1.0 message")
    if codings[-1] != "chunked":
        raise HTTPError(400, "chunked is not the final transfer coding")
    if codings != ["chunked"]:
        raise HTTPError(
            501, f"transfer codings not implemented: {codings[:-1]}"
        )


# --8<-- [end:lengths]


# --8<-- [start:framing]
def body_framing(
    head: RequestHead | ResponseHead, request_method: str, max_body: int
) -> tuple[str, int]:
    """RFC 9112 section 6.3: how will the reader know where this body ends?

    Returns the framing ("no_body", "content_length", "chunked" or
    "until_close") and, for "content_length", the length.
    """
    if isinstance(head, ResponseHead) and (
        request_method == "HEAD"
        or head.status < 200
        or head.status in (204, 304)
    ):
        return "no_body", 0  # rule 1: these responses never have content
    codings = transfer_codings(head.headers)
    lengths = field_values(head.headers, "content-length")
    if codings and lengths:  # rule 3: a sign of request smuggling
        raise HTTPError(400, "Transfer-Encoding and Content-Length together")
    if codings:
        check_chunked(codings, head.version)
        return "chunked", 0  # rule 4
    if lengths:
        # rules 5, 6
        return "content_length", parse_content_length(lengths, max_body)
    if isinstance(head, RequestHead):
        return "no_body", 0  # rule 7: a request without either has no content
    return "until_close", 0  # rule 8: the server closing the connection ends it


def read_fields(p: ParserState) -> Step | None:
    """Read field lines up to the empty line, then decide how the body is
    framed."""
    line = read_field_line(p)
    if line is None:
        return None
    if line:
        return "field_line", []
    head = dataclasses.replace(p.head, headers=p.fields)
    if isinstance(head, RequestHead):
        check_host(head)
    framing, p.remaining = body_framing(
        head, p.request_method, p.limits.max_body
    )
    return framing, [head, MessageEnd()] if framing == "no_body" else [head]


# --8<-- [end:framing]


# --8<-- [start:read_body]
def read_length_body(p: ParserState) -> Step | None:
    """Read exactly Content-Length bytes of content."""
    if p.remaining == 0:
        return "body_done", [MessageEnd()]
    data = take_bytes(p.buffer, p.remaining)
    if not data:
        return None
    p.remaining -= len(data)
    return "body_bytes", [BodyChunk(data)]


def read_until_close(p: ParserState) -> Step | None:
    """Read everything until the peer closes (a response without framing)."""
    data = take_bytes(p.buffer, len(p.buffer))
    if not data:
        return None
    count_body(p, len(data))
    return "body_bytes", [BodyChunk(data)]


def count_body(p: ParserState, size: int) -> None:
    """Add to the content read so far, and refuse a body over the limit."""
    p.body_size += size
    if p.body_size > p.limits.max_body:
        raise HTTPError(413, f"body over {p.limits.max_body} bytes")


# --8<-- [end:read_body]


# --8<-- [start:chunked]
# chunk-size [ chunk-ext ] CRLF: hex digits, then extensions we read past.
CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)((?:[ \t]*;[\t\x20-\x7e\x80-\xff]*)?)")


def read_chunk_size(p: ParserState) -> Step | None:
    """RFC 9112 section 7.1: each chunk starts with its size in hex on a
    line."""
    too_long = HTTPError(400, "chunk size line too long")
    line = take_line(p.buffer, p.limits.max_chunk_line, too_long)
    if line is None:
        return None
    match = CHUNK_LINE.fullmatch(line)
    if match is None:
        raise HTTPError(400, f"malformed chunk size line {line[:60]!r}")
    # Python ints do not overflow; C parsers must check
    p.remaining = int(match[1], 16)
    count_body(p, p.remaining)
    if p.remaining == 0:
        p.fields = []  # the last chunk: trailer fields may follow
        return "last_chunk", []
    return "chunk_size", []


def read_chunk_data(p: ParserState) -> Step | None:
    """Read the chunk's bytes, in as many pieces as they arrive in."""
    data = take_bytes(p.buffer, p.remaining)
    if not data:
        return None
    p.remaining -= len(data)
    return ("chunk_done" if p.remaining == 0 else "body_bytes"), [
        BodyChunk(data)
    ]


def read_chunk_end(p: ParserState) -> Step | None:
    """The chunk's data must be followed by CRLF: anything else means a size
    lied."""
    if not b"\r\n".startswith(p.buffer[:2]):
        raise HTTPError(400, "chunk data not followed by CRLF")
    if len(p.buffer) < 2:
        return None
    del p.buffer[:2]
    return "crlf", []


# --8<-- [end:chunked]


# --8<-- [start:trailers]
NOT_IN_TRAILERS = {"content-length", "transfer-encoding", "host"}


def read_trailers(p: ParserState) -> Step | None:
    """RFC 9112 section 7.1.2: field lines after the last chunk, then an empty
    line.

    Fields that frame or route the message must not arrive after the content
    (RFC 9110 section 6.5.1): a late Content-Length could rewrite the framing.
    """
    line = read_field_line(p)
    if line is None:
        return None
    if line:
        return "field_line", []
    for name, _ in p.fields:
        if name.lower() in NOT_IN_TRAILERS:
            raise HTTPError(400, f"{name} is not allowed in trailer fields")
    return "empty_line", [MessageEnd(p.fields)]


READERS: dict[str, Callable[[ParserState], Step | None]] = {
    "start_line": read_start_line,
    "fields": read_fields,
    "length_body": read_length_body,
    "chunk_size": read_chunk_size,
    "chunk_data": read_chunk_data,
    "chunk_end": read_chunk_end,
    "trailers": read_trailers,
    "until_close": read_until_close,
}
# --8<-- [end:trailers]


# --8<-- [start:parser]
class Parser(ParserState):
    """Reads the messages of one connection from bytes that arrive in any
    pieces.

    Make one per connection: `Parser("request")` in a server,
    `Parser("response")` in a client, optionally with `Limits`. Call `feed` with
    every piece received and `end_of_input` when the peer closes its side.
    """

    def feed(self, data: bytes) -> list[Event]:
        """Add the bytes that arrived; return every event they complete, in
        order.

        Raises:
            HTTPError: the input is malformed or over a limit. Events completed
                before the error are returned first; the next call raises it.
        """
        if self.error:
            raise self.error
        if self.state == "closed":
            raise ParserStateError("cannot feed bytes in state 'closed'")
        self.buffer += data
        events: list[Event] = []
        try:
            while (step := READERS[self.state](self)) is not None:
                found, new_events = step
                self.move(found)
                events += new_events
        except HTTPError as error:
            self.state, self.error = "failed", error
            if not events:
                raise
        return events

    def end_of_input(self) -> list[Event]:
        """The peer closed its side: this ends a body read until close.

        Raises:
            HTTPError: the connection closed in the middle of a message.
        """
        if self.error:
            raise self.error
        if self.buffer or self.state not in (
            "start_line",
            "until_close",
            "closed",
        ):
            detail = (
                f"connection closed in the middle of a message ({self.state})"
            )
            self.state, self.error = "failed", HTTPError(400, detail)
            raise self.error
        events: list[Event] = (
            [MessageEnd()] if self.state == "until_close" else []
        )
        # a second call fails here: there is no move out of "closed"
        self.move("eof")
        return events

    @property
    def between_messages(self) -> bool:
        """True when no byte of a next message has arrived: the connection is
        idle."""
        return self.state == "start_line" and not self.buffer


# --8<-- [end:parser]


# --8<-- [start:messages]
@dataclass(frozen=True)
class Message:
    """A whole message: its head, its content in memory, and its trailer
    fields."""

    head: RequestHead | ResponseHead
    body: bytes
    trailers: Headers


def collect(events: Iterable[Event]) -> list[Message]:
    """Glue the events of complete messages into `Message` objects."""
    messages: list[Message] = []
    head, body = None, bytearray()
    for event in events:
        if isinstance(event, RequestHead | ResponseHead):
            head, body = event, bytearray()
        elif isinstance(event, BodyChunk):
            body += event.data
        elif head is not None:
            messages.append(Message(head, bytes(body), event.trailers))
    return messages


def parse_messages(
    data: bytes, role: str = "request", limits: Limits | None = None
) -> list[Message]:
    """Parse bytes that hold whole messages, as if the peer then closed."""
    parser = Parser(role, limits or Limits())
    return collect(parser.feed(data) + parser.end_of_input())


# --8<-- [end:messages]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    wire = (
        b"POST /upload HTTP/1.1\r\nHost: example.test\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"5\r\nHello\r\n7\r\n, world\r\n0\r\n\r\n"
    )
    parser = Parser("request")
    events = []
    for start in range(0, len(wire), 16):  # the bytes arrive 16 at a time
        events += parser.feed(wire[start : start + 16])
    head, *rest = events
    print(head.method, head.target, head.headers)
    #> POST /upload [('Host', 'example.test'), ('Transfer-Encoding', 'chunked')]
    for event in rest:
        print(event)
        #> BodyChunk(data=b'Hell')
        #> BodyChunk(data=b'o')
        #> BodyChunk(data=b', world')
        #> MessageEnd(trailers=[])
    # --8<-- [end:demo]

    # --8<-- [start:demo_errors]
    refused = [
        b"GET / HTTP/1.1\r\nHost : example.test\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n"
        b"X-Long: folded\r\n  onto two lines\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
    ]
    for wire in refused:
        try:
            parse_messages(wire)
        except HTTPError as error:
            print(error.status, error.detail)
            #> 400 whitespace between the field name b'Host' and colon
            #> 400 obs-fold: a field line starts with whitespace
            #> 400 Transfer-Encoding and Content-Length together
            #> 400 invalid field name b'X(y)'
            #> 413 Content-Length over 1048576 bytes
            #> 505 unsupported version HTTP/2.0
    # --8<-- [end:demo_errors]
