"""MVCC and locking on a real PostgreSQL, with scripted connections.

What it teaches: how PostgreSQL keeps several versions of a row (the `xmin`
and `xmax` of each tuple), which version a snapshot sees, why VACUUM exists
and what holds it back, how `SELECT ... FOR UPDATE` makes a second writer
wait, how a deadlock is detected and broken, and which anomaly of the
isolation page happens at each isolation level. Every scenario runs two real
connections to a throwaway cluster, interleaved step by step from one thread
(a second thread only where a session must wait for a lock).

Read first: the isolation page (`docs/data/isolation.md`, "Isolation and
anomalies"), which stages the same anomalies on SQLite.

What it leaves out: replication, the write-ahead log, freezing and
transaction ID wraparound, the visibility map, index versions, predicate
locks in detail, and any tuning of a real server. The cluster is a toy: trust
authentication, a private Unix socket, fsync off.

Run it: `python -m snippets.data.mvcc_postgres` (needs Debian's `postgresql`
package and psycopg 3).
"""

# --8<-- [start:bindir]
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
from psycopg.pq import TransactionStatus

USER = "mvcc"  # the superuser initdb creates in the throwaway cluster


def postgres_bindir() -> Path | None:
    """The folder of initdb and pg_ctl (Debian keeps them off PATH)."""
    found = [sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
    if pg_config := shutil.which("pg_config"):
        run = [pg_config, "--bindir"]
        out = subprocess.run(run, capture_output=True, text=True, timeout=10)
        found.insert(0, [Path(out.stdout.strip())])
    if initdb := shutil.which("initdb"):
        found.append([Path(initdb).parent])
    for folder in (f for group in found for f in group):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def as_owner(owner: str) -> list[str]:
    """The prefix that runs a command as `owner` when we are root.

    initdb refuses to run as root, and the server refuses too: a database
    reachable by its clients must not own the whole machine. So as root we
    hand the cluster's folder to an unprivileged account and run as it.
    """
    return ["runuser", "-u", owner, "--"] if os.geteuid() == 0 else []


# --8<-- [end:bindir]


# --8<-- [start:cluster]
@contextmanager
def throwaway_cluster(owner: str = "nobody") -> Iterator[str]:
    """Create and start a private PostgreSQL; yield its connection string.

    It listens on a Unix socket in its temporary folder and on no TCP port.
    Whatever happens inside the `with`, the server is stopped and its files
    are deleted.
    """
    bindir = postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL: apt-get install postgresql")
    prefix = as_owner(owner)
    folder = tempfile.mkdtemp(prefix="pg-")  # short: socket paths are short
    data = os.path.join(folder, "data")
    pg_ctl = [*prefix, bindir / "pg_ctl", "-D", data, "-w", "-t", "30"]
    try:
        if prefix:
            account = pwd.getpwnam(owner)
            os.chown(folder, account.pw_uid, account.pw_gid)
        initdb = [*prefix, bindir / "initdb", "-D", data, "-U", USER]
        initdb += ["-A", "trust", "--no-sync", "--locale=C", "-E", "UTF8"]
        subprocess.run(initdb, check=True, capture_output=True, timeout=60)
        options = f"-k {folder} -c listen_addresses='' -c fsync=off"
        start = [*pg_ctl, "-l", os.path.join(folder, "log"), "-o", options]
        subprocess.run(
            [*start, "start"], check=True, capture_output=True, timeout=60
        )
        yield f"host={folder} user={USER} dbname=postgres"
    finally:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            stop = [*pg_ctl, "-m", "fast", "stop"]
            subprocess.run(stop, capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


# --8<-- [end:cluster]


# --8<-- [start:sessions]
BANK = """
DROP TABLE IF EXISTS accounts, doctors, items;
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
CREATE TABLE doctors (name text PRIMARY KEY, on_call boolean NOT NULL);
CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL)
    WITH (autovacuum_enabled = off);  -- we run VACUUM ourselves
INSERT INTO accounts VALUES (1, 100);
INSERT INTO doctors VALUES ('alice', true), ('bob', true);
"""
Session = psycopg.Connection
BALANCE = "SELECT balance FROM accounts WHERE id = 1"
SET_BALANCE = "UPDATE accounts SET balance = %s WHERE id = 1"


def sql(conn: Session, statement: str, params: tuple = ()) -> list[tuple]:
    """Run one statement; return its rows ([] if it returns none)."""
    cursor = conn.execute(statement, params or None)
    return cursor.fetchall() if cursor.description else []


def attempt(conn: Session, statement: str, params: tuple = ()):
    """Run one statement; on an error, roll back and return the error."""
    try:
        sql(conn, statement, params)
    except psycopg.Error as error:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            sql(conn, "ROLLBACK")
        return error
    return None


@contextmanager
def sessions(dsn: str, count: int = 2) -> Iterator[list[Session]]:
    """A fresh bank, and `count` sessions in autocommit mode: we write
    BEGIN and COMMIT ourselves."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        sql(admin, BANK)
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(count)]
    try:
        for conn in conns:  # no step of a script waits forever
            sql(conn, "SET statement_timeout = '10s'")
        yield conns
    finally:
        for conn in conns:
            conn.close()


# --8<-- [end:sessions]


# --8<-- [start:versions]
VERSIONS = "SELECT ctid, xmin, xmax, * FROM accounts"


def named(rows: list[tuple], names: dict[str, str]) -> Iterator[tuple]:
    """Rows with each transaction ID replaced by T1, T2... (0 stays 0)."""
    for ctid, xmin, xmax, *values in rows:
        for xid in (str(xmin), str(xmax)):
            if xid != "0":
                names.setdefault(xid, f"T{len(names) + 1}")
        xmin, xmax = (names.get(str(x), "0") for x in (xmin, xmax))
        yield (str(ctid), xmin, xmax, *values)


def tuple_versions(dsn: str) -> list[list[tuple]]:
    """What a snapshot taken before an UPDATE sees, and what comes after."""
    with sessions(dsn) as (writer, reader):
        sql(reader, "BEGIN ISOLATION LEVEL REPEATABLE READ")
        before = sql(reader, VERSIONS)  # the snapshot is taken here
        sql(writer, "UPDATE accounts SET balance = 150 WHERE id = 1")
        old = sql(reader, VERSIONS)  # still the version the snapshot saw
        sql(reader, "COMMIT")
        new = sql(reader, VERSIONS)  # a new snapshot: the new version
    names: dict[str, str] = {}
    return [list(named(rows, names)) for rows in (before, old, new)]


# --8<-- [end:versions]


# --8<-- [start:vacuum]
DEAD = "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'items'"


def dead_tuples(conn: Session) -> int:
    """The dead row versions of `items`, as the statistics count them."""
    sql(conn, "SELECT pg_stat_force_next_flush()")  # publish our counts now
    return sql(conn, DEAD)[0][0]


def vacuum_story(dsn: str) -> list[int]:
    """Dead tuples after 3 updates of 10 rows, then after two VACUUMs:
    one while an old snapshot is open, one after it closed."""
    with sessions(dsn) as (writer, reader):
        sql(
            writer,
            "INSERT INTO items SELECT g, 0 FROM generate_series(1, 10) g",
        )
        sql(reader, "BEGIN ISOLATION LEVEL REPEATABLE READ")
        sql(reader, "SELECT count(*) FROM items")  # an old snapshot
        for _ in range(3):
            sql(writer, "UPDATE items SET n = n + 1")
        counts = [dead_tuples(writer)]
        sql(writer, "VACUUM items")  # the reader may still need them
        counts.append(dead_tuples(writer))
        sql(reader, "COMMIT")
        sql(writer, "VACUUM items")
        counts.append(dead_tuples(writer))
    return counts


# --8<-- [end:vacuum]


# --8<-- [start:reads]
ON_CALL = "SELECT count(*) FROM doctors WHERE on_call"
OFF_CALL = "UPDATE doctors SET on_call = false WHERE name = %s"


def outcome(error: psycopg.Error | None, happened: bool) -> tuple[str, str]:
    """A table cell and the error message, if PostgreSQL refused."""
    if error is not None:
        return f"error {error.sqlstate}", error.diag.message_primary or ""
    return ("happens" if happened else "no"), ""


def dirty_read(dsn: str, level: str) -> tuple[str, str]:
    with sessions(dsn) as (writer, reader):
        sql(writer, "BEGIN")
        sql(writer, "UPDATE accounts SET balance = 0 WHERE id = 1")
        sql(reader, f"BEGIN ISOLATION LEVEL {level}")
        seen = sql(reader, BALANCE)[0][0]  # 0 would be a dirty read
        sql(reader, "COMMIT")
        sql(writer, "ROLLBACK")
    return outcome(None, happened=seen == 0)


def read_twice(dsn: str, level: str, query: str, change: str):
    """The reader runs `query` twice; the writer commits `change` between."""
    with sessions(dsn) as (reader, writer):
        sql(reader, f"BEGIN ISOLATION LEVEL {level}")
        first = sql(reader, query)
        sql(writer, change)  # autocommit: committed at once
        second = sql(reader, query)
        sql(reader, "COMMIT")
    return outcome(None, happened=first != second)


def non_repeatable_read(dsn: str, level: str) -> tuple[str, str]:
    change = "UPDATE accounts SET balance = balance + 50 WHERE id = 1"
    return read_twice(dsn, level, BALANCE, change)


def phantom(dsn: str, level: str) -> tuple[str, str]:
    query = "SELECT id FROM accounts WHERE balance >= 100 ORDER BY id"
    change = "INSERT INTO accounts VALUES (2, 500)"
    return read_twice(dsn, level, query, change)


# --8<-- [end:reads]


# --8<-- [start:writes]
def lost_update(dsn: str, level: str) -> tuple[str, str]:
    """Alice deposits 50, Bob 20, each reading first, then writing."""
    with sessions(dsn) as (alice, bob):
        for who in (alice, bob):
            sql(who, f"BEGIN ISOLATION LEVEL {level}")
        seen = {who: sql(who, BALANCE)[0][0] for who in (alice, bob)}
        sql(alice, SET_BALANCE, (seen[alice] + 50,))
        sql(alice, "COMMIT")
        error = attempt(bob, SET_BALANCE, (seen[bob] + 20,))
        error = error or attempt(bob, "COMMIT")
        final = sql(alice, BALANCE)[0][0]
    return outcome(error, happened=final == 120)  # Alice's 50 is gone


def write_skew(dsn: str, level: str) -> tuple[str, str]:
    """Alice and Bob each leave if 2 doctors are on call (the rule: 1+)."""
    with sessions(dsn) as (alice, bob):
        for who in (alice, bob):
            sql(who, f"BEGIN ISOLATION LEVEL {level}")
            sql(who, ON_CALL)  # 2: so I may leave
        sql(alice, OFF_CALL, ("alice",))
        sql(alice, "COMMIT")
        error = attempt(bob, OFF_CALL, ("bob",))
        error = error or attempt(bob, "COMMIT")
        left = sql(alice, ON_CALL)[0][0]
    return outcome(error, happened=left == 0)  # nobody on call


# --8<-- [end:writes]


# --8<-- [start:table]
LEVELS = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ")
LEVELS += ("SERIALIZABLE",)
ANOMALIES = {
    "Dirty read": dirty_read,
    "Non-repeatable read": non_repeatable_read,
    "Phantom": phantom,
    "Lost update": lost_update,
    "Write skew": write_skew,
}


def anomaly_table(dsn: str) -> dict[str, dict[str, str]]:
    """Run every anomaly's script at every level; keep the table cell."""
    return {
        level: {name: run(dsn, level)[0] for name, run in ANOMALIES.items()}
        for level in LEVELS
    }


def markdown_table(results: dict[str, dict[str, str]]) -> str:
    rows = [["Level", *ANOMALIES], ["---"] * (len(ANOMALIES) + 1)]
    for level, cells in results.items():
        rows.append([level, *(cells[name] for name in ANOMALIES)])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


# --8<-- [end:table]


# --8<-- [start:locks]
def wait_until_blocked(observer: Session, pid: int, timeout=5.0) -> None:
    """Poll pg_stat_activity until session `pid` waits for a lock."""
    query = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"
    deadline = time.monotonic() + timeout
    while sql(observer, query, (pid,)) != [("Lock",)]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"session {pid} never waited for a lock")
        time.sleep(0.01)


def deposit_for_update(conn: Session, amount: int) -> int:
    """Lock the row, then read, add and write; return the balance read."""
    sql(conn, "BEGIN")
    (balance,) = sql(conn, BALANCE + " FOR UPDATE")[0]
    sql(conn, SET_BALANCE, (balance + amount,))
    sql(conn, "COMMIT")
    return balance


def for_update_story(dsn: str) -> tuple[int, int]:
    """Alice locks first, Bob waits: what did he read, what is the final
    balance?"""
    with sessions(dsn, 3) as (alice, bob, observer):
        sql(alice, "BEGIN")
        (balance,) = sql(alice, BALANCE + " FOR UPDATE")[0]
        with ThreadPoolExecutor(max_workers=1) as pool:
            bob_read = pool.submit(deposit_for_update, bob, 20)
            wait_until_blocked(observer, bob.info.backend_pid)
            sql(alice, SET_BALANCE, (balance + 50,))
            sql(alice, "COMMIT")  # Bob's SELECT ... FOR UPDATE returns now
            read = bob_read.result(timeout=10)
        return read, sql(alice, BALANCE)[0][0]


# --8<-- [end:locks]


# --8<-- [start:deadlock]
TOGGLE = "UPDATE doctors SET on_call = NOT on_call WHERE name = %s"


def deadlock(dsn: str) -> list[str]:
    """Alice locks her row, Bob his; then each asks for the other's."""
    with sessions(dsn, 3) as (alice, bob, observer):
        for who, name in ((alice, "alice"), (bob, "bob")):
            sql(who, "SET deadlock_timeout = '100ms'")  # default: 1 s
            sql(who, "BEGIN")
            sql(who, TOGGLE, (name,))
        with ThreadPoolExecutor(max_workers=1) as pool:
            alice_next = pool.submit(attempt, alice, TOGGLE, ("bob",))
            wait_until_blocked(observer, alice.info.backend_pid)
            errors = [attempt(bob, TOGGLE, ("alice",))]  # closes the cycle
            errors.append(alice_next.result(timeout=10))
        for who, error in zip((bob, alice), errors, strict=True):
            if error is None:
                sql(who, "COMMIT")  # the survivor goes on
    return sorted(e.sqlstate if e else "committed" for e in errors)


# --8<-- [end:deadlock]


if __name__ == "__main__":
    if postgres_bindir() is None:  # say so, and exit 0: nothing to show
        print("PostgreSQL is not installed: apt-get install -y postgresql")
        raise SystemExit(0)

    # fmt: off
    # --8<-- [start:start]
    stack = ExitStack()  # stack.close() stops the server, deletes its files
    dsn = stack.enter_context(throwaway_cluster())
    # --8<-- [end:start]
    with stack:
        # --8<-- [start:versions_demo]
        before, old, new = tuple_versions(dsn)
        print(before)  # (ctid, xmin, xmax, id, balance)
        #> [('(0,1)', 'T1', '0', 1, 100)]
        print(old)  # same snapshot, after the UPDATE committed
        #> [('(0,1)', 'T1', 'T2', 1, 100)]
        print(new)  # a new snapshot
        #> [('(0,2)', 'T2', '0', 1, 150)]
        # --8<-- [end:versions_demo]

        # --8<-- [start:vacuum_demo]
        print(vacuum_story(dsn))  # dead: after updates, VACUUM, VACUUM
        #> [30, 30, 0]
        # --8<-- [end:vacuum_demo]

        # --8<-- [start:anomalies_demo]
        print(lost_update(dsn, "READ COMMITTED"))
        #> ('happens', '')
        print(lost_update(dsn, "REPEATABLE READ"))
        #> ('error 40001', 'could not serialize access due to concurrent update')
        print(write_skew(dsn, "REPEATABLE READ"))
        #> ('happens', '')
        print(write_skew(dsn, "SERIALIZABLE")[0])
        #> error 40001
        # --8<-- [end:anomalies_demo]

        # --8<-- [start:locks_demo]
        print(for_update_story(dsn))  # (Bob read, final balance)
        #> (150, 170)
        # --8<-- [end:locks_demo]

        # --8<-- [start:deadlock_demo]
        print(deadlock(dsn))  # one victim, one survivor
        #> ['40P01', 'committed']
        # --8<-- [end:deadlock_demo]

        print(markdown_table(anomaly_table(dsn)))
    # fmt: on
