"""The serialization page's claims: exact sizes, round-trips, evolution, typed errors.

The oracles are the byte sequences that protobuf's encoding guide documents (150 is
`96 01`, field 1 = 150 is `08 96 01`, the zigzag table), the standard `json` module,
and hypothesis round-trips over the whole range of every type.
"""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.communication import serialization as ser
from snippets.communication.serialization import (
    CODECS,
    I32,
    I64,
    LEN,
    ORDER,
    ORDER_V1,
    ORDER_V2,
    VARINT,
    DecodeError,
    Field,
    decode_tagged,
    decode_varint,
    encode_tagged,
    encode_varint,
    json_decode,
    json_encode,
    struct_decode,
    struct_encode,
    unzigzag,
    zigzag,
)
from tests.helpers import run_demo

UINT64 = st.integers(0, 2**64 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
orders_v1 = st.fixed_dictionaries(
    {
        "order_id": UINT64,
        "customer_id": UINT64,
        "amount_cents": INT64,
        "currency": st.text(),
    }
)
orders_v2 = st.fixed_dictionaries(
    {
        "order_id": UINT64,
        "customer_id": UINT64,
        "amount_cents": INT64,
        "currency": st.text(),
        "coupon": st.text(),
    }
)


def key(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


# ---------------------------------------------------------------------------------------
# Varints and zigzag: the vectors of protobuf's encoding guide, then every value.


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "80 01"),
        (150, "96 01"),
        (300, "ac 02"),
        (2**64 - 1, "ff ff ff ff ff ff ff ff ff 01"),
    ],
)
def test_varints_match_protobufs_documented_bytes(value: int, wire: str) -> None:
    assert encode_varint(value) == bytes.fromhex(wire)
    assert decode_varint(bytes.fromhex(wire)) == (value, len(bytes.fromhex(wire)))


def test_protobufs_documented_messages_decode_with_our_tagged_reader() -> None:
    """protobuf.dev: `08 96 01` is field 1 = 150; `12 07 74 65 73 74 69 6e 67` is
    field 2 = "testing"."""
    schema = (Field(1, "a", "uint"), Field(2, "b", "string", ""))
    assert decode_tagged(bytes.fromhex("08 96 01"), schema) == {"a": 150, "b": ""}
    testing = bytes.fromhex("12 07 74 65 73 74 69 6e 67")
    assert decode_tagged(testing, schema) == {"a": 0, "b": "testing"}
    assert (
        encode_tagged({"a": 150, "b": "testing"}, schema)
        == bytes.fromhex("08 96 01") + testing
    )


@pytest.mark.parametrize(
    ("signed", "unsigned"),
    [
        (0, 0),
        (-1, 1),
        (1, 2),
        (-2, 3),
        (2**31 - 1, 2**32 - 2),
        (-(2**31), 2**32 - 1),
        (2**63 - 1, 2**64 - 2),
        (-(2**63), 2**64 - 1),
    ],
)
def test_zigzag_matches_protobufs_table(signed: int, unsigned: int) -> None:
    assert zigzag(signed) == unsigned
    assert unzigzag(unsigned) == signed


