"""The DNS page's claims, checked against dnspython.

dnspython parses the packets we build and we parse the ones it builds; dnspython's own
query function and stub resolver get correct answers from our responder on loopback;
hypothesis checks that names round-trip, that our name decoder agrees with dnspython's
on arbitrary bytes, and that random or damaged packets only ever raise DnsFormatError.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from snippets.communication import dns_wire
from snippets.communication.dns_wire import (
    CLASS_IN,
    TYPE_A,
    TYPE_AAAA,
    TYPE_CNAME,
    TYPE_NS,
    TYPE_PTR,
    TYPE_SOA,
    CachingResolver,
    DnsError,
    DnsFormatError,
    DnsResponder,
    ManualClock,
    Message,
    Question,
    Record,
    Soa,
    Zone,
    decode_message,
    encode_message,
    labels_to_text,
    make_query,
    read_name,
    text_to_labels,
    write_name,
)
from tests.helpers import TIMEOUT, run_demo

# ---------------------------------------------------------------------------------------
# Strategies: labels are any bytes (RFC 2181 section 11), names fit in 255 wire bytes.

labels = st.binary(min_size=1, max_size=63)
label_lists = st.lists(labels, max_size=4).filter(
    lambda ls: sum(len(label) + 1 for label in ls) + 1 <= 255
)
names = label_lists.map(labels_to_text)
hostnames = st.lists(
    st.from_regex(r"[a-zA-Z0-9]{1,12}", fullmatch=True), max_size=4
).map(lambda parts: ".".join(parts) or ".")
ttls = st.integers(0, 2**31 - 1)
u32 = st.integers(0, 2**32 - 1)
ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
ZONE = dns_wire.EXAMPLE_ZONE
PRIVATE_TYPE = 65280  # private-use type (RFC 6895): dnspython keeps its RDATA as bytes


def records_of(owner: st.SearchStrategy[str]) -> st.SearchStrategy[Record]:
    def record(rtype: int, data: st.SearchStrategy) -> st.SearchStrategy[Record]:
        return st.builds(Record, owner, st.just(rtype), st.just(CLASS_IN), ttls, data)

    soa = st.builds(Soa, names, names, u32, u32, u32, u32, u32)
    return st.one_of(
        record(TYPE_A, ipv4),
        record(TYPE_AAAA, ipv6),
        record(TYPE_NS, names),
        record(TYPE_CNAME, names),
        record(TYPE_PTR, names),
        record(TYPE_SOA, soa),
        record(PRIVATE_TYPE, st.binary(max_size=20)),
    )


questions = st.builds(
    Question,
    st.one_of(names, hostnames),
    st.sampled_from([1, 2, 5, 6, 12, 15, 16, 28, 255]),
    st.sampled_from([1, 3]),
)
records = records_of(st.one_of(names, hostnames))
messages = st.builds(
    Message,
    id=st.integers(0, 0xFFFF),
    qr=st.booleans(),
    opcode=st.sampled_from([0, 1, 2, 4]),  # not UPDATE (5): its sections differ
    aa=st.booleans(),
    tc=st.booleans(),
    rd=st.booleans(),
    ra=st.booleans(),
    z=st.integers(0, 7),
    rcode=st.integers(0, 15),
    questions=st.lists(
        questions, max_size=2, unique_by=lambda q: (q.name.lower(), q.qtype, q.qclass)
    ),
    answers=st.lists(records, max_size=3),
    authority=st.lists(records, max_size=2),
    additional=st.lists(records, max_size=2),
)


# ---------------------------------------------------------------------------------------
# Helpers: our records seen the way dnspython sees them.


def dns_labels(name: str) -> tuple[bytes, ...]:
    """Our text name as dnspython's absolute labels (the root label last)."""
    return (*text_to_labels(name), b"")


def uncompressed_rdata(record: Record) -> bytes:
    owner = bytearray()
    write_name(owner, record.name, None)
    out = bytearray()
    dns_wire.write_record(out, record, None)
    return bytes(out[len(owner) + 10 :])


