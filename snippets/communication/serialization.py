"""Serialization: one record as JSON, as a fixed binary layout, and as tagged
varints.

Read the sockets page first: a message must be framed before it can be decoded,
and this module only turns one record into bytes and back. It encodes the same
order three ways (compact JSON; a fixed `struct` layout; protobuf's wire format
of tagged fields, base-128 varints and zigzag for signed numbers), measures
their sizes exactly and their speeds as a comparison, and shows schema
evolution: an old reader skipping a field it does not know, and a new reader
filling in a default for a field that old data lacks.

What it leaves out: floats, nested messages, repeated and packed fields, maps,
the fixed-width wire types (they are skipped, never produced), keeping unknown
fields for re-encoding, and code generation from a schema file. Use a real
library (protobuf, Avro, Cap'n Proto, MessagePack, CBOR) for production data.

Run it: `python -m snippets.communication.serialization`.
"""

# --8<-- [start:basics]
import json
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

Record = dict[str, int | str]

ORDER: Record = {
    "order_id": 1234567,
    "customer_id": 42,
    "amount_cents": -1999,  # a refund: amounts can be negative
    "currency": "EUR",
}


class DecodeError(ValueError):
    """Bytes that are not a valid encoding: truncated, too long or malformed."""


# --8<-- [end:basics]


# --8<-- [start:json]
def json_encode(record: Record) -> bytes:
    """Compact JSON: no spaces after `,` and `:`, UTF-8 bytes."""
    return json.dumps(record, separators=(",", ":")).encode()


def json_decode(data: bytes) -> Record:
    """Parse a JSON object; anything else raises DecodeError."""
    try:
        value = json.loads(data)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise DecodeError(f"not JSON: {error}") from error
    if not isinstance(value, dict):
        raise DecodeError(f"expected a JSON object, got {type(value).__name__}")
    return value


# --8<-- [end:json]


# --8<-- [start:struct]
# Network byte order (!), no padding: u64 order_id, u64 customer_id, i64
# amount_cents, then exactly 3 bytes of currency. 27 bytes, always.
ORDER_STRUCT = struct.Struct("!QQq3s")


def struct_encode(record: Record) -> bytes:
    """The fixed layout; refuses what it cannot hold instead of truncating
    it."""
    currency = str(record["currency"]).encode("ascii")
    if len(currency) != 3:  # "3s" would silently cut or pad with NUL bytes
        raise ValueError(f"currency must be 3 ASCII letters, got {currency!r}")
    ids = record["order_id"], record["customer_id"], record["amount_cents"]
    return ORDER_STRUCT.pack(*ids, currency)


def struct_decode(data: bytes) -> Record:
    """Parse exactly one fixed-layout order."""
    if len(data) != ORDER_STRUCT.size:
        raise DecodeError(
            f"expected {ORDER_STRUCT.size} bytes, got {len(data)}"
        )
    order_id, customer_id, amount_cents, currency = ORDER_STRUCT.unpack(data)
    if not currency.isascii():
        raise DecodeError(f"currency is not ASCII: {currency!r}")
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "amount_cents": amount_cents,
        "currency": currency.decode(),
    }


# --8<-- [end:struct]


