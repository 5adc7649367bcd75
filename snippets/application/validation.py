"""Validation at the boundary: parse untrusted JSON into typed objects, or answer a 4xx.

What it teaches: "parse, don't validate". A request body is bytes from a stranger. One
function turns it into a frozen dataclass (`SignUp`) or refuses it, and code past the
boundary only ever sees the typed object. The refusals are RFC 9457 problem details
(`application/problem+json`): 400 for bytes that are not JSON we will read (bad UTF-8,
bad syntax, duplicate names, NaN, nesting deeper than a limit), 422 for well-formed JSON
that breaks the rules (RFC 9110 section 15.5.21), with an `errors` list that locates
each bad field by JSON Pointer (RFC 6901), and 415 for a Content-Type that is not JSON.
The sign-up endpoint is one handler of the application core, served on loopback.

Read first: the app_core page (docs/application/app_core.md, "The application
core"): this module builds on `snippets.application.app_core`, whose server reads the
body (Content-Length or chunked) and refuses one over the size limit with 413 before
the handler runs; the HTTP/1.1 messages page (status codes, framing); the
serialization page (what JSON is and is not).

What it leaves out: a schema language (JSON Schema, Pydantic) that would generate these
parsers, localized messages (Accept-Language), content codings (gzip bodies), streaming
parsers, and checks that need the database (is this email already taken?): those
belong to the service layer.

Run it: `python -m snippets.application.validation`.
"""

# --8<-- [start:problem]
import uuid

from snippets.application.app_core import Headers, Request, Response, problem

PROBLEM_BASE = "https://example.com/problems/"  # would resolve to documentation
PROBLEM_TYPES: dict[str, tuple[int, str]] = {  # RFC 9457 section 4: URI, title, status
    "malformed-json": (400, "The body is not JSON we can read"),
    "unsupported-media-type": (415, "Send the body as application/json"),
    "invalid-input": (422, "The input breaks the rules"),
}


class Problem(Exception):
    """A refusal, raised where it is found and rendered once as problem details."""

    def __init__(
        self, kind: str | int, detail: str, errors: list | None = None
    ) -> None:
        """`kind` is a key of PROBLEM_TYPES, or a bare status code (about:blank)."""
        super().__init__(detail)
        self.kind, self.detail, self.errors = kind, detail, errors or []
        self.status = kind if isinstance(kind, int) else PROBLEM_TYPES[kind][0]

    def response(self, headers: Headers = ()) -> Response:
        """The RFC 9457 document: type, title, status, detail, instance (+ errors)."""
        members: dict[str, object] = {"type": "about:blank"}  # title: status phrase
        if isinstance(self.kind, str):  # a documented type, with its own title
            members["type"] = PROBLEM_BASE + self.kind
            members["title"] = PROBLEM_TYPES[self.kind][1]
        members["instance"] = f"urn:uuid:{uuid.uuid4()}"  # quote it when you log
        if self.errors:
            members["errors"] = self.errors
        return problem(self.status, self.detail, headers, **members)


# --8<-- [end:problem]


# --8<-- [start:pointer]
def json_pointer(*tokens: str | int) -> str:
    """The RFC 6901 pointer to a value: '/' before each token, '~' and '/' escaped."""
    escaped = (str(t).replace("~", "~0").replace("/", "~1") for t in tokens)
    return "".join("/" + token for token in escaped)


# --8<-- [end:pointer]


# --8<-- [start:decode]
import json

MAX_DEPTH = 32  # arrays and objects inside each other


def nesting_depth(text: str) -> int:
    """How deep [ and { nest outside strings, counted without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:  # inside "...", only a backslash and the closing quote matter
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
    """RFC 8259 section 4: names SHOULD be unique. We insist: a repeat is ambiguous."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise Unreadable("an object has the same member name twice")
    return document


def no_constants(name: str) -> object:
    """Python's json reads NaN and Infinity; RFC 8259 section 6 does not allow them."""
    raise Unreadable(f"{name} is not a JSON number")


# --8<-- [end:decode]


# --8<-- [start:decode_json]
def decode_json(body: bytes) -> object:
    """Bytes to a JSON value, or Problem 400. Never RecursionError, never a 500."""
    try:
        text = body.decode("utf-8")  # RFC 8259 section 8.1: JSON on the wire is UTF-8
    except UnicodeDecodeError as error:
        raise Problem("malformed-json", f"not UTF-8 at byte {error.start}") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise Problem("malformed-json", f"nested deeper than {MAX_DEPTH} levels")
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
        raise Problem("malformed-json", "a number has too many digits") from None


# --8<-- [end:decode_json]


# --8<-- [start:types]
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Email:
    """An address that has the shape of one; the domain is stored in lower case."""

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
    """Field problems as (pointer, detail) pairs; pointers relative to the value."""

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
    """A parser for whole numbers in [low, high]. `true` is not 1, nor is `1.0`."""

    def parse(value: object) -> int:
        if type(value) is not int:  # isinstance(True, int) is True: bool is an int
            raise Invalid([("", "must be an integer")])
        if not low <= value <= high:
            raise Invalid([("", f"must be from {low} to {high}")])
        return value

    return parse


# --8<-- [end:fields]


# --8<-- [start:email]
# The WHATWG HTML "valid email address": a deliberate subset of RFC 5322.
EMAIL = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)


def email(value: object) -> Email:
    """Parse an email address by its shape; RFC 5321 4.5.3.1 gives the lengths."""
    if not isinstance(value, str):
        raise Invalid([("", "must be a string")])
    local, _, domain = value.rpartition("@")
    if len(value) > 254 or len(local) > 64 or not EMAIL.fullmatch(value):
        raise Invalid([("", "must look like name@example.com")])
    return Email(local, domain.lower())  # the domain is case-insensitive, local is not