def assert_dnspython_reads(ours: Message, theirs: dns.message.Message) -> None:
    assert theirs.id == ours.id
    assert bool(theirs.flags & dns.flags.QR) == ours.qr
    assert bool(theirs.flags & dns.flags.AA) == ours.aa
    assert bool(theirs.flags & dns.flags.TC) == ours.tc
    assert bool(theirs.flags & dns.flags.RD) == ours.rd
    assert bool(theirs.flags & dns.flags.RA) == ours.ra
    assert dns.opcode.from_flags(theirs.flags) == ours.opcode
    assert theirs.rcode() == ours.rcode
    assert [
        (rrset.name.labels, rrset.rdtype, rrset.rdclass) for rrset in theirs.question
    ] == [(dns_labels(q.name), q.qtype, q.qclass) for q in ours.questions]
    for their_section, our_section in [
        (theirs.answer, ours.answers),
        (theirs.authority, ours.authority),
        (theirs.additional, ours.additional),
    ]:
        seen = [
            (rrset.name.labels, rrset.rdtype, rrset.ttl, rdata.to_wire())
            for rrset in their_section
            for rdata in rrset
        ]
        expected = [
            (dns_labels(r.name), r.rtype, r.ttl, uncompressed_rdata(r))
            for r in our_section
        ]
        assert seen == expected


def lower_names(message: Message) -> Message:
    """dnspython compresses case-insensitively: a name may come back in another case."""

    def lower(record: Record) -> Record:
        data = record.data
        if record.rtype in dns_wire.NAME_TYPES and isinstance(data, str):
            data = data.lower()
        elif isinstance(data, Soa):
            data = replace(data, mname=data.mname.lower(), rname=data.rname.lower())
        return replace(record, name=record.name.lower(), data=data)

    return replace(
        message,
        questions=[replace(q, name=q.name.lower()) for q in message.questions],
        answers=[lower(r) for r in message.answers],
        authority=[lower(r) for r in message.authority],
        additional=[lower(r) for r in message.additional],
    )


def example_response() -> Message:
    """A reply that uses every section and every record type we decode."""
    reply = make_query("www.example.test", msg_id=0xBEEF)
    reply.qr, reply.aa = True, True
    reply.answers = [
        Record("www.example.test", TYPE_CNAME, CLASS_IN, 60, "web.example.test"),
        Record("web.example.test", TYPE_A, CLASS_IN, 300, "192.0.2.10"),
        Record("web.example.test", TYPE_AAAA, CLASS_IN, 300, "2001:db8::10"),
    ]
    reply.authority = [
        Record("example.test", TYPE_NS, CLASS_IN, 3600, "ns1.example.test")
    ]
    reply.additional = [
        Record("ns1.example.test", TYPE_A, CLASS_IN, 3600, "192.0.2.53"),
        Record("example.test", TYPE_SOA, CLASS_IN, 60, dns_wire.EXAMPLE_ZONE.soa),
        Record("example.test", PRIVATE_TYPE, CLASS_IN, 60, b"\x00raw\xff"),
    ]
    return reply


# ---------------------------------------------------------------------------------------
# The wire format, byte by byte.


def test_query_has_the_rfc_1035_layout_byte_for_byte() -> None:
    wire = encode_message(make_query("www.example.test", msg_id=0x1234))
    assert wire == bytes.fromhex(
        "1234 0100 0001 0000 0000 0000"  # ID, RD, QDCOUNT=1, AN/NS/AR=0
        "03777777 076578616d706c65 0474657374 00"  # 3www 7example 4test root
        "0001 0001"  # QTYPE A, QCLASS IN
    )


def test_query_ids_are_random_unless_given() -> None:
    ids = {make_query("a.test").id for _ in range(20)}
    assert len(ids) > 1
    assert make_query("a.test", msg_id=7).id == 7


def test_repeated_names_become_pointers_to_their_first_copy() -> None:
    reply = example_response()
    compressed, plain = encode_message(reply), encode_message(reply, compress=False)
    assert len(compressed) < len(plain)
    assert b"\xc0\x0c" in compressed  # "www.example.test" at offset 12, the question
    assert b"\xc0\x0c" not in plain  # spelled out again without compression
    assert decode_message(compressed) == decode_message(plain) == reply


def test_names_keep_their_case_on_the_wire() -> None:
    wire = encode_message(make_query("WwW.ExAmPlE.TeSt", msg_id=1))
    assert decode_message(wire).questions[0].name == "WwW.ExAmPlE.TeSt"


