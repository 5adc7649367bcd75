"""An event loop from scratch: callbacks, timers and sockets in one thread.

What it teaches: an event loop is a while loop around `select`. It keeps a
queue of callbacks ready to run, a heap of timers ordered by deadline, and a
selector that knows which sockets to watch. Each turn it waits in `select` no
longer than the next timer, moves the callbacks of ready sockets and due timers
into the ready queue, and runs the callbacks that were ready when the turn
began; callbacks they schedule run on the next turn, after another poll. That
is the order asyncio's loop follows, and the tests check ours against it on
generated schedules. One thread then serves a thousand connections, because no
callback ever waits: a socket is read only when the selector says it has data.

Read first: the latency page (`docs/performance/latency.md`, "Latency,
throughput and percentiles"); the sockets page of the first layer
(`docs/communication/sockets.md`, "Sockets") for non-blocking sockets.

What it leaves out: coroutines and `await` (a coroutine is a callback that the
loop resumes: asyncio's Task), futures, cancelling a timer before it is due
(here a cancelled handle is skipped when its time comes), and running blocking
work in a thread pool.

Run it: `python -m snippets.performance.event_loop`.
"""

from __future__ import annotations

# --8<-- [start:loop]
import heapq
import itertools
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class Handle:
    """A scheduled callback; `cancel` stops it from running."""

    def __init__(self, callback: Callable[..., Any], args: tuple) -> None:
        self.callback, self.args, self.cancelled = callback, args, False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    """Ready callbacks, timers and a selector, run one turn at a time."""

    def __init__(
        self, selector=None, clock: Callable[[], float] = time.monotonic
    ):
        self.ready: deque[Handle] = deque()
        self.timers: list[
            tuple[float, int, Handle]
        ] = []  # a heap: soonest first
        self.order = itertools.count()  # breaks ties between equal deadlines
        self.selector = selector or selectors.DefaultSelector()
        self.time, self.stopping = clock, False
        # Another thread wakes a loop asleep in select by writing a byte here.
        self.alarm, self.waker = socket.socketpair()
        self.alarm.setblocking(False)
        wake = Handle(
            self.alarm.recv, (4096,)
        )  # drop the bytes: they only wake
        self.selector.register(self.alarm, selectors.EVENT_READ, (wake, None))

    def call_soon(self, callback, *args) -> Handle:
        handle = Handle(callback, args)
        self.ready.append(handle)
        return handle

    def call_later(self, delay: float, callback, *args) -> Handle:
        handle = Handle(callback, args)
        entry = (self.time() + delay, next(self.order), handle)
        heapq.heappush(self.timers, entry)
        return handle

    def call_soon_threadsafe(self, callback, *args) -> Handle:
        """`call_soon` from another thread, and wake the loop up."""
        handle = self.call_soon(callback, *args)  # deque.append is atomic
        self.waker.send(b"!")
        return handle

    def close(self) -> None:
        self.selector.unregister(self.alarm)
        self.alarm.close()
        self.waker.close()
        self.selector.close()


# --8<-- [end:loop]


# --8<-- [start:turn]
def run_once(loop: Loop) -> None:
    """One turn: poll, collect what is due, run what was ready."""
    timeout = None  # no timer, nothing ready: wait for a socket
    if loop.ready or loop.stopping:
        timeout = 0
    elif loop.timers:
        timeout = max(0.0, loop.timers[0][0] - loop.time())
    for key, events in loop.selector.select(timeout):
        reader, writer = key.data  # the callbacks registered for this file
        if events & selectors.EVENT_READ and reader:
            loop.ready.append(reader)
        if events & selectors.EVENT_WRITE and writer:
            loop.ready.append(writer)
    now = loop.time()
    while loop.timers and loop.timers[0][0] <= now:
        loop.ready.append(heapq.heappop(loop.timers)[2])
    for _ in range(len(loop.ready)):  # not those that these schedule
        handle = loop.ready.popleft()
        if not handle.cancelled:
            handle.callback(*handle.args)


def run_until_stopped(loop: Loop) -> None:
    loop.stopping = False
    while not loop.stopping:
        run_once(loop)


# --8<-- [end:turn]


