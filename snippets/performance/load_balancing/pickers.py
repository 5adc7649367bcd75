"""Choosing a backend: round robin, weighted round robin, least connections,
and the best of d random choices, with balls into bins as the theory.

What it teaches: a picker answers one question, "which backend gets this
request?". Round robin takes turns and knows nothing about load. Weighted
round robin takes turns in proportion to weights, interleaved (nginx's smooth
algorithm). Least connections counts the requests each backend holds and
picks the emptiest. The best of d random choices samples d backends and picks
the emptier: it needs no global view, and balls into bins shows why two
choices are so much better than one. Throw n balls into n bins at random and
the fullest bin holds about ln n / ln ln n; let each ball pick the emptier of
d >= 2 random bins and it holds about ln ln n / ln d + O(1) (Azar, Broder,
Karlin and Upfal 1994; Mitzenmacher 1996). The simulation measures both.

Read first: the queueing page (`docs/performance/queueing.md`, "Little's law
and queueing").

What it leaves out: slow start for a new backend, weights that change at
run time, and pickers that use response times (peak EWMA) instead of counts.

Run it: `python -m snippets.performance.load_balancing.pickers`.
"""

from __future__ import annotations

# --8<-- [start:round_robin]
import itertools
import threading


class RoundRobin:
    """Each backend in turn, whatever it is doing."""

    def __init__(self, backends: list[str]) -> None:
        self.turns = itertools.cycle(backends)
        self.lock = threading.Lock()  # one turn per pick, across threads

    def pick(self) -> str:
        with self.lock:
            return next(self.turns)

    def done(self, backend: str) -> None:
        """Round robin does not care when a request ends."""


# --8<-- [end:round_robin]


# --8<-- [start:weighted]
class WeightedRoundRobin:
    """Turns in proportion to weights, spread out (nginx's smooth variant)."""

    def __init__(self, weights: dict[str, int]) -> None:
        self.weights = weights
        self.current = dict.fromkeys(weights, 0)  # credit; sums to 0
        self.lock = threading.Lock()  # guards current

    def pick(self) -> str:
        with self.lock:
            for backend, weight in self.weights.items():
                self.current[backend] += weight
            chosen = max(self.current, key=self.current.__getitem__)
            self.current[chosen] -= sum(self.weights.values())
            return chosen

    def done(self, backend: str) -> None:
        """Weighted round robin does not care when a request ends either."""


# --8<-- [end:weighted]


# --8<-- [start:least_connections]
class LeastConnections:
    """The backend with the fewest requests in flight; ties take turns."""

    def __init__(self, backends: list[str]) -> None:
        self.in_flight = dict.fromkeys(backends, 0)  # guarded by lock
        self.order = list(backends)
        self.lock = threading.Lock()

    def pick(self) -> str:
        with self.lock:
            chosen = min(self.order, key=self.in_flight.__getitem__)
            self.in_flight[chosen] += 1
            self.order.remove(chosen)  # among equals, it goes last
            self.order.append(chosen)
            return chosen

    def done(self, backend: str) -> None:
        with self.lock:
            self.in_flight[backend] -= 1


# --8<-- [end:least_connections]


# --8<-- [start:random_choices]
import random


class RandomChoices(LeastConnections):
    """The emptier of `d` backends drawn at random (d=2: power of two)."""

    def __init__(self, backends: list[str], d: int = 2, seed: int = 0) -> None:
        super().__init__(backends)
        self.d, self.draw = d, random.Random(seed)

    def pick(self) -> str:
        with self.lock:
            # With replacement, as in balls into bins: both may be the same.
            drawn = self.draw.choices(self.order, k=self.d)
            chosen = min(drawn, key=self.in_flight.__getitem__)
            self.in_flight[chosen] += 1
            return chosen


# --8<-- [end:random_choices]


# --8<-- [start:balls]
import math


def max_load(n: int, d: int, seed: int) -> int:
    """Throw n balls into n bins, each into the emptiest of d random bins;
    return how many balls the fullest bin holds."""
    draw, bins = random.Random(seed), [0] * n
    for _ in range(n):
        drawn = [draw.randrange(n) for _ in range(d)]
        bins[min(drawn, key=bins.__getitem__)] += 1
    return max(bins)


def max_load_formula(n: int, d: int) -> float:
    """The leading term: ln n / ln ln n for d = 1, ln ln n / ln d for d >= 2.
    Both are asymptotic: the first up to a factor 1 + o(1), the second up
    to an added constant."""
    if d == 1:
        return math.log(n) / math.log(math.log(n))
    return math.log(math.log(n)) / math.log(d)


# --8<-- [end:balls]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_turns]
    backends = ["a", "b", "c"]
    turns = RoundRobin(backends)
    print("".join(turns.pick() for _ in range(7)))
    #> abcabca
    weighted = WeightedRoundRobin({"a": 5, "b": 1, "c": 1})
    print("".join(weighted.pick() for _ in range(7)))
    #> aabacaa
    # --8<-- [end:demo_turns]

    # --8<-- [start:demo_least]
    least = LeastConnections(["a", "b", "c"])
    first, second, third = least.pick(), least.pick(), least.pick()
    least.done("b")  # b's request ends; a and c still hold one each
    print(first, second, third, least.pick(), least.in_flight)
    #> a b c b {'a': 1, 'b': 1, 'c': 1}
    # --8<-- [end:demo_least]

    # --8<-- [start:demo_balls]
    n = 100_000
    for d in (1, 2, 3):
        loads = [max_load(n, d, seed) for seed in range(3)]
        formula = max_load_formula(n, d)
        print(f"d={d}: fullest bin {loads}, leading term {formula:.2f}")
        #> d=1: fullest bin [8, 7, 8], leading term 4.71
        #> d=2: fullest bin [4, 4, 3], leading term 3.53
        #> d=3: fullest bin [3, 3, 3], leading term 2.22
    # --8<-- [end:demo_balls]