def test_names_in_text_form_escape_dots_backslashes_and_unprintable_bytes() -> None:
    labels = [b"a.b", b"c\\d", b"sp ace", b"\x00\xff"]
    text = labels_to_text(labels)
    assert text == "a\\046b.c\\092d.sp\\032ace.\\000\\255"
    assert text_to_labels(text) == labels
    assert text_to_labels("www.example.test.") == text_to_labels("www.example.test")
    assert text_to_labels(".") == []
    assert labels_to_text([]) == "."


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty name"),
        ("a..b", "empty label"),
        (".a", "empty label"),
        ("a b", "bad character"),
        ("caf\u00e9", "bad character"),
        ("a\\256", "bad character"),
        ("a\\1", "bad character"),
        ("x" * 64, "1 to 63 bytes"),
        (".".join(["x" * 63] * 4), "255 bytes"),
    ],
)
def test_bad_names_are_refused_before_anything_is_sent(name: str, message: str) -> None:
    with pytest.raises(DnsFormatError, match=message):
        encode_message(make_query(name))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\\.b.example.test", [b"a.b", b"example", b"test"]),
        ("back\\\\slash.test", [b"back\\slash", b"test"]),
        ("\\www.\\e\\x.test", [b"www", b"ex", b"test"]),
        ("sp\\ ace.test", [b"sp ace", b"test"]),
    ],
)
def test_an_escaped_character_stands_for_itself_as_dnspython_reads_it(
    text: str, expected: list[bytes]
) -> None:
    """RFC 1035 section 5.1: \\X quotes X, so \\. is a dot inside a label."""
    assert text_to_labels(text) == expected
    assert dns.name.from_text(text).labels == (*expected, b"")


@pytest.mark.parametrize(
    "digits",
    ["\u0661\u0662\u0663", "\uff11\uff12\uff13", "\u0967\u0968\u0969", "12\u0663"],
    ids=["arabic-indic", "fullwidth", "devanagari", "mixed"],
)
def test_a_decimal_escape_takes_only_ascii_digits(digits: str) -> None:
    """RFC 1035 section 5.1: digits are 0-9, though int() reads any Unicode digit.

    No dnspython oracle here: it reads non-ASCII text through IDNA, which maps some of
    these digits to ASCII ones first.
    """
    with pytest.raises(DnsFormatError, match="bad character"):
        text_to_labels(f"a\\{digits}.test")


# Text forms of a label, each character written plainly, as \X or as \DDD.
def _spellings(label: bytes) -> st.SearchStrategy[str]:
    def spell(byte: int) -> st.SearchStrategy[str]:
        ways = [st.just(f"\\{byte:03d}")]
        if 0x20 <= byte <= 0x7E and not chr(byte).isdigit():
            ways.append(st.just("\\" + chr(byte)))
        if 0x21 <= byte <= 0x7E and byte not in b".\\":
            ways.append(st.just(chr(byte)))
        return st.one_of(ways)

    return st.tuples(*map(spell, label)).map("".join)


@settings(max_examples=100)
@given(
    st.lists(labels, min_size=1, max_size=3).flatmap(
        lambda ls: st.tuples(st.just(ls), st.tuples(*map(_spellings, ls)))
    )
)
def test_every_spelling_of_a_name_reads_as_the_same_labels_here_and_in_dnspython(
    case: tuple[list[bytes], tuple[str, ...]],
) -> None:
    name_labels, spelled = case
    text = ".".join(spelled)
    assume(text != "@")  # dnspython reads a lone "@" as the origin
    assert text_to_labels(text) == name_labels
    assert dns.name.from_text(text).labels == (*name_labels, b"")


def test_the_longest_legal_name_fits_and_one_more_byte_does_not() -> None:
    longest = ".".join(["x" * 63, "x" * 63, "x" * 63, "x" * 61])  # 255 on the wire
    assert decode_message(encode_message(make_query(longest))).questions[0].name == (
        longest
    )
    with pytest.raises(DnsFormatError):
        text_to_labels(longest + "x")


