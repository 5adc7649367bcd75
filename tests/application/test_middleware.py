"""The middleware page's claims: the onion order, per-request context, errors, deadlines.

Oracles: a recorded trace for the order of the layers; many concurrent requests over
real sockets to the application core's server (one thread per connection), held in
flight together at a barrier, each of which must see only its own request ID; two
requests on one kept-alive connection (one thread), where the second must not inherit
the first one's ID, with a leaky middleware as the control that shows the test would
catch it; the clock for the deadline (the answer comes back within a wide bound of it,
and no test sleeps to wait for a server).
"""

import asyncio
import contextvars
import json
import logging
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application.app_core import Request, Response, serving, stack, text
from snippets.application.middleware import (
    DeadlineExceeded,
    add_header,
    broken,
    cancelled_on_time,
    check_deadline,
    crunch,
    deadline,
    deadline_var,
    errors,
    hello,
    log_lines,
    remaining,
    request_id,
    request_id_var,
    slow,
    timing,
    tracing,
    upstream_answered,
)
from tests.helpers import TIMEOUT, http_request, raw_exchange

LAYERS = [request_id, timing, errors, deadline(1.0)]
UUID_HEX = re.compile(r"[0-9a-f]{32}")


def get(rid: str | None = None, path: str = "/") -> Request:
    """A request for calling a stack directly, with or without an X-Request-ID."""
    return Request("GET", path, headers=[] if rid is None else [("X-Request-ID", rid)])


def with_id(rid: str) -> list[tuple[str, str]]:
    return [("X-Request-ID", rid)]


# ---------------------------------------------------------------------------------------
# The onion: requests in, responses out in reverse


def test_middleware_runs_in_order_and_unwinds_in_reverse() -> None:
    trace: list[str] = []

    def handler(request: Request) -> Response:
        trace.append("handler")
        return Response(200)

    stack(handler, *(tracing(n, trace) for n in "ABC"))(get())
    assert trace == ["A in", "B in", "C in", "handler", "C out", "B out", "A out"]


def test_a_layer_that_answers_early_skips_every_layer_inside_it() -> None:
    trace: list[str] = []

    def refuse_all(handler):
        def wrapped(request: Request) -> Response:
            trace.append("gate")
            return Response(401)

        return wrapped

    def handler(request: Request) -> Response:
        trace.append("handler")
        return Response(200)

    app = stack(handler, tracing("A", trace), refuse_all, tracing("B", trace))
    assert app(get()).status == 401
    assert trace == ["A in", "gate", "A out"]


def test_the_stack_serves_over_http_with_both_headers_on_the_way_out() -> None:
    with serving(stack(hello, *LAYERS)) as server:
        reply = http_request(server, "GET", "/", headers=with_id("req-42"))
    assert (reply.status, reply.text) == (200, "handled request req-42\n")
    assert reply.header("X-Request-ID") == "req-42"
    assert re.fullmatch(r"app;dur=\d+\.\d", reply.header("Server-Timing"))


def test_with_errors_inside_timing_and_request_id_a_500_still_gets_both_headers() -> (
    None
):
    with serving(stack(broken, *LAYERS)) as server:
        reply = http_request(server, "GET", "/", headers=with_id("abc"))
    assert reply.status == 500
    assert reply.header("X-Request-ID") == "abc"
    assert reply.header("Server-Timing") is not None
    assert reply.json()["request_id"] == "abc"


def test_with_errors_outside_request_id_the_500_has_no_request_id() -> None:
    """Order matters: the same layers in another order give another answer."""
    with serving(stack(broken, errors, timing, request_id)) as server:
        reply = http_request(server, "GET", "/", headers=with_id("abc"))
    assert reply.status == 500
    assert reply.header("X-Request-ID") is None
    assert reply.json()["request_id"] == "-"  # the ID was already reset


def test_with_errors_inside_the_deadline_a_spent_budget_becomes_a_500() -> None:
    """The deadline must sit inside errors, or errors catches DeadlineExceeded first."""
    inverted = stack(slow, request_id, deadline(0.05), errors)
    with log_lines():
        assert inverted(get()).status == 500
        assert stack(slow, request_id, errors, deadline(0.05))(get()).status == 503


