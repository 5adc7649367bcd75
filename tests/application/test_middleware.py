"""The middleware page's claims: the onion order, per-request context, errors, deadlines.

Oracles: a recorded trace for the order of the layers; many concurrent requests, as
asyncio tasks in one loop, as threads, and as real HTTP requests from many client
threads to the ASGI server of the socket-to-handler page, each of which must see only
its own request ID; the clock for the deadline (the answer comes back within a wide
bound of it, with no sleep in the test waiting for the server).
"""

import asyncio
import concurrent.futures
import contextvars
import http.client
import logging
import re
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application.middleware import (
    DeadlineExceeded,
    ListHandler,
    Request,
    Response,
    as_asgi,
    broken,
    build,
    check_deadline,
    deadline,
    errors,
    hello,
    remaining,
    request_id,
    request_id_var,
    slow,
    timing,
    tracing,
)
from snippets.application.socket_to_handler import ASGIServer

STACK = [request_id, timing, errors, deadline(1.0)]


def run(handler, request: Request) -> Response:
    return asyncio.run(handler(request))


def get(rid: str | None = None, path: str = "/") -> Request:
    return Request("GET", path, {"x-request-id": rid} if rid is not None else {})


# ---------------------------------------------------------------------------------------
# The onion: requests in, responses out in reverse


def test_middleware_runs_in_order_and_unwinds_in_reverse() -> None:
    trace: list[str] = []

    async def handler(request: Request) -> Response:
        trace.append("handler")
        return Response(200)

    run(build(handler, [tracing(n, trace) for n in "ABC"]), get())
    assert trace == ["A in", "B in", "C in", "handler", "C out", "B out", "A out"]


def test_a_layer_that_answers_early_skips_every_layer_inside_it() -> None:
    trace: list[str] = []

    def refuse_all(handler):
        async def wrapped(request: Request) -> Response:
            trace.append("gate")
            return Response(401)

        return wrapped

    async def handler(request: Request) -> Response:
        trace.append("handler")
        return Response(200)

    stack = [tracing("A", trace), refuse_all, tracing("B", trace)]
    assert run(build(handler, stack), get()).status == 401
    assert trace == ["A in", "gate", "A out"]


def test_with_errors_inside_timing_and_request_id_a_500_still_gets_both_headers() -> (
    None
):
    response = run(build(broken, STACK), get("abc"))
    assert response.status == 500
    assert response.headers["X-Request-ID"] == "abc"
    assert "Server-Timing" in response.headers


def test_with_errors_outside_request_id_the_500_has_no_request_id() -> None:
    """Order matters: the same layers in another order give another answer."""
    response = run(build(broken, [errors, timing, request_id]), get("abc"))
    assert response.status == 500
    assert "X-Request-ID" not in response.headers
    assert b"request id -" in response.body  # the ID was already reset


# ---------------------------------------------------------------------------------------
# Request IDs


@pytest.mark.parametrize("rid", ["abc", "req-42", "a.b_c:d-e", "x" * 64, "0"])
def test_a_valid_incoming_request_id_is_kept(rid: str) -> None:
    assert run(build(hello, STACK), get(rid)).headers["X-Request-ID"] == rid


@pytest.mark.parametrize(
    "rid", ["", "x" * 65, "a b", "a\r\nX-Evil: 1", "ünï", "a;b", "<script>", None]
)
def test_an_invalid_or_missing_request_id_is_replaced_by_a_fresh_one(rid) -> None:
    response = run(build(hello, STACK), get(rid))
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_generated_request_ids_are_unique() -> None:
    app = build(hello, STACK)
    ids = {run(app, get()).headers["X-Request-ID"] for _ in range(200)}
    assert len(ids) == 200


@settings(max_examples=100)
@given(st.text(max_size=80))
def test_any_incoming_id_comes_out_safe_for_a_header_and_a_log_line(rid: str) -> None:
    out = run(build(hello, [request_id]), get(rid)).headers["X-Request-ID"]
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", out)
    assert out == rid or re.fullmatch(r"[0-9a-f]{32}", out)


