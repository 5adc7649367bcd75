"""Isolation and anomalies, reproduced with two real connections to one SQLite
file.

What it teaches: what a transaction sees of another one. Each anomaly of the
classic list (dirty read, non-repeatable read, phantom, lost update, write skew)
is staged by interleaving the statements of two connections, step by step, in
one thread, so every run is the same. SQLite prevents the dirty read (unless you
opt into shared cache and `read_uncommitted`), gives a reader in WAL mode a
stable snapshot (no non-repeatable read, no phantom), and refuses a second
writer whose snapshot is stale (no lost update, no write skew inside
transactions). What it cannot prevent is an application that reads and writes in
separate transactions: that lost update is reproduced, then fixed with
optimistic locking (a version column) and with `BEGIN IMMEDIATE`.

Read first: docs/data/transactions.md (BEGIN, COMMIT, ROLLBACK, the write-ahead
log).

What it leaves out: the lock-based and multi-version machinery of server
databases (row locks, SELECT ... FOR UPDATE, PostgreSQL's serializable snapshot
isolation), which the page describes but SQLite, with one writer at a time, does
not need.

Run it: `python -m snippets.data.isolation`.
"""

# --8<-- [start:setup]
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE accounts (
    id      INTEGER PRIMARY KEY,
    balance INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1  -- bumped by every optimistic write
);
CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call INTEGER NOT NULL);
INSERT INTO accounts (id, balance) VALUES (1, 100);
INSERT INTO doctors VALUES ('alice', 1), ('bob', 1);
"""
# write-ahead log, or the classic rollback journal
JOURNAL_MODES = {"wal", "delete"}


def connect(path: str, timeout: float = 0.1) -> sqlite3.Connection:
    """Open `path` in autocommit mode: we write BEGIN and COMMIT ourselves.

    Args:
        path: The database file.
        timeout: Seconds to wait for a lock before "database is locked".
    """
    return sqlite3.connect(path, isolation_level=None, timeout=timeout)


# --8<-- [end:setup]


# --8<-- [start:bank]
def create_bank(path: str, journal_mode: str = "wal") -> None:
    """Create the bank's tables in a new database file at `path`.

    Raises:
        ValueError: `journal_mode` is not one of `JOURNAL_MODES`.
    """
    if journal_mode not in JOURNAL_MODES:
        raise ValueError(f"journal_mode must be one of {sorted(JOURNAL_MODES)}")
    with closing(connect(path)) as conn:
        # stored in the file
        conn.execute(f"PRAGMA journal_mode = {journal_mode}")
        conn.executescript(SCHEMA)


@contextmanager
def fresh_bank(journal_mode: str = "wal") -> Iterator[str]:
    """Yield the path of a new bank database in a temporary directory."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "bank.db")
        create_bank(path, journal_mode)
        yield path


def balance(conn: sqlite3.Connection) -> int:
    """The balance of account 1, as this connection sees it."""
    return conn.execute("SELECT balance FROM accounts WHERE id = 1").fetchone()[
        0
    ]


# --8<-- [end:bank]


# --8<-- [start:dirty_read]
def read_during_uncommitted_write(path: str) -> int:
    """A writer sets the balance to 0 without committing; what does a reader
    see?"""
    with closing(connect(path)) as writer, closing(connect(path)) as reader:
        writer.execute("BEGIN")
        writer.execute("UPDATE accounts SET balance = 0 WHERE id = 1")
        seen = balance(reader)
        writer.execute("ROLLBACK")  # the 0 never existed
    return seen


def read_uncommitted_in_shared_cache(path: str) -> int:
    """The same, with the one setup in which SQLite allows a dirty read."""
    # one shared page cache
    uri = f"{Path(path).resolve().as_uri()}?cache=shared"
    with (
        closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as writer,
        closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as reader,
    ):
        reader.execute("PRAGMA read_uncommitted = ON")
        writer.execute("BEGIN")
        writer.execute("UPDATE accounts SET balance = 0 WHERE id = 1")
        seen = balance(reader)
        writer.execute("ROLLBACK")
    return seen


# --8<-- [end:dirty_read]


# --8<-- [start:read_twice]
BALANCE = "SELECT balance FROM accounts WHERE id = 1"
DEPOSIT_50 = "UPDATE accounts SET balance = balance + 50 WHERE id = 1"
RICH = "SELECT id FROM accounts WHERE balance >= 100"
OPEN_ACCOUNT = "INSERT INTO accounts (id, balance) VALUES (2, 500)"


