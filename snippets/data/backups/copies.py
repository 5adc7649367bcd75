"""Copies of a live database: which ones restore, and which ones lie.

What it teaches: why a replica is not a backup (a bad DELETE reaches it like
any other change); why copying a live database file is unsafe (a copy of the
main file without its -wal loses committed transactions, a copy made while a
writer commits mixes two moments); and SQLite's two safe ways to copy a live
database, the online backup API and `VACUUM INTO`, checked while a writer
thread keeps committing.

Read first: docs/data/transactions.md (the write-ahead log, checkpoints) and
docs/data/beyond_one_node.md (replication).

What it leaves out: the physical WAL archiving of a real server (PostgreSQL's
pg_basebackup and archive_command, which the page describes), encryption and
retention of the copies, and moving them to another machine: "off the machine"
is a second directory here. Point-in-time recovery and restore drills are in
`snippets.data.backups.recovery`.

Run it: `python -m snippets.data.backups.copies`.
"""

# --8<-- [start:bank]
import contextlib
import json
import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id      INTEGER PRIMARY KEY,
    balance INTEGER NOT NULL,
    note    TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS changes (  -- the change log: one row a transaction
    seq INTEGER PRIMARY KEY,
    at  TEXT NOT NULL,               -- when it committed, ISO 8601
    ops TEXT NOT NULL                -- its statements: [[sql, params], ...]
);"""


def open_bank(path: str, journal: str = "WAL") -> sqlite3.Connection:
    """Open (or create) the bank; WAL or DELETE (rollback journal) mode."""
    if journal not in ("WAL", "DELETE"):
        raise ValueError(f"unknown journal mode {journal!r}")
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute(f"PRAGMA journal_mode = {journal}")
    conn.executescript(SCHEMA)
    return conn


def apply(conn: sqlite3.Connection, at: str, ops: list) -> None:
    """Run `ops` as one transaction and log them in that same transaction."""
    with conn:  # COMMIT if the block succeeds, ROLLBACK if it raises
        for sql, params in ops:
            conn.execute(sql, params)
        conn.execute(
            "INSERT INTO changes (at, ops) VALUES (?, ?)", (at, json.dumps(ops))
        )


def open_accounts(conn, at: str, count: int, balance: int, note="") -> None:
    """Create accounts 1..count with `balance` each (one transaction)."""
    sql = "INSERT INTO accounts (id, balance, note) VALUES (?, ?, ?)"
    apply(conn, at, [(sql, [i, balance, note]) for i in range(1, count + 1)])


def transfer(conn, at: str, source: int, target: int, amount: int) -> None:
    """Move `amount` between two accounts: the total never changes."""
    change = "UPDATE accounts SET balance = balance + ? WHERE id = ?"
    apply(conn, at, [(change, [-amount, source]), (change, [amount, target])])


def audit(conn: sqlite3.Connection) -> tuple[str, int, int]:
    """(integrity_check, total of all balances, transactions in the log)."""
    (integrity,) = conn.execute("PRAGMA integrity_check").fetchone()
    total, logged = conn.execute(
        "SELECT (SELECT coalesce(sum(balance), 0) FROM accounts),"
        " (SELECT count(*) FROM changes)"
    ).fetchone()
    return integrity, total, logged


def last_seq(conn: sqlite3.Connection) -> int:
    """The last transaction in this database's change log (0 if none)."""
    (seq,) = conn.execute(
        "SELECT coalesce(max(seq), 0) FROM changes"
    ).fetchone()
    return seq


# --8<-- [end:bank]


# --8<-- [start:naive]
import shutil
from collections.abc import Callable


def copy_main_file(source: str, target: str) -> None:
    """The naive backup: copy the database file, ignore its -wal."""
    shutil.copyfile(source, target)


def copy_in_chunks(
    source: str, target: str, chunk: int, between: Callable[[], None]
) -> None:
    """Copy a file `chunk` bytes at a time, calling `between()` after each
    chunk: a stand-in for a writer that commits while `cp` is still reading."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        while data := src.read(chunk):
            dst.write(data)
            between()


# --8<-- [end:naive]


# --8<-- [start:online]
def backup_online(
    source: str, target: str, pages: int = -1, progress=None
) -> None:
    """SQLite's online backup API: page by page, consistent, while the source
    stays open for readers and writers. pages=-1 copies all in one step."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst, pages=pages, progress=progress)


def backup_vacuum_into(source: str, target: str) -> None:
    """`VACUUM INTO`: a consistent, compacted copy written by one read
    transaction. The target file must not exist yet (or be empty)."""
    with contextlib.closing(sqlite3.connect(source)) as src:
        src.execute("VACUUM INTO ?", (target,))


# --8<-- [end:online]


# --8<-- [start:writer]
import threading


