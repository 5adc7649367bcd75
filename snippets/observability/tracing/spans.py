"""Spans and a tracer from scratch, and a trace carried across three loopback
services.

What it teaches: a trace is a tree of spans, each a named, timed operation with
a kind (server, client, internal), attributes and a status, and each pointing
at its parent. Inside one process the current span lives in a `contextvars`
variable, so a child finds its parent without being passed it; between
processes the parent travels in `traceparent`. A middleware extracts the header
from each request and a client wrapper injects it into each outgoing call, so
three services (front, orders, inventory) build one trace, printed as a tree.

Read first: `trace_context` in this package (the tracing page,
`docs/observability/tracing.md`, shows it first) and the app_core page
(`docs/application/app_core.md`, "The application core"). This
module builds on `snippets.observability.tracing.trace_context` for the headers
and on `snippets.application.app_core` for the servers and the client.

What it leaves out: sampling decisions beyond honouring the sampled flag, span
events and links, resources, exporting spans to a collector (OTLP), clocks that
disagree between machines, and asynchronous work.

Run it: `python -m snippets.observability.tracing.spans`.
"""

from __future__ import annotations

# --8<-- [start:span]
import contextlib
import contextvars
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from snippets.observability.tracing.trace_context import (
    TraceContextError,
    TraceParent,
    TraceState,
    format_tracestate,
    parse_traceparent,
    parse_tracestate,
)


def new_id(nbytes: int) -> str:
    """A random ID in lowercase hex, never all zero (the spec forbids it)."""
    while (value := secrets.token_hex(nbytes)) == "0" * (2 * nbytes):
        pass
    return value


@dataclass
class Span:
    service: str
    name: str
    kind: str  # SERVER, CLIENT or INTERNAL (PRODUCER, CONSUMER: queues)
    trace_id: str
    span_id: str
    parent_id: str | None  # None: the root of the trace
    sampled: bool
    tracestate: TraceState = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "UNSET"  # or OK, ERROR
    start: float = field(default_factory=time.time)
    end: float | None = None

    def traceparent(self) -> str:
        """The header a call made inside this span sends."""
        return TraceParent(self.trace_id, self.span_id, self.sampled).header()


# the span that is running now, in this thread or task
current_span: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
    "current_span", default=None
)
# --8<-- [end:span]


# --8<-- [start:tracer]
class Recorder:
    """Keeps finished spans: what an exporter would send to a collector."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[Span] = []  # in the order they ended; guarded by lock

    def record(self, span: Span) -> None:
        with self.lock:
            self.spans.append(span)


@dataclass
class Tracer:
    service: str
    recorder: Recorder

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        kind: str = "INTERNAL",
        remote: TraceParent | None = None,
        tracestate: TraceState = (),
    ) -> Iterator[Span]:
        """Start a span, child of `remote` or else of the current span."""
        parent = current_span.get()
        if remote is not None:  # continue the caller's trace
            ids = remote.trace_id, remote.parent_id, remote.sampled
        elif parent is not None:  # a child in this process
            ids = parent.trace_id, parent.span_id, parent.sampled
            tracestate = parent.tracestate
        else:  # a new trace
            ids = new_id(16), None, True
        span = Span(self.service, name, kind, ids[0], new_id(8), *ids[1:])
        span.tracestate = list(tracestate)
        token = current_span.set(span)
        try:
            yield span
        except Exception:
            span.status = "ERROR"
            raise
        finally:
            span.end = time.time()
            current_span.reset(token)
            if span.sampled:  # unsampled spans still propagate, unrecorded
                self.recorder.record(span)


# --8<-- [end:tracer]


# --8<-- [start:propagation]
from snippets.application.app_core import (
    Handler,
    Middleware,
    Request,
    Response,
    call,
)


def extract(request: Request) -> tuple[TraceParent | None, TraceState]:
    """The caller's context, or (None, []): a bad traceparent restarts."""
    try:
        remote = parse_traceparent(request.header("traceparent") or "")
    except TraceContextError:  # then tracestate MUST NOT be parsed
        return None, []
    try:  # a bad tracestate does not spoil a good traceparent
        return remote, parse_tracestate(request.header("tracestate") or "")
    except TraceContextError:
        return remote, []


def traced(tracer: Tracer, route: str) -> Middleware:
    """A SERVER span around each request, continuing the caller's trace.

    Its name is the method and the route template, never the raw path: a path
    with an ID in it would make every span name unique.
    """

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            remote, state = extract(request)
            name = f"{request.method} {route}"
            with tracer.span(name, "SERVER", remote, state) as span:
                span.attributes["http.route"] = route
                span.attributes["url.path"] = request.path
                response = handler(request)
                span.attributes["http.response.status_code"] = response.status
                if response.status >= 500:
                    span.status = "ERROR"
            return response

        return wrapped

    return middleware


