"""DNS on the wire: encode a query, decode an answer, serve a tiny zone over
UDP.

Read the sockets page first: this module sends UDP datagrams on loopback. It
builds the RFC 1035 message format by hand (the 12-byte header, the question,
resource records and name compression) with the checks that a parser of
untrusted packets needs: bounds on every read, a loop guard on compression
pointers and the size limits of the RFC. Then it serves a small zone from a UDP
responder on 127.0.0.1, asks it questions the way a stub resolver does, and
caches the answers for their TTL, negative answers included.

What it leaves out: TCP (needed for answers over 512 bytes), EDNS beyond the
basic rules of the OPT record (one per message, version 0), DNSSEC, recursion
(following referrals from the root down), CNAME chasing, most record types (A,
AAAA, NS, CNAME, PTR and SOA are decoded, the rest stay raw bytes) and
internationalised names (IDNA).

Run it: `python -m snippets.communication.dns_wire`.
"""

# --8<-- [start:basics]
import ipaddress
import re
import secrets
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_SOA, TYPE_PTR = 1, 2, 5, 6, 12
TYPE_AAAA, TYPE_OPT = 28, 41
CLASS_IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = range(6)

MAX_LABEL = 63  # RFC 1035 section 2.3.4: "labels 63 octets or less"
MAX_NAME = 255  # "names 255 octets or less", counted on the wire
MAX_UDP_SIZE = 512  # "UDP messages 512 octets or less"
# a longer chain of pointers is an attack (dnspython: 16 too)
MAX_POINTER_HOPS = 16


class DnsError(Exception):
    """Something went wrong while asking a DNS question."""


class DnsFormatError(DnsError, ValueError):
    """Bytes or a name that break RFC 1035: truncated, malformed or
    malicious."""


def _take(data: bytes, pos: int, size: int) -> bytes:
    """Return `size` bytes at `pos`, or raise if the packet ends before."""
    if pos + size > len(data):
        have = max(len(data) - pos, 0)
        raise DnsFormatError(
            f"truncated: {size} bytes needed at {pos}, {have} left"
        )
    return data[pos : pos + size]


# --8<-- [end:basics]


# --8<-- [start:name_text]
# One token of a name in text form (RFC 1035 section 5.1): \DDD, three ASCII
# digits (any byte); \X, any other character X taken as itself (\. is a dot
# inside a label); a dot between labels; a printable character. Anything else is
# refused.
_TOKEN = re.compile(
    r"\\([0-9]{3})|\\([ -/:-~])|(\.)|([!-\[\]-~])|(.)", re.DOTALL
)


def text_to_labels(name: str) -> list[bytes]:
    """Split a name such as `www.example.test` into labels; `\\DDD` is any
    byte."""
    if not name:
        raise DnsFormatError("an empty name: the root is written '.'")
    labels: list[bytes] = []
    label = bytearray()
    for match in _TOKEN.finditer(name):
        code, escaped, dot, char, bad = match.groups()
        if bad is not None or (code is not None and int(code) > 255):
            raise DnsFormatError(f"bad character {match.group()!r} in {name!r}")
        if dot is None:
            label.append(int(code) if code else ord(escaped or char))
        elif label:
            labels.append(bytes(label))
            label = bytearray()
        elif name != ".":  # only the root name may be written as a lone dot
            raise DnsFormatError(f"empty label in {name!r}")
    if label:
        labels.append(bytes(label))
    _check_lengths(labels)
    return labels


def _check_lengths(labels: list[bytes]) -> None:
    if any(not 0 < len(label) <= MAX_LABEL for label in labels):
        raise DnsFormatError("a label must have 1 to 63 bytes")
    if sum(len(label) + 1 for label in labels) + 1 > MAX_NAME:
        raise DnsFormatError("a name must fit in 255 bytes on the wire")


# --8<-- [end:name_text]


# --8<-- [start:name_print]
def labels_to_text(labels: list[bytes]) -> str:
    """The text form: printable ASCII as is; `.`, `\\` and other bytes as
    `\\DDD`."""
    if not labels:
        return "."
    return ".".join("".join(map(_char, label)) for label in labels)


