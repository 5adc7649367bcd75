"""An asyncio server for ASGI applications: scope, receive and send.

What it teaches: the same split between server and application, made
asynchronous. The server reads the request with asyncio streams (the reader's
limit caps the head, and one `asyncio.timeout` bounds the whole read), builds
the ASGI HTTP `scope` (bytes where HTTP has bytes, the path decoded as UTF-8),
hands the body to the application through `receive`, and checks the order of the
messages it gets through `send`: one `http.response.start`, then body messages
until one has `more_body` false. All connections share one event loop, which
runs in a thread of its own. `hello_asgi`, the greeting application as ASGI,
answers like `hello_app` on wsgiref.

Read first: `request_reading` and `wsgi_server` in this package, whose parser,
limits and response head this server reuses.

What it leaves out: keep-alive, chunked bodies, streaming the request body (it
arrives as one `http.request` event), reporting a disconnect before the response
is out, TLS, and the ASGI lifespan and WebSocket protocols.

Run it: `python -m snippets.application.socket_to_handler.asgi_server`.
"""

import contextlib
import threading
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Self
from urllib.parse import parse_qs

from snippets.application.socket_to_handler.request_reading import (
    MAX_HEAD,
    TIMEOUT,
    BadRequest,
    RawRequest,
    body_length,
    log,
    parse_head,
)
from snippets.application.socket_to_handler.wsgi_server import (
    error_response,
    response_head,
)

# isort: split

# --8<-- [start:asgi_read]
import asyncio


async def read_request_async(reader: asyncio.StreamReader) -> RawRequest | None:
    """The asyncio twin of `read_request`; the reader's limit is MAX_HEAD."""
    head = bytearray()
    try:
        # line by line, to see each line end
        while not head.endswith(b"\r\n\r\n"):
            line = await reader.readuntil(b"\n")
            if not line.endswith(b"\r\n"):  # a bare LF: refuse now, do not wait
                raise BadRequest(400, "Bad Request")
            head += line
            if len(head) > MAX_HEAD:
                raise BadRequest(431, "Request Header Fields Too Large")
    except asyncio.IncompleteReadError as error:
        if head or error.partial:
            raise BadRequest(400, "Bad Request") from None
        return None  # closed without sending anything
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "Request Header Fields Too Large") from None
    request = parse_head(bytes(head[:-4]))
    try:
        request.body = await reader.readexactly(body_length(request.headers))
    except asyncio.IncompleteReadError:
        raise BadRequest(400, "Bad Request") from None
    return request


# --8<-- [end:asgi_read]


# --8<-- [start:asgi_scope]
def make_scope(
    request: RawRequest, server: tuple[str, int], client: tuple[str, int]
) -> dict[str, Any]:
    """The ASGI HTTP connection scope: like environ, but bytes where bytes
    belong."""
    path, _, query = request.target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.version.removeprefix("HTTP/"),
        "method": request.method,
        "scheme": "http",
        "path": urllib.parse.unquote(path),  # percent-decoded, then UTF-8
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [
            (n.lower().encode("latin-1"), v.encode("latin-1"))
            for n, v in request.headers
        ],
        "client": client,
        "server": server,
    }


# --8<-- [end:asgi_scope]


# --8<-- [start:asgi_run]
from collections.abc import Awaitable

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


class ASGIResponse:
    """`send` for one request: checks the order of the messages, writes the
    bytes."""

    def __init__(self, writer: asyncio.StreamWriter, method: str) -> None:
        self.writer, self.head_only = writer, method == "HEAD"
        self.start: Message | None = None
        self.head_sent = False
        self.done = asyncio.Event()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start" and self.start is None:
            self.start = message
        elif (
            kind == "http.response.body"
            and self.start
            and not self.done.is_set()
        ):
            await self.send_body(
                message.get("body", b""), message.get("more_body", False)
            )
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    async def send_body(self, body: bytes, more_body: bool) -> None:
        if not self.head_sent and self.start is not None:
            status = self.start["status"]
            headers = [
                (n.decode("latin-1"), v.decode("latin-1"))
                for n, v in self.start.get("headers", [])
            ]
            status_text = f"{status} {HTTPStatus(status).phrase}"
            self.writer.write(
                response_head(
                    status_text, headers, None if more_body else len(body)
                )
            )
            self.head_sent = True
        if not self.head_only:
            self.writer.write(body)
        await self.writer.drain()
        if not more_body:
            self.done.set()