# ---------------------------------------------------------------------------------------
# Request IDs


@pytest.mark.parametrize("rid", ["abc", "req-42", "a.b_c:d-e", "x" * 64, "0"])
def test_a_valid_incoming_request_id_is_kept(rid: str) -> None:
    assert stack(hello, *LAYERS)(get(rid)).header("X-Request-ID") == rid


@pytest.mark.parametrize(
    "rid", ["", "x" * 65, "a b", "a\r\nX-Evil: 1", "ünï", "a;b", "<script>", None]
)
def test_an_invalid_or_missing_request_id_is_replaced_by_a_fresh_one(rid) -> None:
    response = stack(hello, *LAYERS)(get(rid))
    assert UUID_HEX.fullmatch(response.header("X-Request-ID"))


def test_two_request_id_fields_are_not_trusted_either() -> None:
    """RFC 9110 section 5.3 combines them as "a, b": not a valid ID, so a fresh one."""
    with serving(stack(hello, request_id)) as server:
        pairs = [("X-Request-ID", "a"), ("X-Request-ID", "b")]
        reply = http_request(server, "GET", "/", headers=pairs)
    assert UUID_HEX.fullmatch(reply.header("X-Request-ID"))


def test_generated_request_ids_are_unique() -> None:
    app = stack(hello, request_id)
    assert len({app(get()).header("X-Request-ID") for _ in range(200)}) == 200


@settings(max_examples=100)
@given(st.text(max_size=80))
def test_any_incoming_id_comes_out_safe_for_a_header_and_a_log_line(rid: str) -> None:
    out = stack(hello, request_id)(get(rid)).header("X-Request-ID")
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", out)
    assert out == rid or UUID_HEX.fullmatch(out)


def test_add_header_returns_a_copy_and_keeps_the_original() -> None:
    original = text("hi\n")
    changed = add_header(original, "X-A", "1")
    assert changed.header("X-A") == "1"
    assert original.header("X-A") is None
    assert changed.body == original.body


# ---------------------------------------------------------------------------------------
# Context that never leaks between requests


def test_concurrent_http_requests_each_see_only_their_own_id() -> None:
    clients = 20
    barrier = threading.Barrier(clients, timeout=TIMEOUT)

    def handler(request: Request) -> Response:
        before = request_id_var.get()
        barrier.wait()  # every request is in flight, each in its connection's thread
        return text(f"{before},{request_id_var.get()}")

    def ask(n: int):
        return http_request(server, "GET", "/", headers=with_id(f"c{n}"))

    with (
        serving(stack(handler, *LAYERS)) as server,
        ThreadPoolExecutor(max_workers=clients) as pool,
    ):
        replies = list(pool.map(ask, range(clients)))
    for n, reply in enumerate(replies):
        assert (reply.status, reply.text) == (200, f"c{n},c{n}")
        assert reply.header("X-Request-ID") == f"c{n}"
    assert request_id_var.get() == "-"  # nothing leaked into the test's thread


def probe(handler):
    """Outside request_id: reports what the context held before the request set it."""

    def wrapped(request: Request) -> Response:
        seen = request_id_var.get()
        thread = threading.get_ident()
        return add_header(handler(request), "X-Seen", f"{seen} {thread}")

    return wrapped


def leaky_request_id(handler):
    """The control: request_id without its reset."""

    def wrapped(request: Request) -> Response:
        request_id_var.set(request.header("X-Request-ID") or "made-up")
        return handler(request)

    return wrapped


TWO_ON_ONE_CONNECTION = (
    b"GET /1 HTTP/1.1\r\nHost: a\r\nX-Request-ID: first\r\n\r\n"
    b"GET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
)


def seen_on_one_connection(*layers) -> list[str]:
    with serving(stack(hello, probe, *layers)) as server:
        answer = raw_exchange(server.server_address, TWO_ON_ONE_CONNECTION)
    return re.findall(r"X-Seen: (\S+ \d+)", answer.decode())


