"""The backups page's claims, checked on real SQLite databases.

The oracles: SQLite itself (`PRAGMA integrity_check`, its own recovery of a
-wal file, the online backup API's progress report) and the history the
writer really committed: a copy is consistent when it equals the state after
exactly n of the writer's transactions, replayed from its log onto a fresh
bank, and point-in-time recovery is right when it lands on the state the live
database had at the chosen moment.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import sqlite3
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data import backups as bk
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
    with pytest.raises(bk.DrillFailed, match="total"):
        bk.restore_drill(copy, 100, 100_000, OPENED)  # a drill notices


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


# --- point-in-time recovery -----------------------------------------------------------

START = datetime(2026, 12, 4, 9, 0)


def minute(n: int) -> str:
    return (START + timedelta(minutes=n)).isoformat(timespec="minutes")


workloads = st.lists(
    st.tuples(
        st.integers(0, 3),  # minutes after the previous transaction
        st.integers(1, 5),  # from
        st.integers(1, 5),  # to
        st.integers(1, 50),  # amount
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=30, deadline=None)
@given(workloads, st.data())
def test_recovery_lands_exactly_on_the_state_at_the_chosen_moment(
    workload, data
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, base = os.path.join(tmp, "bank.db"), os.path.join(tmp, "base.db")
        log = os.path.join(tmp, "archive.jsonl")
        conn = bk.open_bank(path)
        with contextlib.closing(conn):
            bk.open_accounts(conn, minute(0), 5, 1000)
            base_after = data.draw(st.integers(0, len(workload)), label="base")
            history = [(minute(0), 1, balances(conn))]  # (at, seq, state)
            shipped, now = 0, 0
            for i, (gap, source, target, amount) in enumerate(workload):
                if i == base_after:
                    bk.backup_online(path, base)
                    shipped = bk.archive(conn, log, shipped)
                now += gap
                bk.transfer(conn, minute(now), source, target, amount)
                history.append((minute(now), i + 2, balances(conn)))
            if base_after == len(workload):
                bk.backup_online(path, base)
            bk.archive(conn, log, shipped)
        with connect(base) as b:
            base_seq = bk.last_seq(b)
        until = minute(data.draw(st.integers(0, now + 2), label="until"))
        # the live database's state at `until`: its last commit at or before it
        # (never earlier than the base backup: recovery cannot go back further)
        _, seq, expected = [h for h in history if h[0] <= until][-1]
        seq, expected = max((seq, expected), (base_seq, history[base_seq - 1][2]))
        restored = os.path.join(tmp, "restored.db")
        assert bk.recover(base, log, until, restored) == seq
        with connect(restored) as r:
            assert balances(r) == expected
            assert bk.audit(r) == ("ok", 5000, seq)


def pitr_setup(tmp_path: Path) -> tuple[str, str]:
    path, base = str(tmp_path / "bank.db"), str(tmp_path / "base.db")
    log = str(tmp_path / "archive.jsonl")
    with contextlib.closing(bk.open_bank(path)) as conn:
        bk.open_accounts(conn, OPENED, 10, 1000)
        bk.backup_online(path, base)
        for i in range(1, 6):
            bk.transfer(conn, minute(i), 1, 2, 10)
        assert bk.archive(conn, log, 0) == 6
        assert bk.archive(conn, log, 6) == 6  # nothing new: nothing shipped
    return base, log


def test_an_archive_holds_one_line_per_transaction(tmp_path: Path) -> None:
    _, log = pitr_setup(tmp_path)
    lines = [json.loads(line) for line in Path(log).read_text().splitlines()]
    assert [seq for seq, _, _ in lines] == [1, 2, 3, 4, 5, 6]


def test_recovery_refuses_to_replay_across_a_gap_in_the_archive(
    tmp_path: Path,
) -> None:
    base, log = pitr_setup(tmp_path)
    lines = Path(log).read_text().splitlines(keepends=True)
    Path(log).write_text("".join(lines[:3] + lines[4:]))  # seq 4 is lost
    with pytest.raises(ValueError, match="archive gap: need 4, got 5"):
        bk.recover(base, log, minute(10), str(tmp_path / "r.db"))


def test_recovery_includes_a_transaction_committed_exactly_at_the_target(
    tmp_path: Path,
) -> None:
    base, log = pitr_setup(tmp_path)
    assert bk.recover(base, log, minute(3), str(tmp_path / "r.db")) == 4
    assert bk.recover(base, log, minute(2) + ":59", str(tmp_path / "s.db")) == 3


# --- restore drills -------------------------------------------------------------------


def test_the_nightly_script_backs_up_an_empty_database_and_reports_success(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    new_bank(tmp_path / "data" / "bank.db")
    wrong, nightly = str(tmp_path / "bank.db"), str(tmp_path / "nightly.db")
    assert bk.nightly_backup(wrong, nightly).startswith("backup ok")
    assert os.path.getsize(wrong) == 0  # connect() created it
    with connect(nightly) as copy:  # the structural check is fooled...
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with pytest.raises(bk.DrillFailed, match=r"tables \[\]"):  # ...the drill is not
        bk.restore_drill(nightly, 100, 100_000, OPENED)


def test_the_safer_script_refuses_a_missing_file_and_its_backup_passes_the_drill(
    tmp_path: Path,
) -> None:
    real, copy = tmp_path / "bank.db", str(tmp_path / "copy.db")
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        bk.safer_backup(str(real), copy)
    assert not real.exists()  # nothing created
    new_bank(real)
    assert bk.safer_backup(str(real), copy).startswith("backup ok")
    assert bk.restore_drill(copy, 100, 100_000, OPENED) == (
        f"restored: 100 accounts, total 100000, last change {OPENED}"
    )


def test_the_drill_fails_a_stale_backup(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    new_bank(path)
    with pytest.raises(bk.DrillFailed, match="last change 2026-12-04T09:00"):
        bk.restore_drill(str(path), 100, 100_000, "2026-12-05T09:00")


def test_the_drill_fails_a_corrupt_backup(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    new_bank(path, note="x" * 400)
    data = bytearray(path.read_bytes())
    data[5 * 4096 : 6 * 4096] = b"\xff" * 4096  # one page of garbage
    path.write_bytes(bytes(data))
    with pytest.raises((bk.DrillFailed, sqlite3.DatabaseError)):
        bk.restore_drill(str(path), 100, 100_000, OPENED)


def test_open_bank_refuses_an_unknown_journal_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown journal mode 'OFF; DROP'"):
        bk.open_bank(str(tmp_path / "bank.db"), journal="OFF; DROP")
    assert not (tmp_path / "bank.db").exists()
