"""Decoding a request body: bytes to a JSON value within limits, or a 400.

What it teaches: that `json.loads` is not a safe parser for hostile input on its
own. `decode_json` reads the body as UTF-8 (RFC 8259 section 8.1), counts how
deep arrays and objects nest with a loop, before `json.loads` can recurse into a
`RecursionError` (RFC 8259 section 9 allows the limit), refuses duplicate member
names (section 4; I-JSON, RFC 7493, makes that a MUST) and `NaN` and `Infinity`
(section 6), and catches the `ValueError` of Python's 4300-digit limit on
integers. Every failure is the same `Problem`, 400 malformed-json, with a detail
that says what to fix and nothing about the server's internals: never a
`RecursionError`, never a 500.

Read first: `problem_details` in this package (the `Problem` raised here); the
app_core page (docs/application/app_core.md, "The application core"), whose
server has read the whole body, and refused one over the size limit with 413,
before this code runs; the serialization page (what JSON is and is not).

What it leaves out: content codings (gzip bodies), charsets other than UTF-8,
streaming parsers for large documents, and what the fields mean
(`signup_parsing` in this package).

Run it: `python -m snippets.application.validation.json_decoding`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports of the first shown
# section.)
from snippets.application.validation.problem_details import Problem

# isort: split
# --8<-- [start:decode]
import json

MAX_DEPTH = 32  # arrays and objects inside each other


def nesting_depth(text: str) -> int:
    """How deep [ and { nest outside strings, counted without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        # inside "...", only a backslash and the closing quote matter
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class Unreadable(ValueError):
    """JSON that the grammar allows or tolerates, but that we refuse to read."""


def unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """RFC 8259 section 4: names SHOULD be unique. We insist: a repeat is
    ambiguous."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise Unreadable("an object has the same member name twice")
    return document


def no_constants(name: str) -> object:
    """Python's json reads NaN and Infinity; RFC 8259 section 6 does not allow
    them."""
    raise Unreadable(f"{name} is not a JSON number")


# --8<-- [end:decode]


# --8<-- [start:decode_json]
def decode_json(body: bytes) -> object:
    """Bytes to a JSON value, or Problem 400. Never RecursionError, never a
    500."""
    try:
        # RFC 8259 section 8.1: JSON on the wire is UTF-8
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Problem(
            "malformed-json", f"not UTF-8 at byte {error.start}"
        ) from None
    if nesting_depth(text) > MAX_DEPTH:
        raise Problem(
            "malformed-json", f"nested deeper than {MAX_DEPTH} levels"
        )
    try:
        return json.loads(
            text, object_pairs_hook=unique_members, parse_constant=no_constants
        )
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise Problem("malformed-json", f"{error.msg} at {where}") from None
    except Unreadable as error:
        raise Problem("malformed-json", str(error)) from None
    except ValueError:  # int() refuses more than 4300 digits (sys.int_info)
        raise Problem(
            "malformed-json", "a number has too many digits"
        ) from None


# --8<-- [end:decode_json]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_depth]
    import json

    deep = "[" * 5000 + "]" * 5000  # 10 kB: well under any body-size limit
    try:
        json.loads(deep)
    except RecursionError:
        print("json.loads: RecursionError")
        #> json.loads: RecursionError
    # --8<-- [end:demo_depth]

    # --8<-- [start:demo_decode]
    bodies = [deep.encode(), b'{"a": 1, "a": 2}', b"[NaN]", b'"Ad\xe1"', b"[1 2]"]
    for body in bodies:
        try:
            decode_json(body)
        except Problem as refusal:
            print(refusal.status, refusal.detail)
            #> 400 nested deeper than 32 levels
            #> 400 an object has the same member name twice
            #> 400 NaN is not a JSON number
            #> 400 not UTF-8 at byte 3
            #> 400 Expecting ',' delimiter at line 1 column 4
    # --8<-- [end:demo_decode]
