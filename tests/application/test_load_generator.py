"""The shared load generator: an open loop keeps its schedule whatever the
server does, a closed loop never has more requests outstanding than clients,
and both give up at the deadline. A real loopback server answers."""

from __future__ import annotations

import asyncio
import threading
import time

from snippets.application.app_core import serving, text
from snippets.application.load_generator import closed_loop, getter, open_loop


class Inside:
    """A handler that sleeps `service` s and records the most requests it
    held at once."""

    def __init__(self, service: float) -> None:
        self.service, self.now, self.most = service, 0, 0
        self.lock = threading.Lock()  # guards now and most

    def __call__(self, request):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.service)
        with self.lock:
            self.now -= 1
        return text("ok\n")


def test_an_open_loop_keeps_sending_while_answers_are_slow():
    handler = Inside(service=0.2)
    with serving(handler) as server:
        run = open_loop(getter(server.server_address), 100.0, 10, 2.0)
        outcomes = asyncio.run(run, debug=False)
    assert [o.status for o in outcomes] == [200] * 10
    # 10 sends 10 ms apart all land inside one 200 ms service time.
    assert handler.most >= 8


def test_a_closed_loop_has_at_most_one_request_per_client_outstanding():
    handler = Inside(service=0.02)
    with serving(handler) as server:
        run = closed_loop(getter(server.server_address), 3, 0.3, 2.0)
        outcomes = asyncio.run(run, debug=False)
    assert handler.most <= 3
    # About 0.3 / 0.02 = 15 rounds of 3; far fewer than an open loop would send.
    assert 9 <= len(outcomes) <= 50
    assert all(o.status == 200 for o in outcomes)


def test_both_loops_give_up_at_the_deadline():
    handler = Inside(service=0.5)
    with serving(handler) as server:
        send = getter(server.server_address)
        planned = asyncio.run(open_loop(send, 100.0, 2, 0.1), debug=False)
        busy = asyncio.run(closed_loop(send, 1, 0.15, 0.1), debug=False)
    assert all(o.status is None for o in planned + busy)
    assert all(0.1 <= o.seconds < 0.4 for o in planned + busy)


def test_a_paced_closed_loop_sends_once_per_interval():
    with serving(Inside(service=0.0)) as server:
        run = closed_loop(getter(server.server_address), 1, 0.5, 2.0, 0.05)
        outcomes = asyncio.run(run, debug=False)
    assert 8 <= len(outcomes) <= 10  # 0.5 s / 0.05 s, the last may not fit
