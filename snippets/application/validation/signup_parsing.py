"""Parsing a JSON value into a typed SignUp, or a 422 that locates every error.

What it teaches: "parse, don't validate". `parse_signup` is the one way to get a
`SignUp`, a frozen dataclass (with an `Email` and an `Address`): code past the
boundary only ever sees the typed object. It is declared from small parsers:
strings (printable, a length range, a pattern), integers in a range (`true` is
not 1, nor is `1.0`), email addresses (the WHATWG shape with the lengths of RFC
5321, the domain in lower case), objects that refuse unknown fields (mass
assignment) and arrays of distinct items. They collect every error, each located
by a JSON Pointer (RFC 6901), and `parse_signup` turns them into one `Problem`,
422 invalid-input (RFC 9110 section 15.5.21), with an `errors` list.
`signup_json` goes back to JSON: parse_signup(signup_json(s)) == s.

Read first: `problem_details` in this package (`Problem` and `json_pointer`),
then `json_decoding` in this package, which makes the JSON value parsed here out
of bytes.

What it leaves out: a schema language (JSON Schema, Pydantic) that would
generate these parsers, localized messages, Unicode normalization of names, and
checks that need the database (is this email already taken?): those belong to
the service layer.

Run it: `python -m snippets.application.validation.signup_parsing`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports of the first shown
# section.)
from snippets.application.validation.problem_details import (
    Problem,
    json_pointer,
)

# isort: split
# --8<-- [start:types]
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Email:
    """An address that has the shape of one; the domain is stored in lower
    case."""

    local: str
    domain: str

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address, as much of it as the sign-up asks for."""

    city: str
    postcode: str


@dataclass(frozen=True, slots=True)
class SignUp:
    """A parsed sign-up: if you hold one, every field has been checked."""

    email: Email
    name: str
    age: int
    tags: tuple[str, ...] = ()
    address: Address | None = None


# --8<-- [end:types]


# --8<-- [start:fields]
import re
from collections.abc import Callable

Parser = Callable[[object], object]