# ---------------------------------------------------------------------------------------
# Context that never leaks between requests


def test_two_hundred_concurrent_tasks_each_see_only_their_own_id() -> None:
    async def handler(request: Request) -> Response:
        seen = []
        for _ in range(5):  # interleave with the other requests
            seen.append(request_id_var.get())
            await asyncio.sleep(0)
        return Response(200, ",".join(seen).encode())

    async def many() -> list[Response]:
        app = build(handler, STACK)
        return await asyncio.gather(*(app(get(f"id-{n}")) for n in range(200)))

    responses = asyncio.run(many())
    for n, response in enumerate(responses):
        assert response.body.decode().split(",") == [f"id-{n}"] * 5
    assert request_id_var.get() == "-"  # nothing leaked into the caller


def test_threads_each_see_only_their_own_id() -> None:
    barrier = threading.Barrier(20, timeout=10)

    async def handler(request: Request) -> Response:
        before = request_id_var.get()
        await asyncio.to_thread(barrier.wait)  # all 20 requests in flight at once
        return Response(200, f"{before},{request_id_var.get()}".encode())

    app = build(handler, STACK)
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        bodies = list(pool.map(lambda n: run(app, get(f"t{n}")).body, range(20)))
    assert bodies == [f"t{n},t{n}".encode() for n in range(20)]


def test_a_reused_worker_thread_does_not_see_the_previous_requests_id() -> None:
    """A sync server reuses threads: the reset in request_id is what keeps this clean."""
    context = contextvars.copy_context()  # one long-lived context, like a pool thread
    app = build(hello, [request_id])
    context.run(lambda: run(app, get("first")))
    assert context.run(request_id_var.get) == "-"


def test_asyncio_to_thread_carries_the_id_but_a_plain_thread_does_not() -> None:
    seen: dict[str, str] = {}

    async def handler(request: Request) -> Response:
        seen["to_thread"] = await asyncio.to_thread(request_id_var.get)
        thread = threading.Thread(
            target=lambda: seen.update(plain=request_id_var.get())
        )
        thread.start()
        thread.join(5)
        return Response(200)

    run(build(handler, [request_id]), get("ctx-1"))
    assert seen == {"to_thread": "ctx-1", "plain": "-"}


@pytest.fixture(scope="module")
def server() -> Iterator[ASGIServer]:
    with ASGIServer(as_asgi(build(hello, STACK))) as server:
        yield server


def http_get(server: ASGIServer, rid: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection(*server.address, timeout=10)
    try:
        conn.request("GET", "/", headers={"X-Request-ID": rid})
        answer = conn.getresponse()
        return answer.status, answer.getheader("X-Request-ID"), answer.read()
    finally:
        conn.close()


def test_fifty_concurrent_http_requests_each_get_their_own_id_back(server) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda n: http_get(server, f"http-{n}"), range(50)))
    for n, (status, header, body) in enumerate(answers):
        assert (status, header, body) == (
            200,
            f"http-{n}",
            f"handled request http-{n}\n".encode(),
        )


def test_log_records_from_deep_code_carry_the_request_id(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="request"):
        run(build(hello, STACK), get("deep-1"))
        run(build(broken, STACK), get("deep-2"))
    stamped = {(r.getMessage(), r.request_id) for r in caplog.records}
    assert ("describing the request", "deep-1") in stamped
    assert ("unhandled error in GET /", "deep-2") in stamped


# ---------------------------------------------------------------------------------------
# Errors: a 500 with no internals


def test_an_exception_becomes_a_500_that_leaks_nothing_and_is_logged(caplog) -> None:
    response = run(build(broken, STACK), get("err-1"))
    assert response.status == 500
    assert response.body == b"internal server error (request id err-1)\n"
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert record.request_id == "err-1"
    assert "password_hash" in caplog.text  # the log has the details...
    assert b"password_hash" not in response.body  # ...the client does not
    assert b"Traceback" not in response.body


def test_cancellation_is_not_swallowed_by_the_error_layer() -> None:
    async def cancelled(request: Request) -> Response:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        run(build(cancelled, [errors]), get())


