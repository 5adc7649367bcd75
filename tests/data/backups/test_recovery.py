"""The recovery part of the backups page, checked on real SQLite databases.

The oracles: the state the live database had at the chosen moment (point-in-time
recovery must land exactly there, for generated workloads and targets), and
SQLite's own `PRAGMA integrity_check` and the bank's invariants in the restore drill,
which must catch the backups that only look fine.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data.backups import copies as bk
from snippets.data.backups import recovery as rc
from tests.data.backups.test_copies import OPENED, balances, connect, new_bank

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
                    shipped = rc.archive(conn, log, shipped)
                now += gap
                bk.transfer(conn, minute(now), source, target, amount)
                history.append((minute(now), i + 2, balances(conn)))
            if base_after == len(workload):
                bk.backup_online(path, base)
            rc.archive(conn, log, shipped)
        with connect(base) as b:
            base_seq = bk.last_seq(b)
        until = minute(data.draw(st.integers(0, now + 2), label="until"))
        # the live database's state at `until`: its last commit at or before it
        # (never earlier than the base backup: recovery cannot go back further)
        _, seq, expected = [h for h in history if h[0] <= until][-1]
        seq, expected = max((seq, expected), (base_seq, history[base_seq - 1][2]))
        restored = os.path.join(tmp, "restored.db")
        assert rc.recover(base, log, until, restored) == seq
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
        assert rc.archive(conn, log, 0) == 6
        assert rc.archive(conn, log, 6) == 6  # nothing new: nothing shipped
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
        rc.recover(base, log, minute(10), str(tmp_path / "r.db"))


def test_recovery_includes_a_transaction_committed_exactly_at_the_target(
    tmp_path: Path,
) -> None:
    base, log = pitr_setup(tmp_path)
    assert rc.recover(base, log, minute(3), str(tmp_path / "r.db")) == 4
    assert rc.recover(base, log, minute(2) + ":59", str(tmp_path / "s.db")) == 3


# --- restore drills -------------------------------------------------------------------


def test_the_nightly_script_backs_up_an_empty_database_and_reports_success(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    new_bank(tmp_path / "data" / "bank.db")
    wrong, nightly = str(tmp_path / "bank.db"), str(tmp_path / "nightly.db")
    assert rc.nightly_backup(wrong, nightly).startswith("backup ok")
    assert os.path.getsize(wrong) == 0  # connect() created it
    with connect(nightly) as copy:  # the structural check is fooled...
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with pytest.raises(rc.DrillFailed, match=r"tables \[\]"):  # ...the drill is not
        rc.restore_drill(nightly, 100, 100_000, OPENED)


def test_the_safer_script_refuses_a_missing_file_and_its_backup_passes_the_drill(
    tmp_path: Path,
) -> None:
    real, copy = tmp_path / "bank.db", str(tmp_path / "copy.db")
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        rc.safer_backup(str(real), copy)
    assert not real.exists()  # nothing created
    new_bank(real)
    assert rc.safer_backup(str(real), copy).startswith("backup ok")
    assert rc.restore_drill(copy, 100, 100_000, OPENED) == (
        f"restored: 100 accounts, total 100000, last change {OPENED}"
    )


def test_the_drill_fails_a_stale_backup(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    new_bank(path)
    with pytest.raises(rc.DrillFailed, match="last change 2026-12-04T09:00"):
        rc.restore_drill(str(path), 100, 100_000, "2026-12-05T09:00")


def test_the_drill_fails_a_corrupt_backup(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    new_bank(path, note="x" * 400)
    data = bytearray(path.read_bytes())
    data[5 * 4096 : 6 * 4096] = b"\xff" * 4096  # one page of garbage
    path.write_bytes(bytes(data))
    with pytest.raises((rc.DrillFailed, sqlite3.DatabaseError)):
        rc.restore_drill(str(path), 100, 100_000, OPENED)
