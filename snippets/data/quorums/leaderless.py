"""Leaderless replication with quorums, simulated: N replicas, writes that
need W acknowledgements, reads that wait for R replies, and failure schedules
(nodes down, a network partition, lost messages) played on a logical clock
with seeded randomness, so every run replays exactly.

What it teaches: with R + W > N every read quorum overlaps the replicas that
acknowledged a write, so a read returns that write or a newer one; with
R + W <= N it can miss it. And where stale data still gets through: a failed
write that some replicas kept, a sloppy quorum before hinted handoff, and a
last-write-wins version taken from a skewed clock. Read repair writes the
newest version back to the replicas that answered with an older one.

Read first: the beyond-one-node page (`docs/data/beyond_one_node.md`, "Beyond
one node"). This module builds on `snippets.data.beyond_one_node` for
`stable_hash`, which ranks the nodes for each key (rendezvous hashing).

What it leaves out: timeouts (a reply arrives or is lost), concurrent writes
with vector clocks and siblings, anti-entropy with Merkle trees, and replicas
that lose their disk.

Run it: `python -m snippets.data.quorums.leaderless`.
"""

# --8<-- [start:replica]
import random
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Versioned:
    """A value and its version: the higher version is the newer value."""

    version: int
    value: str | None = None


MISSING = Versioned(0)  # what a replica holds for a key it never stored


@dataclass
class Replica:
    """One node's copy of the data, and the writes it keeps for others."""

    name: str
    data: dict[str, Versioned] = field(default_factory=dict)
    hints: dict[tuple[str, str], Versioned] = field(default_factory=dict)

    def get(self, key: str) -> Versioned:
        """The version this node holds for `key`."""
        return self.data.get(key, MISSING)

    def put(self, key: str, item: Versioned) -> None:
        """Keep the newer of the stored and the incoming version."""
        if item > self.get(key):
            self.data[key] = item


# --8<-- [end:replica]


