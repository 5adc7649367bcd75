"""The isolation page's claims, reproduced with real SQLite connections to one file.

The oracle is SQLite itself: every anomaly is staged with two (or more) connections to
the same database file under pytest's tmp_path, and the tests assert what SQLite lets
each connection see and which writes it refuses, in WAL mode and in rollback-journal
mode. Threads appear only where the page claims that a second writer waits.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
from contextlib import ExitStack, closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data import isolation as iso
from tests.helpers import run_demo


@pytest.fixture
def bank(tmp_path: Path) -> str:
    path = str(tmp_path / "bank.db")
    iso.create_bank(path)
    return path


@pytest.fixture
def rollback_bank(tmp_path: Path) -> str:
    path = str(tmp_path / "bank-rollback.db")
    iso.create_bank(path, journal_mode="delete")
    return path


def journal_mode(path: str) -> str:
    with closing(iso.connect(path)) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


# --- set-up -----------------------------------------------------------------------------


def test_create_bank_stores_the_journal_mode_in_the_file(bank, rollback_bank) -> None:
    assert (journal_mode(bank), journal_mode(rollback_bank)) == ("wal", "delete")


def test_create_bank_refuses_an_unknown_journal_mode(tmp_path) -> None:
    with pytest.raises(ValueError, match="journal_mode must be one of"):
        iso.create_bank(str(tmp_path / "x.db"), journal_mode="memory")


def test_fresh_bank_deletes_its_database_afterwards(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # keep it under tmp_path
    with iso.fresh_bank() as path:
        assert Path(path).is_file()
        assert journal_mode(path) == "wal"
    assert not Path(path).exists()
    assert list(tmp_path.iterdir()) == []


# --- dirty read -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["wal", "delete"])
def test_a_reader_never_sees_another_connections_uncommitted_write(
    tmp_path, mode
) -> None:
    path = str(tmp_path / f"{mode}.db")
    iso.create_bank(path, journal_mode=mode)
    assert iso.read_during_uncommitted_write(path) == 100


def test_shared_cache_with_read_uncommitted_reads_a_value_that_never_existed(
    bank,
) -> None:
    assert iso.read_uncommitted_in_shared_cache(bank) == 0
    with closing(iso.connect(bank)) as conn:
        assert iso.balance(conn) == 100  # the writer rolled back


def test_shared_cache_without_read_uncommitted_fails_at_once(bank) -> None:
    uri = f"{Path(bank).resolve().as_uri()}?cache=shared"
    with (
        closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as writer,
        closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as reader,
    ):
        writer.execute("BEGIN")
        writer.execute("UPDATE accounts SET balance = 0 WHERE id = 1")
        with pytest.raises(sqlite3.OperationalError, match="table is locked") as exc:
            iso.balance(reader)
        assert exc.value.sqlite_errorname == "SQLITE_LOCKED_SHAREDCACHE"
        writer.execute("ROLLBACK")


def test_read_uncommitted_without_shared_cache_changes_nothing(bank) -> None:
    with closing(iso.connect(bank)) as writer, closing(iso.connect(bank)) as reader:
        reader.execute("PRAGMA read_uncommitted = ON")
        writer.execute("BEGIN")
        writer.execute("UPDATE accounts SET balance = 0 WHERE id = 1")
        assert iso.balance(reader) == 100
        writer.execute("ROLLBACK")


# --- non-repeatable read and phantom ---------------------------------------------------


@pytest.mark.parametrize(
    ("query", "change", "outside", "inside"),
    [
        (iso.BALANCE, iso.DEPOSIT_50, ([(100,)], [(150,)]), ([(100,)], [(100,)])),
        (iso.RICH, iso.OPEN_ACCOUNT, ([(1,)], [(1,), (2,)]), ([(1,)], [(1,)])),
    ],
    ids=["non-repeatable read", "phantom"],
)
def test_wal_snapshot_keeps_both_reads_equal_only_inside_a_transaction(
    tmp_path, query, change, outside, inside
) -> None:
    first, second = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    iso.create_bank(first)
    iso.create_bank(second)
    assert iso.read_twice(first, query, change, in_transaction=False) == outside
    assert iso.read_twice(second, query, change, in_transaction=True) == inside
    with closing(iso.connect(second)) as conn:  # the writer did commit
        assert conn.execute(query).fetchall() == outside[1]


def test_rollback_journal_makes_the_writer_wait_then_fail(rollback_bank) -> None:
    with pytest.raises(sqlite3.OperationalError, match="database is locked") as exc:
        iso.read_twice(rollback_bank, iso.BALANCE, iso.DEPOSIT_50, in_transaction=True)
    assert exc.value.sqlite_errorname == "SQLITE_BUSY"
    with closing(iso.connect(rollback_bank)) as conn:
        assert iso.balance(conn) == 100  # the writer's autocommit UPDATE rolled back


def test_rollback_journal_outside_a_transaction_sees_the_change(rollback_bank) -> None:
    result = iso.read_twice(
        rollback_bank, iso.BALANCE, iso.DEPOSIT_50, in_transaction=False
    )
    assert result == ([(100,)], [(150,)])


@pytest.mark.parametrize(
    ("first_statement", "sees_the_deposit"),
    [(None, True), ("SELECT 1", True), ("SELECT COUNT(*) FROM doctors", False)],
)
def test_the_snapshot_starts_at_the_first_read_of_the_database_not_at_begin(
    bank, first_statement, sees_the_deposit
) -> None:
    with closing(iso.connect(bank)) as reader, closing(iso.connect(bank)) as writer:
        reader.execute("BEGIN")
        if first_statement:
            reader.execute(first_statement).fetchall()
        writer.execute(iso.DEPOSIT_50)
        assert (iso.balance(reader) == 150) is sees_the_deposit
        reader.execute("COMMIT")


# --- lost update ------------------------------------------------------------------------


def test_read_and_write_in_separate_transactions_lose_an_update(bank) -> None:
    assert iso.lost_update(bank, in_transaction=False) == ("committed", 120)


def test_sqlite_refuses_the_stale_writer_inside_transactions(bank) -> None:
    assert iso.lost_update(bank, in_transaction=True) == ("SQLITE_BUSY_SNAPSHOT", 150)


def test_in_rollback_journal_mode_the_first_committer_waits_for_the_reader(
    rollback_bank,
) -> None:
    """The page's first exercise: now Alice's COMMIT fails (Bob holds a shared lock)."""
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        iso.lost_update(rollback_bank, in_transaction=True)
    with closing(iso.connect(rollback_bank)) as conn:
        assert iso.balance(conn) == 100


def test_retrying_the_statement_fails_until_the_transaction_restarts(bank) -> None:
    with closing(iso.connect(bank)) as alice, closing(iso.connect(bank)) as bob:
        bob.execute("BEGIN")
        seen = iso.balance(bob)
        alice.execute(iso.DEPOSIT_50)
        for _ in range(2):
            with pytest.raises(sqlite3.OperationalError) as exc:
                bob.execute(iso.SET_BALANCE, (seen + 20,))
            assert exc.value.sqlite_errorname == "SQLITE_BUSY_SNAPSHOT"
        bob.execute("ROLLBACK")
        bob.execute("BEGIN")
        bob.execute(iso.SET_BALANCE, (iso.balance(bob) + 20,))
        bob.execute("COMMIT")
        assert iso.balance(alice) == 170


def test_the_busy_timeout_is_skipped_when_a_reader_tries_to_become_a_writer(
    bank,
) -> None:
    with (
        closing(iso.connect(bank)) as alice,
        closing(iso.connect(bank, timeout=3.0)) as bob,
    ):
        bob.execute("BEGIN")
        iso.balance(bob)  # Bob holds a read snapshot
        alice.execute("BEGIN IMMEDIATE")  # Alice holds the write lock
        start = time.perf_counter()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            bob.execute(iso.DEPOSIT_50)
        assert time.perf_counter() - start < 1.5  # far less than Bob's 3 s timeout
        alice.execute("ROLLBACK")
        bob.execute("ROLLBACK")


def test_pythons_default_mode_reads_outside_the_transaction_and_loses_updates(
    bank,
) -> None:
    """The pitfall: legacy sqlite3 opens a transaction before UPDATE, not SELECT."""
    with (
        closing(sqlite3.connect(bank, timeout=0.1)) as alice,
        closing(sqlite3.connect(bank, timeout=0.1)) as bob,
    ):
        seen_by_alice, seen_by_bob = iso.balance(alice), iso.balance(bob)
        assert not alice.in_transaction  # the SELECT did not begin one
        alice.execute(iso.SET_BALANCE, (seen_by_alice + 50,))
        alice.commit()
        bob.execute(iso.SET_BALANCE, (seen_by_bob + 20,))
        bob.commit()
        assert iso.balance(alice) == 120


# --- optimistic locking -------------------------------------------------------------------


def test_a_write_with_a_stale_version_changes_nothing(bank) -> None:
    with closing(iso.connect(bank)) as alice, closing(iso.connect(bank)) as bob:
        (a_balance, a_version), (b_balance, b_version) = (
            iso.read_account(alice),
            iso.read_account(bob),
        )
        assert iso.write_if_unchanged(alice, a_balance + 50, a_version)
        assert not iso.write_if_unchanged(bob, b_balance + 20, b_version)
        assert iso.read_account(bob) == (150, 2)
        assert iso.deposit_optimistic(bob, 20) == 1
        assert iso.read_account(alice) == (170, 3)


def test_deposit_optimistic_retries_after_a_conflict_then_gives_up(
    bank, monkeypatch
) -> None:
    real_write = iso.write_if_unchanged
    conflicts = {"left": 2}

    with closing(iso.connect(bank)) as rival, closing(iso.connect(bank)) as conn:

        def write_after_a_rival(c, new_balance, version):
            if conflicts["left"]:
                conflicts["left"] -= 1
                current, rival_version = iso.read_account(rival)
                real_write(
                    rival, current + 1, rival_version
                )  # a rival gets there first
            return real_write(c, new_balance, version)

        monkeypatch.setattr(iso, "write_if_unchanged", write_after_a_rival)
        assert iso.deposit_optimistic(conn, 10) == 3  # two conflicts, third try wins
        assert iso.read_account(conn) == (112, 4)
        conflicts["left"] = 5
        with pytest.raises(iso.ConflictError, match="changed under us 3 times"):
            iso.deposit_optimistic(conn, 10, attempts=3)


@pytest.fixture(scope="module")
def shared_bank(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("schedules") / "bank.db")
    iso.create_bank(path)
    return path


def run_schedule(path: str, amounts: list[int], schedule: list[int], safe: bool) -> int:
    """Interleave read and write steps of one deposit per client; return the balance.

    Each client reads (balance, version), then writes; with `safe`, the write is
    `write_if_unchanged` and a conflict sends the client back to reading. After the
    schedule, clients left unfinished run to the end one at a time.
    """
    with ExitStack() as stack:
        conns = [stack.enter_context(closing(iso.connect(path))) for _ in amounts]
        for conn in conns:  # isolation, not durability, is under test: skip fsync
            conn.execute("PRAGMA synchronous = OFF")
        seen: dict[int, tuple[int, int]] = {}
        done: set[int] = set()

        def step(who: int) -> None:
            if who in done:
                return
            if who not in seen:
                seen[who] = iso.read_account(conns[who])
                return
            current, version = seen.pop(who)
            new = current + amounts[who]
            if not safe:
                conns[who].execute(iso.SET_BALANCE, (new,))
                done.add(who)
            elif iso.write_if_unchanged(conns[who], new, version):
                done.add(who)

        for who in schedule:
            step(who % len(amounts))
        for who in range(len(amounts)):
            while who not in done:
                step(who)
        return iso.balance(conns[0])


@settings(max_examples=100)
@given(
    amounts=st.lists(st.integers(1, 100), min_size=2, max_size=4),
    schedule=st.lists(st.integers(0, 3), max_size=16),
)
def test_optimistic_deposits_never_lose_an_update_in_any_interleaving(
    shared_bank, amounts, schedule
) -> None:
    """Property: with the version check, every deposit counts, whatever the order."""
    for safe in (True, False):
        with closing(iso.connect(shared_bank)) as conn:
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("UPDATE accounts SET balance = 100, version = 1 WHERE id = 1")
        final = run_schedule(shared_bank, amounts, schedule, safe)
        if safe:
            assert final == 100 + sum(amounts)
        else:
            assert final <= 100 + sum(amounts)  # the naive way can only lose money


def test_the_naive_read_modify_write_loses_an_update_in_an_overlapping_schedule(
    bank,
) -> None:
    overlapping = [0, 1, 0, 1]  # read, read, write, write
    assert run_schedule(bank, [50, 20], overlapping, safe=False) == 120


# --- BEGIN IMMEDIATE ----------------------------------------------------------------------


def test_begin_immediate_makes_the_second_writer_wait_not_lose(bank) -> None:
    """Two threads, 20 deposits each, 5 s busy timeout: every deposit counts."""
    start = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def depositor(amount: int) -> None:
        try:
            with closing(iso.connect(bank, timeout=5.0)) as conn:
                start.wait()
                for _ in range(20):
                    iso.deposit_immediate(conn, amount)
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=depositor, args=(a,)) for a in (50, 20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    with closing(iso.connect(bank)) as conn:
        assert iso.balance(conn) == 100 + 20 * 50 + 20 * 20


def test_begin_immediate_fails_fast_with_a_short_timeout_then_succeeds(bank) -> None:
    with closing(iso.connect(bank)) as alice, closing(iso.connect(bank)) as bob:
        alice.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as exc:
            iso.deposit_immediate(bob, 20)
        assert exc.value.sqlite_errorname == "SQLITE_BUSY"
        alice.execute(iso.SET_BALANCE, (iso.balance(alice) + 50,))
        alice.execute("COMMIT")
        assert iso.deposit_immediate(bob, 20) == 170


def test_deposit_immediate_rolls_back_and_releases_the_lock_on_error(bank) -> None:
    with closing(iso.connect(bank)) as conn, closing(iso.connect(bank)) as other:
        with pytest.raises(TypeError):
            iso.deposit_immediate(conn, None)  # type: ignore[arg-type]
        assert not conn.in_transaction
        other.execute("BEGIN IMMEDIATE")  # the write lock is free again
        other.execute("COMMIT")


# --- write skew ------------------------------------------------------------------------


def test_check_then_act_in_separate_transactions_leaves_nobody_on_call(bank) -> None:
    assert iso.write_skew(bank, in_transaction=False) == ((2, 2), "committed", 0)


def test_sqlite_refuses_the_write_skew_and_bobs_retry_sees_one_on_call(bank) -> None:
    assert iso.write_skew(bank, in_transaction=True) == (
        (2, 2),
        "SQLITE_BUSY_SNAPSHOT",
        1,
    )
    with closing(iso.connect(bank)) as bob:
        bob.execute("BEGIN IMMEDIATE")
        assert iso.on_call(bob) == 1  # the rule forbids Bob to leave now
        bob.execute("ROLLBACK")


def test_write_skew_in_rollback_journal_mode_blocks_the_first_committer(
    rollback_bank,
) -> None:
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        iso.write_skew(rollback_bank, in_transaction=True)
    with closing(iso.connect(rollback_bank)) as conn:
        assert iso.on_call(conn) == 2


# --- the demo ---------------------------------------------------------------------------


def test_the_demo_prints_what_the_page_shows() -> None:
    result = run_demo("snippets.data.isolation", check=True)
    assert result.stdout.splitlines() == [
        "100",
        "0",
        "([(100,)], [(150,)])",
        "([(100,)], [(100,)])",
        "([(1,)], [(1,), (2,)])",
        "([(1,)], [(1,)])",
        "database is locked",
        "('committed', 120)",
        "('SQLITE_BUSY_SNAPSHOT', 150)",
        "(100, 1) (100, 1)",
        "True",
        "False",
        "1",
        "(170, 3)",
        "database is locked SQLITE_BUSY",
        "170",
        "((2, 2), 'committed', 0)",
        "((2, 2), 'SQLITE_BUSY_SNAPSHOT', 1)",
    ]
    assert result.stderr == ""
