"""Transactions: all or nothing, durable once committed, and safe from a crash.

What it teaches: a money transfer as one SQLite transaction that commits whole
or rolls back whole (on a constraint failure or an exception midway); how
Python's sqlite3 module opens and ends transactions (isolation_level, `with
conn:`, BEGIN IMMEDIATE); the transaction's states as a table checked against
SQLite itself; what the write-ahead log file holds, read byte by byte; and a
real child process killed with SIGKILL in the middle of a transaction, after its
uncommitted changes have reached the disk, leaving no half-written change
behind.

Read first: docs/data/why_databases.md (records, checksums, fsync).

What it leaves out: isolation between concurrent transactions (the next page),
savepoints, and power-loss testing, which needs a machine you can switch off.

Run it: `python -m snippets.data.transactions`.
"""

# --8<-- [start:bank]
import contextlib
import sqlite3

SCHEMA = """
CREATE TABLE accounts (
    owner   TEXT PRIMARY KEY,
    balance INTEGER NOT NULL CHECK (balance >= 0)
)"""


def create_bank(
    path: str, balances: dict[str, int], journal: str = "DELETE"
) -> None:
    """Create the accounts table in a new database file, with opening
    balances."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA page_size = 4096")
        # DELETE (rollback) or WAL
        conn.execute(f"PRAGMA journal_mode = {journal}")
        conn.execute(SCHEMA)
        with conn:  # commits the inserts (or rolls them back on an error)
            conn.executemany(
                "INSERT INTO accounts VALUES (?, ?)", balances.items()
            )


def balances(conn: sqlite3.Connection) -> dict[str, int]:
    """Every account's balance, by owner."""
    return dict(
        conn.execute("SELECT owner, balance FROM accounts ORDER BY owner")
    )


# --8<-- [end:bank]


# --8<-- [start:transfer]
class UnknownAccount(LookupError):
    """An UPDATE matched no row: SQLite does not call that an error, we do."""


def transfer(
    conn: sqlite3.Connection,
    source: str,
    target: str,
    amount: int,
    *,
    fail: bool = False,
) -> None:
    """Move `amount` from `source` to `target`: both updates happen, or neither.

    `fail=True` raises between the two updates, as a bug or a timeout would.
    """
    credit = "UPDATE accounts SET balance = balance + ? WHERE owner = ?"
    debit = "UPDATE accounts SET balance = balance - ? WHERE owner = ?"
    # the block succeeds: COMMIT. It raises: ROLLBACK, then re-raise.
    with conn:
        if conn.execute(credit, (amount, target)).rowcount != 1:
            raise UnknownAccount(target)
        if fail:
            raise RuntimeError(f"failed after crediting {target}")
        # may break the CHECK
        if conn.execute(debit, (amount, source)).rowcount != 1:
            raise UnknownAccount(source)


# --8<-- [end:transfer]


# --8<-- [start:states]
AUTOCOMMIT, OPEN = "autocommit", "in transaction"
TRANSITIONS = {  # (state, event) -> next state, as SQLite itself behaves
    (AUTOCOMMIT, "UPDATE"): AUTOCOMMIT,  # one statement, its own transaction
    (AUTOCOMMIT, "failed UPDATE"): AUTOCOMMIT,  # nothing changed
    (AUTOCOMMIT, "BEGIN"): OPEN,
    (OPEN, "UPDATE"): OPEN,
    (OPEN, "failed UPDATE"): OPEN,  # only that statement is undone: still open!
    (OPEN, "COMMIT"): AUTOCOMMIT,
    (OPEN, "ROLLBACK"): AUTOCOMMIT,
}


class IllegalTransition(Exception):
    """An event that the current transaction state does not allow."""


