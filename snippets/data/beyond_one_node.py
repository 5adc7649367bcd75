"""Beyond one node: replication lag, partitioning, consistent hashing, CAP in
miniature.

Read first: the transactions page (what a commit is) and the caching page (a
copy that can be stale). This module simulates, in one process, a leader and a
follower as two real SQLite databases joined by a replication log that the
caller applies when it chooses, so lag is under your control; shows the
read-your-writes anomaly and two fixes; compares hash and range partitioning;
builds a consistent-hash ring with virtual nodes (hashlib and bisect) and
measures how many keys move when a node joins; and shows the choice CAP forces
during a partition, and the latency PACELC adds when there is none.

What it leaves out: real networks and clocks, leader election and failover,
quorums, conflict resolution for multi-leader writes, rebalancing data after the
ring changes, and replication of anything but deterministic SQL statements.

Run it: `python -m snippets.data.beyond_one_node`.
"""

# --8<-- [start:replication]
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogEntry:
    """One committed write: its position in the log (LSN) and the statement."""

    lsn: int
    sql: str
    params: tuple[Any, ...]


class Leader:
    """Takes every write, commits it, and appends it to the replication log."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.log: list[LogEntry] = []  # entry i has lsn i + 1

    @property
    def position(self) -> int:
        """The LSN of the last committed write (0 before any)."""
        return len(self.log)

    def write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Commit one statement, log it, and return its LSN."""
        with self.conn:  # one transaction: committed when the block ends
            self.conn.execute(sql, params)
        self.log.append(LogEntry(self.position + 1, sql, params))
        return self.position

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run a query on the leader's own data."""
        return self.conn.execute(sql, params).fetchall()


# --8<-- [end:replication]


# --8<-- [start:follower]
class Partitioned(Exception):
    """The network between the follower and the leader drops every message."""


class ReplicaLagTimeout(Exception):
    """The follower did not reach the wanted log position in time."""


class Follower:
    """Applies the leader's log in order, only when `replicate` is called.

    Args:
        conn: the follower's own database.
        leader: where the log comes from.
    """

    def __init__(self, conn: sqlite3.Connection, leader: Leader) -> None:
        self.conn, self.leader = conn, leader
        self.position = 0  # LSN of the last applied entry; guarded by _applied
        self.partitioned = False  # True: no message reaches the leader
        self.round_trips = 0  # messages exchanged with the leader for reads
        self._applied = threading.Condition()

    def replicate(self, max_entries: int | None = None) -> int:
        """Fetch and apply up to `max_entries` new log entries; return how
        many."""
        if self.partitioned:
            return 0  # the log cannot reach us
        end = None if max_entries is None else self.position + max_entries
        entries = self.leader.log[self.position : end]
        for entry in entries:
            with self.conn:
                self.conn.execute(entry.sql, entry.params)
            with self._applied:
                self.position = entry.lsn
                self._applied.notify_all()
        return len(entries)

    def wait_for(self, lsn: int, timeout: float) -> None:
        """Block until this follower has applied `lsn`.

        Raises:
            ReplicaLagTimeout: it had not after `timeout` seconds.
        """
        with self._applied:
            if not self._applied.wait_for(
                lambda: self.position >= lsn, timeout
            ):
                raise ReplicaLagTimeout(f"at {self.position}, wanted {lsn}")

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run a query on the follower's data, however far behind it is."""
        return self.conn.execute(sql, params).fetchall()


# --8<-- [end:follower]