def test_header_fields_that_do_not_fit_their_bits_are_refused() -> None:
    with pytest.raises(ValueError, match="rcode=16"):
        encode_message(Message(1, rcode=16))
    with pytest.raises(TypeError, match="no encoding"):
        encode_message(Message(1, answers=[Record("a", TYPE_SOA, CLASS_IN, 1, "a")]))


# ---------------------------------------------------------------------------------------
# Bad packets: a typed error, never a crash or a loop.


def test_a_pointer_to_itself_is_refused() -> None:
    header = bytes.fromhex("0001 0000 0001 0000 0000 0000")
    with pytest.raises(DnsFormatError, match="does not go back"):
        decode_message(header + b"\xc0\x0c\x00\x01\x00\x01")


def test_a_pointer_that_points_forward_is_refused() -> None:
    header = bytes.fromhex("0001 0000 0001 0000 0000 0000")
    wire = header + b"\xc0\x12\x00\x01\x00\x01" + b"\x01a\x00"
    with pytest.raises(DnsFormatError, match="does not go back"):
        decode_message(wire)


def pointer_chain(hops: int) -> tuple[bytes, int]:
    """A root label, then `hops` pointers each to the one before; start at the last."""
    wire = b"\x00" + b"".join(
        (0xC000 | max(2 * i - 1, 0)).to_bytes(2) for i in range(hops)
    )
    return wire, len(wire) - 2


def test_sixteen_pointer_hops_are_allowed_and_seventeen_are_not() -> None:
    wire, start = pointer_chain(16)
    assert read_name(wire, start) == (".", start + 2)
    wire, start = pointer_chain(17)
    with pytest.raises(DnsFormatError, match="does not go back"):
        read_name(wire, start)
    with pytest.raises(dns.exception.FormError):  # dnspython draws the line there too
        dns.name.from_wire(wire, start)


def test_a_name_stitched_past_255_bytes_by_pointers_is_refused() -> None:
    label = b"\x3f" + b"x" * 63
    wire = label + b"\x00"  # offset 0: one label, 65 bytes on the wire
    wire += label + (0xC000 | 0).to_bytes(2)  # offset 65: two labels
    wire += label + (0xC000 | 65).to_bytes(2)  # offset 131: three labels
    wire += label + (0xC000 | 131).to_bytes(2)  # offset 197: four labels, 257 bytes
    assert read_name(wire, 131)[0] == ".".join(["x" * 63] * 3)
    with pytest.raises(DnsFormatError, match="longer than 255"):
        read_name(wire, 197)
    with pytest.raises(dns.exception.FormError):
        dns.name.from_wire(wire, 197)


@pytest.mark.parametrize("label_type", [0x40, 0x80, 0xBF])
def test_reserved_label_types_are_refused(label_type: int) -> None:
    with pytest.raises(DnsFormatError, match="reserved label type"):
        read_name(bytes([label_type, 0]), 0)


def test_every_truncation_of_a_response_is_refused() -> None:
    wire = encode_message(example_response())
    for cut in range(len(wire)):
        with pytest.raises(DnsFormatError):
            decode_message(wire[:cut])


def test_trailing_bytes_are_refused() -> None:
    wire = encode_message(example_response())
    with pytest.raises(DnsFormatError, match="1 bytes after the last record"):
        decode_message(wire + b"\x00")


@pytest.mark.parametrize(
    ("rtype", "rdata"),
    [
        (TYPE_A, b"\x01\x02\x03"),  # an IPv4 address is 4 bytes
        (TYPE_AAAA, b"\x00" * 4),  # an IPv6 address is 16
        (TYPE_NS, b"\x01a\x00\x00"),  # a name, then a stray byte
        (TYPE_SOA, b"\x00\x00" + b"\x00" * 19),  # 20 numbers bytes short of one
    ],
)
def test_rdata_that_does_not_match_its_length_is_refused(
    rtype: int, rdata: bytes
) -> None:
    header = bytes.fromhex("0001 8000 0000 0001 0000 0000")
    record = b"\x00" + rtype.to_bytes(2) + b"\x00\x01" + b"\x00" * 4
    wire = header + record + len(rdata).to_bytes(2) + rdata
    with pytest.raises(DnsFormatError):
        decode_message(wire)


@settings(max_examples=200)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    with contextlib.suppress(DnsFormatError):
        decode_message(data)