def _char(byte: int) -> str:
    return (
        chr(byte)
        if 0x21 <= byte <= 0x7E and byte not in b".\\"
        else f"\\{byte:03d}"
    )


# --8<-- [end:name_print]


# --8<-- [start:name_wire]
Offsets = dict[tuple[bytes, ...], int]  # names already written -> their offset


def write_name(out: bytearray, name: str, offsets: Offsets | None) -> None:
    """Append `name`; with `offsets`, end it with a pointer to an earlier
    copy."""
    labels = text_to_labels(name)
    for i, label in enumerate(labels):
        suffix = tuple(labels[i:])
        if offsets is not None and suffix in offsets:
            # 11 + 14-bit offset
            out += struct.pack("!H", 0xC000 | offsets[suffix])
            return
        if offsets is not None and len(out) < 0x4000:  # a pointer reaches 16383
            offsets[suffix] = len(out)
        out += bytes([len(label)]) + label
    out.append(0)  # the root label ends every uncompressed name


def read_name(data: bytes, pos: int) -> tuple[str, int]:
    """Read the name at `pos`, following pointers; return it and the offset
    after it."""
    labels: list[bytes] = []
    view, start, after, hops, size = data, pos, None, 0, 1
    while (length := _take(view, pos, 1)[0]) != 0:
        if length >= 0xC0:  # 11xxxxxx: a pointer to a prior occurrence
            target = struct.unpack("!H", _take(view, pos, 2))[0] & 0x3FFF
            hops += 1
            if target >= start or hops > MAX_POINTER_HOPS:
                raise DnsFormatError(
                    f"pointer at {pos} to {target} does not go back"
                )
            after = pos + 2 if after is None else after
            # never re-read a byte
            view, start, pos = view[:start], target, target
        elif length > MAX_LABEL:  # 01xxxxxx and 10xxxxxx are reserved
            raise DnsFormatError(f"reserved label type {length:#04x} at {pos}")
        else:
            labels.append(_take(view, pos + 1, length))
            pos, size = pos + 1 + length, size + 1 + length
            if size > MAX_NAME:
                raise DnsFormatError(
                    f"name longer than {MAX_NAME} bytes at {pos}"
                )
    return labels_to_text(labels), pos + 1 if after is None else after


# --8<-- [end:name_wire]


# --8<-- [start:records]
@dataclass(frozen=True)
class Question:
    """What is asked (section 4.1.2): a name, a type (A = 1) and a class (IN =
    1)."""

    name: str
    qtype: int = TYPE_A
    qclass: int = CLASS_IN


@dataclass(frozen=True)
class Soa:
    """A zone's start of authority (section 3.3.13); `minimum` caps negative
    TTLs."""

    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