# --8<-- [end:asgi_run]


# --8<-- [start:asgi_call]
async def run_asgi(
    app: ASGIApp, scope: dict[str, Any], body: bytes, response: ASGIResponse
) -> None:
    """Call an ASGI app: `receive` hands it the body, `send` writes its
    response."""
    inbox = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        if inbox:
            return inbox.pop()
        await response.done.wait()  # no more body: wait until the answer is out
        return {"type": "http.disconnect"}

    await app(scope, receive, response.send)
    if not response.done.is_set():
        raise RuntimeError(
            "the application returned before finishing its response"
        )


# --8<-- [end:asgi_call]


# --8<-- [start:asgi_connection]
async def serve_asgi_connection(
    app: ASGIApp,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    timeout: float,
) -> None:
    """Read one request within `timeout`, run the app, answer errors with 4xx or
    500."""
    try:
        async with asyncio.timeout(timeout):
            request = await read_request_async(reader)
    except BadRequest as error:
        return writer.write(error_response(error.status))
    except TimeoutError:
        return writer.write(error_response(408))
    if request is None:
        return None
    response = ASGIResponse(writer, request.method)
    server, client = (
        writer.get_extra_info(k) for k in ("sockname", "peername")
    )
    try:
        await run_asgi(
            app, make_scope(request, server, client), request.body, response
        )
    except Exception:
        log.exception("application error")
        if not response.head_sent:
            writer.write(error_response(500))
    return None


# --8<-- [end:asgi_connection]


# --8<-- [start:asgi_server]
class ASGIServer:
    """An asyncio server for one ASGI app, run in a thread with its own event
    loop."""

    def __init__(self, app: ASGIApp, timeout: float = TIMEOUT) -> None:
        self.app, self.timeout = app, timeout
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.main()))
        self.address: tuple[str, int] = ("127.0.0.1", 0)
        self.tasks: set[asyncio.Task[None]] = set()  # touched by the loop only

    async def main(self) -> None:
        self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(
            self.connection, "127.0.0.1", 0, limit=MAX_HEAD
        )
        async with server:
            self.address = server.sockets[0].getsockname()
            self.ready.set()
            await self.stop.wait()
        if self.tasks:  # let requests in flight finish, within the timeout
            await asyncio.wait(self.tasks, timeout=self.timeout)

    async def connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await serve_asgi_connection(self.app, reader, writer, self.timeout)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self.tasks.discard(task)  # only now is the connection fully closed

    def __enter__(self) -> Self:
        self.thread.start()
        if not self.ready.wait(self.timeout):
            raise RuntimeError("the ASGI server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(self.timeout)


# --8<-- [end:asgi_server]


# --8<-- [start:asgi_app]
async def hello_asgi(
    scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    """`hello_app` again, as an ASGI application."""
    body = b""
    while (message := await receive())["type"] == "http.request":
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status, content_type = 200, b"text/plain"
    if scope["path"] == "/hello" and scope["method"] in ("GET", "HEAD"):
        name = parse_qs(scope["query_string"].decode()).get("name", ["world"])[
            0
        ]
        body = f"hello, {name}\n".encode()
    elif scope["path"] == "/echo" and scope["method"] == "POST":
        content_type = dict(scope["headers"]).get(b"content-type", content_type)
    else:
        status, body = 404, b"not found\n"
    headers = [(b"content-type", content_type)]
    headers.append((b"content-length", str(len(body)).encode()))
    await send(
        {"type": "http.response.start", "status": status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": body})


# --8<-- [end:asgi_app]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    from snippets.application.socket_to_handler.wsgi_apps import (
        WsgirefServer,
        fetch,
        hello_app,
    )

    requests = [
        ("GET", "/hello?name=Ada", None),
        ("POST", "/echo", b"ping"),
        ("GET", "/missing", None),
    ]
    # --8<-- [start:demo_asgi]
    with ASGIServer(hello_asgi) as ours, WsgirefServer(hello_app) as reference:
        for method, target, body in requests:
            mine = fetch(ours.address, method, target, body)
            same = mine == fetch(reference.address, method, target, body)
            print(mine[0], same)
            #> 200 True
            #> 200 True
            #> 404 True
    # --8<-- [end:demo_asgi]
