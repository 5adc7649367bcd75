"""What the spans part of the tracing page claims, asserted against
OpenTelemetry's SDK 1.45.2.

The span tree of the three-service call (front -> orders -> inventory on
loopback) equals the one OTel's SDK records in an InMemorySpanExporter for the
same calls instrumented by hand with OTel's API and propagator: the same names,
kinds, statuses and parent-child pairs, and one trace ID. The caller's trace
and tracestate reach every service; an unsampled trace records nothing; an
invalid traceparent restarts the trace and drops tracestate.
"""

from __future__ import annotations

import contextlib

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import (
    TraceContextTextMapPropagator,
)

from snippets.application.app_core import call, json_response, serving, stack
from snippets.observability.tracing.spans import Recorder, three_services

PROPAGATOR = TraceContextTextMapPropagator()
GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = GOOD[3:35]


def shape(spans, key) -> set:
    """(span, parent or None) pairs; a span is (service, name, kind, status)."""
    by_id = {key(s)[0]: s for s in spans}
    pairs = set()
    for span in spans:
        _span_id, parent_id, label = key(span)
        parent = by_id.get(parent_id)
        pairs.add((label, key(parent)[2] if parent else None))
    return pairs


def ours_key(span):
    label = span.service, span.name, span.kind, span.status
    return span.span_id, span.parent_id, label


def otel_key(span):
    parent = span.parent.span_id if span.parent else None
    scope, status = span.instrumentation_scope.name, span.status.status_code
    label = scope, span.name, span.kind.name, status.name
    return span.context.span_id, parent, label


def otel_traced(tracer, route):
    """What our `traced` middleware does, written with OTel's API."""

    def middleware(handler):
        def wrapped(request):
            carrier = {name.lower(): value for name, value in request.headers}
            context = PROPAGATOR.extract(carrier)
            name = f"{request.method} {route}"
            kind = trace.SpanKind.SERVER
            with tracer.start_as_current_span(name, context, kind):
                return handler(request)

        return wrapped

    return middleware


def otel_call(tracer, server, method, path):
    with tracer.start_as_current_span(method, kind=trace.SpanKind.CLIENT):
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier)
        return call(server, method, path, headers=list(carrier.items()))


@contextlib.contextmanager
def otel_services(provider):
    inventory_t, orders_t, front_t = (
        provider.get_tracer(name) for name in ("inventory", "orders", "front")
    )

    def stock(request):
        with inventory_t.start_as_current_span("reserve stock"):
            return json_response({"reserved": True})

    with serving(stack(stock, otel_traced(inventory_t, "/stock"))) as inventory:

        def order(request):
            otel_call(orders_t, inventory, "GET", "/stock")
            return json_response({"order": 7}, 201)

        with serving(stack(order, otel_traced(orders_t, "/orders"))) as orders:

            def checkout(request):
                otel_call(front_t, orders, "POST", "/orders")
                return json_response({"checkout": "done"})

            with serving(stack(checkout, otel_traced(front_t, "/checkout"))) as front:
                yield front


def test_the_span_tree_equals_what_the_otel_sdk_records() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    recorder = Recorder()
    for services in (otel_services(provider), three_services(recorder)):
        with services as front:
            assert call(front, "GET", "/checkout").status == 200
    theirs = exporter.get_finished_spans()
    assert len(recorder.spans) == len(theirs) == 6
    assert shape(recorder.spans, ours_key) == shape(theirs, otel_key)
    assert len({s.trace_id for s in recorder.spans}) == 1
    assert len({s.context.trace_id for s in theirs}) == 1
    provider.shutdown()


def test_the_callers_trace_and_tracestate_reach_every_service() -> None:
    recorder = Recorder()
    caller = [("traceparent", GOOD), ("tracestate", "congo=t61rcWkgMzE")]
    with three_services(recorder) as front:
        assert call(front, "GET", "/checkout", headers=caller).status == 200
    assert {s.trace_id for s in recorder.spans} == {TRACE_ID}
    root = next(s for s in recorder.spans if s.name == "GET /checkout")
    assert root.parent_id == GOOD[36:52]
    assert all(s.tracestate == [("congo", "t61rcWkgMzE")] for s in recorder.spans)


def test_an_unsampled_trace_records_nothing_and_still_answers() -> None:
    recorder = Recorder()
    headers = [("traceparent", GOOD[:-2] + "00")]
    with three_services(recorder) as front:
        assert call(front, "GET", "/checkout", headers=headers).status == 200
    assert recorder.spans == []


def test_an_invalid_traceparent_restarts_the_trace_and_drops_tracestate():
    recorder = Recorder()
    headers = [("traceparent", GOOD.upper()), ("tracestate", "congo=x")]
    with three_services(recorder) as front:
        assert call(front, "GET", "/checkout", headers=headers).status == 200
    trace_ids = {s.trace_id for s in recorder.spans}
    assert len(recorder.spans) == 6
    assert len(trace_ids) == 1
    assert TRACE_ID not in trace_ids
    assert all(s.tracestate == [] for s in recorder.spans)