@dataclass(frozen=True)
class Record:
    """A resource record (section 4.1.3). `data` is an address (A, AAAA), a name
    (NS, CNAME, PTR), a `Soa`, or the raw RDATA bytes of any other type."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    data: str | Soa | bytes


NAME_TYPES = {TYPE_NS, TYPE_CNAME, TYPE_PTR}  # RDATA is one (compressible) name


# --8<-- [end:records]


# --8<-- [start:rdata]
def _write_rdata(
    out: bytearray, record: Record, offsets: Offsets | None
) -> None:
    data = record.data
    if record.rtype in (TYPE_A, TYPE_AAAA) and isinstance(data, str):
        out += ipaddress.ip_address(data).packed
    elif record.rtype in NAME_TYPES and isinstance(data, str):
        write_name(out, data, offsets)
    elif record.rtype == TYPE_SOA and isinstance(data, Soa):
        write_name(out, data.mname, offsets)
        write_name(out, data.rname, offsets)
        numbers = (
            data.serial,
            data.refresh,
            data.retry,
            data.expire,
            data.minimum,
        )
        out += struct.pack("!5I", *numbers)
    elif isinstance(data, bytes):
        out += data  # a type we do not know is copied as it is (RFC 3597)
    else:
        raise TypeError(f"no encoding for type {record.rtype} with {data!r}")


def _read_rdata(
    data: bytes, pos: int, rtype: int, size: int
) -> str | Soa | bytes:
    raw = _take(data, pos, size)
    if rtype in (TYPE_A, TYPE_AAAA):
        if size != (4 if rtype == TYPE_A else 16):
            raise DnsFormatError(f"an address of {size} bytes for type {rtype}")
        return str(ipaddress.ip_address(raw))
    value: str | Soa
    if rtype in NAME_TYPES:
        value, end = read_name(data, pos)
    elif rtype == TYPE_SOA:
        mname, end = read_name(data, pos)
        rname, end = read_name(data, end)
        value = Soa(mname, rname, *struct.unpack("!5I", _take(data, end, 20)))
        end += 20
    else:
        return raw
    if end != pos + size:  # RDLENGTH must cover exactly what the type contains
        raise DnsFormatError(
            f"RDLENGTH {size} does not match type {rtype} at {pos}"
        )
    return value


# --8<-- [end:rdata]


# --8<-- [start:sections]
def write_record(
    out: bytearray, record: Record, offsets: Offsets | None
) -> None:
    """Append one resource record: NAME, TYPE, CLASS, TTL, RDLENGTH, RDATA."""
    write_name(out, record.name, offsets)
    out += struct.pack("!HHIH", record.rtype, record.rclass, record.ttl, 0)
    start = len(out)
    _write_rdata(out, record, offsets)
    # RDLENGTH, now known
    struct.pack_into("!H", out, start - 2, len(out) - start)


def read_record(data: bytes, pos: int) -> tuple[Record, int]:
    """Read one resource record at `pos`; return it and the offset after it."""
    name, pos = read_name(data, pos)
    rtype, rclass, ttl, size = struct.unpack("!HHIH", _take(data, pos, 10))
    value = _read_rdata(data, pos + 10, rtype, size)
    return Record(name, rtype, rclass, ttl, value), pos + 10 + size


def read_question(data: bytes, pos: int) -> tuple[Question, int]:
    """Read one question at `pos`: QNAME, QTYPE, QCLASS."""
    name, pos = read_name(data, pos)
    qtype, qclass = struct.unpack("!HH", _take(data, pos, 4))
    return Question(name, qtype, qclass), pos + 4


# --8<-- [end:sections]


# --8<-- [start:message]
@dataclass
class Message:
    """A DNS message (section 4.1): the header's fields and four sections."""

    id: int
    qr: bool = False  # 0 = query, 1 = response
    opcode: int = 0  # 0 = a standard query
    aa: bool = False  # authoritative answer
    tc: bool = False  # truncated: the full answer needs TCP
    rd: bool = True  # recursion desired
    ra: bool = False  # recursion available
    # reserved in RFC 1035; RFC 4035 later named two of its bits AD and CD
    z: int = 0
    rcode: int = NOERROR
    questions: list[Question] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)


# Header flags (section 4.1.1), as (shift, mask) in the 16-bit word after the
# ID: QR | Opcode (4) | AA | TC | RD | RA | Z (3) | RCODE (4)
FLAGS = {"qr": (15, 1), "opcode": (11, 15), "aa": (10, 1), "tc": (9, 1)}
FLAGS |= {"rd": (8, 1), "ra": (7, 1), "z": (4, 7), "rcode": (0, 15)}


def _pack_flags(message: Message) -> int:
    word = 0
    for name, (shift, mask) in FLAGS.items():
        value = int(getattr(message, name))
        if not 0 <= value <= mask:
            raise ValueError(f"{name}={value} does not fit in its header bits")
        word |= value << shift
    return word


def _unpack_flags(word: int) -> dict[str, Any]:
    fields = {
        name: word >> shift & mask for name, (shift, mask) in FLAGS.items()
    }
    return {
        name: bool(v) if FLAGS[name][1] == 1 else v
        for name, v in fields.items()
    }


# --8<-- [end:message]


