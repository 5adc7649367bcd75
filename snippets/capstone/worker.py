"""The orders service's background worker: the outbox relay and the shipping
consumer, in a thread of the service or in a process of their own.

What it teaches: one turn of the worker relays every unpublished outbox event
to the broker, then ships every job the broker hands out, recording each event
in the inbox in the same transaction as the shipment. A worker killed at any
point (after publishing, after shipping, before deleting the job) is started
again and finishes the work: each order ships exactly once. In the service
the worker is a thread that beats the health heartbeat on every turn, so
liveness notices a stuck loop; run as a process it stops when the queue is
empty, and a test kills it with SIGKILL at a checkpoint.

Read first: the background work page (`docs/reliability/background_work.md`)
and its `outbox` module, which this module builds on
(`snippets.reliability.background_work.outbox`, `job_queue`), and the health
checks page (`docs/observability/health_checks.md`) for the heartbeat.

What it leaves out: several workers sharing the broker, backoff when the
database is busy, and deleting old outbox, inbox and job rows.

Run it: `python -m snippets.capstone.worker`.
"""

from __future__ import annotations

# --8<-- [start:turn]
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from snippets.reliability.background_work.job_queue import JobQueue
from snippets.reliability.background_work.outbox import (
    ORDERS,
    SHIPPING,
    Checkpoint,
    connect,
    consume,
    relay,
)

log = logging.getLogger("capstone.worker")
VISIBILITY = 0.5  # seconds a received job stays hidden from other receives


class Worker:
    """The relay and the consumer over the files in `folder`."""

    def __init__(self, folder: str, checkpoint: Checkpoint = lambda _: None):
        base = Path(folder)
        self.orders = connect(str(base / "orders.db"), ORDERS)
        self.broker = JobQueue(str(base / "broker.db"))
        self.shipping = connect(str(base / "shipping.db"), SHIPPING)
        self.checkpoint = checkpoint

    def turn(self) -> tuple[int, int]:
        """Relay, then consume: (events published, jobs received)."""
        sent = relay(self.orders, self.broker, self.checkpoint)
        received = consume(
            self.shipping, self.broker, self.checkpoint, VISIBILITY
        )
        return sent, received

    def pending(self) -> int:
        """Jobs in the broker: sent, not yet deleted."""
        sql = "SELECT count(*) FROM jobs"
        return self.broker.conn.execute(sql).fetchone()[0]

    def close(self) -> None:
        for conn in (self.orders, self.shipping):
            conn.close()
        self.broker.close()


# --8<-- [end:turn]


# --8<-- [start:thread]
def run_in_thread(
    folder: str, stop: threading.Event, beat: Callable[[], None]
) -> threading.Thread:
    """The worker as a thread of the service: a turn every 50 ms."""

    def loop() -> None:
        worker = Worker(folder)
        try:
            while not stop.wait(0.05):
                beat()  # liveness: this loop still turns
                try:
                    worker.turn()
                except sqlite3.OperationalError as error:  # locked: next turn
                    log.warning("worker turn failed: %s", error)
        finally:
            worker.close()

    thread = threading.Thread(target=loop, name="outbox-worker")
    thread.start()
    return thread


# --8<-- [end:thread]


# --8<-- [start:process]
import time

from snippets.reliability.background_work.outbox import crash_at


def drain(folder: str, point: str = "", after: int = 0) -> int:
    """Turn until the outbox and the broker are empty (at most 10 s); with a
    `point`, SIGKILL this process the `after`-th time it reaches it."""
    worker = Worker(folder, crash_at(point, after))
    end = time.monotonic() + 10
    try:
        while sum(worker.turn()) or worker.pending():
            if time.monotonic() > end:
                raise TimeoutError("the worker did not empty the queue")
            time.sleep(0.05)  # a job a dead worker received is still hidden
        sql = "SELECT count(*) FROM shipments"
        return worker.shipping.execute(sql).fetchone()[0]
    finally:
        worker.close()


# --8<-- [end:process]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__" and len(__import__("sys").argv) == 4:
    # python -m snippets.capstone.worker FOLDER CRASH_POINT AFTER
    import sys

    print(drain(sys.argv[1], sys.argv[2], int(sys.argv[3])), flush=True)
elif __name__ == "__main__":
    # --8<-- [start:demo]
    import subprocess
    import sys
    import tempfile

    from snippets.capstone.store import OrderService, create

    with tempfile.TemporaryDirectory() as folder:
        create(f"{folder}/orders.db")
        service = OrderService(f"{folder}/orders.db", price=lambda item: 250)
        for n in range(3):
            key = f'"demo-{n}"'
            service.place("ada", key, {"item": "cup", "quantity": 1})
        command = [sys.executable, "-m", "snippets.capstone.worker", folder]
        killed = subprocess.run([*command, "shipped", "2"], timeout=30)
        print("killed after the second shipment:", killed.returncode)
        #> killed after the second shipment: -9
        again = subprocess.run([*command, "", "0"], timeout=30,
                               capture_output=True, text=True)
        print("shipments after the restart:", again.stdout.strip())
        #> shipments after the restart: 3
    # --8<-- [end:demo]
