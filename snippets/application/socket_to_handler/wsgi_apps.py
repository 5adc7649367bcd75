"""WSGI applications, run on our server and on wsgiref, with the same answers.

What it teaches: the application's half of the WSGI contract (PEP 3333).
`hello_app` is written against the bare contract: an `if` chain over method and
path, the query string parsed by hand, the Content-Length counted by hand, which
is why frameworks exist. `make_countdown_app` returns a generator: a body of
unknown length, whose `finally` runs when the server calls `close()`. The same
applications are served by `WSGIServer` and by the standard library's
`wsgiref.simple_server`, wrapped in `wsgiref.validate.validator`, which checks
both sides of the contract on every request; `fetch`, built on `http.client`,
must get the same answers from both.

Read first: `wsgi_server` in this package, the server these applications run on.

What it leaves out: routing, request and response objects, and middleware (the
application pages after this one build them), and any framework: these
applications read `environ` directly.

Run it: `python -m snippets.application.socket_to_handler.wsgi_apps`.
"""

import threading
from typing import Any, Self

from snippets.application.socket_to_handler.request_reading import TIMEOUT
from snippets.application.socket_to_handler.wsgi_server import (
    StartResponse,
    WSGIApp,
    WSGIServer,
)

# isort: split

# --8<-- [start:app]
from urllib.parse import parse_qs


def hello_app(
    environ: dict[str, Any], start_response: StartResponse
) -> list[bytes]:
    """A WSGI application written by hand: greet, echo a POST body, or answer
    404."""
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
    if path == "/hello" and method in ("GET", "HEAD"):
        name = parse_qs(environ["QUERY_STRING"]).get("name", ["world"])[0]
        body, content_type, status = (
            f"hello, {name}\n".encode(),
            "text/plain",
            "200 OK",
        )
    elif path == "/echo" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        content_type = environ.get("CONTENT_TYPE") or "application/octet-stream"
        status = "200 OK"
    else:
        body, content_type, status = (
            b"not found\n",
            "text/plain",
            "404 Not Found",
        )
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
    ]
    start_response(status, headers)
    return [body]


# --8<-- [end:app]


# --8<-- [start:streaming_app]
from collections.abc import Iterator


def make_countdown_app(events: list[str]) -> WSGIApp:
    """An app whose body is made piece by piece, with no Content-Length.

    It appends "closed" to `events` when the server calls its iterable's
    close().
    """

    def countdown_app(
        environ: dict[str, Any], start_response: StartResponse
    ) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            for n in (3, 2, 1):
                yield f"{n}\n".encode()
            yield b"liftoff\n"
        finally:  # runs on close(), even if the client left halfway
            events.append("closed")

    return countdown_app


# --8<-- [end:streaming_app]


# --8<-- [start:fetch]
import http.client


def fetch(
    address: tuple[str, int],
    method: str,
    target: str,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Send one request with http.client; return status, some headers and the
    body."""
    conn = http.client.HTTPConnection(*address, timeout=TIMEOUT)
    try:
        headers = {"Content-Type": "text/plain"} if body is not None else {}
        conn.request(method, target, body=body, headers=headers)
        answer = conn.getresponse()
        wanted = ("content-type", "content-length")
        kept = {
            k.lower(): v for k, v in answer.getheaders() if k.lower() in wanted
        }
        return answer.status, kept, answer.read()
    finally:
        conn.close()


# --8<-- [end:fetch]


# --8<-- [start:wsgiref]
import wsgiref.simple_server


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    """wsgiref's request handler without its access log on stderr."""

    def log_message(self, format: str, *args: object) -> None:
        """Say nothing."""


class WsgirefServer:
    """`wsgiref.simple_server` on 127.0.0.1, started and stopped like
    `WSGIServer`."""

    def __init__(self, app: WSGIApp) -> None:
        self.server = wsgiref.simple_server.make_server(
            "127.0.0.1", 0, app, handler_class=QuietHandler
        )
        self.address: tuple[str, int] = self.server.server_address[:2]
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(TIMEOUT)
        self.server.server_close()


# --8<-- [end:wsgiref]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    from wsgiref.validate import validator

    app = validator(hello_app)  # checks the app's side and ours on every call
    requests = [
        ("GET", "/hello?name=Ada", None),
        ("POST", "/echo", b"ping"),
        ("GET", "/missing", None),
    ]
    with WSGIServer(app) as ours, WsgirefServer(app) as reference:
        for method, target, body in requests:
            mine = fetch(ours.address, method, target, body)
            same = mine == fetch(reference.address, method, target, body)
            print(mine[0], mine[2], same)
            #> 200 b'hello, Ada\n' True
            #> 200 b'ping' True
            #> 404 b'not found\n' True
    # --8<-- [end:demo]
    # --8<-- [start:demo_stream]
    events: list[str] = []
    with WSGIServer(validator(make_countdown_app(events))) as ours:
        status, headers, body = fetch(ours.address, "GET", "/")
    print(status, "content-length" in headers, body.decode().split(), events)
    #> 200 False ['3', '2', '1', 'liftoff'] ['closed']
    # --8<-- [end:demo_stream]
