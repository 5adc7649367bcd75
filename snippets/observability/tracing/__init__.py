"""Distributed tracing: spans, parent and child, and W3C Trace Context carried
across three services.

What it teaches: how a trace ties together the work that several services do
for one request, and how the `traceparent` and `tracestate` headers carry it.

Two modules, read in this order:

- `trace_context`: the `traceparent` and `tracestate` headers, parsed and
  changed as the W3C Recommendation says.
- `spans`: spans, a tracer on `contextvars`, propagation middleware, and three
  loopback services that build one trace.

Read first: the middleware page (`docs/application/middleware.md`, "Middleware
and request context").

What it leaves out: sampling, exporting and everything a collector does (see
the page).

This package imports nothing at import time, so each module runs as
`python -m` without warnings.
"""
