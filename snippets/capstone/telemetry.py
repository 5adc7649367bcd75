"""The orders service's telemetry glue: a server span named by the route,
the trace id on every log line, one access log line per request, and the
metrics the game day reads.

What it teaches: the observability chapter's pieces are middleware and
logging filters, so joining them is a matter of order. The span middleware
goes outside the request id, the access log and the error handler, so every
line those write runs inside the request's span; a filter on the log handler
copies the current span's trace id into each record, so a `traceparent` a
client sends comes back in every log line its request caused. The span is
named by the route template the router resolved (`GET /orders/{order_id:int}`),
never by the raw path.

Read first: the tracing page (`docs/observability/tracing.md`), the logging
page (`docs/observability/logging.md`) and the metrics page
(`docs/observability/metrics.md`). This module builds on
`snippets.observability.tracing.spans`, `snippets.observability.
structured_logging`, `snippets.observability.metrics`,
`snippets.application.routing` and `snippets.application.middleware`.

What it leaves out: exporting spans (they stay in a bounded list in memory),
sampling, and shipping the log lines anywhere but a stream.

Run it: `python -m snippets.capstone.telemetry`.
"""

from __future__ import annotations

# --8<-- [start:trace_id]
import collections
import logging

from snippets.observability.tracing.spans import Recorder, current_span


class TraceIdFilter(logging.Filter):
    """Stamps every record with the trace id of the span running now."""

    def filter(self, record: logging.LogRecord) -> bool:
        span = current_span.get()
        record.trace_id = span.trace_id if span else "-"
        return True


class BoundedRecorder(Recorder):
    """The spans of the last `keep` requests: a service runs for days."""

    def __init__(self, keep: int = 10_000) -> None:
        super().__init__()
        self.spans = collections.deque(maxlen=keep)  # guarded by self.lock


# --8<-- [end:trace_id]


# --8<-- [start:middleware]
import time

from snippets.application.app_core import Handler, Middleware, Request
from snippets.application.routing import RouteTable, resolve
from snippets.observability.tracing.spans import Tracer, traced

access = logging.getLogger("capstone.access")


def traced_routes(tracer: Tracer, router: RouteTable) -> Middleware:
    """A SERVER span per request, named by the route that will answer it."""

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request):
            found = resolve(router, request.method, request.path)
            route = found.route.pattern.text if found.route else "unrouted"
            return traced(tracer, route)(handler)(request)

        return wrapped

    return middleware


def access_log(handler: Handler) -> Handler:
    """One line per request; a 5xx is a warning, so it is never sampled."""

    def wrapped(request: Request):
        start = time.perf_counter()
        response = handler(request)
        level = logging.WARNING if response.status >= 500 else logging.INFO
        fields = {
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "duration_ms": round((time.perf_counter() - start) * 1000, 1),
        }
        access.log(
            level, "%(method)s %(path)s %(status)s", fields, extra=fields
        )
        return response

    return wrapped


# --8<-- [end:middleware]


# --8<-- [start:logging]
import contextlib
from collections.abc import Iterator
from typing import TextIO

from snippets.observability.structured_logging import json_logging


@contextlib.contextmanager
def json_logs(stream: TextIO) -> Iterator[logging.Handler]:
    """The logging chapter's JSON lines, each with a trace id too."""
    with json_logging(stream) as handler:
        handler.addFilter(TraceIdFilter())
        yield handler


# --8<-- [end:logging]


# --8<-- [start:metrics]
from snippets.observability.metrics import Counter, Registry


def dependency_counter(registry: Registry) -> Counter:
    """Calls to the pricing dependency, by outcome: ok, failed, refused
    (the breaker was open)."""
    return registry.register(
        Counter(
            "dependency_calls_total",
            "Calls to the pricing dependency, by outcome.",
            ["outcome"],
        )
    )


# --8<-- [end:metrics]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    import io
    import json

    from snippets.application.app_core import call, serving, stack, text
    from snippets.application.routing import Router

    router = Router()
    router.add("GET", "/orders/{order_id:int}", lambda r: text("an order\n"))
    recorder, stream = BoundedRecorder(keep=100), io.StringIO()
    tracer = Tracer("orders", recorder)
    app = stack(router, traced_routes(tracer, router), access_log)
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with json_logs(stream), serving(app) as server:
        call(server, "GET", "/orders/7", headers=[("traceparent", caller)])
    line = json.loads(stream.getvalue().splitlines()[-1])
    print(line["message"], line["trace_id"] == caller.split("-")[1])
    #> GET /orders/7 200 True
    print(recorder.spans[0].name)
    #> GET /orders/{order_id:int}
    # --8<-- [end:demo]