# --8<-- [start:varint]
def encode_varint(n: int) -> bytes:
    """Base 128, little end first: 7 bits a byte, the top bit says "more
    follow"."""
    if not 0 <= n < 1 << 64:
        raise ValueError(f"a varint holds 0 to 2**64 - 1, not {n}")
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_varint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Read the varint at `pos`; return its value and the offset after it."""
    value = 0
    for i in range(10):  # 64 bits need at most 10 groups of 7
        if pos + i >= len(data):
            raise DecodeError(f"truncated varint at {pos}")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            if value >= 1 << 64:
                raise DecodeError(f"varint at {pos} is over 64 bits")
            return value, pos + i + 1
    raise DecodeError(f"varint at {pos} is longer than 10 bytes")


# --8<-- [end:varint]


# --8<-- [start:zigzag]
def zigzag(n: int) -> int:
    """Signed to unsigned so that small magnitudes stay small: 0, -1, 1, -2 ->
    0-3."""
    if not -(1 << 63) <= n < 1 << 63:
        raise ValueError(f"zigzag takes a signed 64-bit number, not {n}")
    # n >> 63 is 0 for n >= 0 and -1 (all ones) below
    return (n << 1) ^ (n >> 63)


def unzigzag(z: int) -> int:
    """The inverse of zigzag: even numbers are >= 0, odd ones negative."""
    return (z >> 1) ^ -(z & 1)


# --8<-- [end:zigzag]


# --8<-- [start:schema]
# protobuf's wire types (3 and 4 are obsolete)
VARINT, I64, LEN, I32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Field:
    """One field of a schema: its number on the wire, its name, kind and
    default."""

    number: int
    name: str
    kind: str  # "uint", "sint" (zigzag) or "string"
    default: int | str = 0


WIRE_TYPE = {"uint": VARINT, "sint": VARINT, "string": LEN}

ORDER_V1 = (
    Field(1, "order_id", "uint"),
    Field(2, "customer_id", "uint"),
    Field(3, "amount_cents", "sint"),
    Field(4, "currency", "string", ""),
)
# added later, optional
ORDER_V2 = (*ORDER_V1, Field(5, "coupon", "string", ""))
Schema = tuple[Field, ...]
MAX_RECORD_SIZE = 1 << 20  # refuse anything bigger before reading it


# --8<-- [end:schema]


# --8<-- [start:encode_tagged]
def encode_tagged(record: Record, schema: Schema) -> bytes:
    """Each field as key, value; the key is `number << 3 | wire type`, a
    varint."""
    out = bytearray()
    for field in schema:
        value = record.get(field.name, field.default)
        if value == field.default:
            # as in proto3: a default is not written, the reader knows it
            continue
        out += encode_varint(field.number << 3 | WIRE_TYPE[field.kind])
        if field.kind == "uint":
            out += encode_varint(int(value))
        elif field.kind == "sint":
            out += encode_varint(zigzag(int(value)))
        else:
            raw = str(value).encode()
            out += encode_varint(len(raw)) + raw
    return bytes(out)


# --8<-- [end:encode_tagged]


# --8<-- [start:decode_helpers]
def _read_value(
    data: bytes, pos: int, wire_type: int
) -> tuple[int | bytes, int]:
    """Read one value of any wire type, known field or not: that is what makes
    skipping possible."""
    if wire_type == VARINT:
        return decode_varint(data, pos)
    if wire_type == LEN:
        size, pos = decode_varint(data, pos)
    elif wire_type in (I64, I32):
        size = 8 if wire_type == I64 else 4
    else:
        raise DecodeError(f"wire type {wire_type} at {pos} is not supported")
    if pos + size > len(data):
        raise DecodeError(f"truncated: {size} bytes needed at {pos}")
    return data[pos : pos + size], pos + size


def _convert(field: Field, value: int | bytes) -> int | str:
    """Turn a wire value into the field's Python value."""
    if isinstance(value, int):
        return unzigzag(value) if field.kind == "sint" else value
    try:
        return value.decode()
    except UnicodeDecodeError as error:
        raise DecodeError(f"field {field.name!r} is not UTF-8") from error


# --8<-- [end:decode_helpers]


# --8<-- [start:decode_tagged]
def decode_tagged(data: bytes, schema: Schema) -> Record:
    """Read a record; unknown fields are skipped and missing ones get their
    default."""
    if len(data) > MAX_RECORD_SIZE:
        raise DecodeError(f"record of {len(data)} bytes is over the limit")
    by_number = {field.number: field for field in schema}
    record: Record = {field.name: field.default for field in schema}
    pos = 0
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise DecodeError(f"field number 0 at {pos}")
        value, pos = _read_value(data, pos, wire_type)
        field = by_number.get(number)
        if field is not None and WIRE_TYPE[field.kind] == wire_type:
            record[field.name] = _convert(field, value)  # the last one wins
    return record


# --8<-- [end:decode_tagged]


# --8<-- [start:measure]
Codec = tuple[Callable[[Record], bytes], Callable[[bytes], Record]]
CODECS: dict[str, Codec] = {
    "json": (json_encode, json_decode),
    "struct": (struct_encode, struct_decode),
    "tagged": (
        partial(encode_tagged, schema=ORDER_V1),
        partial(decode_tagged, schema=ORDER_V1),
    ),
}


def sample_orders(count: int, seed: int = 7) -> list[Record]:
    """Plausible orders. Only `random()` is used: its sequence for a seed is
    stable across Python versions, so the sizes below are too."""
    rng = random.Random(seed)

    def draw(low: int, high: int) -> int:
        return low + int(rng.random() * (high - low))

    return [
        {
            "order_id": draw(1, 10**9),
            "customer_id": draw(1, 10**6),
            "amount_cents": draw(-50_000, 500_000),
            "currency": ("EUR", "USD", "GBP", "JPY")[draw(0, 4)],
        }
        for _ in range(count)
    ]


# --8<-- [end:measure]


