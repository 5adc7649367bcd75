"""W3C Trace Context: the traceparent and tracestate headers, parsed and
changed as the Recommendation says.

What it teaches: `traceparent` is version-traceid-parentid-flags in lowercase
hex; all-zero IDs and version ff are invalid, version 00 is exactly 55
characters, and a higher version is read by its first 55 characters and a dash.
`tracestate` is a list of at most 32 vendor key=value members, newest on the
left; a vendor that changes its entry moves it to the front, and truncation
drops whole entries, long ones first, then from the right. A value the spec
says to ignore raises `TraceContextError`.

Read first: the middleware page (`docs/application/middleware.md`, "Middleware
and request context"), whose request ID is a one-hop trace ID.

What it leaves out: the `random` flag of Trace Context Level 2, the tracestate
length limit (the HTTP server's header limits stand in for it), and the
binary, AMQP and MQTT encodings of the same context.

Run it: `python -m snippets.observability.tracing.trace_context`.
"""

from __future__ import annotations

# --8<-- [start:traceparent]
import re
from dataclasses import dataclass

HEX = re.compile(r"[0-9a-f]*")  # lowercase only: HEXDIGLC in the spec
OWS = " \t"  # optional whitespace (RFC 9110 section 5.6.3)
MAX_TRACEPARENT = 512  # OpenTelemetry's limit; the spec sets none


class TraceContextError(ValueError):
    """A traceparent or tracestate value that the spec says to ignore."""


@dataclass(frozen=True)
class TraceParent:
    trace_id: str  # 32 lowercase hex digits, not all zero
    parent_id: str  # 16 lowercase hex digits: the caller's span
    sampled: bool  # flag bit 0: the caller may have recorded its span

    def header(self) -> str:
        """The value we send: version 00, the highest we know."""
        flags = "01" if self.sampled else "00"
        return f"00-{self.trace_id}-{self.parent_id}-{flags}"


def hex_field(text: str, digits: int, name: str, zero_ok: bool = True) -> str:
    """`text` if it is `digits` lowercase hex digits (and not all zero)."""
    if len(text) != digits or not HEX.fullmatch(text):
        raise TraceContextError(f"{name} is not {digits} lowercase hex digits")
    if not zero_ok and text == "0" * digits:
        raise TraceContextError(f"an all-zero {name} is invalid")
    return text


# --8<-- [end:traceparent]


# --8<-- [start:parse_traceparent]
def parse_traceparent(value: str) -> TraceParent:
    """Read a traceparent as W3C Trace Context says, future versions too."""
    value = value.strip(OWS)
    if len(value) > MAX_TRACEPARENT:
        raise TraceContextError("traceparent is too long")
    version = hex_field(value[:2], 2, "version")
    if version == "ff":
        raise TraceContextError("version ff is invalid")
    if version == "00" and len(value) != 55:
        raise TraceContextError("version 00 is exactly 55 characters")
    # A higher version may append fields: "-" and anything after the flags.
    if len(value) > 55 and value[55] != "-":
        raise TraceContextError("the flags must end the value or meet a -")
    if len(value) < 55 or value[2] + value[35] + value[52] != "---":
        raise TraceContextError("not version-traceid-parentid-flags")
    trace_id = hex_field(value[3:35], 32, "trace-id", zero_ok=False)
    parent_id = hex_field(value[36:52], 16, "parent-id", zero_ok=False)
    flags = int(hex_field(value[53:55], 2, "flags"), 16)
    return TraceParent(trace_id, parent_id, sampled=bool(flags & 0x01))


# --8<-- [end:parse_traceparent]


# --8<-- [start:tracestate]
# key: a simple key, or tenant@system (Trace Context Level 1)
KEY = re.compile(
    r"[a-z][a-z0-9_\-*/]{0,255}"
    r"|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}"
)
# value: up to 256 printable ASCII but "," and "=", not ending in a space
VALUE = re.compile(
    r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
MAX_MEMBERS = 32

TraceState = list[tuple[str, str]]  # (key, value), leftmost is newest


def parse_tracestate(value: str) -> TraceState:
    """The list-members of a (combined) tracestate value, in order."""
    members: TraceState = []
    for member in value.split(","):
        member = member.strip(OWS)
        if not member:  # empty members are allowed, and skipped
            continue
        key, _, text = member.partition("=")
        if not KEY.fullmatch(key) or not VALUE.fullmatch(text):
            raise TraceContextError(f"invalid list-member {member!r}")
        if key in dict(members):
            raise TraceContextError(f"key {key!r} appears twice")
        members.append((key, text))
    if len(members) > MAX_MEMBERS:
        raise TraceContextError(f"more than {MAX_MEMBERS} list-members")
    return members


def format_tracestate(state: TraceState) -> str:
    return ",".join(f"{key}={value}" for key, value in state)


# --8<-- [end:tracestate]


# --8<-- [start:mutate]
def put_member(state: TraceState, key: str, value: str) -> TraceState:
    """Add or update `key`: it moves to the left, the rest keep their order.

    Past 32 members, whole entries go: those over 128 characters first, then
    from the right (the spec's truncation order).
    """
    if not KEY.fullmatch(key) or not VALUE.fullmatch(value):
        raise TraceContextError(f"invalid list-member {key}={value}")
    new = [(key, value), *((k, v) for k, v in state if k != key)]
    while len(new) > MAX_MEMBERS:
        long = [m for m in new[1:] if len(m[0]) + 1 + len(m[1]) > 128]
        new.remove(long[-1] if long else new[-1])
    return new


def drop_member(state: TraceState, key: str) -> TraceState:
    """Delete `key` (a vendor should delete only the keys it wrote)."""
    return [(k, v) for k, v in state if k != key]


# --8<-- [end:mutate]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_parse]
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    print(parse_traceparent(good).trace_id, parse_traceparent(good).sampled)
    #> 4bf92f3577b34da6a3ce929d0e0e4736 True
    future = "cc" + good[2:] + "-fields-of-version-cc"
    print(parse_traceparent(future).header())
    #> 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
    for bad in [good.upper(), "ff" + good[2:], good[:36] + "0" * 16 + "-01",
                good + "-more", good.replace("-", "_"), good[:-1]]:
        try:
            parse_traceparent(bad)
        except TraceContextError as error:
            print(error)
            #> trace-id is not 32 lowercase hex digits
            #> version ff is invalid
            #> an all-zero parent-id is invalid
            #> version 00 is exactly 55 characters
            #> not version-traceid-parentid-flags
            #> version 00 is exactly 55 characters
    # --8<-- [end:demo_parse]

    # --8<-- [start:demo_tracestate]
    # the spec's example: Rojo wrote last, now Congo resumes the trace
    state = parse_tracestate("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")
    state = put_member(state, "congo", "ucfJifl5GOE")
    print(format_tracestate(state))
    #> congo=ucfJifl5GOE,rojo=00f067aa0ba902b7
    full = [(f"vendor{n}", "x") for n in range(32)]
    state = put_member(full, "congo", "ucfJifl5GOE")
    print(len(state), state[0], state[-1])
    #> 32 ('congo', 'ucfJifl5GOE') ('vendor30', 'x')
    for bad in ["Rojo=1", "rojo=a,rojo=b", "rojo=a=b", "rojo=tab\there"]:
        try:
            parse_tracestate(bad)
        except TraceContextError as error:
            print(error)
            #> invalid list-member 'Rojo=1'
            #> key 'rojo' appears twice
            #> invalid list-member 'rojo=a=b'
            #> invalid list-member 'rojo=tab\there'
    # --8<-- [end:demo_tracestate]
