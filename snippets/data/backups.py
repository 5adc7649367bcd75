"""Backups and recovery: copies you can restore, taken while the database runs.

What it teaches: why a replica is not a backup (a bad DELETE reaches it like
any other change); why copying a live database file is unsafe (a copy of the
main file without its -wal loses committed transactions, a copy made while a
writer commits mixes two moments); SQLite's two safe ways to copy a live
database, the online backup API and `VACUUM INTO`; point-in-time recovery in
principle (a base backup plus a change log replayed up to a chosen moment);
and a restore drill that catches a backup script which has been backing up an
empty database all along.

Read first: docs/data/transactions.md (the write-ahead log, checkpoints) and
docs/data/beyond_one_node.md (replication).

What it leaves out: the physical WAL archiving of a real server (PostgreSQL's
pg_basebackup and archive_command, which the page describes), encryption and
retention of the copies, and moving them to another machine: "off the machine"
is a second directory here.

Run it: `python -m snippets.data.backups`.
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


# --8<-- [start:pitr]
def archive(conn: sqlite3.Connection, archive_path: str, after: int) -> int:
    """Ship log entries newer than `after` to the archive (JSON lines, one
    transaction each); return the last one shipped."""
    rows = conn.execute(
        "SELECT seq, at, ops FROM changes WHERE seq > ? ORDER BY seq", (after,)
    ).fetchall()
    with open(archive_path, "a", encoding="utf-8") as out:
        for seq, at, ops in rows:
            out.write(json.dumps([seq, at, json.loads(ops)]) + "\n")
    return rows[-1][0] if rows else after


def recover(base: str, archive_path: str, until: str, target: str) -> int:
    """Point-in-time recovery: restore the base backup into `target`, then
    replay the archived transactions that committed at or before `until`.
    Return the seq of the last one replayed."""
    backup_online(base, target)
    with contextlib.closing(open_bank(target)) as conn:
        done = last_seq(conn)  # the base backup already holds 1..done
        with open(archive_path, encoding="utf-8") as log:
            for line in log:
                seq, at, ops = json.loads(line)
                if seq <= done:
                    continue  # older than the base backup
                if at > until:
                    break  # the chosen moment: stop here
                if seq != done + 1:
                    raise ValueError(f"archive gap: need {done + 1}, got {seq}")
                apply(conn, at, ops)
                done = seq
        return done


# --8<-- [end:pitr]


# --8<-- [start:scripts]
import os
from pathlib import Path


def nightly_backup(db_path: str, backup_path: str) -> str:
    """The script that ran every night for a year. Spot the bug."""
    backup_online(db_path, backup_path)  # connect() creates a missing file!
    return f"backup ok, {os.path.getsize(backup_path)} bytes"


def safer_backup(db_path: str, backup_path: str) -> str:
    """Open the source with mode=rw: a missing file is an error, not a new
    empty database."""
    uri = Path(db_path).absolute().as_uri() + "?mode=rw"
    with (
        contextlib.closing(sqlite3.connect(uri, uri=True)) as src,
        contextlib.closing(sqlite3.connect(backup_path)) as dst,
    ):
        src.backup(dst)
    return f"backup ok, {os.path.getsize(backup_path)} bytes"


# --8<-- [end:scripts]


# --8<-- [start:drill]
import tempfile


class DrillFailed(Exception):
    """A restored backup that the application could not use."""


def restore_drill(backup: str, accounts: int, total: int, newest: str) -> str:
    """Restore `backup` into a scratch file and check it as the application
    would: intact, the right tables and rows, the invariant, fresh enough."""
    with tempfile.TemporaryDirectory() as scratch:
        restored = os.path.join(scratch, "restored.db")
        backup_online(backup, restored)  # restore = copy it back
        with contextlib.closing(sqlite3.connect(restored)) as conn:
            (integrity,) = conn.execute("PRAGMA integrity_check").fetchone()
            names = conn.execute("SELECT name FROM sqlite_master").fetchall()
            tables = sorted(name for (name,) in names)
            if integrity != "ok" or tables != ["accounts", "changes"]:
                raise DrillFailed(f"integrity {integrity}, tables {tables}")
            _, money, _ = audit(conn)
            (count,) = conn.execute("SELECT count(*) FROM accounts").fetchone()
            (last,) = conn.execute("SELECT max(at) FROM changes").fetchone()
    found = f"{count} accounts, total {money}, last change {last}"
    if (count, money) != (accounts, total) or (last or "") < newest:
        raise DrillFailed(found)
    return f"restored: {found}"


# --8<-- [end:drill]


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

    # --8<-- [start:demo_pitr]
    with tempfile.TemporaryDirectory() as tmp:
        path, base = os.path.join(tmp, "bank.db"), os.path.join(tmp, "base.db")
        log = os.path.join(tmp, "archive.jsonl")  # "off the machine"
        conn = open_bank(path)
        open_accounts(conn, "2026-12-04T09:00", 100, 1000)
        backup_online(path, base)  # the base backup
        shipped = archive(conn, log, 0)
        transfer(conn, "2026-12-04T09:10", 1, 2, 100)
        transfer(conn, "2026-12-04T09:20", 3, 4, 100)
        shipped = archive(conn, log, shipped)
        apply(conn, "2026-12-04T09:25", [("DELETE FROM accounts", [])])
        shipped = archive(conn, log, shipped)
        print(audit(conn))  # the mistake, committed and archived
        #> ('ok', 0, 4)
        for until in ("2026-12-04T09:15", "2026-12-04T09:24"):
            target = os.path.join(tmp, f"at-{until[-5:]}.db")
            recover(base, log, until, target)
            with contextlib.closing(sqlite3.connect(target)) as restored:
                first = [b for (b,) in restored.execute(
                    "SELECT balance FROM accounts WHERE id <= 4"
                )]
                print(until, audit(restored), first)
                #> 2026-12-04T09:15 ('ok', 100000, 2) [900, 1100, 1000, 1000]
                #> 2026-12-04T09:24 ('ok', 100000, 3) [900, 1100, 900, 1100]
        conn.close()
    # --8<-- [end:demo_pitr]

    # --8<-- [start:demo_drill]
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, "data"))  # a migration moved the data here
        real = os.path.join(tmp, "data", "bank.db")
        with contextlib.closing(open_bank(real)) as conn:
            open_accounts(conn, "2026-12-04T09:00", 100, 1000)
        wrong, nightly = (os.path.join(tmp, n) for n in ("bank.db", "nightly.db"))
        try:
            safer_backup(wrong, nightly)
        except sqlite3.OperationalError as error:
            print(error)
            #> unable to open database file
        print(nightly_backup(wrong, nightly), os.path.getsize(wrong))
        #> backup ok, 4096 bytes 0
        try:
            restore_drill(nightly, 100, 100_000, "2026-12-04T09:00")
        except DrillFailed as error:
            print("drill failed:", error)
            #> drill failed: integrity ok, tables []
        safer = os.path.join(tmp, "safer.db")
        safer_backup(real, safer)
        print(restore_drill(safer, 100, 100_000, "2026-12-04T09:00"))
        #> restored: 100 accounts, total 100000, last change 2026-12-04T09:00
    # --8<-- [end:demo_drill]
    # fmt: on
