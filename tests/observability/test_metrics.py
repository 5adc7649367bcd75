"""What the metrics page claims, asserted against the real readers of the format.

Oracles: prometheus_client 0.26.0 (its CollectorRegistry fed the same observations, and its
text parser), and `promtool check metrics` from Debian's prometheus package (2.42), which is
the strict one: it parses with Prometheus' own Go parser and lints the names. prometheus_client
adds a `_created` series to counters and histograms by default; the oracle registry is built
with them disabled (`disable_created_metrics`), as the 0.0.4 text format has no such series.
"""

from __future__ import annotations

import math
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import prometheus_client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from snippets.application.app_core import Request, Response, hello, serving, stack
from snippets.observability.metrics import (
    CONTENT_TYPE,
    CardinalityError,
    Counter,
    Gauge,
    Histogram,
    Registry,
    exposing,
    increase,
    red,
    sample_line,
)
from tests.helpers import TIMEOUT, http_request, require_tool

AWKWARD = ['a"b', "C:\\tmp", "line\nfeed", 'all\\"\n', "", "ünï ☃", "{x=1},"]
HELP = 'Jobs done.\nBy "queue", with a \\ in it.'
BUCKETS = [0.1, 0.5, 1, 2.5]
# (kind, labels, value): one list of observations, fed to both implementations
OBSERVATIONS = [
    *[("counter", {"queue": v}, i + 1) for i, v in enumerate(AWKWARD)],
    ("counter", {"queue": "plain"}, 0.25),
    ("gauge", {}, -3.5),
    *[("ratio", {"kind": k}, v) for k, v in [("up", math.inf), ("down", -math.inf)]],
    ("ratio", {"kind": "unknown"}, math.nan),
    *[("histogram", {"queue": "a"}, v) for v in (0, 0.1, 0.3, 0.5, 0.5, 2, 10)],
    ("histogram", {"queue": "line\nfeed"}, 1),
]


def ours() -> Registry:
    registry = Registry()
    jobs = registry.register(Counter("jobs_total", HELP, ["queue"]))
    temp = registry.register(Gauge("temperature_celsius", "Room temperature."))
    ratio = registry.register(Gauge("ratio", "A ratio.", ["kind"]))
    hist = registry.register(
        Histogram("job_seconds", "Job time.", ["queue"], buckets=BUCKETS)
    )
    apply = {
        "counter": jobs.inc,
        "gauge": temp.set,
        "ratio": ratio.set,
        "histogram": hist.observe,
    }
    for kind, labels, value in OBSERVATIONS:
        apply[kind](value, **labels)
    return registry


def theirs() -> bytes:
    prometheus_client.disable_created_metrics()
    try:
        registry = prometheus_client.CollectorRegistry()
        pc = prometheus_client
        jobs = pc.Counter("jobs_total", HELP, ["queue"], registry=registry)
        temp = pc.Gauge("temperature_celsius", "Room temperature.", registry=registry)
        ratio = pc.Gauge("ratio", "A ratio.", ["kind"], registry=registry)
        hist = pc.Histogram(
            "job_seconds", "Job time.", ["queue"], buckets=BUCKETS, registry=registry
        )
        for kind, labels, value in OBSERVATIONS:
            if kind == "counter":
                jobs.labels(**labels).inc(value)
            elif kind == "gauge":
                temp.set(value)
            elif kind == "ratio":
                ratio.labels(**labels).set(value)
            else:
                hist.labels(**labels).observe(value)
        return prometheus_client.generate_latest(registry)
    finally:
        prometheus_client.enable_created_metrics()


def parsed(text: str) -> list[tuple]:
    """Families as comparable data: NaN made equal to itself, samples in a fixed order."""

    def value(v: float) -> float | str:
        return "NaN" if math.isnan(v) else v

    return [
        (
            family.name,
            family.type,
            family.documentation,
            sorted(
                (s.name, sorted(s.labels.items()), value(s.value))
                for s in family.samples
            ),
        )
        for family in text_string_to_metric_families(text)
    ]


def not_found(request: Request) -> Response:
    return Response(404, b"not found\n")


def scrape(registry: Registry) -> bytes:
    """Serve the registry on loopback and fetch GET /metrics, as Prometheus would."""
    with serving(exposing(registry)(not_found)) as server:
        reply = http_request(server, "GET", "/metrics")
    assert reply.status == 200
    assert reply.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    return reply.body


