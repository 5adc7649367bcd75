"""Middleware and request context: the onion, request IDs, timing, errors,
deadlines.

What it teaches: a middleware is a function that takes a handler and returns a
handler, so a stack of them wraps the application like the layers of an onion:
the request goes in through each layer in order and the response comes out
through them in reverse. On that shape it builds the cross-cutting concerns
every backend has: a request ID (kept from a valid `X-Request-ID` or made up), a
`Server-Timing` header, error handling that turns an exception into a 500
problem that leaks nothing while the log gets the traceback and the request ID,
and a deadline that synchronous code checks cooperatively (a Python thread
cannot be cancelled from outside), answered with a 503. The request ID and the
deadline live in `contextvars`, so code deep inside a request reads them without
being passed them, and concurrent requests do not see each other's.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): `Handler`, `Middleware` and `stack` are its contract, and every demo
here runs on its `serving`, so this module builds on
`snippets.application.app_core`.

What it leaves out: propagating the request ID and deadline to downstream
services (W3C Trace Context, `grpc-timeout`), answering on time while the late
work runs on in another thread (Go's `http.TimeoutHandler`), asynchronous
handlers, metrics and tracing (the observability layer), and middleware for
compression, CORS, sessions or authentication.

Run it: `python -m snippets.application.middleware`.
"""

# --8<-- [start:trace]
from snippets.application.app_core import (
    Handler,
    Middleware,
    Request,
    Response,
    stack,
)


def tracing(name: str, trace: list[str]) -> Middleware:
    """A middleware that only records when the request and the response pass
    it."""

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            trace.append(f"{name} in")
            response = handler(request)
            trace.append(f"{name} out")
            return response

        return wrapped

    return middleware


# --8<-- [end:trace]


# --8<-- [start:context]
import contextvars
import logging

# One value per context; a new thread here starts with an empty context (see the
# page).
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
# records still propagate to the root logger
log.addHandler(logging.NullHandler())

# --8<-- [end:context]


# --8<-- [start:log_capture]
import contextlib
from collections.abc import Iterator


class ListHandler(logging.Handler):
    """Keeps log lines in a list, as `LEVEL [request id] message`."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        rid = getattr(record, "request_id", "-")
        self.lines.append(f"{record.levelname} [{rid}] {record.getMessage()}")


@contextlib.contextmanager
def log_lines() -> Iterator[list[str]]:
    """Collect the `request` log (INFO and up) in a list, for a demo or a
    test."""
    lines: list[str] = []
    handler, level = ListHandler(lines), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


# --8<-- [end:log_capture]


# --8<-- [start:request_id]
import dataclasses
import re
import uuid

# nothing to inject, short
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def add_header(response: Response, name: str, value: str) -> Response:
    """A copy of the (frozen) response with one more header field."""
    return dataclasses.replace(
        response, headers=[*response.headers, (name, value)]
    )


def request_id(handler: Handler) -> Handler:
    """Keep a valid incoming X-Request-ID or make one; expose it to the
    request."""

    def wrapped(request: Request) -> Response:
        incoming = request.header("X-Request-ID") or ""
        rid = (
            incoming
            if VALID_REQUEST_ID.fullmatch(incoming)
            else uuid.uuid4().hex
        )
        token = request_id_var.set(rid)
        try:
            response = handler(request)
        finally:
            # the next request on this thread starts clean
            request_id_var.reset(token)
        return add_header(response, "X-Request-ID", rid)

    return wrapped


# --8<-- [end:request_id]


# --8<-- [start:timing]
import time


def timing(handler: Handler) -> Handler:
    """Measure the layers inside this one and report it in Server-Timing."""

    def wrapped(request: Request) -> Response:
        start = time.perf_counter()
        response = handler(request)
        elapsed_ms = (time.perf_counter() - start) * 1000
        return add_header(
            response, "Server-Timing", f"app;dur={elapsed_ms:.1f}"
        )

    return wrapped


# --8<-- [end:timing]


# --8<-- [start:errors]
from snippets.application.app_core import problem


def errors(handler: Handler) -> Handler:
    """Turn an exception into a 500 that says nothing about it; log it in
    full."""

    def wrapped(request: Request) -> Response:
        try:
            return handler(request)
        # not KeyboardInterrupt or SystemExit: those must stop us
        except Exception:
            log.exception(
                "unhandled error in %s %s", request.method, request.path
            )
            detail = "The server failed to handle this request."
            return problem(500, detail, request_id=request_id_var.get())

    return wrapped


# --8<-- [end:errors]


# --8<-- [start:deadline]
import math


class DeadlineExceeded(Exception):
    """Raised by `check_deadline`: the request's time budget is spent."""


def remaining() -> float:
    """Seconds left before the current request's deadline (inf if it has
    none)."""
    when = deadline_var.get()
    return math.inf if when is None else when - time.monotonic()


def check_deadline() -> None:
    """Called now and then by slow code: stop once the deadline has passed."""
    if remaining() <= 0:
        raise DeadlineExceeded(
            f"request {request_id_var.get()} ran out of time"
        )


# --8<-- [end:deadline]


