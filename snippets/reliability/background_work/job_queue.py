"""A durable job queue in SQLite, with SQS's delivery rules: a received job is
hidden for a visibility timeout, comes back if it is not deleted in time, and
moves to a dead-letter table after too many receives.

What it teaches: a queue that survives a crash keeps its jobs on disk and hands
each one out with a lease, not for good. `receive` hides the oldest visible job
for `visibility_timeout` seconds and gives it a fresh receipt; `delete` with
that receipt finishes it. A worker that dies, or takes too long, never
deletes, so the job becomes visible again and another worker gets it: delivery
is at least once. A job received `max_receives` times without being deleted is
poison and moves to the dead letters, where a person looks at it. `work_one`
applies a job and deletes it in one transaction, so the effect happens exactly
once even though the delivery may repeat.

Read first: the transactions page (`docs/data/transactions.md`,
"Transactions"), whose `transaction` this module builds on
(`snippets.data.transactions`), and the idempotency page
(`docs/reliability/idempotency.md`, "Idempotency keys"): the same lease and
fencing idea, for a request instead of a job.

What it leaves out: several named queues in one file, delays and priorities,
long polling (a worker here polls), and FIFO message groups.

Run it: `python -m snippets.reliability.background_work.job_queue`.
"""

from __future__ import annotations

# --8<-- [start:schema]
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from snippets.data.transactions import transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,       -- the order of sending
    body TEXT NOT NULL,
    visible_at REAL NOT NULL,     -- hidden until the clock passes this
    receives INTEGER NOT NULL DEFAULT 0,
    receipt TEXT                  -- the latest receive's handle
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    receives INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Job:
    id: int
    body: str
    receipt: str  # proof of the latest receive; delete needs it
    receives: int  # how many times it was handed out, this one included


# --8<-- [end:schema]


# --8<-- [start:queue]
class JobQueue:
    """Jobs in one SQLite file; every change is one IMMEDIATE transaction."""

    def __init__(
        self,
        path: str,
        max_receives: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")  # commits are durable
        self.conn.executescript(SCHEMA)
        self.max_receives, self.clock = max_receives, clock

    def send(self, body: str) -> int:
        with transaction(self.conn):
            sql = "INSERT INTO jobs (body, visible_at) VALUES (?, 0)"
            return self.conn.execute(sql, (body,)).lastrowid

    def receive(self, visibility_timeout: float) -> Job | None:
        """Hide the oldest visible job and hand it out; None if none is."""
        now = self.clock()
        with transaction(self.conn):  # one writer at a time: no job twice
            rows = self.conn.execute(
                "SELECT id, body, receives FROM jobs WHERE visible_at < ?"
                " ORDER BY id",
                (now,),
            )
            for job_id, body, receives in rows.fetchall():
                if receives >= self.max_receives:  # poison: stop retrying it
                    self._bury(job_id, body, receives)
                    continue
                receipt = secrets.token_hex(8)
                self.conn.execute(
                    "UPDATE jobs SET visible_at = ?, receives = receives + 1,"
                    " receipt = ? WHERE id = ?",
                    (now + visibility_timeout, receipt, job_id),
                )
                return Job(job_id, body, receipt, receives + 1)
        return None

    def _bury(self, job_id: int, body: str, receives: int) -> None:
        self.conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        self.conn.execute(
            "INSERT INTO dead_letters (id, body, receives) VALUES (?, ?, ?)",
            (job_id, body, receives),
        )

    def delete(self, receipt: str) -> bool:
        """Finish a job; False if the receipt is stale (handed out again)."""
        with transaction(self.conn):
            sql = "DELETE FROM jobs WHERE receipt = ?"
            return self.conn.execute(sql, (receipt,)).rowcount == 1

    def dead_letters(self) -> list[str]:
        rows = self.conn.execute("SELECT body FROM dead_letters ORDER BY id")
        return [body for (body,) in rows]

    def close(self) -> None:
        self.conn.close()


# --8<-- [end:queue]


# --8<-- [start:work]
class ReceiptExpired(Exception):
    """The job was handed to another worker meanwhile: do not commit."""


def complete(
    queue: JobQueue, job: Job, apply: Callable[[sqlite3.Connection, Job], None]
) -> None:
    """Apply `job` and delete it in one transaction: both or neither."""
    with transaction(queue.conn):
        apply(queue.conn, job)
        sql = "DELETE FROM jobs WHERE id = ? AND receipt = ?"
        if queue.conn.execute(sql, (job.id, job.receipt)).rowcount != 1:
            raise ReceiptExpired(f"job {job.id} was handed to another worker")


def work_one(
    queue: JobQueue,
    apply: Callable[[sqlite3.Connection, Job], None],
    visibility_timeout: float = 30.0,
) -> Job | None:
    """Receive the next job and complete it; None if there was none."""
    job = queue.receive(visibility_timeout)
    if job is not None:
        complete(queue, job, apply)
    return job


# --8<-- [end:work]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        now = [1000.0]  # a clock the demo moves by hand
        jobs = JobQueue(str(Path(folder) / "jobs.db"), clock=lambda: now[0])
        for body in ("email ada", "email bob"):
            jobs.send(body)
        first = jobs.receive(visibility_timeout=30)
        second = jobs.receive(visibility_timeout=30)
        print(first.body, second.body, jobs.receive(30))
        #> email ada email bob None
        print(jobs.delete(second.receipt))  # bob's email went out
        #> True
        now[0] += 31  # the worker with ada's job died: it comes back
        again = jobs.receive(visibility_timeout=30)
        print(again.body, again.receives, jobs.delete(first.receipt))
        #> email ada 2 False
        now[0] += 31
        print(jobs.receive(30).receives)  # a third time, and it times out
        #> 3
        now[0] += 31
        print(jobs.receive(30), jobs.dead_letters())
        #> None ['email ada']
        jobs.close()
    # --8<-- [end:demo]
