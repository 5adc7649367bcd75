"""Metrics and the Prometheus text exposition format, written from scratch.

What it teaches: the three metric types a service exposes (a counter that only
goes up, a gauge that goes up and down, a histogram that counts observations
into cumulative `le` buckets with a `_sum` and a `_count`), labels and why each
distinct label set is a series of its own, and the text format Prometheus
scrapes: `# HELP` and `# TYPE` lines, label values with backslash, double quote
and line feed escaped, and values written as Go reads floats (`+Inf`, `-Inf`,
`NaN`). Updates from many threads take a lock, so no increment is lost. A RED
middleware (rate, errors, duration) counts every request by method and status
code and times it, and the registry is served at `GET /metrics` in front of any
application. `increase` shows how a counter's reset on restart is read back.

Read first: the middleware page (`docs/application/middleware.md`,
"Middleware and request context"): the RED middleware is one more layer of the
same onion, and the demo serves it with `snippets.application.app_core`, which
this module builds on.

What it leaves out: summaries (quantiles computed in the client), native
histograms, exemplars, timestamps on samples, the OpenMetrics format (`# EOF`,
`_created`), gzip, and metric expiry. The prometheus_client library does these;
the tests compare our output with it and with `promtool check metrics`.

Run it: `python -m snippets.observability.metrics`.
"""

from __future__ import annotations

# --8<-- [start:format]
import math
import re

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(value: str) -> str:
    """A label value, ready to sit between double quotes."""
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def escape_help(text: str) -> str:
    """HELP text: only backslash and line feed are escaped."""
    return text.replace("\\", r"\\").replace("\n", r"\n")


def format_value(value: float) -> str:
    """A float as Go's ParseFloat reads it: +Inf, -Inf, NaN or digits."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))  # the shortest digits that read back exactly


def sample_line(name: str, labels: dict[str, str], value: float) -> str:
    """One sample: name{label="value",...} value, and a line feed."""
    pairs = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
    braces = f"{{{pairs}}}" if pairs else ""
    return f"{name}{braces} {format_value(value)}\n"


# --8<-- [end:format]


# --8<-- [start:family]
import threading
from collections.abc import Callable, Iterable

MAX_SERIES = 1000  # label sets per metric before we refuse a new one


class CardinalityError(ValueError):
    """A metric was asked for more distinct label sets than it allows."""


class Family:
    """One metric name: its help, its type and one series per label set."""

    kind = "untyped"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Iterable[str] = (),
        *,
        max_series: int = MAX_SERIES,
    ) -> None:
        self.name, self.help = name, help
        self.labelnames = tuple(labelnames)
        self.check_names()
        self.max_series = max_series
        self.lock = threading.Lock()
        # label values (in labelnames order) -> that series' numbers.
        # Invariant: read or changed only while holding self.lock.
        self.series: dict[tuple[str, ...], list[float]] = {}
        if not self.labelnames:  # no labels: one series, at zero from now
            self.series[()] = self.fresh()

    def check_names(self) -> None:
        if not METRIC_NAME.fullmatch(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        for label in self.labelnames:
            if not LABEL_NAME.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r}")

    def fresh(self) -> list[float]:
        return [0.0]

    def update(
        self, labels: dict[str, str], change: Callable[[list[float]], None]
    ) -> None:
        """Apply `change` to the series of `labels`, under the lock."""
        if sorted(labels) != sorted(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}")
        key = tuple(str(labels[name]) for name in self.labelnames)
        with self.lock:
            state = self.series.get(key)
            if state is None:
                if len(self.series) >= self.max_series:
                    raise CardinalityError(f"{self.name}: too many series")
                state = self.series[key] = self.fresh()
            change(state)

    def expose(self) -> str:
        """HELP, TYPE, then every series' samples, from one snapshot."""
        with self.lock:
            snapshot = [(k, list(v)) for k, v in self.series.items()]
        lines = [
            f"# HELP {self.name} {escape_help(self.help)}\n",
            f"# TYPE {self.name} {self.kind}\n",
        ]
        for key, state in snapshot:
            lines += self.samples(
                dict(zip(self.labelnames, key, strict=True)), state
            )
        return "".join(lines)

    def samples(self, labels: dict[str, str], state: list[float]) -> list[str]:
        return [sample_line(self.name, labels, state[0])]


# --8<-- [end:family]


# --8<-- [start:types]
class Counter(Family):
    """A count that only goes up (until the process restarts)."""

    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if not amount >= 0:  # also refuses NaN
            raise ValueError("a counter only goes up; use a gauge")

        def add(state: list[float]) -> None:
            state[0] += amount

        self.update(labels, add)


class Gauge(Family):
    """A value that goes up and down: in flight, queue length, temperature."""

    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        def replace(state: list[float]) -> None:
            state[0] = value

        self.update(labels, replace)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        def add(state: list[float]) -> None:
            state[0] += amount

        self.update(labels, add)


# --8<-- [end:types]


# --8<-- [start:histogram]
import bisect


