"""A leader's lease and fencing tokens, simulated on a logical clock.

What it teaches: a lock service grants a lease (a lock that expires) and, with
each grant, a fencing token one higher than the last. A leader that stalls (a
GC pause, a partition) past its lease still believes it leads and writes; a
storage node that remembers the highest token it has seen refuses the stale
one. Without the check, the late write overwrites a newer leader's work: a
lost update.

Read first: the beyond-one-node page (`docs/data/beyond_one_node.md`, "Beyond
one node"), on leaders, followers and failover.

What it leaves out: how the lock service itself stays consistent (it would be a
Raft or Paxos group, such as etcd or ZooKeeper), renewing a lease, clients
that retry after a refusal, and real clocks.

Run it: `python -m snippets.data.quorums.fencing`.
"""

# --8<-- [start:lease]
import heapq
from dataclasses import dataclass


class LockService:
    """Grants one lock as a lease of `ttl` ticks. Every grant carries a
    fencing token one higher than the last (Raft calls it a term)."""

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.holder: str | None = None
        self.expires = 0  # the lease is valid while now < expires
        self.token = 0  # the last token granted; it only grows

    def acquire(self, client: str, now: int) -> int | None:
        """A new lease and token, or None while another lease is valid."""
        if self.holder not in (None, client) and now < self.expires:
            return None
        self.holder, self.expires = client, now + self.ttl
        self.token += 1
        return self.token


class StaleToken(Exception):
    """A request carried a token lower than one the storage has seen."""


class Storage:
    """A counter that checks fencing tokens on every read and write (or,
    with `fencing=False`, trusts whoever calls it)."""

    def __init__(self, fencing: bool = True, fence_reads: bool = True) -> None:
        self.fencing, self.fence_reads = fencing, fence_reads
        self.value = 0
        self.highest = 0  # the highest token seen so far; it only grows
        self.accepted: list[int] = []  # the token of each accepted write

    def check(self, token: int) -> None:
        """Refuse a token older than one already seen; remember the newest."""
        if self.fencing and token < self.highest:
            raise StaleToken(f"token {token} < {self.highest}")
        self.highest = max(self.highest, token)

    def read(self, token: int) -> int:
        """The counter; a read shows the storage a token too."""
        if self.fence_reads:
            self.check(token)
        return self.value

    def write(self, token: int, value: int) -> None:
        """Set the counter, if the token is not stale."""
        self.check(token)
        self.value = value
        self.accepted.append(token)


# --8<-- [end:lease]


# --8<-- [start:leader]
@dataclass(frozen=True)
class Job:
    """A client takes the lease at `start`, reads the counter, stalls for
    `pause` ticks (a GC pause, a partition), then writes the counter + 1."""

    client: str
    start: int
    pause: int


def simulate(jobs: list[Job], ttl: int, storage: Storage) -> Storage:
    """Play the jobs on a logical clock; return the storage afterwards."""
    lock = LockService(ttl)
    events = [(job.start, i, job, 0, 0) for i, job in enumerate(jobs)]
    heapq.heapify(events)  # (time, tie-break, job, token, value read)
    while events:
        now, i, job, token, seen = heapq.heappop(events)
        try:
            if token == 0:  # begin: lease, then read
                token = lock.acquire(job.client, now) or 0
                if token:
                    seen = storage.read(token)
                    later = (now + job.pause, i, job, token, seen)
                    heapq.heappush(events, later)
            else:  # end: write what was read, plus one
                storage.write(token, seen + 1)
        except StaleToken:
            pass  # refused: the client learns it is no longer the leader
    return storage


# --8<-- [end:leader]


# The demo's printed lines are checked on the page as `#>` comments, which a
# formatter would rewrite as `# >`: keep it out of the formatter's reach.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_fencing]
    jobs = [Job("A", start=0, pause=10), Job("B", start=6, pause=1)]
    for fencing in (False, True):
        storage = simulate(jobs, ttl=5, storage=Storage(fencing))
        lost = len(storage.accepted) - storage.value
        tokens, counter = storage.accepted, storage.value
        print(f"{fencing=}: tokens {tokens}, counter {counter}, lost {lost}")
        #> fencing=False: tokens [2, 1], counter 1, lost 1
        #> fencing=True: tokens [2], counter 1, lost 0
    # --8<-- [end:demo_fencing]

    # --8<-- [start:demo_fence_reads]
    jobs = [Job("A", start=0, pause=7), Job("B", start=6, pause=3)]
    for fence_reads in (False, True):
        storage = simulate(jobs, 5, Storage(fence_reads=fence_reads))
        lost = len(storage.accepted) - storage.value
        print(f"{fence_reads=}: tokens {storage.accepted}, lost {lost}")
        #> fence_reads=False: tokens [1, 2], lost 1
        #> fence_reads=True: tokens [2], lost 0
    # --8<-- [end:demo_fence_reads]
# fmt: on