def read_twice(
    path: str, query: str, change: str, *, in_transaction: bool
) -> tuple[list, list]:
    """Run `query`, let another connection commit `change`, run `query` again.

    Args:
        path: The database file.
        query: What the reader runs, twice.
        change: What the writer runs (and commits, in autocommit mode) in
            between.
        in_transaction: Wrap the reader's two queries in one BEGIN ... COMMIT.
    """
    with closing(connect(path)) as reader, closing(connect(path)) as writer:
        if in_transaction:
            reader.execute("BEGIN")
        first = reader.execute(query).fetchall()
        writer.execute(change)  # committed when execute returns
        second = reader.execute(query).fetchall()
        if in_transaction:
            reader.execute("COMMIT")
    return first, second


# --8<-- [end:read_twice]


# --8<-- [start:lost_update]
SET_BALANCE = "UPDATE accounts SET balance = ? WHERE id = 1"


def lost_update(path: str, *, in_transaction: bool) -> tuple[str, int]:
    """Alice deposits 50 and Bob 20: both read the balance, then both write.

    Returns:
        What happened to Bob's write, and the final balance (it should be 170).
    """
    with closing(connect(path)) as alice, closing(connect(path)) as bob:
        if in_transaction:
            alice.execute("BEGIN")
            bob.execute("BEGIN")
        # both see 100
        seen_by_alice, seen_by_bob = balance(alice), balance(bob)
        alice.execute(SET_BALANCE, (seen_by_alice + 50,))  # 150
        if alice.in_transaction:
            alice.execute("COMMIT")
        try:
            # 120 over Alice's 150?
            bob.execute(SET_BALANCE, (seen_by_bob + 20,))
        except sqlite3.OperationalError as exc:
            bob.execute("ROLLBACK")  # Bob must start over, from a fresh read
            return exc.sqlite_errorname, balance(alice)
        if bob.in_transaction:
            bob.execute("COMMIT")
        return "committed", balance(alice)


# --8<-- [end:lost_update]


# --8<-- [start:optimistic]
class ConflictError(Exception):
    """Another writer kept winning: the optimistic write gave up."""


def read_account(conn: sqlite3.Connection) -> tuple[int, int]:
    """(balance, version) of account 1."""
    return conn.execute(
        "SELECT balance, version FROM accounts WHERE id = 1"
    ).fetchone()


def write_if_unchanged(
    conn: sqlite3.Connection, new_balance: int, version: int
) -> bool:
    """Write `new_balance` only if the row is still at `version`; True if
    written."""
    cursor = conn.execute(
        "UPDATE accounts SET balance = ?, version = version + 1"
        # the check and the write: one statement
        " WHERE id = 1 AND version = ?",
        (new_balance, version),
    )
    return cursor.rowcount == 1  # 0 rows: someone wrote since we read


def deposit_optimistic(
    conn: sqlite3.Connection, amount: int, attempts: int = 5
) -> int:
    """Read, compute, write if unchanged; on a conflict, read again.

    Returns:
        The attempt that succeeded (1 if nobody interfered).

    Raises:
        ConflictError: Every attempt lost to another writer.
    """
    for attempt in range(1, attempts + 1):
        current, version = read_account(conn)
        if write_if_unchanged(conn, current + amount, version):
            return attempt
    raise ConflictError(f"account 1 changed under us {attempts} times")


# --8<-- [end:optimistic]


