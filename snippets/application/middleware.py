"""Middleware and request context: the onion, request IDs, timing, errors, deadlines.

What it teaches: a middleware is a function that takes a handler and returns a handler,
so a stack of them wraps the application like the layers of an onion: the request goes
in through each layer in order and the response comes out through them in reverse. On
that shape it builds the cross-cutting concerns every backend has: a request ID (kept
from a valid `X-Request-ID` or made up), a `Server-Timing` header, error handling that
turns an exception into a 500 that leaks nothing while the log gets the traceback and
the request ID, and a deadline that cancels slow work and answers 503. The request ID
and the deadline live in `contextvars`, so code deep inside a request reads them without
being passed them, and concurrent requests never see each other's.

Read first: the socket-to-handler page (`snippets/application/socket_to_handler.py`),
whose ASGI server can host this stack through `as_asgi`.

What it leaves out: propagating the request ID and deadline to downstream services (W3C
Trace Context, `grpc-timeout`), metrics and tracing (the observability layer), and
middleware for compression, CORS, sessions or authentication.

Run it: `python -m snippets.application.middleware`.
"""

# --8<-- [start:types]
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    """What a handler sees: header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Response:
    """What a handler returns; middleware may add headers on the way out."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]
Middleware = Callable[[Handler], Handler]


def build(handler: Handler, middlewares: list[Middleware]) -> Handler:
    """Wrap `handler` in `middlewares`; the first in the list is the outermost layer."""
    for middleware in reversed(middlewares):
        handler = middleware(handler)
    return handler


# --8<-- [end:types]


# --8<-- [start:trace]
def tracing(name: str, trace: list[str]) -> Middleware:
    """A middleware that only records when the request and the response pass it."""

    def middleware(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            trace.append(f"{name} in")
            response = await handler(request)
            trace.append(f"{name} out")
            return response

        return wrapped

    return middleware


# --8<-- [end:trace]


# --8<-- [start:context]
import contextvars
import logging

# One value per request: each asyncio task, and each thread, sees its own.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default="-"
)
deadline_var: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "deadline", default=None
)


class RequestIdFilter(logging.Filter):
    """Stamps every log record with the current request's ID."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


log = logging.getLogger("request")
log.addFilter(RequestIdFilter())


class ListHandler(logging.Handler):
    """Keeps log lines in a list, as `LEVEL [request id] message`."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        rid = getattr(record, "request_id", "-")
        self.lines.append(f"{record.levelname} [{rid}] {record.getMessage()}")


# --8<-- [end:context]


# --8<-- [start:request_id]
import re
import uuid

VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # nothing to inject, short


def request_id(handler: Handler) -> Handler:
    """Keep a valid incoming X-Request-ID or make one; expose it to the request."""

    async def wrapped(request: Request) -> Response:
        incoming = request.headers.get("x-request-id", "")
        rid = incoming if VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        try:
            response = await handler(request)
        finally:
            request_id_var.reset(token)  # nothing leaks to whatever runs next here
        response.headers["X-Request-ID"] = rid
        return response

    return wrapped


# --8<-- [end:request_id]


# --8<-- [start:timing]
import time


def timing(handler: Handler) -> Handler:
    """Measure the layers inside this one and report it in Server-Timing."""

    async def wrapped(request: Request) -> Response:
        start = time.perf_counter()
        response = await handler(request)
        elapsed_ms = (time.perf_counter() - start) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        return response

    return wrapped


# --8<-- [end:timing]


# --8<-- [start:errors]
def errors(handler: Handler) -> Handler:
    """Turn an exception into a 500 that says nothing about it; log it in full."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception:  # not CancelledError: cancelling must keep working
            log.exception("unhandled error in %s %s", request.method, request.path)
            text = f"internal server error (request id {request_id_var.get()})\n"
            return Response(500, text.encode(), {"Content-Type": "text/plain"})

    return wrapped


# --8<-- [end:errors]


# --8<-- [start:deadline]
import math


class DeadlineExceeded(Exception):
    """Raised by `check_deadline` in code that cannot be cancelled from outside."""


def remaining() -> float:
    """Seconds left before the current request's deadline (inf if it has none)."""
    when = deadline_var.get()
    return math.inf if when is None else when - time.monotonic()


def check_deadline() -> None:
    """For a CPU loop or a thread: stop cooperatively once the deadline has passed."""
    if remaining() <= 0:
        raise DeadlineExceeded(f"request {request_id_var.get()} ran out of time")


# --8<-- [end:deadline]