# --8<-- [start:session]
class Session:
    """One user's connection to a leader and a follower; remembers its last
    write."""

    def __init__(self, leader: Leader, follower: Follower) -> None:
        self.leader, self.follower = leader, follower
        self.last_write = 0  # LSN of this session's latest write

    def write(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Writes always go to the leader."""
        self.last_write = self.leader.write(sql, params)

    def read_nearest(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Always the follower: cheap, and possibly older than our own write."""
        return self.follower.read(sql, params)

    def read_your_writes(
        self, sql: str, params: tuple[Any, ...] = ()
    ) -> list[Any]:
        """The follower if it has applied our last write, else the leader."""
        if self.follower.position >= self.last_write:
            return self.follower.read(sql, params)
        return self.leader.read(sql, params)

    def read_after_catch_up(
        self, sql: str, params: tuple[Any, ...] = (), timeout: float = 1.0
    ) -> list[Any]:
        """Wait until the follower has our last write, then read there."""
        self.follower.wait_for(self.last_write, timeout)
        return self.follower.read(sql, params)


# --8<-- [end:session]


# --8<-- [start:cap]
def consistent_read(
    follower: Follower, sql: str, params: tuple[Any, ...] = ()
) -> list[Any]:
    """A linearizable read on a follower: ask the leader how far the log goes,
    catch up to that point, then read. Costs a round trip even when nothing is
    wrong.

    Raises:
        Partitioned: the leader cannot be reached, so no answer can be trusted.
    """
    if follower.partitioned:
        raise Partitioned("cannot reach the leader to confirm the latest write")
    follower.round_trips += 1
    target = follower.leader.position
    follower.replicate(target - follower.position)
    return follower.read(sql, params)


# --8<-- [end:cap]


# --8<-- [start:partitioning]
import bisect
import hashlib
from collections import Counter


def stable_hash(key: str) -> int:
    """64 bits of SHA-256: the same on every machine and in every run.

    Python's own `hash()` of a str changes between processes (PYTHONHASHSEED),
    so two servers would disagree about where a key lives.
    """
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def hash_partition(key: str, partitions: int) -> int:
    """The partition of `key` among `partitions`: hash, then modulo."""
    return stable_hash(key) % partitions


def range_partition(key: str, boundaries: list[str]) -> int:
    """Partition i holds the keys in [boundaries[i - 1], boundaries[i]).

    Args:
        key: the key to place.
        boundaries: the sorted split points; n boundaries make n + 1 partitions.
    """
    return bisect.bisect_right(boundaries, key)


# --8<-- [end:partitioning]


# --8<-- [start:ring]
class HashRing:
    """Consistent hashing: each node owns the arcs of the ring that end at its
    points.

    Args:
        nodes: the initial node names.
        vnodes: how many points (virtual nodes) each node puts on the ring.
    """

    def __init__(
        self, nodes: list[str] | None = None, vnodes: int = 100
    ) -> None:
        self.vnodes = vnodes
        self._points: list[int] = []  # sorted positions on a ring of 2**64
        self._owner: dict[int, str] = {}  # position -> node
        for node in nodes or []:
            self.add(node)

    @property
    def nodes(self) -> set[str]:
        """The nodes on the ring."""
        return set(self._owner.values())

    def add(self, node: str) -> None:
        """Put `vnodes` points for `node` on the ring."""
        points = [stable_hash(f"{node}#{i}") for i in range(self.vnodes)]
        if node in self.nodes or any(p in self._owner for p in points):
            raise ValueError(f"{node!r} is already on the ring")
        for point in points:
            bisect.insort(self._points, point)
            self._owner[point] = node

    def remove(self, node: str) -> None:
        """Take every point of `node` off the ring."""
        self._owner = {p: n for p, n in self._owner.items() if n != node}
        self._points = sorted(self._owner)

    def node_for(self, key: str) -> str:
        """The owner of the first point at or after the key's hash, wrapping
        around."""
        if not self._points:
            raise LookupError("the ring has no nodes")
        i = bisect.bisect_left(self._points, stable_hash(key))
        return self._owner[self._points[i % len(self._points)]]


# --8<-- [end:ring]


# --8<-- [start:movement]
from collections.abc import Callable, Iterable


def moved_share(
    keys: list[str],
    before: Callable[[str], object],
    after: Callable[[str], object],
) -> float:
    """The fraction of `keys` whose placement differs between two layouts."""
    return sum(before(key) != after(key) for key in keys) / len(keys)


def load_spread(owners: Iterable[object]) -> float:
    """Most loaded node's key count over the mean: 1.0 is perfectly even."""
    counts = Counter(owners)
    return max(counts.values()) / (sum(counts.values()) / len(counts))


# --8<-- [end:movement]


# The demo's printed lines are checked on the page as `#>` comments, which a
# formatter would rewrite as `# >`: keep it out of the formatter's reach.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_lag]
    import contextlib

    # closes both databases at the end of the demo
    stack = contextlib.ExitStack()
    leader_db = stack.enter_context(
        contextlib.closing(sqlite3.connect(":memory:"))
    )
    # replicated by a thread of its own below
    follower_db = stack.enter_context(
        contextlib.closing(sqlite3.connect(":memory:", check_same_thread=False))
    )
    leader = Leader(leader_db)
    follower = Follower(follower_db, leader)
    leader.write("CREATE TABLE profiles (user TEXT PRIMARY KEY, bio TEXT)")
    leader.write("INSERT INTO profiles VALUES (?, ?)", ("ada", "mathematician"))
    follower.replicate()  # caught up: position 2 of 2

    me = Session(leader, follower)
    me.write(
        "UPDATE profiles SET bio = ? WHERE user = ?",
        ("first programmer", "ada"),
    )
    query = "SELECT bio FROM profiles WHERE user = 'ada'"
    print(f"lag: {leader.position - follower.position} entry")
    #> lag: 1 entry
    print(me.read_nearest(query))  # stale: my own write is missing
    #> [('mathematician',)]
    print(me.read_your_writes(query))  # the follower is behind: read the leader
    #> [('first programmer',)]

    applier = threading.Thread(target=follower.replicate)
    applier.start()  # the log arrives while we wait for our position
    print(me.read_after_catch_up(query, timeout=5))
    #> [('first programmer',)]
    applier.join(timeout=5)
    # --8<-- [end:demo_lag]

    # --8<-- [start:demo_cap]
    me.write("UPDATE profiles SET bio = ? WHERE user = ?", ("Countess", "ada"))
    print(consistent_read(follower, query), follower.round_trips)
    #> [('Countess',)] 1
    follower.partitioned = True  # the network between them fails
    me.write("UPDATE profiles SET bio = ? WHERE user = ?", ("Lovelace", "ada"))
    print(follower.read(query))  # available, not consistent (AP)
    #> [('Countess',)]
    try:
        consistent_read(follower, query)  # consistent, not available (CP)
    except Partitioned as exc:
        print(f"Partitioned: {exc}")
        #> Partitioned: cannot reach the leader to confirm the latest write
    stack.close()
    # --8<-- [end:demo_cap]

    # --8<-- [start:demo_partitioning]
    recent = [
        f"2024-12-{day:02d}/order-{n}"
        for day in range(1, 32)
        for n in range(40)
    ]
    boundaries = ["2024-04", "2024-07", "2024-10"]  # four partitions by quarter
    by_range = Counter(range_partition(key, boundaries) for key in recent)
    by_hash = Counter(hash_partition(key, 4) for key in recent)
    print([by_range[p] for p in range(4)], [by_hash[p] for p in range(4)])
    #> [0, 0, 0, 1240] [326, 321, 322, 271]
    first_week = [key for key in recent if key < "2024-12-08"]
    range_scan = {range_partition(key, boundaries) for key in first_week}
    hash_scan = {hash_partition(key, 4) for key in first_week}
    print(f"a week of orders: {len(range_scan)} vs {len(hash_scan)} partitions")
    #> a week of orders: 1 vs 4 partitions
    # --8<-- [end:demo_partitioning]

    # --8<-- [start:demo_ring]
    keys = [f"user:{i}" for i in range(10_000)]
    five = [f"node{i}" for i in range(5)]
    ring = HashRing(five, vnodes=100)
    before = {key: ring.node_for(key) for key in keys}
    ring.add("node5")
    share = moved_share(keys, before.get, ring.node_for)
    print(f"ring: {share:.3f} of keys moved (1/6 = {1 / 6:.3f})")
    #> ring: 0.153 of keys moved (1/6 = 0.167)
    moved_to = {
        ring.node_for(key) for key in keys if before[key] != ring.node_for(key)
    }
    print(moved_to)
    #> {'node5'}
    modulo = moved_share(
        keys, lambda k: hash_partition(k, 5), lambda k: hash_partition(k, 6)
    )
    print(f"modulo: {modulo:.3f} of keys moved")
    #> modulo: 0.837 of keys moved
    for vnodes in (1, 10, 100):
        sized = HashRing(five, vnodes)
        spread = load_spread(sized.node_for(key) for key in keys)
        print(f"vnodes={vnodes}: busiest node has {spread:.2f}x the mean")
        #> vnodes=1: busiest node has 2.17x the mean
        #> vnodes=10: busiest node has 1.33x the mean
        #> vnodes=100: busiest node has 1.11x the mean
    # --8<-- [end:demo_ring]
# fmt: on
