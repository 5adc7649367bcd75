"""The transactional outbox, a relay, and a consumer with an inbox: an order
placed is shipped exactly once, whichever process dies where.

What it teaches: a service that writes an order to its database and then
publishes "order placed" to a broker can crash between the two, and the event
is lost; publishing first loses the order instead. The outbox writes the event
into a table of the same database, in the same transaction as the order. A
relay publishes the outbox's events to the broker and marks them published; a
relay that dies after publishing and before marking publishes again, so the
broker delivers at least once. The consumer records each event's id in an
inbox table in the same transaction as its effect, and drops an event it has
seen. Each step calls `checkpoint`, where a test kills the process.

Read first: `job_queue` in this package, the broker here.

What it leaves out: reading the database's log instead of polling the table
(change data capture, as Debezium does), ordering guarantees per order,
deleting old outbox and inbox rows, and publishing in batches.

Run it: `python -m snippets.reliability.background_work.outbox`.
"""

from __future__ import annotations

# --8<-- [start:place]
import json
import sqlite3
from collections.abc import Callable

from snippets.data.transactions import transaction
from snippets.reliability.background_work.job_queue import Job, JobQueue

ORDERS = """
CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,           -- the event's id
    event TEXT NOT NULL,              -- what the relay publishes
    published INTEGER NOT NULL DEFAULT 0
);
"""


def connect(path: str, schema: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(schema)
    return conn


def place_order(conn: sqlite3.Connection, item: str) -> int:
    """The order and its event, in one transaction: both or neither."""
    with transaction(conn):
        sql = "INSERT INTO orders (item) VALUES (?)"
        order = conn.execute(sql, (item,)).lastrowid
        event = json.dumps(
            {"type": "order placed", "order": order, "item": item}
        )
        conn.execute("INSERT INTO outbox (event) VALUES (?)", (event,))
    return order


# --8<-- [end:place]


# --8<-- [start:relay]
Checkpoint = Callable[[str], None]  # a test kills the process at one of these


def relay(
    conn: sqlite3.Connection, broker: JobQueue, checkpoint: Checkpoint
) -> int:
    """Publish every unpublished event, oldest first; how many were sent."""
    sql = "SELECT id, event FROM outbox WHERE published = 0 ORDER BY id"
    events = conn.execute(sql).fetchall()
    for event_id, event in events:
        body = json.dumps({"event": event_id, **json.loads(event)})
        broker.send(body)
        checkpoint("published")  # a crash here: published again on restart
        with transaction(conn):
            sql = "UPDATE outbox SET published = 1 WHERE id = ?"
            conn.execute(sql, (event_id,))
        checkpoint("marked")
    return len(events)


# --8<-- [end:relay]


# --8<-- [start:consume]
SHIPPING = """
CREATE TABLE IF NOT EXISTS inbox (event INTEGER PRIMARY KEY);  -- events seen
CREATE TABLE IF NOT EXISTS shipments (order_id INTEGER NOT NULL, item TEXT);
"""


def ship(conn: sqlite3.Connection, job: Job) -> bool:
    """Ship the order of one event, unless this event was seen before."""
    event = json.loads(job.body)
    with transaction(conn):  # the inbox row and the effect: both or neither
        sql = "INSERT OR IGNORE INTO inbox (event) VALUES (?)"
        if conn.execute(sql, (event["event"],)).rowcount == 0:
            return False  # a duplicate: the effect is already there
        sql = "INSERT INTO shipments (order_id, item) VALUES (?, ?)"
        conn.execute(sql, (event["order"], event["item"]))
    return True


def consume(
    conn: sqlite3.Connection,
    broker: JobQueue,
    checkpoint: Checkpoint,
    visibility_timeout: float = 30.0,
) -> int:
    """Ship every visible job, then delete it; how many jobs were received."""
    count = 0
    while (job := broker.receive(visibility_timeout)) is not None:
        count += 1
        checkpoint("received")  # a crash here: the job comes back later
        ship(conn, job)
        checkpoint("shipped")  # a crash here: it comes back, the inbox drops it
        broker.delete(job.receipt)
        checkpoint("deleted")
    return count


# --8<-- [end:consume]


# --8<-- [start:process]
import os
import signal
import sys
import time
from pathlib import Path


def crash_at(point: str, after: int) -> Checkpoint:
    """A checkpoint that kills this process the `after`-th time it reaches
    `point`, with SIGKILL: no cleanup, no flush, as a power cut would."""
    seen = [0]

    def checkpoint(name: str) -> None:
        if name == point:
            seen[0] += 1
            if seen[0] == after:
                os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


def run(role: str, folder: str, point: str, after: int) -> None:
    """`relay` or `consume` once over the databases in `folder`."""
    base, checkpoint = Path(folder), crash_at(point, after)
    broker = JobQueue(str(base / "broker.db"))
    if role == "relay":
        relay(connect(str(base / "orders.db"), ORDERS), broker, checkpoint)
        return
    conn = connect(str(base / "shipping.db"), SHIPPING)
    end = time.monotonic() + 10  # bounded: hidden jobs show again within it
    while broker.conn.execute("SELECT count(*) FROM jobs").fetchone()[0]:
        consume(conn, broker, checkpoint, visibility_timeout=0.2)
        if time.monotonic() > end:
            raise TimeoutError("jobs are still in the queue")
        time.sleep(0.05)  # a job received by a dead consumer is still hidden


# --8<-- [end:process]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__" and sys.argv[1:2] in (["relay"], ["consume"]):
    # python -m ... relay|consume FOLDER CRASH_POINT AFTER
    run(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
elif __name__ == "__main__":
    # --8<-- [start:demo]
    import tempfile


    class Crash(Exception):
        """Stands for a process killed at a checkpoint, in this demo."""


    def crash_once(point: str):
        crashed: list[str] = []

        def checkpoint(name: str) -> None:
            if name == point and not crashed:
                crashed.append(name)
                raise Crash(name)

        return checkpoint


    with tempfile.TemporaryDirectory() as folder:
        orders = connect(f"{folder}/orders.db", ORDERS)
        broker = JobQueue(f"{folder}/broker.db")
        shipping = connect(f"{folder}/shipping.db", SHIPPING)
        for item in ("kettle", "teapot", "cups"):
            place_order(orders, item)
        try:
            relay(orders, broker, crash_once("published"))
        except Crash:
            print("the relay died after publishing, before marking")
            #> the relay died after publishing, before marking
        print(relay(orders, broker, lambda name: None), "sent on restart")
        #> 3 sent on restart
        received = consume(shipping, broker, lambda name: None)
        rows = shipping.execute("SELECT order_id, item FROM shipments")
        print(received, "received;", rows.fetchall())
        #> 4 received; [(1, 'kettle'), (2, 'teapot'), (3, 'cups')]
        for conn in (orders, broker, shipping):
            conn.close()
    # --8<-- [end:demo]