def promtool(exposition: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool", "prometheus"), "check", "metrics"],
        input=exposition.decode(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_a_scrape_parses_to_the_same_families_as_prometheus_client() -> None:
    body = scrape(ours())
    expected = parsed(theirs().decode())
    assert [f[0] for f in expected] == [
        "jobs",
        "temperature_celsius",
        "ratio",
        "job_seconds",
    ]
    assert parsed(body.decode()) == expected


def test_histogram_buckets_are_cumulative_and_inf_equals_count() -> None:
    samples = {
        (s.name, s.labels.get("le")): s.value
        for family in text_string_to_metric_families(ours().expose())
        if family.name == "job_seconds"
        for s in family.samples
        if s.labels["queue"] == "a"
    }
    buckets = [
        samples["job_seconds_bucket", le] for le in ("0.1", "0.5", "1.0", "2.5", "+Inf")
    ]
    # 0 and 0.1 are <= 0.1; a value equal to a bound counts in that bucket (le: <=).
    assert buckets == [2, 5, 5, 6, 7]
    assert samples["job_seconds_count", None] == buckets[-1] == 7
    assert samples["job_seconds_sum", None] == pytest.approx(13.4)


def test_promtool_accepts_a_scrape_with_no_problem_reported() -> None:
    registry = ours()
    app = stack(hello, exposing(registry), red(registry))
    with serving(app) as server:
        http_request(server, "GET", "/greet")
        http_request(server, "PATCH", "/greet")
        body = http_request(server, "GET", "/metrics").body
    assert b'http_requests_total{method="PATCH",code="405"} 1.0\n' in body
    result = promtool(body)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


# Each is broken for Prometheus, yet prometheus_client's parser reads it without complaint.
LENIENT = {
    "a second HELP line": b"# HELP m_total x\n# HELP m_total y\n# TYPE m_total counter\nm_total 1\n",
    "an unknown escape": b'# HELP m x\n# TYPE m gauge\nm{a="\\q"} 1\n',
    "a value too many": b"# HELP m x\n# TYPE m gauge\nm 1 2 3\n",
    "TYPE after samples": b"# HELP m x\nm 1\n# TYPE m gauge\n",
    "no final line feed": b"# HELP m x\n# TYPE m gauge\nm 1",
}


@pytest.mark.parametrize("case", LENIENT)
def test_promtool_rejects_what_the_python_parser_accepts(case: str) -> None:
    exposition = LENIENT[case]
    assert list(text_string_to_metric_families(exposition.decode()))  # no error
    result = promtool(exposition)
    assert result.returncode == 1
    assert "text format parsing error" in result.stderr


def test_promtool_lints_a_counter_without_the_total_suffix() -> None:
    registry = Registry()
    registry.register(Counter("jobs", "Jobs done.")).inc()
    result = promtool(registry.expose().encode())
    assert result.returncode == 3  # parsed, but a lint problem
    assert 'should have "_total" suffix' in result.stderr


@settings(max_examples=200)
@given(st.text(max_size=30))
def test_label_values_round_trip_and_match_prometheus_client(value: str) -> None:
    line = sample_line("m_total", {"queue": value}, 1)
    (family,) = text_string_to_metric_families(f"# TYPE m_total counter\n{line}")
    assert family.samples[0].labels == {"queue": value}
    registry = prometheus_client.CollectorRegistry()
    their = prometheus_client.Counter("m", "", ["queue"], registry=registry)
    their.labels(queue=value).inc()
    assert f"\n{line}".encode() in prometheus_client.generate_latest(registry)


@settings(max_examples=20)
@given(
    st.lists(st.text(alphabet='\\"\n\r\t ab☃{},=', max_size=12), min_size=1, max_size=8)
)
def test_promtool_accepts_awkward_label_values(values: list[str]) -> None:
    registry = Registry()
    jobs = registry.register(Counter("jobs_total", HELP + "\\n", ["queue"]))
    for value in values:
        jobs.inc(queue=value)
    result = promtool(registry.expose().encode())
    assert (result.returncode, result.stderr) == (0, "")


def test_red_counts_exactly_the_requests_sent_by_status_code() -> None:
    def app(request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("a bug in the handler")
        return hello(request)

    sent = [("GET", "/greet")] * 30 + [("DELETE", "/greet")] * 7
    sent += [("POST", "/greet")] * 5 + [("BREW", "/greet")] * 3 + [("GET", "/boom")] * 4
    registry = Registry()
    with serving(stack(app, exposing(registry), red(registry))) as server:
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda mt: http_request(server, *mt).status, sent))
        body = http_request(server, "GET", "/metrics").body.decode()
    assert codes.count(500) == 4
    families = {f.name: f for f in text_string_to_metric_families(body)}
    counted = {
        (s.labels["method"], s.labels["code"]): s.value
        for s in families["http_requests"].samples
    }
    assert counted == {
        ("GET", "200"): 30,
        ("DELETE", "405"): 7,
        ("POST", "201"): 5,
        ("other", "405"): 3,  # an unknown method does not mint a new series
        ("GET", "500"): 4,
    }
    durations = {
        s.labels["method"]: s.value
        for s in families["http_request_duration_seconds"].samples
        if s.name.endswith("_count")
    }
    assert durations == {"GET": 34, "DELETE": 7, "POST": 5, "other": 3}
    (in_flight,) = families["http_requests_in_flight"].samples
    assert in_flight.value == 0  # the scrape passes outside the RED layer


def test_updates_from_many_threads_lose_nothing() -> None:
    counter = Counter("hits_total", "Hits.", ["worker"])
    histogram = Histogram("work_seconds", "Work.", buckets=[1])
    start = threading.Barrier(8, timeout=TIMEOUT)

    def hammer() -> None:
        start.wait()
        for _ in range(5000):
            counter.inc(worker="all")
            histogram.observe(0.5)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert counter.series[("all",)] == [40_000]
    assert histogram.series[()] == [40_000, 0, 20_000]


def test_a_metric_refuses_a_label_set_past_its_limit() -> None:
    counter = Counter("by_user_total", "Per user: a bad idea.", ["user"], max_series=3)
    for user in ("ann", "bob", "cy"):
        counter.inc(user=user)
    counter.inc(user="ann")  # an existing series is fine
    with pytest.raises(CardinalityError, match="too many series"):
        counter.inc(user="dee")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Counter("x_total", "").inc(-1), "only goes up"),
        (lambda: Counter("x_total", "").inc(math.nan), "only goes up"),
        (lambda: Histogram("x", "").observe(math.nan), "no bucket"),
        (lambda: Histogram("x", "", ["le"]), "bucket label"),
        (lambda: Counter("2xx_total", ""), "invalid metric name"),
        (lambda: Counter("x_total", "", ["__name"]), "invalid label name"),
        (lambda: Counter("x_total", "", ["a"]).inc(b="1"), "takes labels"),
    ],
)
def test_bad_updates_and_names_raise_a_clear_error(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_a_second_metric_of_the_same_name_is_refused() -> None:
    registry = Registry()
    registry.register(Gauge("up", "Up."))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Counter("up", "Up again."))