class Writer(threading.Thread):
    """Commits transfers in a loop until stopped; remembers every log length
    it committed (the states a consistent backup may show)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path, self.stop = path, threading.Event()
        self.committed: list[int] = []  # appended by this thread only
        self.running = threading.Event()  # set after its first commit

    def run(self) -> None:
        with contextlib.closing(open_bank(self.path)) as conn:
            self.committed.append(last_seq(conn))
            k = 0
            while not self.stop.is_set():
                transfer(conn, "2026-12-04T09:30", 1 + k % 97, 1 + k % 89, 5)
                self.committed.append(last_seq(conn))
                self.running.set()
                k += 1


# --8<-- [end:writer]

if __name__ == "__main__":
    # fmt: off
    # --8<-- [start:demo_replica]
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        primary = open_bank(os.path.join(tmp, "primary.db"))
        replica = open_bank(os.path.join(tmp, "replica.db"))
        shipped = 0  # the replica has applied the primary's log up to here

        def ship() -> None:  # replication: replay each new log entry
            global shipped
            for seq, at, ops in primary.execute(
                "SELECT * FROM changes WHERE seq > ?", (shipped,)
            ).fetchall():
                apply(replica, at, json.loads(ops))
                shipped = seq

        open_accounts(primary, "2026-12-04T09:00", 100, 1000)
        ship()
        print(audit(replica))
        #> ('ok', 100000, 1)
        apply(primary, "2026-12-04T09:05", [("DELETE FROM accounts", [])])
        ship()  # the mistake replicates like any other change
        print(audit(replica))
        #> ('ok', 0, 2)
        primary.close()
        replica.close()
    # --8<-- [end:demo_replica]

    # --8<-- [start:demo_naive]
    with tempfile.TemporaryDirectory() as tmp:
        path, copy = os.path.join(tmp, "bank.db"), os.path.join(tmp, "copy.db")
        with contextlib.closing(open_bank(path)) as conn:
            open_accounts(conn, "2026-12-04T09:00", 100, 1000)
        with contextlib.closing(open_bank(path)) as conn:  # WAL mode
            for _ in range(5):
                transfer(conn, "2026-12-04T09:01", 1, 2, 10)
            print(audit(conn))  # 6 transactions committed...
            #> ('ok', 100000, 6)
            copy_main_file(path, copy)
            with contextlib.closing(sqlite3.connect(copy)) as restored:
                print(audit(restored))  # ...5 of them were in bank.db-wal
                #> ('ok', 100000, 1)
    # --8<-- [end:demo_naive]

    # --8<-- [start:demo_torn]
    with tempfile.TemporaryDirectory() as tmp:
        path, copy = os.path.join(tmp, "bank.db"), os.path.join(tmp, "copy.db")
        conn = open_bank(path, journal="DELETE")  # commits write bank.db
        open_accounts(conn, "2026-12-04T09:00", 100, 1000, note="x" * 400)
        print(os.path.getsize(path) // 4096, "pages")
        #> 26 pages
        copy_in_chunks(  # account 1 near the start, account 100 near the end
            path, copy, 4 * 4096,
            lambda: transfer(conn, "2026-12-04T09:01", 1, 100, 10),
        )
        print(audit(conn))
        #> ('ok', 100000, 8)
        with contextlib.closing(sqlite3.connect(copy)) as restored:
            print(audit(restored))  # intact pages, money out of nowhere
            #> ('ok', 100030, 1)
        conn.close()
    # --8<-- [end:demo_torn]

    # --8<-- [start:demo_online]
    with tempfile.TemporaryDirectory() as tmp:
        path, copy = os.path.join(tmp, "bank.db"), os.path.join(tmp, "copy.db")
        with contextlib.closing(open_bank(path)) as conn:
            open_accounts(conn, "2026-12-04T09:00", 100, 1000, note="x" * 400)
        remaining = []
        backup_online(
            path, copy, pages=8,
            progress=lambda status, left, total: remaining.append(left),
        )
        print(remaining)  # pages left after each step of 8
        #> [18, 10, 2, 0]
        backup_vacuum_into(path, os.path.join(tmp, "vacuum.db"))
        with contextlib.closing(sqlite3.connect(copy)) as restored:
            print(audit(restored))
            #> ('ok', 100000, 1)
        try:
            backup_vacuum_into(path, copy)
        except sqlite3.OperationalError as error:
            print(error)
            #> output file already exists
    # --8<-- [end:demo_online]

    # --8<-- [start:demo_restart]
    with tempfile.TemporaryDirectory() as tmp:
        path, copy = os.path.join(tmp, "bank.db"), os.path.join(tmp, "copy.db")
        conn = open_bank(path)
        open_accounts(conn, "2026-12-04T09:00", 100, 1000, note="x" * 400)
        remaining = []

        def step_done(status: int, left: int, total: int) -> None:
            remaining.append(left)
            if len(remaining) == 2:  # another connection commits mid-backup
                transfer(conn, "2026-12-04T09:01", 1, 2, 10)

        backup_online(path, copy, pages=8, progress=step_done)
        print(remaining)  # the commit sent the backup back to the start
        #> [18, 10, 18, 10, 2, 0]
        conn.close()
    # --8<-- [end:demo_restart]

    # --8<-- [start:demo_live]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bank.db")
        with contextlib.closing(open_bank(path)) as conn:
            open_accounts(conn, "2026-12-04T09:00", 100, 1000)
        writer = Writer(path)
        writer.start()
        writer.running.wait(5)
        backup_online(path, os.path.join(tmp, "online.db"))
        backup_vacuum_into(path, os.path.join(tmp, "vacuum.db"))
        writer.stop.set()
        writer.join(5)
        for name in ("online.db", "vacuum.db"):
            with contextlib.closing(
                sqlite3.connect(os.path.join(tmp, name))
            ) as copy:
                integrity, total, logged = audit(copy)
                print(name, integrity, total, logged in writer.committed)
                #> online.db ok 100000 True
                #> vacuum.db ok 100000 True
    # --8<-- [end:demo_live]
    # fmt: on