# --8<-- [start:codec]
def encode_message(message: Message, *, compress: bool = True) -> bytes:
    """The wire form of `message`: a 12-byte header, then the four sections."""
    sections = [message.answers, message.authority, message.additional]
    counts = [len(message.questions), *map(len, sections)]
    out = bytearray(
        struct.pack("!6H", message.id, _pack_flags(message), *counts)
    )
    offsets: Offsets | None = {} if compress else None
    for question in message.questions:
        write_name(out, question.name, offsets)
        out += struct.pack("!HH", question.qtype, question.qclass)
    for record in message.answers + message.authority + message.additional:
        write_record(out, record, offsets)
    return bytes(out)


# --8<-- [end:codec]


# --8<-- [start:decode]
def decode_message(data: bytes) -> Message:
    """Parse a whole message; any malformed or truncated input raises
    DnsFormatError."""
    msg_id, flags, *counts = struct.unpack("!6H", _take(data, 0, 12))
    questions, pos = _read_many(read_question, data, 12, counts[0])
    answers, pos = _read_many(read_record, data, pos, counts[1])
    authority, pos = _read_many(read_record, data, pos, counts[2])
    additional, pos = _read_many(read_record, data, pos, counts[3])
    if pos != len(data):
        raise DnsFormatError(f"{len(data) - pos} bytes after the last record")
    return Message(
        msg_id,
        **_unpack_flags(flags),
        questions=questions,
        answers=answers,
        authority=authority,
        additional=additional,
    )


def _read_many(
    read: Callable[[bytes, int], Any], data: bytes, pos: int, count: int
) -> tuple[list[Any], int]:
    items = []
    # each item consumes bytes, so a huge count fails fast
    for _ in range(count):
        item, pos = read(data, pos)
        items.append(item)
    return items, pos


# --8<-- [end:decode]


# --8<-- [start:make_query]
def make_query(
    name: str, qtype: int = TYPE_A, *, msg_id: int | None = None
) -> Message:
    """A query for one name; its ID is random unless given (RFC 5452)."""
    if msg_id is None:
        msg_id = secrets.randbelow(1 << 16)
    return Message(msg_id, rd=True, questions=[Question(name, qtype)])


# --8<-- [end:make_query]


# --8<-- [start:zone]
@dataclass(frozen=True)
class Zone:
    """The records one authoritative server holds: its names and their A
    records."""

    origin: str
    soa: Soa
    addresses: dict[str, list[str]]  # lower-case owner name -> IPv4 addresses
    ttl: int = 300

    def contains(self, name: str) -> bool:
        """Is `name` at or below the origin, so that this zone is the
        authority?"""
        return name == self.origin or name.endswith("." + self.origin)

    def exists(self, name: str) -> bool:
        """Does the name own records, or have names below it (RFC 8020)?"""
        below = "." + name
        return name == self.origin or any(
            owner == name or owner.endswith(below) for owner in self.addresses
        )


EXAMPLE_ZONE = Zone(
    origin="example.test",  # .test is reserved for testing (RFC 6761)
    soa=Soa(
        mname="ns1.example.test",
        rname="hostmaster.example.test",  # hostmaster@example.test
        serial=2024060101,
        refresh=3600,
        retry=600,
        expire=86400,
        minimum=60,  # seconds a "no such name" may be cached
    ),
    addresses={  # 192.0.2.0/24 is reserved for documentation (RFC 5737)
        "example.test": ["192.0.2.1"],
        "www.example.test": ["192.0.2.10", "192.0.2.11"],
        "api.v1.example.test": ["192.0.2.20"],
    },
)
# --8<-- [end:zone]


# --8<-- [start:answer_helpers]
def _fill(reply: Message, question: Question, zone: Zone) -> None:
    """Answer one question from the zone, or say why not (REFUSED, NXDOMAIN)."""
    name = question.name.lower()  # names compare case-insensitively (RFC 4343)
    if question.qclass != CLASS_IN or not zone.contains(name):
        reply.rcode = REFUSED  # not our zone, and we do not recurse
        return
    reply.aa = True
    if question.qtype == TYPE_A:
        addresses = zone.addresses.get(name, [])
        reply.answers = [
            Record(question.name, TYPE_A, CLASS_IN, zone.ttl, a)
            for a in addresses
        ]
    # the zone's own SOA
    elif question.qtype == TYPE_SOA and name == zone.origin:
        reply.answers = [
            Record(question.name, TYPE_SOA, CLASS_IN, zone.ttl, zone.soa)
        ]
    # negative: NXDOMAIN or "no data", with the SOA to cache it
    if not reply.answers:
        reply.rcode = NOERROR if zone.exists(name) else NXDOMAIN
        ttl = min(zone.ttl, zone.soa.minimum)  # RFC 2308 section 3
        reply.authority = [
            Record(zone.origin, TYPE_SOA, CLASS_IN, ttl, zone.soa)
        ]