def test_a_kept_alive_connection_does_not_carry_the_previous_requests_id() -> None:
    first, second = seen_on_one_connection(request_id)
    assert first.split()[1] == second.split()[1]  # one thread served both
    assert first.split()[0] == second.split()[0] == "-"


def test_without_the_reset_the_next_request_inherits_the_id() -> None:
    """The control: the test above would catch a request_id that forgot its reset."""
    first, second = seen_on_one_connection(leaky_request_id)
    assert (first.split()[0], second.split()[0]) == ("-", "first")


@pytest.mark.skipif(
    bool(getattr(sys.flags, "thread_inherit_context", False)),
    reason="Python 3.14+ free-threaded builds start threads with a copy of the context",
)
def test_the_servers_connection_threads_start_with_an_empty_context() -> None:
    def start_and_ask() -> str:
        request_id_var.set("set-in-the-test-thread")
        with serving(lambda request: text(request_id_var.get())) as server:
            return http_request(server, "GET", "/").text

    assert contextvars.copy_context().run(start_and_ask) == "-"


def test_a_thread_started_in_a_handler_sees_no_id_unless_given_the_context() -> None:
    seen: dict[str, object] = {}

    def handler(request: Request) -> Response:
        plain = threading.Thread(target=lambda: seen.update(plain=request_id_var.get()))
        plain.start()
        plain.join(TIMEOUT)
        with ThreadPoolExecutor(max_workers=1) as pool:
            seen["pool"] = pool.submit(request_id_var.get).result(TIMEOUT)
            context = contextvars.copy_context()
            seen["copied"] = pool.submit(context.run, request_id_var.get).result()
            seen["budget"] = pool.submit(remaining).result(TIMEOUT)
        return text("ok\n")

    stack(handler, request_id, deadline(5.0))(get("ctx-1"))
    assert seen == {
        "plain": "-",
        "pool": "-",
        "copied": "ctx-1",
        "budget": float("inf"),
    }


def test_log_records_from_deep_code_carry_the_request_id(caplog) -> None:
    with (
        caplog.at_level(logging.INFO, logger="request"),
        serving(stack(hello, *LAYERS)) as server,
    ):
        http_request(server, "GET", "/", headers=with_id("deep-1"))
    (record,) = [r for r in caplog.records if r.name == "request"]
    assert (record.getMessage(), record.request_id) == (
        "describing the request",
        "deep-1",
    )


# ---------------------------------------------------------------------------------------
# Errors: a 500 problem with no internals


def test_an_exception_becomes_a_500_that_leaks_nothing_and_is_logged(caplog) -> None:
    with serving(stack(broken, *LAYERS)) as server:
        reply = http_request(server, "GET", "/report", headers=with_id("err-1"))
    assert reply.status == 500
    assert reply.header("Content-Type") == "application/problem+json"
    assert reply.json() == {
        "title": "Internal Server Error",
        "status": 500,
        "detail": "The server failed to handle this request.",
        "request_id": "err-1",
    }
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.request_id == "err-1"
    assert record.getMessage() == "unhandled error in GET /report"
    assert record.exc_info[0] is KeyError  # with its traceback
    assert "password_hash" in caplog.text  # the log has the details...
    assert b"password_hash" not in reply.body  # ...the client does not
    assert b"Traceback" not in reply.body


def test_the_error_layer_lets_keyboard_interrupt_through() -> None:
    def interrupted(request: Request) -> Response:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stack(interrupted, errors)(get())


# ---------------------------------------------------------------------------------------
# Timing and deadlines


def test_server_timing_reports_at_least_the_time_spent_inside() -> None:
    def napping(request: Request) -> Response:
        time.sleep(0.05)
        return Response(200)

    header = stack(napping, timing)(get()).header("Server-Timing")
    assert re.fullmatch(r"app;dur=\d+\.\d", header)
    assert float(header.split("=")[1]) >= 50