# --8<-- [start:immediate]
def deposit_immediate(conn: sqlite3.Connection, amount: int) -> int:
    """Take the write lock first, then read and write: a second writer must
    wait.

    Raises:
        sqlite3.OperationalError: "database is locked" if the lock stays taken
            for
            longer than the connection's timeout.
    """
    conn.execute("BEGIN IMMEDIATE")  # the write lock, before the read
    try:
        new_balance = balance(conn) + amount
        conn.execute(SET_BALANCE, (new_balance,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return new_balance


# --8<-- [end:immediate]


# --8<-- [start:write_skew]
GO_OFF_CALL = "UPDATE doctors SET on_call = 0 WHERE name = ?"


def on_call(conn: sqlite3.Connection) -> int:
    """How many doctors are on call, as this connection sees it."""
    return conn.execute(
        "SELECT COUNT(*) FROM doctors WHERE on_call = 1"
    ).fetchone()[0]


def write_skew(
    path: str, *, in_transaction: bool
) -> tuple[tuple[int, int], str, int]:
    """Alice and Bob each check that two doctors are on call, then each leaves.

    Returns:
        What each saw, what happened to Bob's update, and how many doctors are
        on
        call at the end (the rule says at least one).
    """
    with closing(connect(path)) as alice, closing(connect(path)) as bob:
        if in_transaction:
            alice.execute("BEGIN")
            bob.execute("BEGIN")
        seen = on_call(alice), on_call(bob)  # each sees a colleague on call
        alice.execute(GO_OFF_CALL, ("alice",))
        if alice.in_transaction:
            alice.execute("COMMIT")
        try:
            # on the strength of an old check
            bob.execute(GO_OFF_CALL, ("bob",))
        except sqlite3.OperationalError as exc:
            bob.execute("ROLLBACK")
            return seen, exc.sqlite_errorname, on_call(alice)
        if bob.in_transaction:
            bob.execute("COMMIT")
        return seen, "committed", on_call(alice)


# --8<-- [end:write_skew]


if __name__ == "__main__":
    # fmt: off
    # --8<-- [start:dirty_read_demo]
    with fresh_bank() as path:
        print(read_during_uncommitted_write(path))  # the committed value
        #> 100
        # a value that never existed
        print(read_uncommitted_in_shared_cache(path))
        #> 0
    # --8<-- [end:dirty_read_demo]

    # --8<-- [start:read_twice_demo]
    # each statement its own transaction: values move
    with fresh_bank() as path:
        print(read_twice(path, BALANCE, DEPOSIT_50, in_transaction=False))
        #> ([(100,)], [(150,)])
    with fresh_bank() as path:  # one transaction: a stable snapshot (WAL)
        print(read_twice(path, BALANCE, DEPOSIT_50, in_transaction=True))
        #> ([(100,)], [(100,)])
    # a new matching row appears between the reads...
    with fresh_bank() as path:
        print(read_twice(path, RICH, OPEN_ACCOUNT, in_transaction=False))
        #> ([(1,)], [(1,), (2,)])
    with fresh_bank() as path:  # ...but not inside one transaction
        print(read_twice(path, RICH, OPEN_ACCOUNT, in_transaction=True))
        #> ([(1,)], [(1,)])
    # --8<-- [end:read_twice_demo]

    # --8<-- [start:rollback_journal_demo]
    with fresh_bank(journal_mode="delete") as path:
        try:
            read_twice(path, BALANCE, DEPOSIT_50, in_transaction=True)
        # the writer waited 0.1 s, then gave up
        except sqlite3.OperationalError as exc:
            print(exc)
            #> database is locked
    # --8<-- [end:rollback_journal_demo]

    # --8<-- [start:lost_update_demo]
    with fresh_bank() as path:  # read and write in separate transactions
        print(lost_update(path, in_transaction=False))
        #> ('committed', 120)
    with fresh_bank() as path:  # each read-modify-write in one transaction
        print(lost_update(path, in_transaction=True))
        #> ('SQLITE_BUSY_SNAPSHOT', 150)
    # --8<-- [end:lost_update_demo]

    # --8<-- [start:optimistic_demo]
    with (
        fresh_bank() as path,
        closing(connect(path)) as alice,
        closing(connect(path)) as bob,
    ):
        alice_read, bob_read = read_account(alice), read_account(bob)
        print(alice_read, bob_read)  # (balance, version)
        #> (100, 1) (100, 1)
        print(write_if_unchanged(alice, alice_read[0] + 50, alice_read[1]))
        #> True
        # conflict
        print(write_if_unchanged(bob, bob_read[0] + 20, bob_read[1]))
        #> False
        print(deposit_optimistic(bob, 20))  # read again, write again: attempt 1
        #> 1
        print(read_account(bob))
        #> (170, 3)
    # --8<-- [end:optimistic_demo]

    # --8<-- [start:immediate_demo]
    with (
        fresh_bank() as path,
        closing(connect(path)) as alice,
        closing(connect(path)) as bob,
    ):
        alice.execute("BEGIN IMMEDIATE")  # Alice holds the write lock
        try:
            deposit_immediate(bob, 20)
        except sqlite3.OperationalError as exc:  # Bob waited 0.1 s for it
            print(exc, exc.sqlite_errorname)
            #> database is locked SQLITE_BUSY
        alice.execute(SET_BALANCE, (balance(alice) + 50,))
        alice.execute("COMMIT")
        print(deposit_immediate(bob, 20))  # Bob's retry reads Alice's 150
        #> 170
    # --8<-- [end:immediate_demo]

    # --8<-- [start:write_skew_demo]
    with fresh_bank() as path:  # check and update in separate transactions
        print(write_skew(path, in_transaction=False))  # nobody on call
        #> ((2, 2), 'committed', 0)
    with fresh_bank() as path:  # check and update in one transaction
        # Bob refused, Alice's rule holds
        print(write_skew(path, in_transaction=True))
        #> ((2, 2), 'SQLITE_BUSY_SNAPSHOT', 1)
    # --8<-- [end:write_skew_demo]
    # fmt: on