@settings(max_examples=200)
@given(UINT64)
def test_varints_round_trip_in_ceil_bits_over_7_bytes(n: int) -> None:
    wire = encode_varint(n)
    assert decode_varint(wire) == (n, len(wire))
    assert len(wire) == max(1, -(-n.bit_length() // 7))
    assert all(b & 0x80 for b in wire[:-1])
    assert not wire[-1] & 0x80


@settings(max_examples=200)
@given(INT64)
def test_zigzag_round_trips_and_keeps_small_magnitudes_small(n: int) -> None:
    assert unzigzag(zigzag(n)) == n
    assert 0 <= zigzag(n) <= 2 * abs(n)


@settings(max_examples=100)
@given(UINT64, st.binary(max_size=8))
def test_a_varint_is_read_from_the_middle_of_a_buffer(n: int, tail: bytes) -> None:
    data = b"\x01\x02" + encode_varint(n) + tail
    assert decode_varint(data, 2) == (n, 2 + len(encode_varint(n)))


@pytest.mark.parametrize("n", [-1, 2**64])
def test_varints_refuse_values_outside_64_bits(n: int) -> None:
    with pytest.raises(ValueError, match="varint holds"):
        encode_varint(n)


@pytest.mark.parametrize("n", [2**63, -(2**63) - 1])
def test_zigzag_refuses_values_outside_int64(n: int) -> None:
    with pytest.raises(ValueError, match="signed 64-bit"):
        zigzag(n)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ("", "truncated varint"),
        ("80", "truncated varint"),
        ("ff ff ff", "truncated varint"),
        ("ff ff ff ff ff ff ff ff ff 02", "over 64 bits"),
        ("ff ff ff ff ff ff ff ff ff ff 01", "longer than 10 bytes"),
    ],
)
def test_bad_varints_raise_decode_error(wire: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_varint(bytes.fromhex(wire))


@settings(max_examples=100)
@given(st.integers(2**7, 2**64 - 1))
def test_every_cut_of_a_multi_byte_varint_is_refused(n: int) -> None:
    wire = encode_varint(n)
    for cut in range(len(wire)):
        with pytest.raises(DecodeError):
            decode_varint(wire[:cut])


# ---------------------------------------------------------------------------------------
# The three encodings of one order: the sizes the page prints.


def test_the_sample_order_is_75_bytes_of_json_27_of_struct_and_14_tagged() -> None:
    assert len(json_encode(ORDER)) == 75
    assert len(struct_encode(ORDER)) == ser.ORDER_STRUCT.size == 27
    assert encode_tagged(ORDER, ORDER_V1) == bytes.fromhex(
        "08 87ad4b"  # field 1 varint: 1234567
        "10 2a"  # field 2 varint: 42
        "18 9d1f"  # field 3 varint: zigzag(-1999) = 3997
        "22 03 455552"  # field 4 LEN: 3 bytes "EUR"
    )


def test_json_encoding_is_what_the_json_module_reads_back() -> None:
    assert json.loads(json_encode(ORDER)) == ORDER
    assert json_encode(ORDER) == json.dumps(ORDER, separators=(",", ":")).encode()


def test_sizes_of_a_thousand_sample_orders_are_deterministic() -> None:
    orders = ser.sample_orders(1000)
    assert orders == ser.sample_orders(1000)
    sizes = {
        name: sum(len(encode(o)) for o in orders)
        for name, (encode, _) in CODECS.items()
    }
    assert sizes == {"json": 81532, "struct": 27000, "tagged": 18673}
    assert any(o["amount_cents"] < 0 for o in orders)


def test_defaults_are_not_written_at_all() -> None:
    empty = {"order_id": 0, "customer_id": 0, "amount_cents": 0, "currency": ""}
    assert encode_tagged(empty, ORDER_V1) == b""
    assert decode_tagged(b"", ORDER_V1) == empty


# ---------------------------------------------------------------------------------------
# Round-trips, for every codec, over the whole range of each field.


@settings(max_examples=200)
@given(orders_v1)
def test_tagged_records_round_trip(order: dict) -> None:
    assert decode_tagged(encode_tagged(order, ORDER_V1), ORDER_V1) == order


@settings(max_examples=100)
@given(orders_v1)
def test_json_records_round_trip(order: dict) -> None:
    assert json_decode(json_encode(order)) == order


@settings(max_examples=100)
@given(orders_v1.map(lambda o: {**o, "currency": "USD"}))
def test_struct_records_round_trip(order: dict) -> None:
    assert struct_decode(struct_encode(order)) == order


def test_struct_refuses_what_its_layout_cannot_hold() -> None:
    with pytest.raises(ValueError, match="3 ASCII letters"):
        struct_encode({**ORDER, "currency": "EURO"})
    with pytest.raises(UnicodeEncodeError):
        struct_encode({**ORDER, "currency": "€"})
    with pytest.raises(ser.struct.error):
        struct_encode({**ORDER, "order_id": -1})


# ---------------------------------------------------------------------------------------
# Schema evolution.


@settings(max_examples=150)
@given(orders_v2)
def test_an_old_reader_skips_the_added_field(order: dict) -> None:
    old_view = decode_tagged(encode_tagged(order, ORDER_V2), ORDER_V1)
    assert old_view == {k: v for k, v in order.items() if k != "coupon"}


@settings(max_examples=150)
@given(orders_v1)
def test_a_new_reader_fills_in_the_default_for_old_data(order: dict) -> None:
    assert decode_tagged(encode_tagged(order, ORDER_V1), ORDER_V2) == {
        **order,
        "coupon": "",
    }


@pytest.mark.parametrize(
    "unknown",
    [
        key(9, VARINT) + encode_varint(2**64 - 1),
        key(9, LEN) + encode_varint(3) + b"abc",
        key(9, I64) + b"\x00" * 8,
        key(9, I32) + b"\x00" * 4,
        key(1, LEN) + encode_varint(1) + b"x",  # a known number with another type
    ],
)
def test_unknown_fields_of_every_wire_type_are_skipped(unknown: bytes) -> None:
    wire = unknown + encode_tagged(ORDER, ORDER_V1) + unknown
    assert decode_tagged(wire, ORDER_V1) == ORDER


def test_the_last_copy_of_a_repeated_field_wins() -> None:
    wire = encode_tagged(ORDER, ORDER_V1) + key(2, VARINT) + encode_varint(7)
    assert decode_tagged(wire, ORDER_V1)["customer_id"] == 7


def test_an_old_relay_drops_the_new_field_it_does_not_keep() -> None:
    order = {**ORDER, "coupon": "SPRING"}
    relayed = encode_tagged(
        decode_tagged(encode_tagged(order, ORDER_V2), ORDER_V1), ORDER_V1
    )
    assert decode_tagged(relayed, ORDER_V2)["coupon"] == ""


def test_changing_a_fields_kind_silently_changes_its_value() -> None:
    retyped = (*ORDER_V1[:2], Field(3, "amount_cents", "uint"), ORDER_V1[3])
    assert (
        decode_tagged(encode_tagged(ORDER, ORDER_V1), retyped)["amount_cents"] == 3997
    )


def test_a_strict_json_reader_breaks_on_an_added_key() -> None:
    def strict(data: bytes) -> dict:
        record = json_decode(data)
        if set(record) != set(ORDER):
            raise DecodeError(f"unexpected keys {set(record) - set(ORDER)}")
        return record

    with pytest.raises(DecodeError, match="coupon"):
        strict(json_encode({**ORDER, "coupon": "SPRING"}))


def test_a_fixed_layout_cannot_grow_a_field() -> None:
    with pytest.raises(DecodeError, match="expected 27 bytes, got 33"):
        struct_decode(struct_encode(ORDER) + b"SPRING")


# ---------------------------------------------------------------------------------------
# Bad input: always DecodeError.


def field_ends(order: dict) -> list[int]:
    """Offsets where a field of the encoding ends: cuts there leave a valid record."""
    ends, size = [0], 0
    for field in ORDER_V1:
        size += len(encode_tagged({field.name: order[field.name]}, (field,)))
        ends.append(size)
    return ends


@settings(max_examples=100)
@given(orders_v1)
def test_truncated_records_raise_unless_cut_between_fields(order: dict) -> None:
    wire = encode_tagged(order, ORDER_V1)
    ends = field_ends(order)
    assert ends[-1] == len(wire)
    for cut in range(len(wire)):
        if cut in ends:  # a tagged record cannot tell: frame it with its length
            decoded = decode_tagged(wire[:cut], ORDER_V1)
            assert encode_tagged(decoded, ORDER_V1) == wire[:cut]
        else:
            with pytest.raises(DecodeError):
                decode_tagged(wire[:cut], ORDER_V1)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (key(0, VARINT) + b"\x01", "field number 0"),
        (key(1, 3), "wire type 3"),
        (key(1, 7), "wire type 7"),
        (key(4, LEN) + encode_varint(5) + b"EU", "truncated: 5 bytes"),
        (key(4, LEN) + encode_varint(1) + b"\xff", "not UTF-8"),
        (key(9, I64) + b"\x00" * 7, "truncated: 8 bytes"),
        (b"\x00" * (ser.MAX_RECORD_SIZE + 1), "over the limit"),
    ],
)
def test_malformed_records_raise_decode_error(wire: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_tagged(wire, ORDER_V1)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_random_bytes_give_a_record_or_decode_error_never_a_crash(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        record = decode_tagged(data, ORDER_V2)
        assert set(record) == {field.name for field in ORDER_V2}


@pytest.mark.parametrize(
    ("data", "message"),
    [(b'{"order_id": 1', "not JSON"), (b"\xff", "not JSON"), (b"[1, 2]", "list")],
)
def test_bad_json_raises_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        json_decode(data)


@pytest.mark.parametrize("cut", [0, 1, 26])
def test_truncated_struct_raises_decode_error(cut: int) -> None:
    with pytest.raises(DecodeError, match=f"got {cut}"):
        struct_decode(struct_encode(ORDER)[:cut])


def test_struct_refuses_a_currency_that_is_not_ascii() -> None:
    with pytest.raises(DecodeError, match="not ASCII"):
        struct_decode(struct_encode(ORDER)[:24] + b"\xe2\x82\xac")


# ---------------------------------------------------------------------------------------
# Speeds: ratios measured in the same run, with wide margins.


def test_struct_beats_json_and_json_beats_pure_python_varints() -> None:
    """Typically struct is 6 to 9 times faster than JSON, and JSON 2 to 3 times faster
    than our tagged codec; the margins leave room for a busy machine."""
    orders = ser.sample_orders(500)
    times = ser.round_trip_seconds(CODECS, orders)
    assert times["json"] / times["struct"] > 2
    assert times["tagged"] / times["json"] > 1.2


def test_round_trip_seconds_times_each_codec_in_turn_and_keeps_its_best_round() -> None:
    calls: list[str] = []

    def codec(name: str, pause: float):
        def encode(record):
            calls.append(name)
            time.sleep(pause)
            return record

        return encode, lambda data: data

    records = [{"n": 1}, {"n": 2}]
    times = ser.round_trip_seconds(
        {"quick": codec("quick", 0), "slow": codec("slow", 0.002)}, records, repeat=3
    )
    assert calls == (["quick"] * 2 + ["slow"] * 2) * 3  # in turn, round after round
    assert list(times) == ["quick", "slow"]
    assert times["slow"] >= 0.002 > times["quick"]  # per record, sleep included


def test_speed_ratios_are_relative_to_struct() -> None:
    ratios = ser.speed_ratios(count=200)
    assert ratios["struct"] == 1.0
    assert set(ratios) == set(CODECS)


def test_the_demo_prints_what_the_page_shows() -> None:
    result = run_demo("snippets.communication.serialization", timeout=30, check=True)
    lines = result.stdout.splitlines()
    assert lines[1] == "75 True"
    assert "{'json': 81532, 'struct': 27000, 'tagged': 18673}" in lines
    assert lines[-1] == "True"
