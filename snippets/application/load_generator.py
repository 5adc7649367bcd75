"""A load generator: send requests to a server on a schedule (an open loop) or
as fast as a fixed number of clients can (a closed loop), and record what each
request got.

What it teaches: the two shapes of load. An open loop plans every send time in
advance and sends each request when its time comes, whatever happened to the
earlier ones, as independent users do; its latency runs from the planned send
time. A closed loop has `clients` that each send, wait for the answer, and send
the next (at once, or at its next planned time): when the server slows down,
so does the load. The request itself is a parameter, so a page can send what
it needs (a header, a path).

Read first: the application core (`docs/application/app_core.md`, "The
application core"), whose `serving` runs the servers this module loads.

What it leaves out: keep-alive connections (each request opens one), HTTPS,
bodies, and spreading the load over several processes or machines.

Run it: `python -m snippets.application.load_generator`.
"""

from __future__ import annotations

# --8<-- [start:outcome]
import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: no answer within the client's deadline
    seconds: float  # from the planned send time to the answer or the give-up
    lag: float = 0.0  # how late the send started: the generator's own delay


# Sends one request, given the client's deadline in seconds; the status.
Send = Callable[[float], Awaitable[int]]


async def get(
    address: tuple[str, int], headers: Iterable[tuple[str, str]] = ()
) -> int:
    """GET / on a new connection; the status of the answer."""
    reader, writer = await asyncio.open_connection(*address[:2])
    fields = "".join(f"{name}: {value}\r\n" for name, value in headers)
    try:
        writer.write(
            f"GET / HTTP/1.1\r\nHost: load\r\n{fields}"
            "Connection: close\r\n\r\n".encode()
        )
        answer = await reader.read()  # until the server closes
        return int(answer.split(b" ", 2)[1])
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def getter(address: tuple[str, int]) -> Send:
    """A `Send` that GETs / from `address`."""
    return lambda deadline: get(address)


# --8<-- [end:outcome]


# --8<-- [start:open_loop]
async def send_at(when: float, send: Send, deadline: float) -> Outcome:
    """Send at `when` (loop time), whatever happened to earlier requests."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(when - loop.time())
    lag = loop.time() - when
    try:
        async with asyncio.timeout(deadline):  # the client gives up, and closes
            status = await send(deadline)
    except TimeoutError:
        status = None
    return Outcome(status, loop.time() - when, lag)


async def open_loop(
    send: Send, rate: float, count: int, deadline: float
) -> list[Outcome]:
    """`count` requests at `rate` a second: an open loop, like real users."""
    start = asyncio.get_running_loop().time() + 0.05
    plan = [start + n / rate for n in range(count)]
    return await asyncio.gather(*(send_at(t, send, deadline) for t in plan))


# --8<-- [end:open_loop]


# --8<-- [start:closed_loop]
async def client(
    send: Send, until: float, deadline: float, interval: float = 0.0
) -> list[Outcome]:
    """Send, wait for the answer, and send the next `interval` s after the
    last send, or at once if the answer came later; until `until`."""
    loop, outcomes = asyncio.get_running_loop(), []
    when = loop.time()
    while when < until:
        outcomes.append(await send_at(when, send, deadline))
        when = max(when + interval, loop.time())  # never before the answer
    return outcomes


async def closed_loop(
    send: Send,
    clients: int,
    duration: float,
    deadline: float,
    interval: float = 0.0,
) -> list[Outcome]:
    """`clients` that each keep one request outstanding for `duration` s."""
    until = asyncio.get_running_loop().time() + duration
    runs = [client(send, until, deadline, interval) for _ in range(clients)]
    return [o for run in await asyncio.gather(*runs) for o in run]


# --8<-- [end:closed_loop]


# fmt: off
if __name__ == "__main__":
    from snippets.application.app_core import serving, text

    with serving(lambda request: text("ok\n")) as server:
        send = getter(server.server_address)
        planned = asyncio.run(open_loop(send, 100.0, 20, 2.0))
        busy = asyncio.run(closed_loop(send, 2, 0.2, 2.0))
    print("open loop, all 200:", all(o.status == 200 for o in planned))
    #> open loop, all 200: True
    print("closed loop, all 200:", all(o.status == 200 for o in busy))
    #> closed loop, all 200: True
