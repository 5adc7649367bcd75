"""Reading one request off a socket, within limits, and turning it into a WSGI
environ.

What it teaches: the server's first job. `read_request` collects the bytes of
one HTTP/1.1 request from a socket, with limits on the head, the header fields
and the body, and one deadline for the whole request (a per-`recv` timeout would
let a slow client hold a thread for hours). `parse_head` checks the request line
and the header fields, quoting RFC 9112 and RFC 9110, and every refusal is a
`BadRequest` carrying the status code to answer. The body's length follows the
HTTP/1.1 messages page's `parse_content_length`, the one rule for the whole
site. `make_environ` then turns the request into the WSGI `environ` of PEP 3333:
CGI-style keys whose strings are the request's bytes read as latin-1, plus the
`wsgi.*` keys.

Read first: the journey page (`snippets/journey.py`), and the HTTP/1.1 messages
page for the full parser (this module keeps a deliberately small one).

What it leaves out: keep-alive (one request per connection), chunked request
bodies (refused with 501), `Expect: 100-continue`, absolute-form targets, and
streaming the body to the application (it is read into memory first, up to
MAX_BODY).

Run it: `python -m snippets.application.socket_to_handler.request_reading`.
"""

# --8<-- [start:parse]
import re
from dataclasses import dataclass

TIMEOUT = 5.0  # seconds a client may take to send its request
MAX_HEAD = 16 * 1024  # request line and header fields, in bytes
MAX_HEADERS = 100  # header fields
MAX_BODY = 1024 * 1024  # request body, in bytes
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 section 5.6.2


class BadRequest(Exception):
    """Input the server refuses; `status` and `reason` are what it answers."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


@dataclass
class RawRequest:
    """One request as it came off the wire: the server's view, before WSGI or
    ASGI."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""


# --8<-- [end:parse]


# --8<-- [start:parse_head]
from urllib.parse import urlsplit

# visible ASCII: no space, NUL or other control
TARGET = re.compile(r"[\x21-\x7e]+")


def origin_form(target: str) -> tuple[str, str | None]:
    """The target as /path?query, and the host an absolute-form target names.

    RFC 9112 section 3.2.2: a server MUST accept the absolute-form (`GET
    http://example.test/a HTTP/1.1`), and then uses its host, not the Host
    field.
    """
    if target.startswith("/"):
        return target, None
    url = urlsplit(target)
    if url.scheme.lower() not in ("http", "https") or not url.netloc:
        raise BadRequest(400, "Bad Request")
    return (url.path or "/") + (
        f"?{url.query}" if url.query else ""
    ), url.netloc


def parse_head(head: bytes) -> RawRequest:
    """Parse the request line and header fields (the bytes before the blank
    line)."""
    request_line, *lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]):
        raise BadRequest(400, "Bad Request")
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(505, "HTTP Version Not Supported")
    if not TARGET.fullmatch(target):
        raise BadRequest(400, "Bad Request")
    target, authority = origin_form(target)
    if len(lines) > MAX_HEADERS:
        raise BadRequest(431, "Request Header Fields Too Large")
    headers = [parse_field(line) for line in lines]
    hosts = [value for name, value in headers if name.lower() == "host"]
    if len(hosts) > 1 or (version == "HTTP/1.1" and not hosts):  # RFC 9112 3.2
        raise BadRequest(400, "Bad Request")
    # the absolute-form's host replaces any Host field
    if authority is not None:
        headers = [(n, v) for n, v in headers if n.lower() != "host"]
        headers.append(("Host", authority))
    return RawRequest(method, target, version, headers)


def parse_field(line: str) -> tuple[str, str]:
    """Split one `name: value` line (RFC 9112 section 5.1: no space before
    `:`)."""
    name, colon, value = line.partition(":")
    if not colon or not TOKEN.fullmatch(name) or re.search("[\r\n\0]", value):
        # RFC 9110 section 5.5: no CR, LF, NUL
        raise BadRequest(400, "Bad Request")
    return name, value.strip(" \t")


# --8<-- [end:parse_head]


# --8<-- [start:body_length]
from snippets.communication.http_messages.message_parser import (
    BARE_LF,
    HTTPError,
    parse_content_length,
)


