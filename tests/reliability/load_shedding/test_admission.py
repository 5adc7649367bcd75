"""What the load shedding page claims of admission control, asserted with real
threads, and over HTTP with the application core's server and client."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from snippets.application.app_core import Request, Response, call, serving, stack
from snippets.application.app_core import text as text_response
from snippets.reliability.load_shedding.admission import (
    Admission,
    Shed,
    offer,
    shedding,
)
from snippets.reliability.timeouts import BUDGET, budget_from_caller
from tests.helpers import TIMEOUT


def wait_until(condition, timeout: float = TIMEOUT) -> None:
    """Poll a condition that another thread makes true; fail after `timeout`."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "the condition never became true"
        time.sleep(0.001)


def start(target) -> threading.Thread:
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_never_more_than_workers_run_at_once():
    gate, lock = Admission(workers=3), threading.Lock()
    running, most = [0], [0]  # guarded by lock

    def request() -> None:
        gate.enter()
        try:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.005)
            with lock:
                running[0] -= 1
        finally:
            gate.leave()

    threads = [start(request) for _ in range(30)]
    for thread in threads:
        thread.join(TIMEOUT)
    assert most[0] == 3
    assert (gate.busy, len(gate.waiting)) == (0, 0)


def test_a_freed_worker_goes_to_the_oldest_waiting_request():
    gate, order = Admission(workers=1), []
    gate.enter()
    threads = []
    for count, name in enumerate("abcd", 1):  # each queues behind the last
        threads.append(start(lambda name=name: (gate.enter(), order.append(name))))
        wait_until(lambda count=count: len(gate.waiting) == count)
    for count in range(1, 5):
        gate.leave()
        wait_until(lambda count=count: len(order) == count)
    for thread in threads:
        thread.join(TIMEOUT)
    assert order == list("abcd")
    assert gate.busy == 1  # the last one still holds the worker


def test_a_full_queue_refuses_at_once():
    gate = Admission(workers=1, max_queue=2)
    gate.enter()
    waiters = [start(gate.enter) for _ in range(2)]
    wait_until(lambda: len(gate.waiting) == 2)
    begin = time.monotonic()
    with pytest.raises(Shed, match="the queue is full"):
        gate.enter()
    assert time.monotonic() - begin < 0.05
    for _ in range(3):
        gate.leave()
    for thread in waiters:
        thread.join(TIMEOUT)
    assert (gate.busy, len(gate.waiting)) == (0, 0)


def test_a_wait_ends_at_max_wait_or_the_deadline_whichever_is_sooner():
    gate = Admission(workers=1, max_wait=0.3)
    gate.enter()
    begin = time.monotonic()
    with pytest.raises(Shed, match="waited too long"):
        gate.enter()
    waited = time.monotonic() - begin
    begin = time.monotonic()
    with pytest.raises(Shed, match="waited too long"):
        gate.enter(deadline=begin + 0.05)
    by_deadline = time.monotonic() - begin
    assert 0.3 <= waited < 0.3 + 1.0
    assert by_deadline < waited / 2  # the caller's deadline came first
    assert not gate.waiting  # a request that gave up left the queue


def test_a_request_past_its_deadline_is_refused_even_with_a_worker_free():
    gate = Admission(workers=1)
    with pytest.raises(Shed, match="deadline has passed"):
        gate.enter(deadline=time.monotonic() - 0.001)
    assert gate.busy == 0


def test_leave_without_enter_is_an_error():
    with pytest.raises(RuntimeError, match="without enter"):
        Admission(workers=1).leave()


def hand_over_as_the_wait_ends() -> tuple[Admission, list[str]]:
    gate, outcome = Admission(workers=1, max_wait=0.002), []
    gate.enter()

    def waiter() -> None:
        try:
            gate.enter()
            outcome.append("admitted")
        except Shed:
            outcome.append("shed")

    thread = start(waiter)
    wait_until(lambda: gate.waiting or outcome)
    time.sleep(0.002)  # about when the waiter's max_wait ends
    gate.leave()
    thread.join(TIMEOUT)
    return gate, outcome


def test_a_worker_handed_over_as_the_wait_ends_is_not_lost():
    # Many times over, hand the worker over at about the moment the waiter gives
    # up: it is used or freed, never leaked.
    for _ in range(50):
        gate, outcome = hand_over_as_the_wait_ends()
        assert gate.busy == (1 if outcome == ["admitted"] else 0)
        assert not gate.waiting


def slow(seconds: float, entered: threading.Event | None = None):
    def handler(request: Request) -> Response:
        if entered is not None:
            entered.set()
        time.sleep(seconds)
        return text_response("done\n")

    return handler


def test_the_middleware_answers_503_with_retry_after_and_a_problem():
    entered = threading.Event()
    gate = Admission(workers=1, max_queue=0)
    app = stack(slow(0.3, entered), shedding(gate, retry_after=2))
    with serving(app) as server:
        first = threading.Thread(target=call, args=(server, "GET", "/"))
        first.start()
        assert entered.wait(TIMEOUT)
        begin = time.monotonic()
        refused = call(server, "GET", "/")
        took = time.monotonic() - begin
        first.join(TIMEOUT)
        after = call(server, "GET", "/")
    assert refused.status == 503
    assert refused.header("retry-after") == "2"
    assert refused.header("content-type") == "application/problem+json"
    assert refused.json()["detail"] == "overloaded: the queue is full"
    assert took < 0.3 / 2  # refused without waiting for the worker
    assert after.status == 200  # the worker was given back


def test_the_callers_budget_bounds_the_wait_in_the_queue():
    entered = threading.Event()
    gate = Admission(workers=1, max_wait=2.0)
    app = stack(slow(0.5, entered), budget_from_caller(60.0), shedding(gate))
    with serving(app) as server:
        first = threading.Thread(target=call, args=(server, "GET", "/"))
        first.start()
        assert entered.wait(TIMEOUT)
        begin = time.monotonic()
        refused = call(server, "GET", "/", headers=[(BUDGET, "50")])
        took = time.monotonic() - begin
        first.join(TIMEOUT)
    assert refused.status == 503
    assert "waited too long" in refused.json()["detail"]
    assert took < 0.5 / 2  # 50 ms of budget, not max_wait's 2 s


def test_a_bounded_queue_holds_the_producer_back_then_refuses():
    jobs: queue.Queue[int] = queue.Queue(maxsize=2)
    taken = []
    consumer = threading.Timer(0.1, lambda: taken.append(jobs.get()))
    begin = time.monotonic()  # before the timer starts counting its 0.1 s
    consumer.start()
    refused = offer(jobs, range(3), wait=2.0)  # the third waits for room
    held = time.monotonic() - begin
    consumer.join(TIMEOUT)
    assert (refused, taken, list(jobs.queue)) == ([], [0], [1, 2])
    assert 0.1 <= held < 2.0  # held back until the consumer took one
    assert offer(jobs, range(3, 5), wait=0.01) == [3, 4]