# ---------------------------------------------------------------------------------------
# Timing and deadlines


def test_server_timing_reports_at_least_the_time_spent_inside() -> None:
    async def napping(request: Request) -> Response:
        await asyncio.sleep(0.05)
        return Response(200)

    header = run(build(napping, [timing]), get()).headers["Server-Timing"]
    assert re.fullmatch(r"app;dur=\d+\.\d", header)
    assert float(header.split("=")[1]) >= 50


def test_the_deadline_cuts_a_slow_handler_off_on_time() -> None:
    cleaned_up = []

    async def hanging(request: Request) -> Response:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned_up.append(True)  # cancellation ran the cleanup
        return Response(200)

    started = time.monotonic()
    response = run(build(hanging, [request_id, errors, deadline(0.2)]), get())
    elapsed = time.monotonic() - started
    assert (response.status, response.headers["Retry-After"]) == (503, "1")
    assert 0.2 <= elapsed < 2.0  # 0.2 s promised; a wide margin for a busy machine
    assert cleaned_up == [True]


def test_the_deadline_answers_503_over_http_too() -> None:
    with ASGIServer(as_asgi(build(slow, [request_id, deadline(0.2)]))) as server:
        started = time.monotonic()
        status, header, _ = http_get(server, "slow-1")
        elapsed = time.monotonic() - started
    assert (status, header) == (503, "slow-1")
    assert elapsed < 3.0


def test_a_fast_handler_is_not_touched_by_the_deadline() -> None:
    assert run(build(hello, [deadline(5.0)]), get()).status == 200


def test_a_thread_checking_the_deadline_stops_soon_after_it() -> None:
    stopped_at: list[float] = []

    def crunch() -> int:
        total = 0
        try:
            for n in range(10**9):
                if n % 1000 == 0:
                    check_deadline()
                total += n
        except DeadlineExceeded:
            stopped_at.append(time.monotonic())
            raise
        return total

    async def handler(request: Request) -> Response:
        return Response(200, str(await asyncio.to_thread(crunch)).encode())

    started = time.monotonic()
    response = run(build(handler, [request_id, deadline(0.2)]), get())
    assert response.status == 503
    assert stopped_at, "the thread never saw the deadline"
    assert stopped_at[0] - started < 2.0


def test_check_deadline_raises_in_the_request_itself() -> None:
    async def cooperative(request: Request) -> Response:
        while True:
            check_deadline()  # a CPU loop in the event loop: asyncio cannot preempt it
            time.sleep(0.001)

    started = time.monotonic()
    assert run(build(cooperative, [deadline(0.1)]), get()).status == 503
    assert time.monotonic() - started < 2.0


def test_the_handlers_own_timeout_is_not_mistaken_for_the_deadline() -> None:
    async def upstream_timeout(request: Request) -> Response:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)
        return Response(200)

    with pytest.raises(TimeoutError):
        run(build(upstream_timeout, [deadline(5.0)]), get())
    assert run(build(upstream_timeout, [errors, deadline(5.0)]), get()).status == 500


def test_remaining_is_infinite_outside_a_request_and_counts_down_inside() -> None:
    assert remaining() == float("inf")
    seen: list[float] = []

    async def handler(request: Request) -> Response:
        seen.append(remaining())
        return Response(200)

    run(build(handler, [deadline(10.0)]), get())
    assert 0 < seen[0] <= 10.0


def test_list_handler_writes_level_request_id_and_message() -> None:
    lines: list[str] = []
    handler = ListHandler(lines)
    log = logging.getLogger("request")
    log.addHandler(handler)
    try:
        run(build(broken, STACK), get("list-1"))
        logging.getLogger("elsewhere").addHandler(handler)
        logging.getLogger("elsewhere").error("no request here")
    finally:
        log.removeHandler(handler)
        logging.getLogger("elsewhere").removeHandler(handler)
    assert lines == [
        "ERROR [list-1] unhandled error in GET /",
        "ERROR [-] no request here",
    ]
