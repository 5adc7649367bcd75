"""The orders service in one process, on loopback, with its pricing
dependency as a real second process: what the capstone page claims about each
request, the checks that tie the layers together (metrics count what was sent,
every log line carries its request's trace id, every 5xx is logged), and three
game days (a slow dependency, a locked database, a burst over the rate limit).

Oracles: prometheus_client's text parser reads /metrics; the W3C
`traceparent` a test sends is the trace id the logs must carry; SQLite itself
says how many orders were stored."""

from __future__ import annotations

import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

from snippets.capstone.dependency import set_delay
from snippets.observability.health import locked
from snippets.observability.tracing.spans import new_id
from snippets.reliability.circuit_breakers import OPEN
from tests.helpers import http_request

JSON = ("Content-Type", "application/json")
CUP = b'{"item": "cup", "quantity": 2}'


def key() -> tuple[str, str]:
    return ("Idempotency-Key", f'"{uuid.uuid4()}"')


def post(run, body: bytes = CUP, *headers, timeout: float = 5.0):
    named = {name.lower() for name, _ in headers}
    fields = [run.bearer, *headers]
    fields += [] if "content-type" in named else [JSON]
    fields += [] if "idempotency-key" in named else [key()]
    return http_request(
        run.server, "POST", "/orders", body=body, headers=fields, timeout=timeout
    )


def rows(run, table: str = "orders") -> int:
    conn = sqlite3.connect(run.db)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_a_write_needs_a_valid_bearer_token(orders):
    with orders() as run:
        none = http_request(
            run.server, "POST", "/orders", body=CUP, headers=[JSON, key()]
        )
        forged = http_request(
            run.server,
            "POST",
            "/orders",
            body=CUP,
            headers=[("Authorization", f"Bearer {run.token[:-2]}xx"), JSON, key()],
        )
    assert none.status == 401
    assert none.header("WWW-Authenticate") == 'Bearer realm="orders"'
    assert forged.status == 401
    assert 'error="invalid_token"' in forged.header("WWW-Authenticate")
    assert rows(run) == 0


def test_a_retry_with_the_same_key_gets_the_same_answer_and_one_order(orders):
    with orders() as run:
        same = key()
        first = post(run, CUP, same)
        again = post(run, CUP, same)
        other_body = post(run, b'{"item": "cup", "quantity": 3}', same)
        without = http_request(
            run.server, "POST", "/orders", body=CUP, headers=[run.bearer, JSON]
        )
    assert first.status == again.status == 201
    assert first.body == again.body
    assert first.header("Location") == again.header("Location") == "/orders/1"
    assert first.json()["price_cents"] == 2 * 250  # the dependency's price
    assert other_body.status == 422
    assert without.status == 400
    assert rows(run) == 1
    assert rows(run, "outbox") == 1  # the event, in the same transaction


def test_bad_input_is_refused_with_problem_details(orders):
    with orders() as run:
        as_text = post(run, CUP, ("Content-Type", "text/plain"))
        broken = post(run, b'{"item": ')
        invalid = post(run, b'{"item": "Cup!", "quantity": 0, "x": 1}')
    assert as_text.status == 415
    assert as_text.header("Accept") == "application/json"
    assert broken.status == 400
    assert invalid.status == 422
    assert invalid.header("Content-Type") == "application/problem+json"
    pointers = sorted(e["pointer"] for e in invalid.json()["errors"])
    assert pointers == ["/item", "/quantity", "/x"]
    assert rows(run) == 0


def test_an_order_has_an_etag_and_a_matching_if_none_match_gets_304(orders):
    with orders() as run:
        where = post(run).header("Location")
        first = http_request(run.server, "GET", where)
        tag = first.header("ETag")
        cached = http_request(
            run.server, "GET", where, headers=[("If-None-Match", tag)]
        )
        stale = http_request(
            run.server, "GET", where, headers=[("If-None-Match", '"old"')]
        )
        missing = http_request(run.server, "GET", "/orders/99")
    assert first.status == 200
    assert tag.startswith('"')
    assert cached.status == 304
    assert cached.body == b""
    assert cached.header("ETag") == tag
    assert stale.status == 200
    assert stale.body == first.body
    assert missing.status == 404