# --8<-- [start:network]
class Network:
    """Which messages arrive: nodes can be down, cut off by a partition, or
    lose a message at random (seeded, so a run replays exactly)."""

    def __init__(self, seed: int = 0, loss: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.loss = loss  # chance that one request or its reply is lost
        self.down: set[str] = set()
        self.side: dict[str, int] = {}  # partition side; absent means 0

    def reachable(self, src: str, dst: str) -> bool:
        """Both nodes are up and on the same side of any partition."""
        up = src not in self.down and dst not in self.down
        return up and self.side.get(src, 0) == self.side.get(dst, 0)

    def delivers(self, src: str, dst: str) -> bool:
        """One request from `src` to `dst` and its reply both arrive."""
        if not self.reachable(src, dst):
            return False
        return src == dst or self.rng.random() >= self.loss


# --8<-- [end:network]


# --8<-- [start:cluster]
from snippets.data.beyond_one_node import stable_hash


class Cluster:
    """Leaderless replication: any node coordinates; a write must reach W of
    the key's N replicas, a read waits for R replies."""

    def __init__(
        self,
        names: list[str],
        n: int,
        r: int,
        w: int,
        *,
        net: Network | None = None,
        sloppy: bool = False,
        read_repair: bool = False,
    ) -> None:
        self.replicas = {name: Replica(name) for name in names}
        self.n, self.r, self.w = n, r, w
        self.net = net or Network()
        self.sloppy, self.read_repair = sloppy, read_repair
        self.clock = 0  # logical clock: each write takes the next tick
        self.skew: dict[str, int] = {}  # a coordinator's clock error

    def preference(self, key: str) -> list[str]:
        """Every node, ranked for `key`; the first N are its home."""
        return sorted(self.replicas, key=lambda n: stable_hash(f"{key}@{n}"))

    def targets(self, key: str, via: str) -> list[str]:
        """Strict: the N home nodes. Sloppy: the first N reachable."""
        ranked = self.preference(key)
        if self.sloppy:
            ranked = [n for n in ranked if self.net.reachable(via, n)]
        return ranked[: self.n]


# --8<-- [end:cluster]


# --8<-- [start:write]
def write(cluster: Cluster, key: str, value: str, via: str) -> Versioned | None:
    """Send a write to the key's targets from coordinator `via`.

    Returns:
        the stored version if W targets acknowledged it, else None. A failed
        write is not undone: the targets it reached keep it.
    """
    cluster.clock += 1
    item = Versioned(cluster.clock + cluster.skew.get(via, 0), value)
    home = cluster.preference(key)[: cluster.n]
    targets = cluster.targets(key, via)
    stand_in_for = dict(  # sloppy: a node outside home holds a hint
        zip(
            [t for t in targets if t not in home],
            [h for h in home if h not in targets],
            strict=False,
        )  # fewer than N reachable: fewer stand-ins
    )
    acks = 0
    for node in targets:
        if not cluster.net.delivers(via, node):
            continue  # down, cut off, or the message was lost
        if node in home:
            cluster.replicas[node].put(key, item)
        else:
            hints = cluster.replicas[node].hints
            hint = (stand_in_for[node], key)
            hints[hint] = max(item, hints.get(hint, MISSING))
        acks += 1
    return item if acks >= cluster.w else None


# --8<-- [end:write]


# --8<-- [start:read]
def read(cluster: Cluster, key: str, via: str) -> Versioned | None:
    """The newest of the first R replies, or None if fewer than R arrive.

    With read repair, the coordinator writes that newest version back to the
    replies that were older.
    """
    targets = cluster.targets(key, via)
    cluster.net.rng.shuffle(targets)  # replies arrive in no fixed order
    replies = {
        node: cluster.replicas[node].get(key)
        for node in targets
        if cluster.net.delivers(via, node)
    }
    if len(replies) < cluster.r:
        return None
    first = list(replies.items())[: cluster.r]
    newest = max(item for _, item in first)
    if cluster.read_repair:
        for node, item in first:
            if item < newest and cluster.net.delivers(via, node):
                cluster.replicas[node].put(key, newest)
    return newest


def hand_off(cluster: Cluster) -> int:
    """Deliver every hint whose home node is reachable again; count them."""
    delivered = 0
    for holder in cluster.replicas.values():
        for (home, key), item in list(holder.hints.items()):
            if cluster.net.delivers(holder.name, home):
                cluster.replicas[home].put(key, item)
                del holder.hints[home, key]
                delivered += 1
    return delivered


# --8<-- [end:read]


# --8<-- [start:schedule]
Step = tuple[str, ...]  # ("write"|"read", key, via), ("down"|"up", node),
# ("cut", node, ...) puts those nodes on side 1, ("heal",), ("handoff",)


def run(cluster: Cluster, schedule: list[Step]) -> list[tuple]:
    """Play a schedule; return (kind, key, version or None) per operation."""
    history: list[tuple] = []
    net = cluster.net
    for kind, *args in schedule:
        if kind in ("write", "read"):
            key, via = args
            if kind == "write":
                item = write(cluster, key, f"v{cluster.clock + 1}", via)
            else:
                item = read(cluster, key, via)
            history.append((kind, key, item and item.version))
        elif kind == "down":
            net.down.add(args[0])
        elif kind == "up":
            net.down.discard(args[0])
        elif kind == "cut":
            net.side = dict.fromkeys(args, 1)
        elif kind == "heal":
            net.side = {}
        elif kind == "handoff":
            hand_off(cluster)
        else:
            raise ValueError(f"unknown step {kind!r} in {args}")
    return history


def stale_reads(history: list[tuple]) -> list[int]:
    """Positions of reads older than a write acknowledged before them."""
    acked: dict[str, int] = {}  # key -> newest acknowledged version
    stale = []
    for i, (kind, key, version) in enumerate(history):
        if version is None:
            continue  # a failed operation promises nothing
        if kind == "write":
            acked[key] = max(acked.get(key, 0), version)
        elif version < acked.get(key, 0):
            stale.append(i)
    return stale


def backward_reads(history: list[tuple]) -> list[int]:
    """Positions of reads older than an earlier read of the same key."""
    seen: dict[str, int] = {}  # key -> newest version a read returned
    backward = []
    for i, (kind, key, version) in enumerate(history):
        if kind == "read" and version is not None:
            if version < seen.get(key, 0):
                backward.append(i)
            seen[key] = max(seen.get(key, 0), version)
    return backward


# --8<-- [end:schedule]


# --8<-- [start:random_schedule]
def random_schedule(
    rng: random.Random, nodes: list[str], keys: list[str], length: int
) -> list[Step]:
    """A mix of reads and writes with nodes failing and partitions forming."""
    steps: list[Step] = []
    for _ in range(length):
        roll, node = rng.random(), rng.choice(nodes)
        if roll < 0.35:
            steps.append(("write", rng.choice(keys), node))
        elif roll < 0.7:
            steps.append(("read", rng.choice(keys), node))
        elif roll < 0.8:
            steps.append((rng.choice(["down", "up"]), node))
        elif roll < 0.9:
            steps.append(("cut", *rng.sample(nodes, rng.randint(1, 2))))
        else:
            steps.append(("heal",))
    return steps


def trial(n: int, r: int, w: int, runs: int, seed: int = 1) -> dict[str, int]:
    """Play `runs` random schedules on 5 nodes with 10% message loss."""
    rng = random.Random(seed)
    nodes = ["a", "b", "c", "d", "e"]
    totals = {"acked": 0, "failed writes": 0, "reads": 0, "stale": 0}
    for run_id in range(runs):
        cluster = Cluster(nodes, n, r, w, net=Network(run_id, loss=0.1))
        history = run(cluster, random_schedule(rng, nodes, ["k1", "k2"], 40))
        for kind, _, version in history:
            if kind == "write":
                totals["acked" if version else "failed writes"] += 1
            elif version is not None:
                totals["reads"] += 1
        totals["stale"] += len(stale_reads(history))
    return totals


# --8<-- [end:random_schedule]


# The demo's printed lines are checked on the page as `#>` comments, which a
# formatter would rewrite as `# >`: keep it out of the formatter's reach.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_overlap]
    nodes = ["a", "b", "c"]
    schedule = [
        ("down", "c"),
        ("write", "cart", "a"),  # reaches a and b
        ("up", "c"), ("down", "a"), ("down", "b"),
        ("read", "cart", "c"),  # only c answers, and c missed it
    ]
    for r, w in [(2, 2), (1, 2)]:
        cluster = Cluster(nodes, n=3, r=r, w=w, net=Network(seed=0))
        history = run(cluster, schedule)
        print(f"R={r} W={w}: {history}, stale: {stale_reads(history)}")
        #> R=2 W=2: [('write', 'cart', 1), ('read', 'cart', None)], stale: []
        #> R=1 W=2: [('write', 'cart', 1), ('read', 'cart', 0)], stale: [1]
    # --8<-- [end:demo_overlap]

    # --8<-- [start:demo_trial]
    rows = ["N R W   acked  failed  reads  stale"]
    for n, r, w in [(3, 2, 2), (3, 1, 3), (3, 3, 1), (5, 3, 3),
                    (3, 1, 2), (3, 1, 1), (5, 2, 3)]:
        t = trial(n, r, w, runs=200)
        rows.append(f"{n} {r} {w}  {t['acked']:6} {t['failed writes']:7}"
                    f" {t['reads']:6} {t['stale']:6}")
    print("\n".join(rows))
    """
    N R W   acked  failed  reads  stale
    3 2 2    1790    1048   1741      0
    3 1 3     845    1993   2206      0
    3 3 1    2272     566    873      0
    5 3 3    1856     982   1784      0
    3 1 2    1790    1048   2206    173
    3 1 1    2272     566   2206    325
    5 2 3    1856     982   2144     25
    """
    # --8<-- [end:demo_trial]

    # --8<-- [start:demo_repair]
    schedule = [
        ("down", "b"), ("down", "c"),
        ("write", "cart", "a"),  # fails: only a stores it
        ("up", "b"),
        ("read", "cart", "b"),  # a and b answer: the failed write shows
        ("up", "c"), ("down", "a"),
        ("read", "cart", "c"),  # b and c answer
    ]
    for repair in (False, True):
        cluster = Cluster(nodes, 3, 2, 2, read_repair=repair)
        history = run(cluster, schedule)
        versions = [v for _, _, v in history]
        print(f"repair={repair}: {versions}, backward: {backward_reads(history)}")
        #> repair=False: [None, 1, 0], backward: [2]
        #> repair=True: [None, 1, 1], backward: []
    # --8<-- [end:demo_repair]

    # --8<-- [start:demo_sloppy]
    five = ["a", "b", "c", "d", "e"]
    ranked = Cluster(five, 3, 2, 2).preference("cart")
    home, spare = ranked[:3], ranked[3:]
    print(f"home: {home}, next in line: {spare}")
    #> home: ['c', 'b', 'd'], next in line: ['e', 'a']
    schedule = [
        ("down", home[1]), ("down", home[2]),
        ("write", "cart", home[0]),
        ("up", home[1]), ("up", home[2]),
        ("down", home[0]), *[("down", node) for node in spare],
        ("read", "cart", home[1]),  # only the two home nodes answer
        *[("up", node) for node in spare], ("handoff",),
        ("read", "cart", home[1]),
    ]
    for sloppy in (False, True):
        cluster = Cluster(five, 3, 2, 2, sloppy=sloppy)
        history = run(cluster, schedule)
        versions = [v for _, _, v in history]
        print(f"sloppy={sloppy}: {versions}, stale: {stale_reads(history)}")
        #> sloppy=False: [None, 0, 0], stale: []
        #> sloppy=True: [1, 0, 1], stale: [1]
    # --8<-- [end:demo_sloppy]

    # --8<-- [start:demo_lww]
    cluster = Cluster(nodes, 3, 2, 2)
    cluster.skew["c"] = -5  # c's clock runs 5 ticks behind
    first = write(cluster, "bio", "first", via="a")
    second = write(cluster, "bio", "second", via="c")  # later, and acked
    print(first)
    #> Versioned(version=1, value='first')
    print(second)
    #> Versioned(version=-3, value='second')
    print(read(cluster, "bio", via="b"))
    #> Versioned(version=1, value='first')
    # --8<-- [end:demo_lww]

# fmt: on