# --8<-- [start:timing]
def round_trip_seconds(
    codecs: dict[str, Codec], records: list[Record], repeat: int = 7
) -> dict[str, float]:
    """Seconds per record to encode and decode with each codec, best of `repeat`
    rounds.

    A round times every codec once, one after the other, so that a burst of
    other work on the machine slows all the codecs alike instead of every run of
    one of them.
    """
    best = {name: float("inf") for name in codecs}
    for _ in range(repeat):
        for name, (encode, decode) in codecs.items():
            start = time.perf_counter()
            for record in records:
                decode(encode(record))
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: seconds / len(records) for name, seconds in best.items()}


def speed_ratios(count: int = 2000) -> dict[str, float]:
    """How many times slower each codec is than `struct`, measured now."""
    times = round_trip_seconds(CODECS, sample_orders(count))
    return {name: round(t / times["struct"], 1) for name, t in times.items()}


# --8<-- [end:timing]


if __name__ == "__main__":
    # The page checks the `#>` lines under each print: the formatter must keep
    # them.
    # fmt: off
    # --8<-- [start:demo_json]
    as_json = json_encode(ORDER)
    print(as_json.decode())
    #> {"order_id":1234567,"customer_id":42,"amount_cents":-1999,"currency":"EUR"}
    print(len(as_json), json_decode(as_json) == ORDER)
    #> 75 True
    # --8<-- [end:demo_json]

    # --8<-- [start:demo_struct]
    packed = struct_encode(ORDER)
    print(len(packed), struct_decode(packed) == ORDER)
    #> 27 True
    print(packed[16:24].hex(" "))  # -1999 as a two's complement i64
    #> ff ff ff ff ff ff f8 31
    # --8<-- [end:demo_struct]

    # --8<-- [start:demo_varint]
    for n in (1, 150, 300, 2**64 - 1):
        print(n, encode_varint(n).hex(" "))
        #> 1 01
        #> 150 96 01
        #> 300 ac 02
        #> 18446744073709551615 ff ff ff ff ff ff ff ff ff 01
    print(decode_varint(b"\xac\x02"))  # the value and where the next one starts
    #> (300, 2)
    # --8<-- [end:demo_varint]

    # --8<-- [start:demo_zigzag]
    print([zigzag(n) for n in (0, -1, 1, -2, 2, -1999)])
    #> [0, 1, 2, 3, 4, 3997]
    two_complement = -1999 & (2**64 - 1)  # what a plain int64 field would send
    print(len(encode_varint(two_complement)), len(encode_varint(zigzag(-1999))))
    #> 10 2
    # --8<-- [end:demo_zigzag]

    # --8<-- [start:demo_tagged]
    tagged = encode_tagged(ORDER, ORDER_V1)
    print(len(tagged), tagged.hex(" "))
    #> 14 08 87 ad 4b 10 2a 18 9d 1f 22 03 45 55 52
    # --8<-- [end:demo_tagged]

    # --8<-- [start:demo_evolution]
    print(decode_tagged(tagged, ORDER_V1) == ORDER)  # a round trip, same schema
    #> True
    order_v2 = {**ORDER, "coupon": "SPRING"}
    new_bytes = encode_tagged(order_v2, ORDER_V2)
    print(new_bytes[len(tagged) :].hex(" "))  # field 5, LEN: key 0x2a
    #> 2a 06 53 50 52 49 4e 47
    print(decode_tagged(new_bytes, ORDER_V1) == ORDER)  # an old reader skips it
    #> True
    new_reader = decode_tagged(tagged, ORDER_V2)  # old bytes, new reader
    print(repr(new_reader["coupon"]), new_reader["currency"])
    #> '' EUR
    # --8<-- [end:demo_evolution]

    # --8<-- [start:demo_breakage]
    relayed = encode_tagged(decode_tagged(new_bytes, ORDER_V1), ORDER_V1)
    print(repr(decode_tagged(relayed, ORDER_V2)["coupon"]))  # lost on the way
    #> ''
    retyped = (*ORDER_V1[:2], Field(3, "amount_cents", "uint"), ORDER_V1[3])
    print(decode_tagged(tagged, retyped)["amount_cents"])  # sint read as uint
    #> 3997
    try:
        struct_decode(struct_encode(ORDER) + b"SPRING")  # a field appended
    except DecodeError as error:
        print(error)
        #> expected 27 bytes, got 33
    # --8<-- [end:demo_breakage]

    # --8<-- [start:demo_measure]
    orders = sample_orders(1000)
    sizes = {
        name: sum(len(encode(o)) for o in orders)
        for name, (encode, _) in CODECS.items()
    }
    print(sizes)
    #> {'json': 81532, 'struct': 27000, 'tagged': 18673}
    print(round(sizes["json"] / sizes["tagged"], 1))
    #> 4.4
    times = round_trip_seconds(CODECS, orders)
    print(times["struct"] < times["json"] < times["tagged"])
    #> True
    # --8<-- [end:demo_measure]
    # fmt: on