@settings(max_examples=150)
@given(st.data())
def test_damaged_responses_raise_only_the_typed_error(data: st.DataObject) -> None:
    wire = bytearray(encode_message(example_response()))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(wire) - 1))
        wire[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    with contextlib.suppress(DnsFormatError):
        decode_message(bytes(wire[:cut]))


@settings(max_examples=100)
@given(st.data())
def test_the_responder_answers_any_datagram_with_a_valid_reply_or_silence(
    data: st.DataObject,
) -> None:
    """Servers get bad input too: damaged queries, random bytes, odd types and classes."""
    query = make_query(data.draw(st.one_of(hostnames, names)), msg_id=77)
    query.questions[0] = replace(
        query.questions[0],
        qtype=data.draw(st.integers(0, 0xFFFF)),
        qclass=data.draw(st.sampled_from([1, 1, 3, 255])),
    )
    wire = bytearray(encode_message(query))
    for _ in range(data.draw(st.integers(0, 3))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    reply = dns_wire.answer(bytes(wire[: data.draw(st.integers(0, len(wire)))]), ZONE)
    if reply is not None:
        assert len(reply) <= dns_wire.MAX_UDP_SIZE
        assert decode_message(reply).qr


# ---------------------------------------------------------------------------------------
# Properties: round-trips, and dnspython as the oracle.


@settings(max_examples=200)
@given(label_lists)
def test_names_round_trip_through_text_and_wire(name_labels: list[bytes]) -> None:
    text = labels_to_text(name_labels)
    assert text_to_labels(text) == name_labels
    out = bytearray()
    write_name(out, text, {})
    assert read_name(bytes(out), 0) == (text, len(out))
    name, used = dns.name.from_wire(bytes(out), 0)  # dnspython reads our bytes
    assert (name.labels, used) == ((*name_labels, b""), len(out))


@settings(max_examples=100)
@given(names)
def test_dnspython_reads_our_text_form_as_the_same_name(text: str) -> None:
    assume(text != "@")  # dnspython reads a lone "@" as the origin
    assert dns.name.from_text(text).labels == dns_labels(text)


# Bytes that look like names: labels, pointers (mostly backwards), roots and noise.
name_chunks = st.one_of(
    st.binary(max_size=6).map(lambda b: bytes([len(b)]) + b),
    st.integers(0, 48).map(lambda offset: (0xC000 | offset).to_bytes(2)),
    st.just(b"\x00"),
    st.binary(min_size=1, max_size=2),
)


@settings(max_examples=200)
@given(st.lists(name_chunks, max_size=14).map(b"".join), st.data())
def test_our_name_decoder_agrees_with_dnspython_on_arbitrary_bytes(
    wire: bytes, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, max(len(wire) - 1, 0)))
    try:
        theirs = dns.name.from_wire(wire, start)
    except dns.exception.DNSException:
        theirs = None
    try:
        text, end = read_name(wire, start)
    except DnsFormatError:
        assert theirs is None
    else:
        assert theirs is not None
        assert (dns_labels(text), end - start) == (theirs[0].labels, theirs[1])


@settings(max_examples=75)
@given(messages)
def test_messages_round_trip_and_dnspython_agrees_in_both_directions(
    message: Message,
) -> None:
    wire = encode_message(message)
    assert decode_message(wire) == message
    assert decode_message(encode_message(message, compress=False)) == message
    theirs = dns.message.from_wire(wire, one_rr_per_rrset=True)  # dnspython reads ours
    assert_dnspython_reads(message, theirs)
    back = decode_message(theirs.to_wire())  # we read dnspython's own compression
    assert lower_names(back) == lower_names(message)


# ---------------------------------------------------------------------------------------
# dnspython's messages, read by us.


def test_we_parse_a_dnspython_query() -> None:
    query = dns.message.make_query("www.example.test", "AAAA", id=4242)
    ours = decode_message(query.to_wire())
    assert (ours.id, ours.qr, ours.rd) == (4242, False, True)
    assert ours.questions == [Question("www.example.test", TYPE_AAAA, CLASS_IN)]
    assert encode_message(ours) == query.to_wire()


def test_we_parse_a_dnspython_response_and_re_encode_the_same_bytes() -> None:
    query = dns.message.make_query("www.example.test", "A", id=99)
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.answer.append(
        dns.rrset.from_text(
            "www.example.test.", 300, "IN", "A", "192.0.2.10", "192.0.2.11"
        )
    )
    response.authority.append(
        dns.rrset.from_text("example.test.", 3600, "IN", "NS", "ns1.example.test.")
    )
    response.additional.append(
        dns.rrset.from_text("ns1.example.test.", 3600, "IN", "A", "192.0.2.53")
    )
    wire = response.to_wire()
    ours = decode_message(wire)
    assert ours.qr
    assert ours.aa
    assert ours.rd
    assert ours.id == 99
    assert sorted(
        (r.name, r.ttl, r.data) for r in ours.answers
    ) == [  # a set in dnspython
        ("www.example.test", 300, "192.0.2.10"),
        ("www.example.test", 300, "192.0.2.11"),
    ]
    assert ours.authority[0].data == "ns1.example.test"
    assert ours.additional[0].data == "192.0.2.53"
    assert encode_message(ours) == wire  # same compression choices, byte for byte


def test_we_parse_a_dnspython_negative_answer_with_its_soa() -> None:
    query = dns.message.make_query("nope.example.test", "A")
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.NXDOMAIN)
    soa = "ns1.example.test. hostmaster.example.test. 7 3600 600 86400 60"
    response.authority.append(
        dns.rrset.from_text("example.test.", 60, "IN", "SOA", soa)
    )
    ours = decode_message(response.to_wire())
    assert ours.rcode == dns_wire.NXDOMAIN
    assert ours.authority[0].data == Soa(
        "ns1.example.test", "hostmaster.example.test", 7, 3600, 600, 86400, 60
    )
    assert dns_wire.cache_ttl(ours) == 60