def _format_error(packet: bytes) -> bytes | None:
    """FORMERR for a packet we cannot parse, if it has a header to answer to."""
    # no header to answer, or a response
    if len(packet) < 12 or packet[2] & 0x80:
        return None
    return encode_message(
        Message(int.from_bytes(packet[:2]), qr=True, rcode=FORMERR)
    )


def _fit_udp(reply: Message) -> bytes:
    """The reply's bytes; if over 512, the header alone with TC set."""
    wire = encode_message(reply)
    if len(wire) <= MAX_UDP_SIZE:
        return wire
    reply.tc, reply.answers, reply.authority = True, [], []  # section 4.2.1
    return encode_message(reply)


# --8<-- [end:answer_helpers]


# --8<-- [start:edns]
EDNS_VERSION = 0  # the only version of EDNS there is (RFC 6891)
# an extended RCODE: its upper 8 bits travel in the OPT record's TTL
BADVERS = 16


def _edns(query: Message, reply: Message) -> bool:
    """Apply RFC 6891 to the query's OPT records; False if it must not be
    answered."""
    opts = [record for record in query.additional if record.rtype == TYPE_OPT]
    if not opts:
        return True  # no OPT in the query, so none in the reply
    rcode = NOERROR
    if len(opts) > 1:
        rcode = FORMERR  # section 6.1.1
    # TTL: EXT-RCODE, VERSION, flags
    elif opts[0].ttl >> 16 & 0xFF != EDNS_VERSION:
        rcode = BADVERS  # section 6.1.3
    reply.rcode = rcode & 0xF  # the header holds the lower 4 bits of the RCODE
    # our OPT: the upper 8 bits, then VERSION 0, no flags
    ttl = rcode >> 4 << 24
    reply.additional = [Record(".", TYPE_OPT, MAX_UDP_SIZE, ttl, b"")]
    return rcode == NOERROR


# --8<-- [end:edns]


# --8<-- [start:answer]
def answer(packet: bytes, zone: Zone) -> bytes | None:
    """The responder's reply to one datagram, or None to drop it."""
    try:
        query = decode_message(packet)
    except DnsFormatError:
        return _format_error(packet)
    if query.qr:  # never answer an answer: two servers could echo forever
        return None
    reply = Message(query.id, qr=True, opcode=query.opcode, rd=query.rd)
    reply.questions = query.questions
    if not _edns(query, reply):  # FORMERR or BADVERS, with an OPT record
        return _fit_udp(reply)
    if query.opcode != 0:
        reply.rcode = NOTIMP
    elif len(query.questions) != 1:
        reply.rcode = FORMERR
    else:
        _fill(reply, query.questions[0], zone)
    return _fit_udp(reply)


# --8<-- [end:answer]


# --8<-- [start:responder]
TIMEOUT = 5.0  # seconds: a wait for a datagram or for the serving thread


class DnsResponder(socketserver.UDPServer):
    """An authoritative server for one zone on a free loopback UDP port.

    Use it as a context manager: entering starts the serving thread, leaving
    stops it and closes the socket.
    """

    # a longer datagram is cut short and gets FORMERR
    max_packet_size = MAX_UDP_SIZE

    def __init__(self, zone: Zone) -> None:
        super().__init__(("127.0.0.1", 0), _ZoneHandler)
        self.zone = zone
        self.socket.settimeout(TIMEOUT)
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()  # stop serve_forever, then close the socket
        self.server_close()
        self._thread.join(timeout=TIMEOUT)