# --8<-- [start:deadline_middleware]
def deadline(seconds: float) -> Middleware:
    """Give the layers inside a time budget; a DeadlineExceeded becomes a
    503."""

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            now = time.monotonic()
            when = min(
                now + seconds, now + remaining()
            )  # an outer deadline may be sooner
            token = deadline_var.set(when)
            try:
                response = handler(request)
            except DeadlineExceeded:
                log.warning(
                    "deadline of %.2f s passed in %s", seconds, request.path
                )
                detail = "The request ran out of time; try again."
                return problem(503, detail, [("Retry-After", "1")])
            finally:
                deadline_var.reset(token)
            if time.monotonic() > when:  # done, but late: nothing stopped it
                log.warning("finished after its deadline: %s", request.path)
            return response

        return wrapped

    return middleware


# --8<-- [end:deadline_middleware]


# --8<-- [start:handlers]
from snippets.application.app_core import text


def describe_request() -> str:
    """Deep inside the application: no request was passed in, yet the ID is
    here."""
    log.info("describing the request")
    return f"handled request {request_id_var.get()}\n"


def hello(request: Request) -> Response:
    return text(describe_request())


def broken(request: Request) -> Response:
    raise KeyError("column users.password_hash")  # internals that must not leak


# --8<-- [end:handlers]


# --8<-- [start:slow_handlers]
import threading

# an upstream that never answers: never set
upstream_answered = threading.Event()


def slow(request: Request) -> Response:
    """Waits on a hung upstream, never longer than the time the request has
    left."""
    if not upstream_answered.wait(timeout=min(30.0, remaining())):
        raise DeadlineExceeded("no answer from the upstream in the time left")
    return text("the upstream answered\n")


def crunch(request: Request) -> Response:
    """A CPU loop: nothing can interrupt it, so it checks the deadline
    itself."""
    total = 0
    for n in range(10**9):
        if n % 10_000 == 0:
            check_deadline()
        total += n
    return text(f"{total}\n")


# --8<-- [end:slow_handlers]


# --8<-- [start:asyncio_aside]
import asyncio


async def cancelled_on_time() -> list[str]:
    """An asyncio task, unlike a thread, can be stopped from outside at an
    await."""
    events: list[str] = []

    async def sleeper() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            events.append("cleaned up")  # CancelledError arrived at the await

    try:
        async with asyncio.timeout(0.1):
            await sleeper()
    except TimeoutError:
        events.append("timed out")
    return events


# --8<-- [end:asyncio_aside]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_trace]
    trace: list[str] = []

    def traced_handler(request: Request) -> Response:
        trace.append("handler")
        return Response(200)

    onion = stack(traced_handler, *(tracing(n, trace) for n in "ABC"))
    onion(Request("GET", "/"))  # a handler is a function: call it directly
    print(trace)
    #> ['A in', 'B in', 'C in', 'handler', 'C out', 'B out', 'A out']
    # --8<-- [end:demo_trace]
    # --8<-- [start:demo_stack]
    from snippets.application.app_core import call, serving

    layers = [request_id, timing, errors]  # the deadline joins further down
    app = stack(hello, *layers)
    with log_lines() as lines, serving(app) as server:
        ok = call(server, "GET", "/", headers=[("X-Request-ID", "req-42")])
        print(ok.status, ok.body, ok.header("X-Request-ID"))
        #> 200 b'handled request req-42\n' req-42
        print(ok.header("Server-Timing").startswith("app;dur="))
        #> True
    with log_lines() as more, serving(stack(broken, *layers)) as server:
        bad = call(server, "GET", "/report")
    rid = bad.header("X-Request-ID")
    print(bad.status, b"password" in bad.body, bad.json()["request_id"] == rid)
    #> 500 False True
    for line in lines + more:
        print(line.replace(rid, "<id>"))
        #> INFO [req-42] describing the request
        #> ERROR [<id>] unhandled error in GET /report
    # --8<-- [end:demo_stack]
    # --8<-- [start:demo_isolation]
    from concurrent.futures import ThreadPoolExecutor


    def ask(server, rid: str) -> bool:
        reply = call(server, "GET", "/", headers=[("X-Request-ID", rid)])
        return reply.body == f"handled request {rid}\n".encode()

    with serving(app) as server, ThreadPoolExecutor(max_workers=20) as pool:
        ids = [f"r{n}" for n in range(100)]
        answers = list(pool.map(lambda rid: ask(server, rid), ids))
    print(all(answers), request_id_var.get())
    #> True -
    # --8<-- [end:demo_isolation]
    # --8<-- [start:demo_deadline]
    with log_lines(), serving(stack(slow, *layers, deadline(0.5))) as server:
        started = time.monotonic()
        late = call(server, "GET", "/slow")
        elapsed = time.monotonic() - started
    print(late.status, late.header("Retry-After"), late.json()["title"])
    #> 503 1 Service Unavailable
    print(0.5 <= elapsed < 2)
    #> True
    # --8<-- [end:demo_deadline]
    # --8<-- [start:demo_asyncio]
    print(asyncio.run(cancelled_on_time()))
    #> ['cleaned up', 'timed out']
    # --8<-- [end:demo_asyncio]