class Histogram(Family):
    """Observations counted into buckets by upper bound, plus sum and count."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Iterable[str] = (),
        *,
        buckets: Iterable[float] = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
        max_series: int = MAX_SERIES,
    ) -> None:
        finite = sorted({float(b) for b in buckets} - {math.inf})
        self.bounds = [*finite, math.inf]  # the last bucket takes the rest
        if "le" in labelnames:
            raise ValueError("le is the bucket label of a histogram")
        super().__init__(name, help, labelnames, max_series=max_series)

    def fresh(self) -> list[float]:
        return [0.0] * (len(self.bounds) + 1)  # one count per bucket, a sum

    def observe(self, value: float, **labels: str) -> None:
        if math.isnan(value):
            raise ValueError("NaN belongs in no bucket")
        index = bisect.bisect_left(self.bounds, value)  # first bound >= value

        def record(state: list[float]) -> None:
            state[index] += 1
            state[-1] += value

        self.update(labels, record)

    def samples(self, labels: dict[str, str], state: list[float]) -> list[str]:
        lines, cumulative = [], 0.0
        for bound, count in zip(self.bounds, state[:-1], strict=True):
            cumulative += count  # bucket le="x" counts every value <= x
            le = {**labels, "le": format_value(bound)}
            lines.append(sample_line(f"{self.name}_bucket", le, cumulative))
        lines.append(sample_line(f"{self.name}_sum", labels, state[-1]))
        lines.append(sample_line(f"{self.name}_count", labels, cumulative))
        return lines


# --8<-- [end:histogram]


# --8<-- [start:registry]
from typing import TypeVar

F = TypeVar("F", bound=Family)


class Registry:
    """The metrics of one process, exposed together on a scrape."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.families: dict[str, Family] = {}  # guarded by lock

    def register(self, family: F) -> F:
        with self.lock:
            if family.name in self.families:
                raise ValueError(f"{family.name} is already registered")
            self.families[family.name] = family
        return family

    def expose(self) -> str:
        with self.lock:
            families = list(self.families.values())
        return "".join(family.expose() for family in families)


# --8<-- [end:registry]


# --8<-- [start:red]
import time

from snippets.application.app_core import (
    Handler,
    Middleware,
    Request,
    Response,
    problem,
)

# Any token is a valid method: bound the label, or a client mints series.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def red(registry: Registry) -> Middleware:
    """Count (rate, errors) and time (duration) every request."""
    requests = registry.register(
        Counter(
            "http_requests_total",
            "HTTP requests answered, by method and status code.",
            ["method", "code"],
        )
    )
    duration = registry.register(
        Histogram(
            "http_request_duration_seconds",
            "Time from request to response, in seconds.",
            ["method"],
        )
    )
    in_flight = registry.register(
        Gauge("http_requests_in_flight", "Requests being handled now.")
    )

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            method = request.method if request.method in METHODS else "other"
            start, code = time.perf_counter(), "500"  # if the handler raises
            in_flight.inc()
            try:
                response = handler(request)
                code = str(response.status)
                return response
            finally:
                in_flight.inc(-1)
                requests.inc(method=method, code=code)
                elapsed = time.perf_counter() - start
                duration.observe(elapsed, method=method)

        return wrapped

    return middleware


# --8<-- [end:red]


# --8<-- [start:exposing]
def exposing(registry: Registry, path: str = "/metrics") -> Middleware:
    """Answer GET `path` with the registry; pass other requests on."""

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            if request.path != path:
                return handler(request)
            if request.method != "GET":
                return problem(405, "use GET", [("Allow", "GET")])
            body = registry.expose().encode()
            return Response(200, body, [("Content-Type", CONTENT_TYPE)])

        return wrapped

    return middleware


# --8<-- [end:exposing]


# --8<-- [start:increase]
from itertools import pairwise


def increase(scrapes: list[float]) -> float:
    """How far a counter went up across successive scrapes. A drop means
    the process restarted and counted from zero again."""
    total = 0.0
    for before, after in pairwise(scrapes):
        total += after - before if after >= before else after
    return total


# --8<-- [end:increase]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_format]
    print(escape_label('C:\\tmp "new"\nfile'))
    #> C:\\tmp \"new\"\nfile
    values = [1, 0.25, 1e-7, float("inf"), float("-inf"), float("nan")]
    print(" ".join(format_value(v) for v in values))
    #> 1.0 0.25 1e-07 +Inf -Inf NaN
    # --8<-- [end:demo_format]

    # --8<-- [start:demo_histogram]
    registry = Registry()
    latency = registry.register(
        Histogram("job_seconds", "Job time.", buckets=[0.1, 0.5, 1])
    )
    for seconds in (0.05, 0.3, 0.3, 2.0):
        latency.observe(seconds)
    print(registry.expose(), end="")
    """
    # HELP job_seconds Job time.
    # TYPE job_seconds histogram
    job_seconds_bucket{le="0.1"} 1.0
    job_seconds_bucket{le="0.5"} 3.0
    job_seconds_bucket{le="1.0"} 3.0
    job_seconds_bucket{le="+Inf"} 4.0
    job_seconds_sum 2.65
    job_seconds_count 4.0
    """
    # --8<-- [end:demo_histogram]

    # --8<-- [start:demo_serve]
    from snippets.application.app_core import call, hello, serving, stack

    registry = Registry()
    app = stack(hello, exposing(registry), red(registry))
    with serving(app) as server:
        for target in ("/greet", "/greet?name=Ada"):
            call(server, "GET", target)
        call(server, "DELETE", "/greet")
        scrape = call(server, "GET", "/metrics")
    print(scrape.status, scrape.header("content-type"))
    #> 200 text/plain; version=0.0.4; charset=utf-8
    lines = scrape.body.decode().splitlines()
    print("\n".join(x for x in lines if x.startswith("http_requests_total")))
    """
    http_requests_total{method="GET",code="200"} 2.0
    http_requests_total{method="DELETE",code="405"} 1.0
    """
    # --8<-- [end:demo_serve]

    # --8<-- [start:demo_increase]
    # scraped every 15 s; the process restarted between 9 and 3
    print(increase([0, 4, 9, 3, 5]))
    #> 14.0
    # --8<-- [end:demo_increase]