# --8<-- [end:email]


# --8<-- [start:structures]
def obj(fields: dict[str, Parser], required: set[str]) -> Callable[[object], dict]:
    """A parser for objects: known fields only, each parsed, every error collected."""

    def parse(value: object) -> dict[str, object]:
        if not isinstance(value, dict):
            raise Invalid([("", "must be an object")])
        unknown = [name for name in value if name not in fields]
        errors = [(json_pointer(name), "is not a known field") for name in unknown]
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
                errors += [(json_pointer(index) + p, d) for p, d in inner.errors]
        if not errors and len(set(items)) != len(items):
            errors.append(("", "must not repeat an item"))
        if errors:
            raise Invalid(errors)
        return tuple(items)

    return parse


# --8<-- [end:structures]


# --8<-- [start:parse_signup]
address = obj(
    {"city": text(1, 60), "postcode": text(3, 10, r"[A-Z0-9][A-Z0-9 -]*[A-Z0-9]")},
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
    """The boundary: a JSON value in, a SignUp out, or Problem 422 with every error."""
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
    document = {"email": str(signup.email), "name": signup.name, "age": signup.age}
    document["tags"] = list(signup.tags)
    if signup.address is not None:
        document["address"] = {
            "city": signup.address.city,
            "postcode": signup.address.postcode,
        }
    return document


# --8<-- [end:signup_json]


# --8<-- [start:media_type]
CHARSET = re.compile(r';\s*charset\s*=\s*"?([^";\s]*)', re.IGNORECASE)


def is_json(content_type: str) -> bool:
    """application/json, no charset or charset=utf-8 (RFC 8259 sections 8.1, 11)."""
    media_type = content_type.split(";")[0].strip().lower()
    charset = CHARSET.search(content_type)
    return media_type == "application/json" and (
        charset is None or charset.group(1).lower() == "utf-8"
    )


def json_body(request: Request) -> bytes:
    """The request content, if it says it is JSON in UTF-8; else Problem 415."""
    if not is_json(request.header("Content-Type") or ""):
        detail = "send Content-Type: application/json, in UTF-8"
        raise Problem("unsupported-media-type", detail)
    return request.body


# --8<-- [end:media_type]


# --8<-- [start:handler]
import threading

from snippets.application.app_core import Handler, json_response

SIGNUP_MAX_BODY = 16 * 1024  # bytes: pass to serving(); the core refuses more (413)
ONLY_JSON = [("Accept", "application/json")]  # RFC 9110 15.5.16: what would do


def signups(accepted: list[SignUp]) -> Handler:
    """POST /signups: 201 with the parsed sign-up, or a problem document."""
    lock = threading.Lock()  # guards `accepted`: each connection has its own thread

    def handle(request: Request) -> Response:
        if request.path != "/signups":
            return Problem(404, "sign-ups are POSTed to /signups").response()
        if request.method != "POST":  # RFC 9110 15.5.6: a 405 lists what is allowed
            refusal = Problem(405, "this resource only accepts POST")
            return refusal.response([("Allow", "POST")])
        try:
            signup = parse_signup(decode_json(json_body(request)))
        except Problem as refusal:
            return refusal.response(ONLY_JSON if refusal.status == 415 else [])
        with lock:
            accepted.append(signup)
            location = f"/signups/{len(accepted)}"
        return json_response(signup_json(signup), 201, [("Location", location)])

    return handle


# --8<-- [end:handler]


# The demo's `#>` lines are the output that the docs test checks; ruff format would
# rewrite them as `# >`, so the formatter stops here.
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
    bodies = [deep.encode(), b'{"a": 1, "a": 2}', b"[NaN]", b'"Ad\xe1"', b"{,}"]
    for body in bodies:
        try:
            decode_json(body)
        except Problem as refusal:
            print(refusal.status, refusal.detail)
            #> 400 nested deeper than 32 levels
            #> 400 an object has the same member name twice
            #> 400 NaN is not a JSON number
            #> 400 not UTF-8 at byte 3
            #> 400 Expecting property name enclosed in double quotes at line 1 column 2
    # --8<-- [end:demo_decode]

    # --8<-- [start:demo_pointer]
    print(json_pointer("tags", 2), json_pointer("a/b", "m~n"), repr(json_pointer()))
    #> /tags/2 /a~1b/m~0n ''
    # --8<-- [end:demo_pointer]

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

    # --8<-- [start:demo_http]
    from snippets.application.app_core import call, serving

    good = {"email": "grace@example.com", "name": "Grace Hopper", "age": 85}
    requests = [
        (json.dumps(good).encode(), "application/json"),
        (b'{"email": ', "application/json"),
        (json.dumps({**good, "age": 7}).encode(), "application/json"),
        (json.dumps(good).encode(), "text/plain"),
        (b"x" * (SIGNUP_MAX_BODY + 1), "application/json"),
    ]
    accepted: list[SignUp] = []
    with serving(signups(accepted), max_body=SIGNUP_MAX_BODY) as server:
        for body, kind in requests:
            headers = [("Content-Type", kind)]
            reply = call(server, "POST", "/signups", body, headers)
            print(reply.status, reply.header("Content-Type"))
            #> 201 application/json
            #> 400 application/problem+json
            #> 422 application/problem+json
            #> 415 application/problem+json
            #> 413 text/plain; charset=utf-8
    print([signup.name for signup in accepted])
    #> ['Grace Hopper']
    # --8<-- [end:demo_http]