# --8<-- [start:io]
def watch(loop: Loop, sock, event: int, callback=None, *args) -> None:
    """Run `callback(*args)` whenever `sock` is ready for `event` (READ or
    WRITE); no callback stops watching for that event."""
    handle = Handle(callback, args) if callback else None
    try:
        key = loop.selector.get_key(sock)
        reader, writer = key.data
    except KeyError:
        key, reader, writer = None, None, None
    if event == selectors.EVENT_READ:
        reader = handle
    else:
        writer = handle
    mask = 0
    if reader:
        mask |= selectors.EVENT_READ
    if writer:
        mask |= selectors.EVENT_WRITE
    if key and mask:
        loop.selector.modify(sock, mask, (reader, writer))
    elif key:
        loop.selector.unregister(sock)
    elif mask:
        loop.selector.register(sock, mask, (reader, writer))


# --8<-- [end:io]


# --8<-- [start:echo]
import contextlib


class EchoServer:
    """Echoes every line it receives, on one thread, for any number of
    connections; a line longer than `limit` bytes closes its connection."""

    def __init__(self, loop: Loop, limit: int = 4096) -> None:
        self.loop, self.limit = loop, limit
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.listener.setblocking(False)
        self.open: dict[socket.socket, bytearray] = {}  # socket -> unsent bytes
        watch(loop, self.listener, selectors.EVENT_READ, self.accept)

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:  # another turn took it
            return
        conn.setblocking(False)
        self.open[conn] = bytearray()
        watch(
            self.loop, conn, selectors.EVENT_READ, self.read, conn, bytearray()
        )

    def read(self, conn: socket.socket, line: bytearray) -> None:
        try:
            data = conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data or len(line) + len(data) > self.limit:
            return self.close(conn)
        line += data
        while b"\n" in line:  # one answer per complete line
            end = line.index(b"\n") + 1
            self.send(conn, bytes(line[:end]))
            del line[:end]

    def send(self, conn: socket.socket, data: bytes) -> None:
        self.open[conn] += data
        self.flush(conn)

    def flush(self, conn: socket.socket) -> None:
        unsent = self.open[conn]
        with contextlib.suppress(BlockingIOError):  # no room yet: try later
            del unsent[: conn.send(unsent)]
        callback = self.flush if unsent else None  # wait for room, or stop
        watch(self.loop, conn, selectors.EVENT_WRITE, callback, conn)

    def close(self, conn: socket.socket) -> None:
        watch(self.loop, conn, selectors.EVENT_READ)
        watch(self.loop, conn, selectors.EVENT_WRITE)
        del self.open[conn]
        conn.close()

    def shutdown(self) -> None:
        for conn in list(self.open):
            self.close(conn)
        watch(self.loop, self.listener, selectors.EVENT_READ)
        self.listener.close()


# --8<-- [end:echo]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_order]
    loop, said = Loop(), []

    def say(word: str) -> None:
        said.append(word)
        if word == "first":
            loop.call_soon(say, "next turn")  # after those already ready

    loop.call_later(0.02, say, "later")
    loop.call_later(0.01, say, "sooner")
    loop.call_soon(say, "first")
    loop.call_soon(say, "second")
    loop.call_later(0.03, lambda: setattr(loop, "stopping", True))
    run_until_stopped(loop)
    loop.close()
    print(said)
    #> ['first', 'second', 'next turn', 'sooner', 'later']
    # --8<-- [end:demo_order]

    # --8<-- [start:demo_echo]
    import threading

    loop = Loop()
    server = EchoServer(loop)
    serving = threading.Thread(target=run_until_stopped, args=(loop,))
    serving.start()
    address = server.listener.getsockname()
    clients = [socket.create_connection(address, timeout=5) for _ in range(200)]
    try:  # 200 connections open at once, served by one thread
        for n, client in enumerate(clients):
            client.sendall(f"hello {n}\n".encode())
        answers = [client.recv(64) for client in clients]
    finally:
        for client in clients:
            client.close()
        loop.call_soon_threadsafe(setattr, loop, "stopping", True)
        serving.join(timeout=5)
        server.shutdown()
        loop.close()
    print(len(answers), answers[0], answers[199])
    #> 200 b'hello 0\n' b'hello 199\n'
    # --8<-- [end:demo_echo]
