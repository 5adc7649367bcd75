"""The telemetry glue: spans named by the route template, the caller's trace
id in every log line written inside the span, a bounded span store, and a
5xx logged as a warning."""

from __future__ import annotations

import io
import json
import logging

from snippets.application.app_core import serving, stack, text
from snippets.application.routing import Router
from snippets.capstone.telemetry import (
    BoundedRecorder,
    access_log,
    json_logs,
    traced_routes,
)
from snippets.observability.tracing.spans import Tracer, new_id
from tests.helpers import http_request


def service(recorder):
    router = Router()
    inner = logging.getLogger("capstone.test")

    def show(request):
        inner.info("inside the handler")
        return text("ok\n", 200 if request.params["n"] < 5 else 503)

    router.add("GET", "/things/{n:int}", show)
    tracer = Tracer("orders", recorder)
    return stack(router, traced_routes(tracer, router), access_log)


def test_spans_are_named_by_route_and_logs_carry_the_callers_trace_id():
    recorder, stream = BoundedRecorder(keep=3), io.StringIO()
    sent = []
    with json_logs(stream), serving(service(recorder)) as server:
        for n in range(1, 7):
            trace_id = new_id(16)
            header = ("traceparent", f"00-{trace_id}-{new_id(8)}-01")
            http_request(server, "GET", f"/things/{n}", headers=[header])
            sent.append(trace_id)
        http_request(server, "GET", "/nowhere")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    for trace_id in sent:
        mine = [line["message"] for line in lines if line["trace_id"] == trace_id]
        assert mine[0] == "inside the handler"
        assert mine[1].startswith("GET /things/")
    assert [line["level"] for line in lines if line.get("status") == 503] == [
        "WARNING"
    ] * 2
    assert len(recorder.spans) == 3  # bounded: the last three kept
    names = {span.name for span in recorder.spans}
    assert names == {"GET /things/{n:int}", "GET unrouted"}
    assert all(line["trace_id"] != "-" for line in lines)