def traced_call(
    tracer: Tracer, server: Any, method: str, path: str
) -> Response:
    """A CLIENT span around a call; the call carries it as traceparent."""
    with tracer.span(method, "CLIENT") as span:
        headers = [("traceparent", span.traceparent())]
        if span.tracestate:
            headers.append(("tracestate", format_tracestate(span.tracestate)))
        response = call(server, method, path, headers=headers)
        span.attributes["http.response.status_code"] = response.status
        if response.status >= 400:  # a client span's error includes 4xx
            span.status = "ERROR"
    return response


# --8<-- [end:propagation]


# --8<-- [start:services]
from snippets.application.app_core import json_response, serving, stack


def inventory_app(tracer: Tracer) -> Handler:
    def stock(request: Request) -> Response:
        with tracer.span("reserve stock") as span:
            span.attributes["sku"] = "book-7"
        return json_response({"sku": "book-7", "reserved": True})

    return stack(stock, traced(tracer, "/stock"))


def orders_app(tracer: Tracer, inventory: Any) -> Handler:
    def order(request: Request) -> Response:
        reply = traced_call(tracer, inventory, "GET", "/stock")
        return json_response({"order": 7, "stock": reply.json()}, 201)

    return stack(order, traced(tracer, "/orders"))


def front_app(tracer: Tracer, orders: Any) -> Handler:
    def checkout(request: Request) -> Response:
        reply = traced_call(tracer, orders, "POST", "/orders")
        return json_response({"checkout": "done", "order": reply.json()})

    return stack(checkout, traced(tracer, "/checkout"))


@contextlib.contextmanager
def three_services(recorder: Recorder) -> Iterator[Any]:
    """front -> orders -> inventory on loopback; yields the front server."""
    tracer = {name: Tracer(name, recorder) for name in ("front", "orders")}
    with contextlib.ExitStack() as servers:
        inventory = servers.enter_context(
            serving(inventory_app(Tracer("inventory", recorder)))
        )
        orders = servers.enter_context(
            serving(orders_app(tracer["orders"], inventory))
        )
        yield servers.enter_context(serving(front_app(tracer["front"], orders)))


# --8<-- [end:services]


# --8<-- [start:tree]
def span_tree(spans: list[Span]) -> list[str]:
    """One line per span, indented under its parent, children by start."""
    ids = {span.span_id for span in spans}
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        children = [
            s
            for s in spans
            if (s.parent_id if s.parent_id in ids else None) == parent
        ]
        for span in sorted(children, key=lambda s: s.start):
            lines.append(
                f"{'  ' * depth}{span.service}: {span.name} [{span.kind}]"
            )
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return lines


# --8<-- [end:tree]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # the trace context page's example header, as a caller sends it
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    # --8<-- [start:demo_tracer]
    recorder = Recorder()
    tracer = Tracer("shop", recorder)
    with tracer.span("checkout") as outer, tracer.span("price") as inner:
        pass
    print(inner.parent_id == outer.span_id, inner.trace_id == outer.trace_id)
    #> True True
    print([span.name for span in recorder.spans], current_span.get())
    #> ['price', 'checkout'] None
    # --8<-- [end:demo_tracer]

    # --8<-- [start:demo_services]
    recorder = Recorder()
    caller = [("traceparent", good), ("tracestate", "congo=t61rcWkgMzE")]
    with three_services(recorder) as front:
        reply = call(front, "GET", "/checkout", headers=caller)
    print(reply.status, reply.json()["order"]["stock"]["reserved"])
    #> 200 True
    for line in span_tree(recorder.spans):
        print(line)
        #> front: GET /checkout [SERVER]
        #>   front: POST [CLIENT]
        #>     orders: POST /orders [SERVER]
        #>       orders: GET [CLIENT]
        #>         inventory: GET /stock [SERVER]
        #>           inventory: reserve stock [INTERNAL]
    trace_ids = {span.trace_id for span in recorder.spans}
    states = {format_tracestate(span.tracestate) for span in recorder.spans}
    print(trace_ids == {"4bf92f3577b34da6a3ce929d0e0e4736"}, states)
    #> True {'congo=t61rcWkgMzE'}
    # --8<-- [end:demo_services]

    # --8<-- [start:demo_restart]
    for header in [good[:-2] + "00", good.upper()]:
        recorder = Recorder()
        with three_services(recorder) as front:
            call(front, "GET", "/checkout", headers=[("traceparent", header)])
        trace_ids = {span.trace_id for span in recorder.spans}
        kept = good[3:35] in trace_ids
        print(f"{len(recorder.spans)} spans, caller's trace kept: {kept}")
        #> 0 spans, caller's trace kept: False
        #> 6 spans, caller's trace kept: False
    # --8<-- [end:demo_restart]