class Invalid(Exception):
    """Field problems as (pointer, detail) pairs; pointers relative to the
    value."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def text(min_length: int, max_length: int, pattern: str = "") -> Parser:
    """A parser for strings: printable, a length range, optionally a pattern."""

    def parse(value: object) -> str:
        if not isinstance(value, str):
            raise Invalid([("", "must be a string")])
        if not value.isprintable():  # control characters, lone surrogates
            raise Invalid([("", "must be printable text")])
        if not min_length <= len(value) <= max_length:
            detail = f"must be {min_length} to {max_length} characters"
            raise Invalid([("", detail)])
        if pattern and not re.fullmatch(pattern, value):
            raise Invalid([("", f"must match {pattern}")])
        return value

    return parse


def integer(low: int, high: int) -> Parser:
    """A parser for whole numbers in [low, high]. `true` is not 1, nor is
    `1.0`."""

    def parse(value: object) -> int:
        # isinstance(True, int) is True: bool is an int
        if type(value) is not int:
            raise Invalid([("", "must be an integer")])
        if not low <= value <= high:
            raise Invalid([("", f"must be from {low} to {high}")])
        return value

    return parse


# --8<-- [end:fields]


# --8<-- [start:email]
# The WHATWG HTML "valid email address": a deliberate subset of RFC 5322.
EMAIL = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)


def email(value: object) -> Email:
    """Parse an email address by its shape; RFC 5321 4.5.3.1 gives the
    lengths."""
    if not isinstance(value, str):
        raise Invalid([("", "must be a string")])
    local, _, domain = value.rpartition("@")
    if len(value) > 254 or len(local) > 64 or not EMAIL.fullmatch(value):
        raise Invalid([("", "must look like name@example.com")])
    # the domain is case-insensitive, local is not
    return Email(local, domain.lower())


# --8<-- [end:email]


# --8<-- [start:structures]
def obj(
    fields: dict[str, Parser], required: set[str]
) -> Callable[[object], dict]:
    """A parser for objects: known fields only, each parsed, every error
    collected."""

    def parse(value: object) -> dict[str, object]:
        if not isinstance(value, dict):
            raise Invalid([("", "must be an object")])
        unknown = [name for name in value if name not in fields]
        errors = [
            (json_pointer(name), "is not a known field") for name in unknown
        ]
        parsed = {}
        for name, field in fields.items():
            if name not in value:
                if name in required:
                    errors.append((json_pointer(name), "is required"))
                continue
            try:
                parsed[name] = field(value[name])
            except Invalid as inner:
                errors += [(json_pointer(name) + p, d) for p, d in inner.errors]
        if errors:
            raise Invalid(errors)
        return parsed

    return parse


def array(item: Parser, max_items: int) -> Parser:
    """A parser for arrays of at most `max_items` distinct items, as a tuple."""

    def parse(value: object) -> tuple:
        if not isinstance(value, list):
            raise Invalid([("", "must be an array")])
        if len(value) > max_items:
            raise Invalid([("", f"must have at most {max_items} items")])
        errors, items = [], []
        for index, element in enumerate(value):
            try:
                items.append(item(element))
            except Invalid as inner:
                errors += [
                    (json_pointer(index) + p, d) for p, d in inner.errors
                ]
        if not errors and len(set(items)) != len(items):
            errors.append(("", "must not repeat an item"))
        if errors:
            raise Invalid(errors)
        return tuple(items)

    return parse


# --8<-- [end:structures]


# --8<-- [start:parse_signup]
address = obj(
    {
        "city": text(1, 60),
        "postcode": text(3, 10, r"[A-Z0-9][A-Z0-9 -]*[A-Z0-9]"),
    },
    required={"city", "postcode"},
)
signup_fields = obj(
    {
        "email": email,
        "name": text(1, 80),
        "age": integer(13, 130),
        "tags": array(text(1, 20, r"[a-z0-9-]+"), max_items=5),
        "address": lambda value: Address(**address(value)),
    },
    required={"email", "name", "age"},
)


def parse_signup(document: object) -> SignUp:
    """The boundary: a JSON value in, a SignUp out, or Problem 422 with every
    error."""
    try:
        return SignUp(**signup_fields(document))
    except Invalid as invalid:
        errors = [{"pointer": p, "detail": d} for p, d in invalid.errors]
        detail = f"{len(errors)} field(s) need attention"
        raise Problem("invalid-input", detail, errors) from None


# --8<-- [end:parse_signup]


# --8<-- [start:signup_json]
def signup_json(signup: SignUp) -> dict[str, object]:
    """The typed object back to JSON; parse_signup(signup_json(s)) == s."""
    document = {
        "email": str(signup.email),
        "name": signup.name,
        "age": signup.age,
    }
    document["tags"] = list(signup.tags)
    if signup.address is not None:
        document["address"] = {
            "city": signup.address.city,
            "postcode": signup.address.postcode,
        }
    return document


# --8<-- [end:signup_json]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_parse]
    signup = parse_signup(
        {"email": "Ada@Example.COM", "name": "Ada", "age": 36, "tags": ["math"]}
    )
    print(signup.email, signup.age, signup.tags, signup.address)
    #> Ada@example.com 36 ('math',) None
    # --8<-- [end:demo_parse]

    # --8<-- [start:demo_errors]
    bad = {
        "email": "ada@",
        "age": True,
        "tags": ["math", "Math!", "math"],
        "address": {"city": "London"},
        "is_admin": True,
    }
    try:
        parse_signup(bad)
    except Problem as refusal:
        print(refusal.status, refusal.detail)
        #> 422 6 field(s) need attention
        for error in refusal.errors:
            print(error["pointer"], error["detail"])
            #> /is_admin is not a known field
            #> /email must look like name@example.com
            #> /name is required
            #> /age must be an integer
            #> /tags/1 must match [a-z0-9-]+
            #> /address/postcode is required
    # --8<-- [end:demo_errors]