def test_metrics_answers_only_get() -> None:
    with serving(exposing(Registry())(not_found)) as server:
        reply = http_request(server, "POST", "/metrics")
        other = http_request(server, "GET", "/other")
    assert (reply.status, reply.header("allow")) == (405, "GET")
    assert other.status == 404
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


@pytest.mark.parametrize(
    ("scrapes", "expected"),
    [
        ([0, 4, 9, 12], 12),  # no restart: last minus first
        ([5, 9, 2, 6], 4 + 2 + 4),  # a restart: the 2 after it is new counting
        ([10, 10, 0, 0, 3], 3),  # a restart to zero, then 3 more
    ],
)
def test_increase_reads_through_counter_resets(
    scrapes: list[float], expected: float
) -> None:
    assert increase(scrapes) == expected


def test_an_unescaped_line_feed_in_a_label_value_fails_the_scrape() -> None:
    broken = b'# HELP m_total x\n# TYPE m_total counter\nm_total{a="one\ntwo"} 1\n'
    result = promtool(broken)
    assert result.returncode == 1
    assert "text format parsing error" in result.stderr


def test_a_labelled_series_is_absent_until_its_first_update() -> None:
    registry = Registry()
    errors = registry.register(Counter("errors_total", "Errors.", ["code"]))
    theirs = prometheus_client.CollectorRegistry()
    prometheus_client.Counter("errors", "Errors.", ["code"], registry=theirs)
    for text in (registry.expose(), prometheus_client.generate_latest(theirs).decode()):
        (family,) = text_string_to_metric_families(text)
        assert family.samples == []
    errors.inc(0, code="500")  # touched at start-up: present, at zero
    (family,) = text_string_to_metric_families(registry.expose())
    assert [(s.labels, s.value) for s in family.samples] == [({"code": "500"}, 0)]
