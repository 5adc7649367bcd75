"""Recovery: back to a chosen moment, and a drill that proves a backup works.

What it teaches: point-in-time recovery in principle (a base backup plus an
archived change log, replayed up to a chosen moment and no further), and a
restore drill that catches a backup script which has been backing up an empty
database all along, while it reported success every night.

Read first: docs/data/backups.md ("Backups and recovery"), whose bank, online
backup and audit this module builds on (`snippets.data.backups.copies`).

What it leaves out: a real server's physical WAL archive and its recovery
targets (PostgreSQL's restore_command and recovery_target_time, which the page
describes), and scheduling drills.

Run it: `python -m snippets.data.backups.recovery`.
"""

import contextlib
import json
import sqlite3

from snippets.data.backups.copies import (
    apply,
    audit,
    backup_online,
    last_seq,
    open_accounts,
    open_bank,
    transfer,
)


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
    import os
    import tempfile

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
