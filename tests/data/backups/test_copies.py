"""The copies part of the backups page, checked on real SQLite databases.

The oracles: SQLite itself (`PRAGMA integrity_check`, its own recovery of a
-wal file, the online backup API's progress report) and the history the
writer really committed: a copy is consistent when it equals the state after
exactly n of the writer's transactions, replayed from its log onto a fresh
bank.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from snippets.data.backups import copies as bk
from snippets.data.backups import recovery as rc
from tests.helpers import TIMEOUT

OPENED = "2026-12-04T09:00"


def connect(path: str | Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path))


def balances(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    return conn.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()


def new_bank(path: Path, accounts: int = 100, **options) -> None:
    with contextlib.closing(bk.open_bank(str(path))) as conn:
        bk.open_accounts(conn, OPENED, accounts, 1000, **options)


def state_after(log_source: str, n: int) -> list[tuple[int, int]]:
    """The balances after the first n logged transactions, replayed onto an
    empty bank in memory: the history the copy must be a prefix of."""
    with (
        connect(log_source) as src,
        contextlib.closing(bk.open_bank(":memory:")) as mem,
    ):
        rows = src.execute(
            "SELECT at, ops FROM changes WHERE seq <= ? ORDER BY seq", (n,)
        ).fetchall()
        for at, ops in rows:
            bk.apply(mem, at, json.loads(ops))
        return balances(mem)


# --- replication is not a backup ------------------------------------------------------


def test_a_replica_applies_a_bad_delete_like_any_other_change(tmp_path: Path) -> None:
    with (
        contextlib.closing(bk.open_bank(str(tmp_path / "p.db"))) as primary,
        contextlib.closing(bk.open_bank(str(tmp_path / "r.db"))) as replica,
    ):
        bk.open_accounts(primary, OPENED, 10, 1000)
        bk.apply(primary, "2026-12-04T09:05", [("DELETE FROM accounts", [])])
        for _, at, ops in primary.execute("SELECT * FROM changes ORDER BY seq"):
            bk.apply(replica, at, json.loads(ops))
        assert bk.audit(replica) == ("ok", 0, 2)
        assert balances(replica) == balances(primary) == []


# --- naive copies ---------------------------------------------------------------------


def test_copying_the_main_file_without_its_wal_loses_committed_transactions(
    tmp_path: Path,
) -> None:
    path, copy = tmp_path / "bank.db", tmp_path / "copy.db"
    new_bank(path)
    with contextlib.closing(bk.open_bank(str(path))) as conn:
        for _ in range(5):
            bk.transfer(conn, "2026-12-04T09:01", 1, 2, 10)
        assert bk.audit(conn) == ("ok", 100_000, 6)
        assert os.path.getsize(f"{path}-wal") > 0  # the 5 commits live here
        bk.copy_main_file(str(path), str(copy))
        with connect(copy) as restored:
            assert bk.audit(restored) == ("ok", 100_000, 1)  # 5 commits lost
        # the control: the same copy with the -wal beside it has all 6
        shutil.copyfile(f"{path}-wal", tmp_path / "both.db-wal")
        shutil.copyfile(path, tmp_path / "both.db")
        with connect(tmp_path / "both.db") as restored:
            assert bk.audit(restored) == ("ok", 100_000, 6)


def test_a_torn_copy_passes_integrity_check_with_the_wrong_total(
    tmp_path: Path,
) -> None:
    path, copy = str(tmp_path / "bank.db"), str(tmp_path / "copy.db")
    with contextlib.closing(bk.open_bank(path, journal="DELETE")) as conn:
        bk.open_accounts(conn, OPENED, 100, 1000, note="x" * 400)

        def move() -> None:
            bk.transfer(conn, "2026-12-04T09:01", 1, 100, 10)

        bk.copy_in_chunks(path, copy, 4 * 4096, move)
        assert bk.audit(conn) == ("ok", 100_000, 8)  # 7 transfers, one per chunk
        assert dict(balances(conn))[1] == 1000 - 70
    with connect(copy) as restored:
        integrity, total, logged = bk.audit(restored)
        assert integrity == "ok"
        assert total != 100_000  # money made out of nothing
        copied = dict(balances(restored))
        assert copied[1] == 1000  # account 1's page was copied before any transfer
        assert copied[100] > 1000  # account 100's page after some of them
        assert logged == 1
    with pytest.raises(rc.DrillFailed, match="total"):
        rc.restore_drill(copy, 100, 100_000, OPENED)  # a drill notices


def test_copy_in_chunks_copies_a_quiet_file_byte_for_byte(tmp_path: Path) -> None:
    source = tmp_path / "a"
    source.write_bytes(bytes(range(256)) * 40)
    calls = []
    bk.copy_in_chunks(str(source), str(tmp_path / "b"), 1000, lambda: calls.append(1))
    assert (tmp_path / "b").read_bytes() == source.read_bytes()
    assert len(calls) == 11  # one call after each of the 11 chunks


# --- the safe copies, while a writer commits ------------------------------------------


@pytest.mark.parametrize("method", [bk.backup_online, bk.backup_vacuum_into])
def test_a_backup_taken_while_a_writer_commits_is_a_state_the_writer_committed(
    tmp_path: Path, method
) -> None:
    path = str(tmp_path / "bank.db")
    new_bank(Path(path), accounts=2000, note="x" * 1000)  # about 4 MB
    overlapped = 0
    for attempt in range(3):
        copy = str(tmp_path / f"copy{attempt}.db")
        writer = bk.Writer(path)
        writer.start()
        try:
            assert writer.running.wait(TIMEOUT)
            before = len(writer.committed)
            method(path, copy)
            overlapped += len(writer.committed) > before
        finally:
            writer.stop.set()
            writer.join(TIMEOUT)
        assert not writer.is_alive()
        with connect(copy) as restored:
            integrity, total, logged = bk.audit(restored)
            assert integrity == "ok"
            assert total == 2000 * 1000
            assert logged in writer.committed
            assert balances(restored) == state_after(path, logged)
        if overlapped:
            break
    assert overlapped, "the writer never committed while a backup ran"


def test_the_online_backup_reports_progress_step_by_step(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    new_bank(path, note="x" * 400)
    steps: list[tuple[int, int, int]] = []
    bk.backup_online(
        str(path), str(tmp_path / "c.db"), pages=8, progress=lambda *a: steps.append(a)
    )
    total = steps[0][2]
    assert total == os.path.getsize(path) // 4096
    lefts = [left for _, left, _ in steps]
    assert lefts == [max(total - 8 * k, 0) for k in range(1, -(-total // 8) + 1)]
    assert steps[-1] == (sqlite3.SQLITE_DONE, 0, total)


def test_a_write_from_another_connection_restarts_a_stepwise_backup(
    tmp_path: Path,
) -> None:
    path, copy = str(tmp_path / "bank.db"), str(tmp_path / "copy.db")
    new_bank(Path(path), note="x" * 400)
    remaining: list[int] = []
    with contextlib.closing(bk.open_bank(path)) as other:

        def step_done(status: int, left: int, total: int) -> None:
            remaining.append(left)
            if len(remaining) == 2:
                bk.transfer(other, "2026-12-04T09:01", 1, 2, 10)

        bk.backup_online(path, copy, pages=8, progress=step_done)
    assert any(b > a for a, b in itertools.pairwise(remaining))  # went back up
    with connect(copy) as restored:
        assert bk.audit(restored) == ("ok", 100_000, 2)  # the write is in the copy


def test_a_write_through_the_backups_own_source_connection_does_not_restart(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "bank.db")
    new_bank(Path(path), note="x" * 400)
    remaining: list[int] = []
    with (
        contextlib.closing(bk.open_bank(path)) as src,
        connect(tmp_path / "copy.db") as dst,
    ):

        def step_done(status: int, left: int, total: int) -> None:
            remaining.append(left)
            if len(remaining) == 2:
                bk.transfer(src, "2026-12-04T09:01", 1, 2, 10)

        src.backup(dst, pages=8, progress=step_done)
        assert remaining == sorted(remaining, reverse=True)  # never went back
        assert bk.audit(dst) == ("ok", 100_000, 2)  # and the write was copied


def test_vacuum_into_refuses_a_target_that_exists(tmp_path: Path) -> None:
    path, copy = str(tmp_path / "bank.db"), tmp_path / "copy.db"
    new_bank(Path(path))
    bk.backup_vacuum_into(path, str(copy))  # last night's copy is still there
    with pytest.raises(sqlite3.OperationalError, match="output file already exists"):
        bk.backup_vacuum_into(path, str(copy))
    copy.write_bytes(b"")  # an empty file is accepted
    bk.backup_vacuum_into(path, str(copy))
    with connect(copy) as restored:
        assert bk.audit(restored) == ("ok", 100_000, 1)


def test_open_bank_refuses_an_unknown_journal_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown journal mode 'OFF; DROP'"):
        bk.open_bank(str(tmp_path / "bank.db"), journal="OFF; DROP")
    assert not (tmp_path / "bank.db").exists()