def test_we_keep_the_rdata_of_types_we_do_not_know_as_bytes() -> None:
    query = dns.message.make_query("example.test", "TXT")
    response = dns.message.make_response(query)
    response.answer.append(
        dns.rrset.from_text("example.test.", 60, "IN", "TXT", '"hi"')
    )
    assert decode_message(response.to_wire()).answers[0].data == b"\x02hi"


# ---------------------------------------------------------------------------------------
# The responder on loopback, asked by dnspython.


@pytest.fixture
def responder() -> Iterator[tuple[str, int]]:
    with DnsResponder(dns_wire.EXAMPLE_ZONE) as server:
        yield server.server_address


def ask(address: tuple[str, int], name: str, rdtype: str = "A", **kwargs):
    query = dns.message.make_query(name, rdtype, **kwargs)
    return dns.query.udp(query, address[0], port=address[1], timeout=2)


def test_dnspython_gets_the_a_records_with_their_ttl(responder) -> None:
    reply = ask(responder, "www.example.test")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    (rrset,) = reply.answer
    assert rrset.ttl == 300
    assert sorted(rdata.address for rdata in rrset) == ["192.0.2.10", "192.0.2.11"]


def test_dnspython_gets_nxdomain_with_the_soa_for_negative_caching(responder) -> None:
    reply = ask(responder, "nope.example.test")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.answer == []
    (soa,) = reply.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.ttl == 60
    assert soa[0].minimum == 60


def test_the_zones_own_soa_is_in_the_answer_section(responder) -> None:
    """A query for the SOA at the origin is answered, not a negative answer."""
    reply = ask(responder, "example.test", "SOA")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    (rrset,) = reply.answer
    assert rrset.rdtype == dns.rdatatype.SOA
    assert rrset.ttl == 300
    assert rrset[0].serial == ZONE.soa.serial
    assert reply.authority == []


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [
        ("v1.example.test", "A"),
        ("www.example.test", "AAAA"),
        ("example.test", "MX"),
        ("www.example.test", "SOA"),  # a SOA only lives at the origin
    ],
)
def test_a_name_that_exists_without_the_asked_type_gets_no_data(
    responder, name: str, rdtype: str
) -> None:
    reply = ask(responder, name, rdtype)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer == []
    assert reply.authority[0].rdtype == dns.rdatatype.SOA


def test_names_outside_the_zone_are_refused(responder) -> None:
    reply = ask(responder, "example.com")
    assert reply.rcode() == dns.rcode.REFUSED
    assert not reply.flags & dns.flags.AA


