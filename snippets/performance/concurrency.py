"""Concurrency models and the GIL: threads, processes and asyncio, measured on
the machine that runs them.

What it teaches: a thread that waits for the network releases CPython's
global interpreter lock (GIL), so eight threads wait for eight slow answers
at once; a thread that runs Python bytecode holds it, so threads never use
more than one core's worth of CPU between them for pure-Python work (on a
build with the GIL). Processes each have their own interpreter and lock, so
they can use several cores, when the cores are free. asyncio overlaps waits
in one thread. Each run records its wall time and the CPU seconds it used:
CPU per wall second is how many cores the work kept busy, a figure that
holds its meaning on a loaded machine where raw speed-ups do not. And the
GIL does not make code thread-safe: a read-modify-write that yields between
its read and its write loses updates, in threads and in asyncio alike.

Read first: the event loop page (`docs/performance/event_loop.md`, "An event
loop from scratch") and the queueing page (`docs/performance/queueing.md`,
"Little's law and queueing"). This module builds on
`snippets.application.app_core` for the slow loopback server and on
`snippets.performance.profiling` for `spin`, the CPU-bound work.

What it leaves out: subinterpreters (PEP 734), shared memory between
processes, a free-threaded build to measure (the page cites it), and C
extensions that release the GIL around their own loops.

Run it: `python -m snippets.performance.concurrency`.
"""

from __future__ import annotations

# --8<-- [start:work]
import time

from snippets.application.app_core import Request, Response, call, text
from snippets.performance.profiling import spin  # pure-Python arithmetic

DELAY = 0.2  # seconds the server waits before it answers


def slow(request: Request) -> Response:
    """A handler that waits, as a database or another service would."""
    time.sleep(DELAY)  # sleeping releases the GIL
    return text("done\n")


def fetch(server) -> int:
    """I/O-bound: one request; the thread spends it blocked in recv()."""
    return call(server, "GET", "/", timeout=5).status


# --8<-- [end:work]


# --8<-- [start:measure]
import os
import resource
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    results: list  # what the calls returned, in the order of the arguments
    wall: float  # seconds on the clock
    cpu: float  # CPU seconds the calls used, summed over threads/processes

    @property
    def cores_busy(self) -> float:
        """CPU seconds per wall second: how many cores the work kept busy."""
        return self.cpu / self.wall


def cores() -> int:
    """The CPUs this process may run on (not the machine's total)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def serially(fn: Callable, args: Iterable) -> Run:
    wall, cpu = time.perf_counter(), time.process_time()
    results = [fn(arg) for arg in args]
    return Run(results, time.perf_counter() - wall, time.process_time() - cpu)


def in_threads(fn: Callable, args: Iterable, workers: int) -> Run:
    # process_time() counts the CPU time of every thread of this process.
    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(fn, args))
    return Run(results, time.perf_counter() - wall, time.process_time() - cpu)


def children_cpu() -> float:
    """CPU seconds used by this process's children that have exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def in_processes(fn: Callable, args: Iterable, workers: int) -> Run:
    # fn travels to the workers by name: it must be importable (a module's).
    wall, cpu = time.perf_counter(), children_cpu()
    with ProcessPoolExecutor(workers) as pool:  # exit waits for the workers
        results = list(pool.map(fn, args))
    return Run(results, time.perf_counter() - wall, children_cpu() - cpu)


# --8<-- [end:measure]


# --8<-- [start:asyncio]
import asyncio