def scrape(run) -> dict[tuple[str, str], float]:
    text = http_request(run.server, "GET", "/metrics").text
    return {
        (s.labels["method"], s.labels["code"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "http_requests_total"
    }


def test_the_metrics_count_exactly_the_requests_sent(orders):
    with orders(worker=False) as run:
        sent = [post(run).status for _ in range(3)]
        sent += [http_request(run.server, "GET", f"/orders/{n}").status for n in (1, 9)]
        sent += [
            http_request(run.server, "DELETE", "/orders/1", headers=[run.bearer]).status
        ]
        http_request(run.server, "GET", "/readyz")  # probes are not traffic
        counts = scrape(run)
    assert sum(counts.values()) == len(sent) == 6
    assert counts[("POST", "201")] == 3
    assert counts[("GET", "200")] == 1
    assert counts[("GET", "404")] == 1
    assert counts[("DELETE", "405")] == 1


def traceparent() -> tuple[str, tuple[str, str]]:
    trace_id = new_id(16)
    return trace_id, ("traceparent", f"00-{trace_id}-{new_id(8)}-01")


def test_every_log_line_carries_its_requests_trace_id(orders, pricing):
    with orders(worker=False, reset_timeout=60) as run:
        sent = []
        for body in (CUP, b"{", b'{"item": 1}'):
            trace_id, header = traceparent()
            post(run, body, header)
            sent.append(trace_id)
        set_delay(pricing.address, 1.0)  # a pricing failure logs a warning
        trace_id, header = traceparent()
        assert post(run, CUP, header).status == 503
        sent.append(trace_id)
        lines = run.logs()
    assert {line["trace_id"] for line in lines} == set(sent)
    for trace_id in sent:  # and each request has its access line
        mine = [line for line in lines if line["trace_id"] == trace_id]
        assert [line["logger"] for line in mine][-1] == "capstone.access"
    assert any(line["logger"] == "capstone.app" for line in lines)


def test_every_5xx_is_in_the_logs_with_its_trace_id(orders, pricing):
    with orders(worker=False) as run:

        def boom(request):
            raise RuntimeError("a bug")

        run.service.router.add("GET", "/boom", boom)
        answers = []
        for _ in range(2):
            trace_id, header = traceparent()
            reply = http_request(run.server, "GET", "/boom", headers=[header])
            answers.append((trace_id, reply.status))
        set_delay(pricing.address, 1.0)
        trace_id, header = traceparent()
        answers.append((trace_id, post(run, CUP, header).status))
        lines = run.logs()
    assert [status for _, status in answers] == [500, 500, 503]
    for trace_id, status in answers:
        logged = [line for line in lines if line["trace_id"] == trace_id]
        assert any(line.get("status") == status for line in logged)
        assert all(line["level"] in ("WARNING", "ERROR") for line in logged)
    bugs = [line for line in lines if "exception" in line]
    assert len(bugs) == 2
    assert "RuntimeError: a bug" in bugs[0]["exception"]


def test_game_day_a_slow_dependency_opens_the_breaker_and_bounds_latency(
    orders, pricing
):
    delay = 2.0
    with orders(worker=False, reset_timeout=0.5) as run:
        assert post(run).status == 201
        set_delay(pricing.address, delay)
        took, statuses = [], []
        for _ in range(12):
            start = time.monotonic()
            reply = post(run)
            took.append(time.monotonic() - start)
            statuses.append(reply.status)
            assert reply.header("Retry-After") == "1"
        state = run.service.breaker.state
        families = text_string_to_metric_families(
            http_request(run.server, "GET", "/metrics").text
        )
        calls = {
            s.labels["outcome"]: s.value
            for f in families
            for s in f.samples
            if s.name == "dependency_calls_total"
        }
        set_delay(pricing.address, 0.0)
        time.sleep(0.5)  # the breaker's reset timeout: then a trial call
        recovered = post(run).status
    assert statuses == [503] * 12
    assert state == OPEN
    assert calls["failed"] == 3
    assert calls["refused"] == 9
    worst = sorted(took)[-1]
    assert worst < delay / 2, (
        f"slowest answer {worst:.2f} s with a {delay} s dependency"
    )
    assert sorted(took)[5] < 0.1 * delay  # once open: answered at once
    assert recovered == 201


def test_game_day_a_locked_database_fails_readiness_not_requests(orders):
    with orders() as run:
        assert post(run).status == 201
        with locked(run.db):
            time.sleep(0.15)  # the readiness cache's ttl
            ready = http_request(run.server, "GET", "/readyz")
            writes = [post(run) for _ in range(5)]
            read = http_request(run.server, "GET", "/orders/1")
            live = http_request(run.server, "GET", "/livez")
        time.sleep(0.15)
        after = http_request(run.server, "GET", "/readyz").status
        write_after = post(run).status
        lines = run.logs()
    assert ready.status == 503
    database = ready.json()["checks"]["database"]
    assert database["status"] == "fail"
    assert "locked" in database["detail"]
    busy = [line for line in lines if line["message"].startswith("database:")]
    assert len(busy) == 5
    assert all(line["trace_id"] != "-" for line in busy)
    assert [w.status for w in writes] == [503] * 5  # no 500 storm
    assert all(w.header("Retry-After") for w in writes)
    assert read.status == 200  # WAL: readers do not wait for the writer
    assert live.status == 200  # a locked database is no reason to restart
    assert (after, write_after) == (200, 201)


def test_game_day_a_burst_over_the_rate_limit_gets_429_with_retry_after(orders):
    rate, burst, sent = 5.0, 10, 40
    with orders(rate=rate, burst=burst, worker=False) as run:
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            replies = list(
                pool.map(lambda _: http_request(run.server, "GET", "/"), range(sent))
            )
        took = time.monotonic() - start
    good = [r for r in replies if r.status == 200]
    refused = [r for r in replies if r.status == 429]
    assert len(good) + len(refused) == sent  # every request answered
    assert burst <= len(good) <= burst + rate * took + 1
    assert all(int(r.header("Retry-After")) >= 1 for r in refused)
    assert all(r.json()["status"] == 429 for r in refused)