def test_the_answer_keeps_the_case_of_the_question(responder) -> None:
    reply = ask(responder, "WwW.ExAmPlE.TeSt")
    assert reply.answer[0].name.to_text() == "WwW.ExAmPlE.TeSt."


def test_other_opcodes_get_not_implemented(responder) -> None:
    query = dns.message.make_query("www.example.test", "A")
    query.set_opcode(dns.opcode.STATUS)
    reply = dns.query.udp(query, responder[0], port=responder[1], timeout=2)
    assert reply.rcode() == dns.rcode.NOTIMP


def test_an_edns_query_gets_an_opt_record_back(responder) -> None:
    reply = ask(responder, "www.example.test", use_edns=0, payload=1232)
    assert reply.edns == 0
    assert reply.payload == 512
    assert len(reply.answer[0]) == 2


def test_an_unknown_edns_version_gets_badvers_and_no_answer(responder) -> None:
    """RFC 6891 section 6.1.3; dnspython joins the header's and the OPT's RCODE bits."""
    reply = ask(responder, "www.example.test", use_edns=1)
    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.edns == 0  # the version we do implement
    assert reply.answer == []


def test_a_query_with_two_opt_records_gets_formerr_with_an_opt(responder) -> None:
    """RFC 6891 section 6.1.1; dnspython itself refuses to read such a query."""
    query = make_query("www.example.test", msg_id=6)
    query.additional = [Record(".", dns_wire.TYPE_OPT, 1232, 0, b"")] * 2
    with pytest.raises(dns.message.BadEDNS):
        dns.message.from_wire(encode_message(query))
    reply = dns.message.from_wire(send_raw(responder, encode_message(query)))
    assert reply.rcode() == dns.rcode.FORMERR
    assert reply.edns == 0
    assert reply.answer == []