async def fetch_async(port: int) -> int:
    """The same request on an asyncio stream: the wait is an await."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status_line = await asyncio.wait_for(reader.readline(), 5)
        await asyncio.wait_for(reader.read(), 5)  # the rest, up to EOF
        return int(status_line.split()[1])
    finally:
        writer.close()
        await writer.wait_closed()


def in_asyncio(port: int, count: int) -> Run:
    async def all_at_once() -> list[int]:
        calls = (fetch_async(port) for _ in range(count))
        return list(await asyncio.gather(*calls))

    wall, cpu = time.perf_counter(), time.process_time()
    results = asyncio.run(all_at_once())
    return Run(results, time.perf_counter() - wall, time.process_time() - cpu)


# --8<-- [end:asyncio]


# --8<-- [start:amdahl]
def amdahl(parallel: float, workers: int) -> float:
    """The best speed-up when a fraction `parallel` of the work spreads over
    `workers` and the rest stays serial (Amdahl, 1967)."""
    return 1 / ((1 - parallel) + parallel / workers)


# --8<-- [end:amdahl]


# --8<-- [start:race]
import threading


class Counter:
    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()  # guards value in add_locked

    def add(self) -> None:
        seen = self.value  # read
        time.sleep(0)  # a yield point: another thread may run here
        self.value = seen + 1  # write: overwrites what others added

    def add_locked(self) -> None:
        with self.lock:  # read and write happen as one step
            self.add()


def hammer(add: Callable[[], None], threads: int, times: int) -> None:
    def work() -> None:
        for _ in range(times):
            add()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=30)


# --8<-- [end:race]


# --8<-- [start:async_race]
async def add_async(box: dict, lock: asyncio.Lock | None) -> None:
    if lock is None:
        seen = box["value"]
        await asyncio.sleep(0)  # the await is the yield point
        box["value"] = seen + 1
    else:
        async with lock:
            await add_async(box, None)


async def gather_adds(tasks: int, use_lock: bool) -> int:
    box, lock = {"value": 0}, asyncio.Lock() if use_lock else None
    await asyncio.gather(*(add_async(box, lock) for _ in range(tasks)))
    return box["value"]


# --8<-- [end:async_race]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_gil]
    import sys

    print("switch interval:", sys.getswitchinterval(), "s")
    #> switch interval: 0.005 s
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()  # 3.13+
    print("GIL enabled:", gil)
    #> GIL enabled: True
    # --8<-- [end:demo_gil]

    # --8<-- [start:demo_io]
    from snippets.application.app_core import serving

    with serving(slow) as server:
        port = server.server_address[1]
        one = serially(fetch, [server] * 8)
        many = in_threads(fetch, [server] * 8, workers=8)
        loop = in_asyncio(port, count=8)
    print("same answers:", one.results == many.results == loop.results)
    #> same answers: True
    print("threads >= 3x faster:", one.wall / many.wall >= 3)
    #> threads >= 3x faster: True
    print("asyncio >= 3x faster:", one.wall / loop.wall >= 3)
    #> asyncio >= 3x faster: True
    best = 8 * DELAY / amdahl(1, 8)  # eight waits spread over eight threads
    print("no faster than Amdahl's bound:", many.wall >= best)
    #> no faster than Amdahl's bound: True
    print("waiting costs little CPU:", many.cores_busy < 0.5)
    #> waiting costs little CPU: True
    # --8<-- [end:demo_io]

    # --8<-- [start:demo_cpu]
    jobs = [1_000_000] * 8
    plain = serially(spin, jobs)
    threads = in_threads(spin, jobs, workers=8)
    procs = in_processes(spin, jobs, workers=cores())
    print("same answers:", plain.results == threads.results == procs.results)
    #> same answers: True
    ratios = [run.cpu / plain.cpu for run in (threads, procs)]
    print("same CPU seconds:", all(0.6 < ratio < 1.6 for ratio in ratios))
    #> same CPU seconds: True
    print("threads busy <= 1 core:", threads.cores_busy <= 1.1)
    #> threads busy <= 1 core: True
    print("processes busy <= cores:", procs.cores_busy <= cores() * 1.1)
    #> processes busy <= cores: True
    # --8<-- [end:demo_cpu]

    # --8<-- [start:demo_race]
    counter = Counter()
    hammer(counter.add, threads=4, times=200)
    print("updates lost:", counter.value < 800)
    #> updates lost: True
    counter = Counter()
    hammer(counter.add_locked, threads=4, times=200)
    print("with a lock:", counter.value)
    #> with a lock: 800
    # --8<-- [end:demo_race]

    # --8<-- [start:demo_async_race]
    print("asyncio, no lock:", asyncio.run(gather_adds(100, False)))
    #> asyncio, no lock: 1
    print("asyncio, a lock:", asyncio.run(gather_adds(100, True)))
    #> asyncio, a lock: 100
    # --8<-- [end:demo_async_race]