def body_length(headers: list[tuple[str, str]]) -> int:
    """The body's length from Content-Length; 0 without one. Chunked is refused.

    The rule for the value is the HTTP messages page's `parse_content_length`:
    plain ASCII digits, one field, within MAX_BODY (400 or 413 otherwise).
    """
    if any(name.lower() == "transfer-encoding" for name, _ in headers):
        raise BadRequest(501, "Not Implemented")
    values = [v for name, v in headers if name.lower() == "content-length"]
    if not values:
        return 0
    try:
        return parse_content_length(values, MAX_BODY)
    except HTTPError as error:
        reason = "Bad Request" if error.status == 400 else "Content Too Large"
        raise BadRequest(error.status, reason) from None


# --8<-- [end:body_length]


# --8<-- [start:read_request]
import socket
import time


def recv_by(conn: socket.socket, deadline: float, size: int) -> bytes:
    """recv at most `size` bytes, but give up (TimeoutError) once `deadline`
    passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the client took too long to send its request")
    conn.settimeout(remaining)
    return conn.recv(size)


def read_request(
    conn: socket.socket, timeout: float = TIMEOUT
) -> RawRequest | None:
    """Read one request (head, then a Content-Length body) within `timeout`
    seconds.

    Returns None if the client closed the connection without sending anything.
    """
    # for the whole request, not each recv
    deadline = time.monotonic() + timeout
    buffer = bytearray()
    while (end := buffer.find(b"\r\n\r\n")) == -1:
        if len(buffer) > MAX_HEAD:
            raise BadRequest(431, "Request Header Fields Too Large")
        # RFC 9112 section 2.2: refuse now, do not wait
        if BARE_LF.search(buffer):
            raise BadRequest(400, "Bad Request")
        if not (chunk := recv_by(conn, deadline, 4096)):
            if buffer:
                raise BadRequest(400, "Bad Request")  # closed halfway through
            return None
        buffer += chunk
    if end > MAX_HEAD:  # the blank line came, but too late
        raise BadRequest(431, "Request Header Fields Too Large")
    request = parse_head(bytes(buffer[:end]))
    length = body_length(request.headers)
    body = buffer[end + 4 :]
    while len(body) < length:
        if not (
            chunk := recv_by(conn, deadline, min(65536, length - len(body)))
        ):
            raise BadRequest(400, "Bad Request")  # the body was cut short
        body += chunk
    request.body = bytes(body[:length])
    return request


# --8<-- [end:read_request]


# --8<-- [start:environ]
import io
import logging
import urllib.parse

log = logging.getLogger("socket_to_handler")


class ErrorStream:
    """`wsgi.errors`: a text stream whose lines go to the server's log."""

    def write(self, text: str) -> None:
        if text.strip():
            log.error("application: %s", text.rstrip())

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Nothing is buffered."""


# --8<-- [end:environ]


# --8<-- [start:make_environ]
def make_environ(
    request: RawRequest, server: tuple[str, int], client: tuple[str, int]
) -> dict[str, object]:
    """The WSGI environ of PEP 3333: CGI variables plus the `wsgi.*` keys."""
    path, _, query = request.target.partition("?")
    environ: dict[str, object] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",  # the app is mounted at the root
        "PATH_INFO": urllib.parse.unquote(path, encoding="latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": request.version,
        "REMOTE_ADDR": client[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": ErrorStream(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers:
        # X_Real_IP would pose as X-Real-IP: drop it, as nginx does
        if "_" in name:
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


# --8<-- [end:make_environ]


if __name__ == "__main__":
    client, server = socket.socketpair()
    with client, server:
        client.sendall(
            b"POST /caf%C3%A9?x=%20 HTTP/1.1\r\nHost: example.test\r\n"
            b"Content-Length: 4\r\nX-Trace: t-1\r\n\r\npingLEFT OVER"
        )
        request = read_request(server)
    assert request is not None
    print(request.method, request.target, request.body)
    environ = make_environ(request, ("127.0.0.1", 80), ("127.0.0.1", 5000))
    for key in ("PATH_INFO", "QUERY_STRING", "CONTENT_LENGTH", "HTTP_X_TRACE"):
        print(key, ascii(environ[key]))
    for head in (
        b"GET / HTTP/1.1",  # no Host
        b"GET / HTTP/1.1\r\nHost : a",  # space before the colon
        b"GET / HTTP/2.0\r\nHost: a",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked",
    ):
        try:
            body_length(parse_head(head).headers)
        except BadRequest as error:
            print(error)
