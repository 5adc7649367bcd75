"""The anatomy of an HTTP/1.1 message: start line, field lines, empty line,
content.

What it teaches: how the bytes of a request and of a response are laid out (RFC
9112), how a chunked body is framed (RFC 9112 section 7.1), what a method
promises about repeating it (safe and idempotent, RFC 9110 section 9.2) and what
the first digit of a status code says (RFC 9110 section 15). It builds messages;
`message_parser` in the same package reads them back, and the tests check both
against h11 and `http.client`.

Read first: the journey page (`snippets/journey.py`), which sends one raw
request.

What it leaves out: HTTP/2 and HTTP/3, which carry the same methods, fields and
status codes in binary frames; the many registered methods and status codes
beyond the common ones; and content codings (gzip), which belong to the
representation, not the framing.

Run it: `python -m snippets.communication.http_messages.message_anatomy`.
"""

from __future__ import annotations

# --8<-- [start:layout]
import re
from collections.abc import Iterable, Sequence
from http import HTTPStatus

Fields = Sequence[tuple[str, str]]  # (name, value) pairs, in order

# RFC 9110 section 5.6.2
SEND_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# no CR, LF, NUL or other controls
SEND_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def layout(start_line: str, fields: Fields, content: bytes) -> bytes:
    """Join a start line, field lines, an empty line and the content, with CRLF.

    Raises:
        ValueError: a field name is not a token, or a value holds a control
            character.
            A CR LF inside a value would end the field early and let whoever
            chose
            the value write fields, or a whole message, of their own.
    """
    lines = [start_line]
    for name, value in fields:
        if not SEND_TOKEN.fullmatch(name) or not SEND_VALUE.fullmatch(value):
            raise ValueError(f"refusing to send the field {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content


# --8<-- [end:layout]


# --8<-- [start:build]
def build_request(
    method: str, target: str, fields: Fields, content: bytes = b""
) -> bytes:
    """Lay out a request: request line, field lines, empty line, content.

    A Content-Length field is added when there is content, unless the fields say
    Transfer-Encoding (then `content` must already be chunked, see
    `encode_chunked`).
    """
    if not SEND_TOKEN.fullmatch(method) or not re.fullmatch(
        r"[\x21-\x7e]+", target
    ):
        raise ValueError(f"not a valid request line: {method!r} {target!r}")
    chunked = any(name.lower() == "transfer-encoding" for name, _ in fields)
    if content and not chunked:
        fields = [*fields, ("Content-Length", str(len(content)))]
    return layout(f"{method} {target} HTTP/1.1", fields, content)


def build_response(status: int, fields: Fields, content: bytes = b"") -> bytes:
    """Lay out a response: status line, field lines, empty line, content.

    Content-Length is added except where a response never has content: 1xx, 204
    and 304 (RFC 9110 section 8.6 forbids the field in 1xx and 204 responses).
    """
    # ValueError for a code Python does not know
    phrase = HTTPStatus(status).phrase
    if status < 200 or status in (204, 304):
        if content:
            raise ValueError(f"a {status} response has no content")
    else:
        fields = [*fields, ("Content-Length", str(len(content)))]
    return layout(f"HTTP/1.1 {status} {phrase}", fields, content)


def encode_chunked(pieces: Iterable[bytes], trailers: Fields = ()) -> bytes:
    """Frame content as chunks (RFC 9112 section 7.1), for Transfer-Encoding:
    chunked.

    Each piece becomes its size in hex, CRLF, the bytes, CRLF. A chunk of size 0
    ends the body; optional trailer fields and an empty line follow it.
    """
    chunks = b"".join(b"%X\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return chunks + layout("0", trailers, b"")


# --8<-- [end:build]


# --8<-- [start:methods]
# RFC 9110 section 9.2.1: a method is safe if its meaning is read-only. RFC 9110
# section 9.2.2: it is idempotent if sending it twice has the same intended
# effect on the server as sending it once. PATCH is defined in RFC 5789.
METHODS = {  # method: (safe, idempotent)
    "GET": (True, True),
    "HEAD": (True, True),
    "OPTIONS": (True, True),
    "TRACE": (True, True),
    "PUT": (False, True),
    "DELETE": (False, True),
    "POST": (False, False),
    "PATCH": (False, False),
    "CONNECT": (False, False),
}


def may_retry_automatically(method: str) -> bool:
    """True if a client may resend the request after a broken connection by
    itself.

    RFC 9110 section 9.2.2: idempotent requests can be repeated automatically
    when the connection fails before the response is read. Unknown methods are
    treated as neither safe nor idempotent.
    """
    return METHODS.get(method, (False, False))[1]


# --8<-- [end:methods]


# --8<-- [start:status]
STATUS_CLASSES = {  # RFC 9110 section 15: the first digit is the class
    1: "informational",  # interim: the request was received, keep going
    2: "successful",  # the request was received, understood and accepted
    3: "redirection",  # look elsewhere, or use what you already have (304)
    # change the request, or (408, 429) wait and send it again
    4: "client error",
    5: "server error",  # the server failed on a request that may be fine
}


def status_class(status: int) -> str:
    """Name the class of a status code, known or not.

    RFC 9110 section 15: a client that does not know a code treats it as the x00
    code of its class, so the class alone is enough to act on.

    Raises:
        ValueError: the code is outside 100-599.
    """
    if not 100 <= status <= 599:
        raise ValueError(f"{status} is not a status code (100-599)")
    return STATUS_CLASSES[status // 100]


# --8<-- [end:status]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    fields = [("Host", "shop.example"), ("Content-Type", "application/json")]
    request = build_request("POST", "/orders", fields, b'{"qty": 2}')
    for line in request.split(b"\r\n"):
        print(line)
        #> b'POST /orders HTTP/1.1'
        #> b'Host: shop.example'
        #> b'Content-Type: application/json'
        #> b'Content-Length: 10'
        #> b''
        #> b'{"qty": 2}'
    print(build_response(201, [("Location", "/orders/7")]))
    #> b'HTTP/1.1 201 Created\r\nLocation: /orders/7\r\nContent-Length: 0\r\n\r\n'
    print(encode_chunked([b"Hello, ", b"world"]))
    #> b'7\r\nHello, \r\n5\r\nworld\r\n0\r\n\r\n'
    try:
        build_response(200, [("Set-Cookie", "a=1\r\nX-Evil: yes")], b"ok")
    except ValueError as error:
        print(error)
        #> refusing to send the field 'Set-Cookie': 'a=1\r\nX-Evil: yes'
    # --8<-- [end:demo]

    # --8<-- [start:demo_semantics]
    print("method   safe   idempotent")
    #> method   safe   idempotent
    for method, (safe, idempotent) in METHODS.items():
        print(f"{method:<8} {safe!s:<6} {idempotent}")
        #> GET      True   True
        #> HEAD     True   True
        #> OPTIONS  True   True
        #> TRACE    True   True
        #> PUT      False  True
        #> DELETE   False  True
        #> POST     False  False
        #> PATCH    False  False
        #> CONNECT  False  False
    for status in (100, 201, 304, 404, 418, 503, 599):
        print(status, status_class(status))
        #> 100 informational
        #> 201 successful
        #> 304 redirection
        #> 404 client error
        #> 418 client error
        #> 503 server error
        #> 599 server error
    # --8<-- [end:demo_semantics]