def test_the_deadline_cuts_a_waiting_handler_off_on_time_over_http() -> None:
    with log_lines() as lines, serving(stack(slow, *LAYERS[:3], deadline(0.2))) as srv:
        started = time.monotonic()
        reply = http_request(srv, "GET", "/slow", headers=with_id("slow-1"))
        elapsed = time.monotonic() - started
    assert (reply.status, reply.header("Retry-After")) == (503, "1")
    assert reply.header("X-Request-ID") == "slow-1"
    assert reply.json()["title"] == "Service Unavailable"
    assert 0.2 <= elapsed < 2.0  # 0.2 s promised; a wide margin for a busy machine
    assert lines == ["WARNING [slow-1] deadline of 0.20 s passed in /slow"]


def test_slow_answers_at_once_when_its_upstream_does() -> None:
    upstream_answered.set()
    try:
        started = time.monotonic()
        response = stack(slow, errors, deadline(5.0))(get())
    finally:
        upstream_answered.clear()
    assert (response.status, response.body) == (200, b"the upstream answered\n")
    assert time.monotonic() - started < 2.0


def test_a_cpu_loop_that_checks_the_deadline_stops_soon_after_it() -> None:
    """The 503 can only be sent once the loop has stopped: the handler raised."""
    with log_lines(), serving(stack(crunch, *LAYERS[:3], deadline(0.2))) as server:
        started = time.monotonic()
        reply = http_request(server, "GET", "/crunch")
        elapsed = time.monotonic() - started
    assert reply.status == 503
    assert elapsed < 2.0


def test_a_handler_that_never_checks_runs_to_the_end_and_is_logged_as_late() -> None:
    """What a deadline cannot do in a thread: stop code that does not look at it."""

    def oblivious(request: Request) -> Response:
        time.sleep(0.15)  # no check: nothing from outside can interrupt this
        return text("done anyway\n")

    with log_lines() as lines:
        response = stack(oblivious, deadline(0.05))(get(path="/late"))
    assert (response.status, response.body) == (200, b"done anyway\n")
    assert lines == ["WARNING [-] finished after its deadline: /late"]


def test_a_fast_handler_is_not_touched_by_the_deadline() -> None:
    with log_lines() as lines:
        assert stack(hello, deadline(5.0))(get()).status == 200
    assert lines == ["INFO [-] describing the request"]


def test_remaining_is_infinite_outside_a_request_and_counts_down_inside() -> None:
    assert remaining() == float("inf")
    seen: list[float] = []

    def handler(request: Request) -> Response:
        seen.append(remaining())
        return Response(200)

    stack(handler, deadline(10.0))(get())
    assert 0 < seen[0] <= 10.0
    assert deadline_var.get() is None  # reset on the way out


def test_an_outer_deadline_that_is_sooner_wins() -> None:
    seen: list[float] = []

    def handler(request: Request) -> Response:
        seen.append(remaining())
        return Response(200)

    stack(handler, deadline(0.5), deadline(10.0))(get())
    assert 0 < seen[0] <= 0.5


def test_check_deadline_raises_only_once_the_budget_is_spent() -> None:
    check_deadline()  # no deadline: nothing to check
    token = deadline_var.set(time.monotonic() - 1)
    try:
        with pytest.raises(DeadlineExceeded, match="ran out of time"):
            check_deadline()
    finally:
        deadline_var.reset(token)


def test_a_deadline_exceeded_with_no_deadline_layer_is_just_a_500() -> None:
    def gives_up(request: Request) -> Response:
        raise DeadlineExceeded("no deadline layer above me")

    with log_lines():
        response = stack(gives_up, errors)(get())
    assert response.status == 500
    assert json.loads(response.body)["status"] == 500


def test_an_asyncio_timeout_cancels_the_task_at_its_await_and_runs_cleanup() -> None:
    started = time.monotonic()
    assert asyncio.run(cancelled_on_time()) == ["cleaned up", "timed out"]
    assert time.monotonic() - started < 2.0  # not the 30 s the task would sleep