class _ZoneHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        # for UDP: the datagram and the server socket
        packet, sock = self.request
        reply = answer(packet, self.server.zone)
        if reply is not None:
            sock.sendto(reply, self.client_address)


# --8<-- [end:responder]


# --8<-- [start:stub]
def query_udp(
    name: str,
    server: tuple[str, int],
    qtype: int = TYPE_A,
    timeout: float = 2.0,
) -> Message:
    """Ask `server` one question over UDP and return the reply that matches it.

    Raises:
        TimeoutError: no matching reply came within `timeout` seconds.
        DnsError: the reply was truncated (TC): the full answer needs TCP.
    """
    query = make_query(name, qtype)
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # the kernel now drops datagrams from other addresses
        sock.connect(server)
        sock.send(encode_message(query))
        while True:  # skip stray or forged datagrams until the deadline
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            reply = _decode_or_none(sock.recv(MAX_UDP_SIZE))
            if reply is not None and _is_reply_to(query, reply):
                break
    if reply.tc:
        raise DnsError(f"the answer for {name} was truncated: retry over TCP")
    return reply


def _decode_or_none(data: bytes) -> Message | None:
    try:
        return decode_message(data)
    except DnsFormatError:
        return None


def _is_reply_to(query: Message, reply: Message) -> bool:
    def asked(m: Message) -> list[tuple[str, int, int]]:
        return [(q.name.lower(), q.qtype, q.qclass) for q in m.questions]

    return reply.qr and reply.id == query.id and asked(reply) == asked(query)


# --8<-- [end:stub]


# --8<-- [start:ttl]
def cache_ttl(reply: Message) -> int:
    """Seconds a reply may be cached: its smallest answer TTL or, for a negative
    answer, min(SOA TTL, SOA MINIMUM) (RFC 2308); 0 if it carries neither."""
    if reply.answers:
        ttls = [record.ttl for record in reply.answers]
    else:
        ttls = [
            min(record.ttl, record.data.minimum)
            for record in reply.authority
            if isinstance(record.data, Soa)
        ]
    ttl = min(ttls, default=0)
    return ttl if ttl < 2**31 else 0  # RFC 2181 section 8: top bit set means 0


