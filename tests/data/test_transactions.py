"""The transactions page's claims, checked on real SQLite databases and real crashes.

The oracle is SQLite: its own errors and `in_transaction` for the state table, its
recovery after a child process is killed with SIGKILL in the middle of a transaction.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data import transactions as tx
from tests.helpers import TIMEOUT

MANY = {f"customer-{i:04d}": 100 for i in range(2000)}


@pytest.fixture
def bank(tmp_path: Path) -> str:
    path = str(tmp_path / "bank.db")
    tx.create_bank(path, {"alice": 100, "bob": 50})
    return path


def connect(path: str, **options: object) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path, **options))


# --- atomicity: a transfer commits whole or not at all -------------------------------


def test_a_transfer_moves_money_and_commits(bank: str) -> None:
    with connect(bank) as conn:
        tx.transfer(conn, "alice", "bob", 30)
        assert not conn.in_transaction
    with connect(bank) as other:  # committed: another connection sees it
        assert tx.balances(other) == {"alice": 70, "bob": 80}


def test_an_overdraft_rolls_back_the_credit_already_made(bank: str) -> None:
    with connect(bank) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            tx.transfer(conn, "alice", "bob", 101)
        assert not conn.in_transaction
        assert tx.balances(conn) == {"alice": 100, "bob": 50}


def test_an_exception_between_the_two_updates_rolls_back(bank: str) -> None:
    with connect(bank) as conn:
        with pytest.raises(RuntimeError, match="after crediting bob"):
            tx.transfer(conn, "alice", "bob", 10, fail=True)
        assert tx.balances(conn) == {"alice": 100, "bob": 50}


@pytest.mark.parametrize(
    ("source", "target"), [("alice", "nobody"), ("nobody", "bob")], ids=["to", "from"]
)
def test_a_transfer_with_an_unknown_account_changes_nothing(
    bank: str, source: str, target: str
) -> None:
    with connect(bank) as conn:
        with pytest.raises(tx.UnknownAccount, match="nobody"):
            tx.transfer(conn, source, target, 10)
        assert tx.balances(conn) == {"alice": 100, "bob": 50}


def test_without_the_rowcount_check_an_update_of_no_row_is_silent(bank: str) -> None:
    with connect(bank) as conn:
        cursor = conn.execute("UPDATE accounts SET balance = 0 WHERE owner = 'nobody'")
        assert cursor.rowcount == 0  # no error: why transfer() checks it
        conn.rollback()


def test_a_failed_statement_leaves_the_transaction_open_and_commit_keeps_the_rest(
    bank: str,
) -> None:
    """The trap that `with conn:` saves you from: catch, COMMIT, half a transfer."""
    with connect(bank) as conn:
        conn.execute("UPDATE accounts SET balance = balance + 500 WHERE owner = 'bob'")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "UPDATE accounts SET balance = balance - 500 WHERE owner = 'alice'"
            )
        assert conn.in_transaction
        conn.commit()
        assert tx.balances(conn) == {"alice": 100, "bob": 550}


# --- Python's sqlite3 transaction control (3.11) --------------------------------------


def test_the_default_isolation_level_begins_before_dml_only(bank: str) -> None:
    with connect(bank) as conn:
        assert conn.isolation_level == ""
        conn.execute("SELECT * FROM accounts").fetchall()
        assert not conn.in_transaction
        conn.execute("UPDATE accounts SET balance = balance")
        assert conn.in_transaction


def test_closing_without_commit_discards_the_changes(bank: str) -> None:
    with connect(bank) as conn:
        conn.execute("UPDATE accounts SET balance = 0 WHERE owner = 'bob'")
    with connect(bank) as conn:
        assert tx.balances(conn)["bob"] == 50


def test_with_conn_commits_but_does_not_close(bank: str) -> None:
    with connect(bank) as conn:
        with conn:
            conn.execute("UPDATE accounts SET balance = 1 WHERE owner = 'bob'")
        assert conn.execute("SELECT 1").fetchone() == (1,)  # still open


def test_isolation_level_none_is_autocommit(bank: str) -> None:
    with connect(bank, isolation_level=None) as conn:
        conn.execute("UPDATE accounts SET balance = 1 WHERE owner = 'bob'")
        assert not conn.in_transaction
    with connect(bank) as conn:
        assert tx.balances(conn)["bob"] == 1


@pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="3.12 added Connection.autocommit"
)
def test_python_3_11_has_no_autocommit_attribute(bank: str) -> None:
    with connect(bank) as conn:
        assert not hasattr(conn, "autocommit")


def test_explicit_transaction_commits_or_rolls_back(bank: str) -> None:
    with connect(bank, isolation_level=None) as conn:
        with tx.transaction(conn):
            conn.execute("UPDATE accounts SET balance = 1 WHERE owner = 'bob'")
        with contextlib.suppress(ZeroDivisionError), tx.transaction(conn, "DEFERRED"):
            conn.execute("UPDATE accounts SET balance = 2 WHERE owner = 'bob'")
            _ = 1 / 0
            pytest.fail("not reached")  # pragma: no cover
        assert not conn.in_transaction
        assert tx.balances(conn)["bob"] == 1


def test_an_unknown_transaction_mode_is_refused(bank: str) -> None:
    with connect(bank, isolation_level=None) as conn:
        with (
            pytest.raises(ValueError, match="unknown transaction mode"),
            tx.transaction(conn, "IMMEDIATE; DROP TABLE accounts"),
        ):
            pass  # pragma: no cover
        assert tx.balances(conn)


def test_begin_immediate_takes_the_write_lock_at_begin(bank: str) -> None:
    with (
        connect(bank, isolation_level=None) as first,
        connect(bank, isolation_level=None, timeout=0) as second,
        tx.transaction(first, "IMMEDIATE"),
    ):
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            second.execute("BEGIN IMMEDIATE")
        second.execute("BEGIN DEFERRED")  # a deferred BEGIN takes no lock...
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            second.execute("UPDATE accounts SET balance = 0")  # ...until it writes
        second.execute("ROLLBACK")


def test_a_deferred_transaction_that_read_first_cannot_upgrade_in_wal(
    tmp_path: Path,
) -> None:
    """In WAL mode the reader's snapshot is stale once another writer commits:
    its first write fails at once, whatever the busy timeout."""
    path = str(tmp_path / "bank.db")
    tx.create_bank(path, {"alice": 100, "bob": 50}, journal="WAL")
    with (
        connect(path, isolation_level=None, timeout=5) as first,
        connect(path, isolation_level=None) as second,
    ):
        first.execute("BEGIN")
        tx.balances(first)  # a read: first now has a snapshot
        second.execute("UPDATE accounts SET balance = 0 WHERE owner = 'bob'")
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            first.execute("UPDATE accounts SET balance = 1 WHERE owner = 'alice'")
        first.execute("ROLLBACK")


@pytest.mark.parametrize("journal", ["DELETE", "WAL"])
def test_the_upgrade_fails_at_once_while_another_connection_holds_the_write_lock(
    tmp_path: Path, journal: str
) -> None:
    """Nobody has committed yet: the other connection only holds the write lock. The
    read-then-write upgrade still fails without waiting (SQLite calls no busy handler
    for a connection that already reads: waiting could deadlock), in both journal
    modes; BEGIN IMMEDIATE instead waits for the lock and gets it."""
    path = str(tmp_path / "bank.db")
    tx.create_bank(path, {"alice": 100, "bob": 50}, journal=journal)
    busy_timeout = 2.0
    with (
        connect(path, isolation_level=None, timeout=busy_timeout) as first,
        connect(path, isolation_level=None, check_same_thread=False) as second,
    ):
        first.execute("BEGIN")
        tx.balances(first)  # a read: first now holds a read lock or a snapshot
        second.execute("BEGIN IMMEDIATE")  # the write lock, nothing committed
        started = time.perf_counter()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            first.execute("UPDATE accounts SET balance = 1 WHERE owner = 'alice'")
        assert time.perf_counter() - started < busy_timeout / 4  # did not wait
        first.execute("ROLLBACK")
        release = threading.Timer(0.2, second.execute, args=("COMMIT",))
        release.start()
        try:
            first.execute("BEGIN IMMEDIATE")  # waits for the lock, then has it
            first.execute("UPDATE accounts SET balance = 1 WHERE owner = 'alice'")
            first.execute("COMMIT")
        finally:
            release.join(TIMEOUT)
    with connect(path) as check:
        assert tx.balances(check)["alice"] == 1


# --- the state table, against SQLite ---------------------------------------------------

EVENTS = {
    "BEGIN": "BEGIN",
    "UPDATE": "UPDATE accounts SET balance = balance + 1 WHERE owner = 'bob'",
    "failed UPDATE": "UPDATE accounts SET balance = -1 WHERE owner = 'bob'",
    "COMMIT": "COMMIT",
    "ROLLBACK": "ROLLBACK",
}


@settings(max_examples=100)
@given(st.lists(st.sampled_from(sorted(EVENTS)), max_size=12))
def test_the_state_table_allows_and_refuses_what_sqlite_does(events) -> None:
    with connect(":memory:", isolation_level=None) as conn:
        conn.execute(tx.SCHEMA)
        conn.execute("INSERT INTO accounts VALUES ('bob', 5)")
        state = tx.AUTOCOMMIT
        for event in events:
            try:
                expected: str | None = tx.next_state(state, event)
            except tx.IllegalTransition:
                expected = None
            try:
                conn.execute(EVENTS[event])
            except sqlite3.OperationalError:
                assert expected is None, f"SQLite refused {event} in {state}"
                continue
            except sqlite3.IntegrityError:
                assert event == "failed UPDATE"
            assert expected is not None, f"SQLite allowed {event} in {state}"
            state = expected
            assert conn.in_transaction == (state == tx.OPEN)


def test_an_illegal_transition_names_the_state_and_the_event() -> None:
    with pytest.raises(tx.IllegalTransition, match="BEGIN is not allowed in state"):
        tx.next_state(tx.OPEN, "BEGIN")


# --- durability and the WAL ------------------------------------------------------------


def test_a_commit_in_wal_mode_writes_the_wal_not_the_database_file(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "bank.db")
    tx.create_bank(path, {"alice": 100, "bob": 50}, journal="WAL")
    before = Path(path).read_bytes()
    with connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tx.transfer(conn, "alice", "bob", 1)
        tx.transfer(conn, "alice", "bob", 1)
        assert Path(path).read_bytes() == before
        wal = tx.read_wal(path)
        assert wal == tx.WalSummary(page_size=4096, frames=2, commits=2)
        assert os.path.getsize(path + "-wal") == 32 + 2 * (24 + 4096)
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone() == (0, 0, 0)
        assert os.path.getsize(path + "-wal") == 0
        assert tx.read_wal(path) == tx.WalSummary(0, 0, 0)
        assert Path(path).read_bytes() != before
    assert not os.path.exists(path + "-wal")  # the last connection to close removes it


def test_after_a_checkpoint_restart_old_frames_are_not_counted(tmp_path: Path) -> None:
    path = str(tmp_path / "bank.db")
    tx.create_bank(path, {"alice": 100, "bob": 50}, journal="WAL")
    with connect(path) as conn:
        for _ in range(3):
            tx.transfer(conn, "alice", "bob", 1)
        conn.execute("PRAGMA wal_checkpoint(RESTART)")
        tx.transfer(conn, "alice", "bob", 1)  # rewrites the WAL from its start
        assert os.path.getsize(path + "-wal") == 32 + 3 * (24 + 4096)  # 3 frames stay
        assert tx.read_wal(path).frames == 1  # but only 1 has the current salts


def test_read_wal_refuses_a_file_that_is_not_a_wal(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    (tmp_path / "x.db-wal").write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="not a SQLite WAL file"):
        tx.read_wal(str(path))


@pytest.mark.parametrize(
    ("level", "value"), [("OFF", 0), ("NORMAL", 1), ("FULL", 2), ("EXTRA", 3)]
)
def test_the_synchronous_levels_are_numbered_as_the_page_says(
    tmp_path: Path, level: str, value: int
) -> None:
    with connect(str(tmp_path / "s.db")) as conn:
        conn.execute(f"PRAGMA synchronous = {level}")
        assert conn.execute("PRAGMA synchronous").fetchone() == (value,)


# --- a process killed in the middle of a transaction -----------------------------------


def test_a_child_killed_mid_transaction_with_a_rollback_journal_leaves_no_trace(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "bank.db")
    tx.create_bank(path, MANY)
    before = Path(path).read_bytes()
    with contextlib.closing(tx.ChildProcess(tx.debit_all_then_wait, (path,))) as child:
        assert child.receive() == "updated 2000 rows, not committed"
        assert Path(path).read_bytes() != before  # uncommitted pages reached the file
        assert os.path.exists(path + "-journal")
        with (
            connect(path, timeout=0) as other,
            pytest.raises(sqlite3.OperationalError, match="locked"),
        ):
            tx.balances(other)  # the writer holds an exclusive lock
    assert child.exit_code == -signal.SIGKILL
    assert os.path.exists(path + "-journal")  # hot: its writer died
    with connect(path) as conn:
        assert tx.balances(conn) == MANY
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("UPDATE accounts SET balance = 7")  # not locked any more
        conn.commit()
    assert not os.path.exists(path + "-journal")
    assert Path(path).read_bytes() != before


def test_a_child_killed_mid_transaction_in_wal_mode_leaves_no_trace(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "bank.db")
    tx.create_bank(path, MANY, journal="WAL")
    with contextlib.closing(tx.ChildProcess(tx.debit_all_then_wait, (path,))) as child:
        child.receive()
        wal = tx.read_wal(path)
        assert wal.frames > 0
        assert wal.commits == 0
        with connect(path) as reader:  # readers go on, and see the last commit
            assert tx.balances(reader) == MANY
    assert child.exit_code == -signal.SIGKILL
    with connect(path) as conn:
        assert tx.balances(conn) == MANY
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("journal", ["DELETE", "WAL"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_child_killed_at_a_random_point_keeps_every_acknowledged_transfer(
    tmp_path: Path, journal: str, seed: int
) -> None:
    """Every transfer the child acknowledged (after its COMMIT) is there; the one it
    was in the middle of is there whole or not at all."""
    path = str(tmp_path / "bank.db")
    tx.create_bank(path, {"alice": 100_000, "bob": 0}, journal=journal)
    acknowledged = random.Random(seed).randint(1, 30)
    with contextlib.closing(tx.ChildProcess(tx.transfer_forever, (path,))) as child:
        acks = [child.receive() for _ in range(acknowledged)]
    assert child.exit_code == -signal.SIGKILL
    assert acks == list(range(acknowledged))
    with connect(path) as conn:
        result = tx.balances(conn)
        assert result["alice"] + result["bob"] == 100_000  # no money made or lost
        assert result["bob"] >= acknowledged  # every acknowledged commit survived
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_the_parent_gives_up_on_a_silent_child(tmp_path: Path) -> None:
    def silent(pipe) -> None:
        pipe.poll(30)

    with (
        contextlib.closing(tx.ChildProcess(silent, ())) as child,
        pytest.raises(TimeoutError, match="no message"),
    ):
        child.receive(timeout=0.2)
    child.close()  # closing twice is harmless
    assert child.exit_code == -signal.SIGKILL


def test_the_children_run_in_process_roll_back_or_stop_at_the_check(
    tmp_path: Path,
) -> None:
    """The children's code, run here (coverage cannot follow a killed child)."""
    path = str(tmp_path / "bank.db")
    tx.create_bank(path, {"alice": 3, "bob": 1})
    ours, theirs = multiprocessing.Pipe()
    with contextlib.closing(ours), contextlib.closing(theirs):
        ours.send("stop waiting")  # so the child's poll returns at once
        tx.debit_all_then_wait(path, theirs)  # returns and closes: rollback
        assert ours.recv() == "updated 2 rows, not committed"
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            tx.transfer_forever(path, theirs)  # alice runs dry after 3
        assert [ours.recv() for _ in range(3)] == [0, 1, 2]
    with connect(path) as conn:
        assert tx.balances(conn) == {"alice": 0, "bob": 4}
