"""Coordinated omission: how a load generator that waits for each answer
hides a stall, and how to correct the numbers it recorded.

What it teaches: a closed-loop tester that means to send a request every
`interval` but waits for each answer sends nothing while the server is stuck,
so the stall appears as one slow sample among hundreds of fast ones and the
99th percentile looks healthy. The tester has coordinated with the server to
omit the requests that users would have sent. Gil Tene's correction, as in
HdrHistogram's `record_corrected_value`, adds back the samples those missing
requests would have seen: for a sample of `value`, also `value - interval`,
`value - 2 * interval`, and so on while positive. An open-loop generator, which
sends on schedule and measures from the planned send time, needs no
correction. A real server process paused with SIGSTOP shows both.

Read first: the latency page (`docs/performance/latency.md`, "Latency,
throughput and percentiles"), whose `nearest_rank` percentile
(`snippets.performance.percentiles`) this module uses. It builds on
`snippets.application.load_generator` for both loops and on
`snippets.application.app_core` for the server.

What it leaves out: the histogram itself (HdrHistogram's buckets; the tests
use it as the oracle), correcting when the expected interval is unknown
(no correction can guess it), and the load testing page's report.

Run it: `python -m snippets.performance.coordinated_omission`.
"""

from __future__ import annotations

# --8<-- [start:correct]
from snippets.performance.percentiles import nearest_rank as percentile


def corrected(samples: list[int], interval: int) -> list[int]:
    """Each sample, and for a slow one the samples of the requests that a
    tester sending every `interval` skipped while it waited: the same value
    less one interval, less two, and so on while positive."""
    return [v for value in samples for v in range(value, 0, -interval)]


# --8<-- [end:correct]
# --8<-- [end:correct]


# --8<-- [start:simulate]
MS = 1000  # all times in microseconds, as integers


def answer(sent: int, service=1 * MS, stall=(1000 * MS, 2000 * MS)) -> int:
    """When a server that is stuck during `stall` answers a request."""
    start, end = stall
    return (end if start <= sent < end else sent) + service


def closed_samples(duration: int, interval: int) -> list[int]:
    """One tester: send, wait for the answer, send one interval after the
    last send or at once if the answer came later."""
    samples, sent = [], 0
    while sent < duration:
        samples.append(answer(sent) - sent)
        sent = max(sent + interval, answer(sent))
    return samples


def open_samples(duration: int, interval: int) -> list[int]:
    """Send every `interval` whatever happened; time from the planned send."""
    return [answer(sent) - sent for sent in range(0, duration, interval)]


# --8<-- [end:simulate]


# --8<-- [start:process]
import contextlib
import subprocess
import sys
from pathlib import Path

import snippets

ROOT = Path(snippets.__file__).parents[1]  # where `python -m snippets` works


@contextlib.contextmanager
def server_process():
    """A server in its own process, on a free loopback port: its address and
    process id. It stops when its standard input closes."""
    module = "snippets.performance.coordinated_omission"
    command = [sys.executable, "-m", module, "--serve"]
    child = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        port = int(child.stdout.readline())  # empty, so an error, if it died
        yield ("127.0.0.1", port), child.pid
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()


def serve() -> None:
    """The child: print the port, serve until standard input closes."""
    from snippets.application.app_core import serving, text

    with serving(lambda request: text("ok\n")) as server:
        print(server.server_address[1], flush=True)
        sys.stdin.read()


# --8<-- [end:process]


# --8<-- [start:stall]
import asyncio
import os
import signal

from snippets.application.load_generator import closed_loop, getter, open_loop


async def pause(pid: int, at: float, seconds: float) -> None:
    """Stop the process `at` s from now for `seconds`, as a long garbage
    collection, a swap storm or a stuck disk would."""
    await asyncio.sleep(at)
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


async def stalled(loop, pid: int, stall: float = 1.0) -> list[int]:
    """Run a load generator (a coroutine) on a server that stops for `stall`
    s after one second: the latencies it recorded, in microseconds."""
    outcomes, _ = await asyncio.gather(loop, pause(pid, 1.0, stall))
    return [round(o.seconds * 1e6) for o in outcomes]


def measure_stall(interval=0.005, duration=3.0) -> tuple[list[int], list[int]]:
    """A paced closed loop, then an open loop at the same rate, each against
    the same real server process stopped for a second."""
    with server_process() as (address, pid):
        send, count = getter(address), int(duration / interval)
        closed = closed_loop(send, 1, duration, 5.0, interval)
        closed = asyncio.run(stalled(closed, pid))
        opened = open_loop(send, 1 / interval, count, 5.0)
        return closed, asyncio.run(stalled(opened, pid))


# --8<-- [end:stall]


# fmt: off
if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    serve()
elif __name__ == "__main__":
    # --8<-- [start:demo_simulated]
    closed = closed_samples(3000 * MS, 10 * MS)
    fixed = corrected(closed, 10 * MS)
    opened = open_samples(3000 * MS, 10 * MS)
    print("samples:", len(closed), len(fixed), len(opened))
    #> samples: 201 301 300
    p99 = [percentile(s, 99) / MS for s in (closed, fixed, opened)]
    print("p99 ms, closed, corrected, open:", p99)
    #> p99 ms, closed, corrected, open: [1.0, 971.0, 971.0]
    # --8<-- [end:demo_simulated]

    # --8<-- [start:demo_real]
    closed, opened = measure_stall()
    hidden = percentile(opened, 99) > 5 * percentile(closed, 99)
    print("open-loop p99 over 5x the closed loop's:", hidden)
    #> open-loop p99 over 5x the closed loop's: True
    fixed = percentile(corrected(closed, 5 * MS), 99)
    near = 0.5 < fixed / percentile(opened, 99) < 2
    print("corrected p99 within 2x of the open loop's:", near)
    #> corrected p99 within 2x of the open loop's: True
    # --8<-- [end:demo_real]
