"""What the event loop page claims, asserted; asyncio's own loop is the oracle.

The same generated program (callbacks that schedule more callbacks, at once or
after a delay) runs on our loop and on asyncio's, both on a virtual clock that a
fake selector advances instead of sleeping; the callbacks must run in the same
order. asyncio does not promise an order between timers with the same deadline,
so programs with a tie are set aside (`assume`). Then one thread serves a
thousand real loopback connections at once.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import threading

from hypothesis import assume, given
from hypothesis import strategies as st

from snippets.performance.event_loop import (
    EchoServer,
    Loop,
    run_once,
    run_until_stopped,
)
from tests.helpers import TIMEOUT


class VirtualTime:
    """A clock that moves only when a fake selector "waits"."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSelector(selectors.SelectSelector):
    """Registers files as a real selector does, but never reports one ready:
    `select` moves the virtual clock by its timeout instead of waiting."""

    def __init__(self, clock: VirtualTime) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout=None):
        assert timeout is not None, "the program would wait forever"
        self.clock.now += timeout
        return []


class VirtualAsyncio(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualTime) -> None:
        super().__init__(FakeSelector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock()


# A program: each callback, when it runs, schedules its children: ("soon",)
# or ("later", delay in 64ths of a second). Delays and the clock stay exact
# in binary, so a tie is a real tie, not a rounding accident.
CHILD = st.one_of(st.just(("soon",)), st.tuples(st.just("later"), st.integers(0, 64)))


@st.composite
def programs(draw):
    count = draw(st.integers(1, 25))
    children = {n: [] for n in range(count)}
    for n in range(1, count):  # every callback but the root has one parent
        parent = draw(st.integers(0, n - 1))
        children[parent].append((n, draw(CHILD)))
    return children


def run_program(children, call_soon, call_later, clock) -> tuple[list, list]:
    """Schedule the root; the order the callbacks ran, and every deadline."""
    ran, deadlines = [], []

    def callback(n: int) -> None:
        ran.append(n)
        for child, how in children[n]:
            if how[0] == "soon":
                call_soon(callback, child)
            else:
                deadlines.append(clock() + how[1] / 64)
                call_later(how[1] / 64, callback, child)

    call_soon(callback, 0)
    return ran, deadlines


@given(programs())
def test_callbacks_run_in_the_same_order_as_under_asyncio(children) -> None:
    clock = VirtualTime()
    ours = Loop(FakeSelector(clock), clock=clock)
    ran, deadlines = run_program(children, ours.call_soon, ours.call_later, clock)
    for _ in range(200):  # far more turns than the program needs
        if len(ran) == len(children):
            break
        run_once(ours)
    ours.close()
    assume(len(set(deadlines)) == len(deadlines))  # asyncio leaves ties open
    theirs_clock = VirtualTime()
    theirs = VirtualAsyncio(theirs_clock)
    try:
        expected, _ = run_program(
            children, theirs.call_soon, theirs.call_later, theirs_clock
        )
        for _ in range(200):
            if len(expected) == len(children):
                break
            theirs._run_once()  # one turn, as `run_once` is ours
    finally:
        theirs.close()
    assert ran == expected
    assert clock() == theirs_clock()  # and the same virtual time went by


def test_a_cancelled_callback_does_not_run() -> None:
    loop, ran = Loop(), []
    handle = loop.call_soon(ran.append, "cancelled")
    loop.call_soon(ran.append, "kept")
    handle.cancel()
    run_once(loop)
    loop.close()
    assert ran == ["kept"]


def test_one_thread_serves_a_thousand_connections_at_once() -> None:
    loop = Loop()
    server = EchoServer(loop)
    serving = threading.Thread(target=run_until_stopped, args=(loop,))
    serving.start()
    address = server.listener.getsockname()
    clients: list[socket.socket] = []
    try:
        for _ in range(1000):
            clients.append(socket.create_connection(address, timeout=TIMEOUT))
        for n, client in enumerate(clients):  # all open before any answer
            client.sendall(f"line {n}\n".encode())
        answers = [client.recv(64) for client in clients]
        assert len(server.open) == 1000  # the server holds them all
    finally:
        for client in clients:
            client.close()
        loop.call_soon_threadsafe(setattr, loop, "stopping", True)
        serving.join(timeout=TIMEOUT)
        server.shutdown()
        loop.close()
    assert answers == [f"line {n}\n".encode() for n in range(1000)]
    assert not serving.is_alive()


def test_a_line_over_the_limit_closes_its_connection() -> None:
    loop = Loop()
    server = EchoServer(loop, limit=16)
    serving = threading.Thread(target=run_until_stopped, args=(loop,))
    serving.start()
    try:
        with socket.create_connection(
            server.listener.getsockname(), timeout=TIMEOUT
        ) as client:
            client.sendall(b"x" * 100)  # no newline, over the limit
            assert client.recv(64) == b""  # closed, no answer
    finally:
        loop.call_soon_threadsafe(setattr, loop, "stopping", True)
        serving.join(timeout=TIMEOUT)
        server.shutdown()
        loop.close()
