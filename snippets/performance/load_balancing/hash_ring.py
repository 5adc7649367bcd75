"""Consistent hashing: send each key to the same node, and move few keys
when a node joins or leaves.

What it teaches: a cache or a shard must see the same key every time, so
the balancer hashes the key instead of taking turns. `hash(key) mod n` does
that until n changes: going from n to n + 1 nodes moves about n / (n + 1) of
the keys, nearly all of them. A hash ring (Karger et al., 1997) places nodes
at points on a circle and gives each key to the first node clockwise from
the key's own point; a new node takes keys only from its neighbours, about
1 / (n + 1) of them. With one point per node the arcs are uneven, so each
node gets many points (virtual nodes), which evens out the shares.

Read first: `pickers` in this package, whose section comes first on the
load balancing page (`docs/performance/load_balancing.md`).

What it leaves out: replication (the next k nodes on the ring), weights
(more virtual nodes for a bigger node), bounded loads (Mirrokni, Thorup and
Zadimoghaddam 2018), and jump hash and rendezvous hashing, which reach the
same goal without a ring.

Run it: `python -m snippets.performance.load_balancing.hash_ring`.
"""

from __future__ import annotations

# --8<-- [start:ring]
import bisect
import hashlib


def point(text: str) -> int:
    """A point on the ring: 64 bits of a hash that is the same on every
    machine (Python's own hash() of a str changes from run to run)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class HashRing:
    """Each node at `vnodes` points; a key goes to the next point clockwise."""

    def __init__(self, nodes: list[str], vnodes: int = 100) -> None:
        self.vnodes = vnodes
        self.points: list[int] = []  # sorted: the ring
        self.owner: dict[int, str] = {}  # point -> the node placed there
        for node in nodes:
            self.add(node)

    def add(self, node: str) -> None:
        for replica in range(self.vnodes):
            spot = point(f"{node}#{replica}")
            bisect.insort(self.points, spot)
            self.owner[spot] = node

    def node_for(self, key: str) -> str:
        after = bisect.bisect(self.points, point(key))
        return self.owner[self.points[after % len(self.points)]]


# --8<-- [end:ring]


# --8<-- [start:measure]
from collections import Counter
from collections.abc import Callable


def mod_n(nodes: list[str]) -> Callable[[str], str]:
    """The naive placement: the key's hash modulo the number of nodes."""
    return lambda key: nodes[point(key) % len(nodes)]


def moved(
    before: Callable[[str], str], after: Callable[[str], str], keys: list[str]
) -> float:
    """The fraction of keys whose node changed."""
    return sum(before(key) != after(key) for key in keys) / len(keys)


def imbalance(place: Callable[[str], str], keys: list[str]) -> float:
    """The busiest node's keys divided by the mean per node."""
    counts = Counter(map(place, keys))
    return max(counts.values()) / (len(keys) / len(counts))


# --8<-- [end:measure]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_moved]
    keys = [f"user:{number}" for number in range(50_000)]
    ten = [f"node{number}" for number in range(10)]
    ring = HashRing(ten)
    grown = HashRing([*ten, "node10"])
    ring_moved = moved(ring.node_for, grown.node_for, keys)
    modulo_moved = moved(mod_n(ten), mod_n([*ten, "node10"]), keys)
    print(f"ring: {ring_moved:.1%} moved, mod n: {modulo_moved:.1%} moved")
    #> ring: 9.5% moved, mod n: 91.0% moved
    print(f"1/11 = {1 / 11:.1%}, 10/11 = {10 / 11:.1%}")
    #> 1/11 = 9.1%, 10/11 = 90.9%
    # --8<-- [end:demo_moved]

    # --8<-- [start:demo_vnodes]
    for vnodes in (1, 10, 100, 1000):
        spread = imbalance(HashRing(ten, vnodes).node_for, keys)
        print(f"{vnodes:4} points per node: busiest has {spread:.2f} x mean")
        #>    1 points per node: busiest has 2.30 x mean
        #>   10 points per node: busiest has 1.17 x mean
        #>  100 points per node: busiest has 1.14 x mean
        #> 1000 points per node: busiest has 1.07 x mean
    # --8<-- [end:demo_vnodes]