class ManualClock:
    """A clock that moves only when told to, so that TTLs expire on demand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --8<-- [end:ttl]


# --8<-- [start:cache]
class CachingResolver:
    """A stub resolver with a cache: answers and "no such name" live for their
    TTL."""

    def __init__(
        self,
        server: tuple[str, int],
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1000,
    ) -> None:
        self.server = server
        self.clock = clock
        self.max_entries = max_entries
        self.queries_sent = 0
        # lower-case name -> (expiry time, addresses); never more than
        # max_entries
        self._cache: dict[str, tuple[float, list[str]]] = {}

    def resolve(self, name: str) -> list[str]:
        """The IPv4 addresses of `name` (an empty list if it has none)."""
        key = name.lower()
        cached = self._cache.get(key)
        if cached is not None and self.clock() < cached[0]:
            return cached[1]
        reply = query_udp(name, self.server)
        self.queries_sent += 1
        if reply.rcode not in (NOERROR, NXDOMAIN):
            raise DnsError(
                f"{name}: the server answered with rcode {reply.rcode}"
            )
        addresses = [r.data for r in reply.answers if isinstance(r.data, str)]
        self._store(key, addresses, cache_ttl(reply))
        return addresses

    def _store(self, key: str, addresses: list[str], ttl: int) -> None:
        self._cache.pop(key, None)
        if len(self._cache) >= self.max_entries:
            del self._cache[next(iter(self._cache))]  # evict the oldest entry
        self._cache[key] = (self.clock() + ttl, addresses)


# --8<-- [end:cache]


if __name__ == "__main__":
    # The page checks the `#>` lines under each print: the formatter must keep
    # them.
    # fmt: off
    # --8<-- [start:demo_query]
    query = encode_message(make_query("www.example.test", msg_id=0x1234))
    print(len(query))
    #> 34
    print(query[:12].hex(" "))  # ID, flags (RD), QDCOUNT 1, three zero counts
    #> 12 34 01 00 00 01 00 00 00 00 00 00
    print(query[12:].hex(" "))  # 3 www 7 example 4 test 0, QTYPE A, QCLASS IN
    #> 03 77 77 77 07 65 78 61 6d 70 6c 65 04 74 65 73 74 00 00 01 00 01
    print(decode_message(query).questions)
    #> [Question(name='www.example.test', qtype=1, qclass=1)]
    # --8<-- [end:demo_query]

    # --8<-- [start:demo_compression]
    reply = make_query("www.example.test", msg_id=0x1234)
    reply.qr = True
    reply.answers = [
        Record("www.example.test", TYPE_A, CLASS_IN, 300, "192.0.2.10"),
        Record("www.example.test", TYPE_A, CLASS_IN, 300, "192.0.2.11"),
    ]
    packed = encode_message(reply)
    print(len(packed), len(encode_message(reply, compress=False)))
    #> 66 98
    # the first answer: its name is a pointer to 12
    print(packed[34:46].hex(" "))
    #> c0 0c 00 01 00 01 00 00 01 2c 00 04
    print(decode_message(packed) == reply)
    #> True
    # --8<-- [end:demo_compression]

    # --8<-- [start:demo_guard]
    header = bytes.fromhex("1234 0100 0001 0000 0000 0000")
    attacks = {
        # a pointer to itself
        "loop": header + b"\xc0\x0c" + b"\x00\x01\x00\x01",
        "forward": header + b"\xc0\x20" + b"\x00\x01\x00\x01",  # points ahead
        "cut": query[:20],  # the name stops in the middle of a label
        "label type": header + b"\x41" + b"\x00" * 5,  # 01xxxxxx is reserved
    }
    for attack, packet in attacks.items():
        try:
            decode_message(packet)
        except DnsFormatError as error:
            print(f"{attack}: {error}")
            #> loop: pointer at 12 to 12 does not go back
            #> forward: pointer at 12 to 32 does not go back
            #> cut: truncated: 7 bytes needed at 17, 3 left
            #> label type: reserved label type 0x41 at 12
    # --8<-- [end:demo_guard]

    # --8<-- [start:demo_responder]
    with DnsResponder(EXAMPLE_ZONE) as responder:
        found = query_udp("WWW.example.test", responder.server_address)
        missing = query_udp("nope.example.test", responder.server_address)
        empty = query_udp("v1.example.test", responder.server_address)
    print(found.aa, found.rcode, found.answers[0].name, found.answers[0].ttl)
    #> True 0 WWW.example.test 300
    print([record.data for record in found.answers])
    #> ['192.0.2.10', '192.0.2.11']
    print(missing.rcode == NXDOMAIN, missing.answers, missing.authority[0].ttl)
    #> True [] 60
    print(empty.rcode == NOERROR, empty.answers, empty.authority[0].ttl)
    #> True [] 60
    # --8<-- [end:demo_responder]

    # --8<-- [start:demo_cache]
    clock = ManualClock()
    steps = [  # (seconds that pass, name asked)
        (0, "www.example.test"),
        (10, "WWW.Example.Test"),
        (300, "www.example.test"),
        (0, "nope.example.test"),
        (59, "nope.example.test"),
        (2, "nope.example.test"),
    ]
    with DnsResponder(EXAMPLE_ZONE) as responder:
        resolver = CachingResolver(responder.server_address, clock=clock)
        for seconds, name in steps:
            clock.now += seconds
            found = resolver.resolve(name)
            sent = resolver.queries_sent
            print(f"t={clock.now:.0f} {name} {found} queries={sent}")
            #> t=0 www.example.test ['192.0.2.10', '192.0.2.11'] queries=1
            #> t=10 WWW.Example.Test ['192.0.2.10', '192.0.2.11'] queries=1
            #> t=310 www.example.test ['192.0.2.10', '192.0.2.11'] queries=2
            #> t=310 nope.example.test [] queries=3
            #> t=369 nope.example.test [] queries=3
            #> t=371 nope.example.test [] queries=4
    # --8<-- [end:demo_cache]
    # fmt: on