# --8<-- [start:deadline_middleware]
def deadline(seconds: float) -> Middleware:
    """Cancel the layers inside after `seconds` and answer 503 Service Unavailable."""

    def middleware(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            when = time.monotonic() + seconds  # the event loop's clock, too
            token = deadline_var.set(when)
            timer = asyncio.timeout_at(when)
            try:
                async with timer:
                    return await handler(request)
            except DeadlineExceeded:
                pass  # a cooperative check gave up
            except TimeoutError:
                if not timer.expired():
                    raise  # a timeout of the handler's own, not ours
            finally:
                deadline_var.reset(token)
            log.warning("deadline of %.2f s passed in %s", seconds, request.path)
            return Response(503, b"took too long, try again\n", {"Retry-After": "1"})

        return wrapped

    return middleware


# --8<-- [end:deadline_middleware]


# --8<-- [start:asgi]
from typing import Any


def as_asgi(handler: Handler) -> Callable[..., Awaitable[None]]:
    """Serve a handler (with its middleware) as an ASGI application."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while (message := await receive())["type"] == "http.request":
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
        }
        request = Request(scope["method"], scope["path"], headers, body)
        response = await handler(request)
        raw = [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
        start = {"type": "http.response.start", "status": response.status}
        await send({**start, "headers": raw})
        await send({"type": "http.response.body", "body": response.body})

    return app


# --8<-- [end:asgi]


# --8<-- [start:handlers]
def describe_request() -> str:
    """Deep inside the application: no request was passed in, yet the ID is here."""
    log.info("describing the request")
    return f"handled request {request_id_var.get()}\n"


async def hello(request: Request) -> Response:
    await asyncio.sleep(0)  # let other requests run in between
    return Response(200, describe_request().encode(), {"Content-Type": "text/plain"})


async def broken(request: Request) -> Response:
    raise KeyError("column users.password_hash")  # internals that must not leak


async def slow(request: Request) -> Response:
    await asyncio.sleep(30)  # an upstream that hangs
    return Response(200, b"too late\n")


# --8<-- [end:handlers]


# The demo's `#>` lines are the output that the docs test checks; ruff format would
# rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_trace]
    trace: list[str] = []

    async def traced_handler(request: Request) -> Response:
        trace.append("handler")
        return Response(200)

    onion = build(traced_handler, [tracing(n, trace) for n in ("A", "B", "C")])
    asyncio.run(onion(Request("GET", "/")))
    print(trace)
    #> ['A in', 'B in', 'C in', 'handler', 'C out', 'B out', 'A out']
    # --8<-- [end:demo_trace]
    # --8<-- [start:demo_stack]
    lines: list[str] = []
    log.addHandler(ListHandler(lines))
    log.setLevel(logging.INFO)
    stack = [request_id, timing, errors]  # the deadline joins further down

    app = build(hello, stack)
    ok = asyncio.run(app(Request("GET", "/", {"x-request-id": "req-42"})))
    print(ok.status, ok.body, ok.headers["X-Request-ID"], "Server-Timing" in ok.headers)
    #> 200 b'handled request req-42\n' req-42 True
    bad = asyncio.run(build(broken, stack)(Request("GET", "/report")))
    rid = bad.headers["X-Request-ID"]
    print(bad.status, b"password" in bad.body, rid.encode() in bad.body, len(rid))
    #> 500 False True 32
    for line in lines:
        print(line.replace(rid, "<id>"))
        #> INFO [req-42] describing the request
        #> ERROR [<id>] unhandled error in GET /report
    # --8<-- [end:demo_stack]
    # --8<-- [start:demo_isolation]
    async def many(count: int) -> list[bool]:  # `count` requests at the same time
        ids = [f"r{n}" for n in range(count)]
        requests = [Request("GET", "/", {"x-request-id": rid}) for rid in ids]
        responses = await asyncio.gather(*(app(r) for r in requests))
        expected = [f"handled request {rid}\n".encode() for rid in ids]
        return [r.body == body for r, body in zip(responses, expected, strict=True)]

    print(all(asyncio.run(many(200))), request_id_var.get())
    #> True -
    # --8<-- [end:demo_isolation]
    # --8<-- [start:demo_deadline]
    started = time.monotonic()
    with_deadline = build(slow, [*stack, deadline(0.5)])
    late = asyncio.run(with_deadline(Request("GET", "/slow")))
    print(late.status, late.headers["Retry-After"], time.monotonic() - started < 2)
    #> 503 1 True
    # --8<-- [end:demo_deadline]