def send_raw(address: tuple[str, int], *packets: bytes) -> bytes:
    """Send datagrams in order and return the first reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect(address)
        for packet in packets:
            sock.send(packet)
        return sock.recv(512)


def test_garbage_with_a_header_gets_formerr_with_its_id(responder) -> None:
    reply = dns.message.from_wire(
        send_raw(responder, b"\xbe\xef" + b"\x00\x00\xff" * 5)
    )
    assert reply.id == 0xBEEF
    assert reply.rcode() == dns.rcode.FORMERR


def test_two_questions_in_one_query_get_formerr(responder) -> None:
    query = make_query("www.example.test", msg_id=5)
    query.questions.append(Question("example.test"))
    reply = decode_message(send_raw(responder, encode_message(query)))
    assert reply.rcode == dns_wire.FORMERR


def test_short_packets_and_responses_get_no_reply_at_all(responder) -> None:
    """The first reply that comes back is the one to the last, valid, query."""
    response = encode_message(Message(1, qr=True, questions=[Question("example.test")]))
    bad_response = b"\x00\x02\x80" + b"\xff" * 20  # QR set, unparseable
    query = encode_message(make_query("www.example.test", msg_id=3))
    reply = decode_message(send_raw(responder, b"\x01", response, bad_response, query))
    assert reply.id == 3


def test_an_answer_over_512_bytes_is_truncated_with_tc() -> None:
    many = [f"192.0.2.{i}" for i in range(1, 41)]  # 40 records: about 680 bytes
    zone = Zone("big.test", dns_wire.EXAMPLE_ZONE.soa, {"many.big.test": many})
    with DnsResponder(zone) as server:
        reply = ask(server.server_address, "many.big.test")
        assert reply.flags & dns.flags.TC
        assert reply.answer == []
        with pytest.raises(DnsError, match="truncated"):
            dns_wire.query_udp("many.big.test", server.server_address)


def test_dnspython_stub_resolver_resolves_through_our_responder(responder) -> None:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [responder[0]]
    resolver.port = responder[1]
    resolver.timeout = resolver.lifetime = 2
    answer = resolver.resolve("www.example.test", "A")
    assert sorted(rdata.address for rdata in answer) == ["192.0.2.10", "192.0.2.11"]
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("nope.example.test", "A")
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("v1.example.test", "A")


# ---------------------------------------------------------------------------------------
# Our stub resolver and its cache.


def test_query_udp_gets_the_same_answer_as_dnspython(responder) -> None:
    ours = dns_wire.query_udp("www.example.test", responder)
    theirs = ask(responder, "www.example.test")
    assert [r.data for r in ours.answers] == [rd.address for rd in theirs.answer[0]]


def test_query_udp_skips_garbage_wrong_ids_and_wrong_questions() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)

        def serve() -> None:
            packet, client = server.recvfrom(512)
            query = decode_message(packet)
            right = Message(query.id, qr=True, questions=query.questions)
            right.answers = [
                Record("www.example.test", TYPE_A, CLASS_IN, 5, "192.0.2.99")
            ]
            wrong_id = replace(right, id=query.id ^ 1)
            wrong_question = replace(right, questions=[Question("evil.test")])
            not_a_reply = replace(right, qr=False)
            for reply in (wrong_id, wrong_question, not_a_reply):
                server.sendto(encode_message(reply), client)
            server.sendto(b"garbage", client)
            server.sendto(encode_message(right), client)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            reply = dns_wire.query_udp(
                "www.example.test", server.getsockname(), timeout=TIMEOUT
            )
        finally:
            thread.join(timeout=TIMEOUT)
    assert [r.data for r in reply.answers] == ["192.0.2.99"]


def test_query_udp_times_out_when_nobody_answers() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        with pytest.raises(TimeoutError):
            dns_wire.query_udp("www.example.test", silent.getsockname(), timeout=0.2)


def test_cache_serves_answers_until_their_ttl_runs_out(responder) -> None:
    clock = ManualClock()
    resolver = CachingResolver(responder, clock=clock)
    first = resolver.resolve("www.example.test")
    clock.now = 299.9
    assert resolver.resolve("WWW.EXAMPLE.TEST") == first
    assert resolver.queries_sent == 1
    clock.now = 300
    assert resolver.resolve("www.example.test") == first
    assert resolver.queries_sent == 2


def test_negative_answers_are_cached_for_the_soa_minimum(responder) -> None:
    clock = ManualClock()
    resolver = CachingResolver(responder, clock=clock)
    assert resolver.resolve("nope.example.test") == []
    clock.now = 59
    assert resolver.resolve("nope.example.test") == []
    assert resolver.queries_sent == 1
    clock.now = 60
    resolver.resolve("nope.example.test")
    assert resolver.queries_sent == 2


def test_refused_answers_raise_and_are_not_cached(responder) -> None:
    resolver = CachingResolver(responder, clock=ManualClock())
    for _ in range(2):
        with pytest.raises(DnsError, match="rcode 5"):
            resolver.resolve("example.com")
    assert resolver.queries_sent == 2


def test_the_cache_evicts_its_oldest_entry_when_full(responder) -> None:
    resolver = CachingResolver(responder, clock=ManualClock(), max_entries=2)
    for name in ["www.example.test", "example.test", "api.v1.example.test"]:
        resolver.resolve(name)
    resolver.resolve("api.v1.example.test")  # still cached
    assert resolver.queries_sent == 3
    resolver.resolve("www.example.test")  # evicted: asked again
    assert resolver.queries_sent == 4


def test_cache_ttl_rules() -> None:
    soa = dns_wire.EXAMPLE_ZONE.soa
    answers = [Record("a", TYPE_A, CLASS_IN, ttl, "192.0.2.1") for ttl in (30, 10, 20)]
    assert dns_wire.cache_ttl(Message(1, answers=answers)) == 10
    negative = Message(1, authority=[Record("a", TYPE_SOA, CLASS_IN, 300, soa)])
    assert dns_wire.cache_ttl(negative) == 60  # min(SOA TTL, SOA MINIMUM)
    assert dns_wire.cache_ttl(Message(1)) == 0  # no SOA: do not cache
    huge = Message(1, answers=[Record("a", TYPE_A, CLASS_IN, 2**31, "192.0.2.1")])
    assert dns_wire.cache_ttl(huge) == 0  # RFC 2181: the top bit set means zero


def test_the_demo_prints_what_the_page_shows() -> None:
    result = run_demo("snippets.communication.dns_wire", timeout=30, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "34"
    assert "loop: pointer at 12 to 12 does not go back" in lines
    assert lines[-1] == "t=371 nope.example.test [] queries=4"