def next_state(state: str, event: str) -> str:
    """The state after `event`, or IllegalTransition naming both."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(
            f"{event} is not allowed in state {state!r}"
        ) from None


# --8<-- [end:states]


# --8<-- [start:explicit]
from collections.abc import Iterator


@contextlib.contextmanager
def transaction(
    conn: sqlite3.Connection, mode: str = "IMMEDIATE"
) -> Iterator[None]:
    """BEGIN <mode> ... COMMIT, or ROLLBACK if the block raises.

    For a connection opened with isolation_level=None, where Python never
    issues a BEGIN by itself. IMMEDIATE takes the write lock at BEGIN.
    """
    if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
        raise ValueError(f"unknown transaction mode {mode!r}")
    conn.execute(f"BEGIN {mode}")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# --8<-- [end:explicit]


# --8<-- [start:wal]
import struct
from typing import NamedTuple

# Header: magic, format version, page size, checkpoint number, 2 salts, 2
# checksums.
WAL_HEADER = struct.Struct(">8I")
# Frame: page number, database size in pages for a commit frame (else 0), 2
# salts, 2 checksums; then one page of data.
FRAME_HEADER = struct.Struct(">6I")


class WalSummary(NamedTuple):
    """What a -wal file holds, read from its headers."""

    page_size: int
    frames: int  # pages written since the last checkpoint restarted the log
    commits: int  # frames that end a committed transaction


def read_wal(path: str) -> WalSummary:
    """Count the frames of a database's -wal file that belong to the current
    log."""
    with open(path + "-wal", "rb") as wal:
        data = wal.read()
    if len(data) < WAL_HEADER.size:
        return WalSummary(0, 0, 0)
    magic, _, page_size, _, salt1, salt2, _, _ = WAL_HEADER.unpack_from(data)
    if magic not in (0x377F0682, 0x377F0683):
        raise ValueError(f"not a SQLite WAL file: magic {magic:#x}")
    frames = commits = 0
    offset = WAL_HEADER.size
    while offset + FRAME_HEADER.size + page_size <= len(data):
        _, db_size, s1, s2, _, _ = FRAME_HEADER.unpack_from(data, offset)
        if (s1, s2) != (salt1, salt2):  # left over from before the last restart
            break
        frames, commits = frames + 1, commits + (db_size != 0)
        offset += FRAME_HEADER.size + page_size
    return WalSummary(page_size, frames, commits)


# --8<-- [end:wal]


# --8<-- [start:child]
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection


class ChildProcess:
    """A forked child running `target(*args, pipe)`; close() kills it with
    SIGKILL."""

    def __init__(
        self, target: Callable[..., None], args: tuple[object, ...]
    ) -> None:
        context = multiprocessing.get_context("fork")  # POSIX: shares our code
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(target=target, args=(*args, theirs))
        self._process.start()
        theirs.close()  # the child has its own copy
        self.exit_code: int | None = None

    def receive(self, timeout: float = 30) -> object:
        """Wait for the child's next message: it says where it is."""
        if not self._pipe.poll(timeout):
            raise TimeoutError(f"no message from the child in {timeout} s")
        return self._pipe.recv()

    def close(self) -> None:
        """SIGKILL the child (no cleanup runs in it), reap it, close the
        pipe."""
        if self.exit_code is None:
            self._process.kill()
            self._process.join(30)
            self.exit_code = self._process.exitcode
            self._process.close()
            self._pipe.close()


def debit_all_then_wait(path: str, pipe: Connection) -> None:
    """Child: debit every account in one transaction, report, and never
    commit."""
    with contextlib.closing(
        sqlite3.connect(path, isolation_level=None)
    ) as conn:
        # 2 pages: changes spill to the files
        conn.execute("PRAGMA cache_size = 2")
        conn.execute("BEGIN")
        rows = conn.execute(
            "UPDATE accounts SET balance = balance - 1"
        ).rowcount
        pipe.send(f"updated {rows} rows, not committed")
        pipe.poll(30)  # SIGKILL arrives while we wait here


# --8<-- [end:child]


