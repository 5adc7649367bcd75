"""Little's law and queueing: how many requests are inside a system, and why
response time grows without bound as utilisation nears one.

What it teaches: Little's law, L = λW, says that the average number of
requests in a system equals their arrival rate times the average time each
spends inside; it needs no assumption about arrivals or service, so it sizes
pools and queues from two things a dashboard shows. A single server that
receives random arrivals (a Poisson process) and serves each in a random,
exponentially distributed time is the M/M/1 queue, whose mean response time is
1 / (μ − λ): at half load a request takes twice its service time, at 90% ten
times. The simulation here computes each customer's wait from the one before
(Lindley's recursion), and a real loopback server confirms Little's law by
sampling how many requests it holds.

Read first: the latency page (`docs/performance/latency.md`, "Latency,
throughput and percentiles") and the load shedding page
(`docs/reliability/load_shedding.md`, "Load shedding and backpressure"), which
met the same curve from the other side. This module builds on
`snippets.application.app_core` for the server.

What it leaves out: several servers (M/M/c, Erlang's formulas), service times
that are not exponential (the Pollaczek-Khinchine formula for M/G/1), and
networks of queues.

Run it: `python -m snippets.performance.queueing`.
"""

from __future__ import annotations

# --8<-- [start:server]
import random
import threading
import time

from snippets.application.app_core import Request, Response, text


class Counted:
    """A handler that holds one of `workers` for an exponential service time,
    and counts the requests inside it (waiting or working)."""

    def __init__(self, workers: int, mean_service: float, seed: int) -> None:
        self.pool = threading.BoundedSemaphore(workers)
        self.draw, self.mean = random.Random(seed), mean_service
        self.lock = threading.Lock()
        self.inside = 0  # requests between entry and exit; guarded by lock
        self.times: list[float] = []  # each request's time inside

    def __call__(self, request: Request) -> Response:
        start = time.monotonic()
        with self.lock:
            self.inside += 1
            service = self.draw.expovariate(1 / self.mean)
        try:
            with self.pool:  # wait for a worker: part of the time inside
                time.sleep(service)
            return text("done\n")
        finally:
            with self.lock:
                self.inside -= 1
                self.times.append(time.monotonic() - start)


# --8<-- [end:server]


# --8<-- [start:little]
from dataclasses import dataclass

from snippets.application.app_core import call, serving


@dataclass(frozen=True)
class Little:
    arrival_rate: float  # λ: requests that arrived, per second
    mean_time: float  # W: mean seconds inside the server
    mean_inside: float  # L: the sampled count, averaged


def measure_little(
    rate: float, duration: float, handler: Counted, seed: int
) -> Little:
    """Send Poisson arrivals at `rate` for `duration` s; sample the count
    inside every millisecond or so."""
    draw, samples, clients = random.Random(seed), [], []
    with serving(handler) as server:
        start = time.monotonic()
        next_arrival = start + draw.expovariate(rate)
        while (now := time.monotonic()) < start + duration:
            if now >= next_arrival:  # open loop: arrivals do not wait
                client = threading.Thread(
                    target=call, args=(server, "GET", "/")
                )
                client.start()
                clients.append(client)
                next_arrival += draw.expovariate(rate)
            with handler.lock:
                samples.append(handler.inside)
            time.sleep(0.001)
        for client in clients:
            client.join(timeout=10)
    # Only requests that arrived in the window; each was answered before join.
    arrivals = len(handler.times)
    return Little(
        arrival_rate=arrivals / duration,
        mean_time=sum(handler.times) / arrivals,
        mean_inside=sum(samples) / len(samples),
    )


# --8<-- [end:little]


# --8<-- [start:formula]
def mm1_formula(arrival_rate: float, service_rate: float) -> float:
    """The M/M/1 mean time in system, 1 / (μ − λ), for λ < μ."""
    if arrival_rate >= service_rate:
        raise ValueError("at or past capacity the queue grows without bound")
    return 1 / (service_rate - arrival_rate)


# --8<-- [end:formula]


# --8<-- [start:simulation]
def mm1_response(
    arrival_rate: float, service_rate: float, customers: int, seed: int
) -> float:
    """The mean time in system of `customers` through one FIFO server, with
    Poisson arrivals and exponential service times."""
    draw = random.Random(seed)
    wait = total = 0.0  # wait: the current customer's time in the queue
    service = draw.expovariate(service_rate)
    for _ in range(customers):
        total += wait + service
        gap = draw.expovariate(arrival_rate)  # until the next arrival
        # Lindley: the next one waits for what is left of this one's time.
        wait = max(0.0, wait + service - gap)
        service = draw.expovariate(service_rate)
    return total / customers


# --8<-- [end:simulation]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_curve]
    service_rate = 100.0  # one server, 10 ms per request on average
    for load in (0.5, 0.8, 0.9):
        rate = load * service_rate
        simulated = mm1_response(rate, service_rate, 200_000, seed=1) * 1000
        formula = mm1_formula(rate, service_rate) * 1000
        print(f"load {load:.0%}: {simulated:5.1f} ms, formula {formula:5.1f}")
        #> load 50%:  19.9 ms, formula  20.0
        #> load 80%:  49.5 ms, formula  50.0
        #> load 90%:  95.8 ms, formula 100.0
    # --8<-- [end:demo_curve]

    # --8<-- [start:demo_stick]
    for load in (0.1, 0.5, 0.8, 0.9, 0.95, 0.99):
        times = mm1_formula(load, 1.0)  # in units of the service time
        print(f"{load:4.0%} busy: {times:5.1f} x the service time")
        #>  10% busy:   1.1 x the service time
        #>  50% busy:   2.0 x the service time
        #>  80% busy:   5.0 x the service time
        #>  90% busy:  10.0 x the service time
        #>  95% busy:  20.0 x the service time
        #>  99% busy: 100.0 x the service time
    # --8<-- [end:demo_stick]

    # --8<-- [start:demo_little]
    handler = Counted(workers=4, mean_service=0.02, seed=2)
    result = measure_little(rate=100, duration=2.0, handler=handler, seed=3)
    product = result.arrival_rate * result.mean_time  # λW
    print("L within 20% of λW:", abs(result.mean_inside / product - 1) < 0.2)
    #> L within 20% of λW: True
    # --8<-- [end:demo_little]