# --8<-- [start:transfers_child]
def transfer_forever(path: str, pipe: Connection) -> None:
    """Child: move 1 from alice to bob again and again, acknowledging each
    commit."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for i in range(100_000):
            transfer(conn, "alice", "bob", 1)
            pipe.send(i)  # committed: this transfer must survive


# --8<-- [end:transfers_child]


if __name__ == "__main__":
    # fmt: off
    # --8<-- [start:demo_transfer]
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bank.db")
        create_bank(path, {"alice": 100, "bob": 50})
        with contextlib.closing(sqlite3.connect(path)) as conn:
            transfer(conn, "alice", "bob", 30)
            print(balances(conn))
            #> {'alice': 70, 'bob': 80}
            try:
                # bob credited, then alice's CHECK
                transfer(conn, "alice", "bob", 500)
            except sqlite3.IntegrityError as error:
                print("refused:", error)
                #> refused: CHECK constraint failed: balance >= 0
            try:
                transfer(conn, "alice", "bob", 10, fail=True)
            except RuntimeError as error:
                print("refused:", error)
                #> refused: failed after crediting bob
            print(balances(conn), conn.in_transaction)
            #> {'alice': 70, 'bob': 80} False
    # --8<-- [end:demo_transfer]

    # --8<-- [start:demo_modes]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bank.db")
        create_bank(path, {"alice": 100, "bob": 50})
        with contextlib.closing(sqlite3.connect(path)) as conn:  # the default
            conn.execute("SELECT * FROM accounts").fetchall()
            # no BEGIN yet
            print(repr(conn.isolation_level), conn.in_transaction)
            #> '' False
            conn.execute("UPDATE accounts SET balance = 0 WHERE owner = 'bob'")
            print(conn.in_transaction)  # Python sent BEGIN before the UPDATE
            #> True
        with contextlib.closing(
            sqlite3.connect(path, isolation_level=None)
        ) as conn:
            # close() without commit() threw bob's update away
            print(balances(conn))
            #> {'alice': 100, 'bob': 50}
            conn.execute("UPDATE accounts SET balance = 0 WHERE owner = 'bob'")
            print(conn.in_transaction)  # autocommit: committed already
            #> False
            with transaction(conn, "IMMEDIATE"):
                conn.execute(
                    "UPDATE accounts SET balance = 1 WHERE owner = 'bob'"
                )
                print(conn.in_transaction)
                #> True
            print(balances(conn))
            #> {'alice': 100, 'bob': 1}
    # --8<-- [end:demo_modes]

    # --8<-- [start:demo_states]
    state = AUTOCOMMIT
    for event in ["BEGIN", "UPDATE", "failed UPDATE", "ROLLBACK"]:
        state = next_state(state, event)
    print(state)
    #> autocommit
    try:
        next_state(state, "COMMIT")
    except IllegalTransition as error:
        print(error)
        #> COMMIT is not allowed in state 'autocommit'
    with contextlib.closing(
        sqlite3.connect(":memory:", isolation_level=None)
    ) as conn:
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as error:
            print(error)
            #> cannot commit - no transaction is active
    # --8<-- [end:demo_states]

    # --8<-- [start:demo_wal]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bank.db")
        create_bank(path, {"alice": 100, "bob": 50}, journal="WAL")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            with open(path, "rb") as db_file:
                before = db_file.read()
            transfer(conn, "alice", "bob", 30)  # committed
            with open(path, "rb") as db_file:
                # the database file is untouched...
                print(db_file.read() == before)
                #> True
            print(read_wal(path))  # ...the change is one page in the WAL
            #> WalSummary(page_size=4096, frames=1, commits=1)
            with contextlib.closing(sqlite3.connect(path)) as reader:
                # other connections read it from the WAL
                print(balances(reader))
                #> {'alice': 70, 'bob': 80}
            print(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
            #> (0, 1, 1)
            with open(path, "rb") as db_file:
                print(db_file.read() == before)  # the checkpoint copied it home
                #> False
    # --8<-- [end:demo_wal]

    # --8<-- [start:demo_kill]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bank.db")
        create_bank(path, {f"customer-{i:04d}": 100 for i in range(2000)})
        with open(path, "rb") as db_file:
            before = db_file.read()
        with contextlib.closing(
            ChildProcess(debit_all_then_wait, (path,))
        ) as child:
            print(child.receive())
            #> updated 2000 rows, not committed
            with open(path, "rb") as db_file:
                # uncommitted pages are on disk!
                print(db_file.read() != before)
                #> True
        # a hot journal
        print(child.exit_code, os.path.exists(path + "-journal"))
        #> -9 True
        # recovery runs here
        with contextlib.closing(sqlite3.connect(path)) as conn:
            print(sum(balances(conn).values()))
            #> 200000
            print(conn.execute("PRAGMA integrity_check").fetchone()[0])
            #> ok
        print(os.path.exists(path + "-journal"))
        #> False
    # --8<-- [end:demo_kill]

    # --8<-- [start:demo_kill_wal]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bank.db")
        create_bank(
            path, {f"customer-{i:04d}": 100 for i in range(2000)}, "WAL"
        )
        with contextlib.closing(
            ChildProcess(debit_all_then_wait, (path,))
        ) as child:
            child.receive()
            wal = read_wal(path)
            # pages in the WAL, no commit frame
            print(wal.frames > 0, wal.commits)
            #> True 0
            with contextlib.closing(sqlite3.connect(path)) as reader:
                print(sum(balances(reader).values()))  # a reader meanwhile
                #> 200000
        with contextlib.closing(sqlite3.connect(path)) as conn:
            print(child.exit_code, sum(balances(conn).values()))
            #> -9 200000
    # --8<-- [end:demo_kill_wal]
    # fmt: on
