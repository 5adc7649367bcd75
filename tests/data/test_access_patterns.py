"""The access patterns page's claims, checked against SQLite itself.

Query counts come from SQLite's own trace callback; the pool runs under real threads
against a real database file; migrations are checked by reading SQLite's schema.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data import access_patterns as ap

# --------------------------------------------------------------------------- helpers


@pytest.fixture
def blog() -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        ap.make_blog(conn, authors=12, posts_each=3)
        yield conn


class Tracker:
    """Counts the connections open right now and the most ever open at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0  # guarded by lock
        self.peak = 0
        self.total = 0

    def opened(self) -> None:
        with self.lock:
            self.open += 1
            self.total += 1
            self.peak = max(self.peak, self.open)

    def closed(self) -> None:
        with self.lock:
            self.open -= 1


def counting_factory(path: Path, tracker: Tracker) -> Callable[[], sqlite3.Connection]:
    """sqlite3.connect(factory=...) builds a Connection subclass that reports open/close."""

    class CountedConnection(sqlite3.Connection):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.counted_open = True
            tracker.opened()

        def close(self) -> None:
            if self.counted_open:
                self.counted_open = False
                tracker.closed()
            super().close()

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, factory=CountedConnection, check_same_thread=False)
        conn.execute("PRAGMA synchronous = OFF")  # no fsync per commit: a fast test
        return conn

    return connect


@pytest.fixture
def tracked(tmp_path: Path) -> tuple[Callable[[], sqlite3.Connection], Tracker]:
    db = tmp_path / "pool.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE hits (thread INTEGER, n INTEGER)")
        conn.commit()
    tracker = Tracker()
    return counting_factory(db, tracker), tracker


def run_threads(target: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)


# --------------------------------------------------------------------------- N+1


@pytest.mark.parametrize("authors", [0, 1, 7, 100])
def test_n_plus_one_runs_one_query_per_author_plus_one(authors: int) -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        ap.make_blog(conn, authors=authors, posts_each=2)
        with ap.QueryCounter(conn) as counter:
            titles = ap.titles_n_plus_one(conn)
    assert counter.count == 1 + authors
    assert len(titles) == authors


def test_join_answers_in_exactly_one_query(blog: sqlite3.Connection) -> None:
    with ap.QueryCounter(blog) as counter:
        ap.titles_join(blog)
    assert counter.count == 1
    assert "JOIN" in counter.statements[0]


@pytest.mark.parametrize(
    ("authors", "batch_size", "queries"),
    [(0, 10, 1), (1, 10, 2), (10, 10, 2), (25, 10, 4), (100, 500, 2)],
)
def test_in_batches_runs_one_query_per_batch_plus_one(
    authors: int, batch_size: int, queries: int
) -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        ap.make_blog(conn, authors=authors, posts_each=2)
        with ap.QueryCounter(conn) as counter:
            ap.titles_in_batches(conn, batch_size=batch_size)
    assert counter.count == queries
    assert all("IN (" in sql for sql in counter.statements[1:])


@settings(max_examples=60)
@given(
    authors=st.integers(0, 30),
    posts_each=st.integers(0, 4),
    silent=st.integers(0, 3),
    batch_size=st.integers(1, 12),
)
def test_the_three_fetches_return_the_same_titles(
    authors: int, posts_each: int, silent: int, batch_size: int
) -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        ap.make_blog(conn, authors=authors, posts_each=posts_each)
        # authors without a post: the JOIN must keep them (LEFT JOIN), with no titles
        conn.executemany(
            "INSERT INTO authors (name) VALUES (?)",
            [(f"quiet{i}",) for i in range(silent)],
        )
        expected = ap.titles_n_plus_one(conn)
        assert ap.titles_join(conn) == expected
        assert ap.titles_in_batches(conn, batch_size) == expected
    assert len(expected) == authors + silent
    assert sum(map(len, expected.values())) == authors * posts_each


def test_sibling_collections_joined_multiply_rows_and_nested_ones_do_not(blog) -> None:
    """The pitfall: posts and followers (both an author's) give posts x followers
    rows per author; posts and their comments give one row per comment."""
    blog.executescript(
        "CREATE TABLE comments (post_id INTEGER NOT NULL REFERENCES posts (id));"
        "CREATE TABLE followers (author_id INTEGER NOT NULL REFERENCES authors (id));"
        "INSERT INTO comments SELECT id FROM posts;"  # 2 comments per post
        "INSERT INTO comments SELECT id FROM posts;"
        "INSERT INTO followers SELECT id FROM authors;"  # 5 followers per author
        "INSERT INTO followers SELECT author_id FROM followers;"
        "INSERT INTO followers SELECT author_id FROM followers;"
        "INSERT INTO followers SELECT id FROM authors;"
    )
    count = "SELECT count(*) FROM authors AS a JOIN posts AS p ON p.author_id = a.id"
    nested = blog.execute(count + " JOIN comments AS c ON c.post_id = p.id")
    siblings = blog.execute(count + " JOIN followers AS f ON f.author_id = a.id")
    assert nested.fetchone()[0] == 12 * 3 * 2  # = the number of comments
    assert siblings.fetchone()[0] == 12 * (3 * 5)  # posts x followers, per author


def test_query_counter_also_sees_the_transaction_statements_sqlite3_sends() -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE TABLE t (x)")
        with ap.QueryCounter(conn) as counter:
            conn.execute("INSERT INTO t VALUES (1)")
            conn.commit()
        conn.execute("SELECT 1")  # after the block: not counted
    assert [sql.split()[0] for sql in counter.statements] == [
        "BEGIN",
        "INSERT",
        "COMMIT",
    ]


def test_lazy_loading_hides_n_plus_one_and_eager_loading_needs_two_queries(
    blog: sqlite3.Connection,
) -> None:
    with ap.QueryCounter(blog) as lazy:
        lazy_titles = {a.name: a.posts for a in ap.load_authors(blog)}
    with ap.QueryCounter(blog) as eager:
        eager_titles = {a.name: a.posts for a in ap.load_authors(blog, eager=True)}
    assert (lazy.count, eager.count) == (1 + 12, 2)
    assert lazy_titles == eager_titles == ap.titles_join(blog)


def test_a_lazy_relationship_is_loaded_once_then_remembered(
    blog: sqlite3.Connection,
) -> None:
    author = ap.load_authors(blog)[0]
    with ap.QueryCounter(blog) as counter:
        assert author.posts == author.posts
    assert counter.count == 1


def test_eager_loading_of_no_authors_runs_no_second_query() -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        ap.make_blog(conn, authors=0, posts_each=0)
        with ap.QueryCounter(conn) as counter:
            assert ap.load_authors(conn, eager=True) == []
    assert counter.count == 1


# --------------------------------------------------------------------------- pool


def test_concurrent_threads_are_all_served_and_never_exceed_max_size(tracked) -> None:
    factory, tracker = tracked
    pool = ap.ConnectionPool(factory, max_size=3, timeout=10)
    start = threading.Barrier(8, timeout=10)
    in_use_lock = threading.Lock()
    in_use = [0, 0]  # [now, peak], guarded by in_use_lock

    def worker(thread: int) -> None:
        start.wait()
        for n in range(20):
            with pool.connection() as conn:
                with in_use_lock:
                    in_use[0] += 1
                    in_use[1] = max(in_use)
                conn.execute("INSERT INTO hits VALUES (?, ?)", (thread, n))
                conn.commit()
                with in_use_lock:
                    in_use[0] -= 1

    run_threads(worker, 8)
    with pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM hits").fetchone()[0] == 8 * 20
    pool.close()
    assert tracker.peak <= 3
    assert in_use[1] <= 3
    assert tracker.total == pool.slots.opened <= 3  # nothing broke: nothing replaced
    assert tracker.open == 0


def test_a_waiting_checkout_gets_the_connection_another_thread_releases(
    tracked,
) -> None:
    factory, tracker = tracked
    pool = ap.ConnectionPool(factory, max_size=2, timeout=10)
    held = [pool.acquire(), pool.acquire()]
    got: list[sqlite3.Connection] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire()))
    waiter.start()
    pool.release(held[0])
    waiter.join(timeout=10)
    assert got == [held[0]]  # the same connection, reused: no third one opened
    assert tracker.peak == 2
    pool.release(got[0])
    pool.release(held[1])
    pool.close()
    assert tracker.open == 0


def test_an_exhausted_pool_raises_pool_timeout(tracked) -> None:
    factory, tracker = tracked
    pool = ap.ConnectionPool(factory, max_size=2, timeout=10)
    with pool.connection(), pool.connection():
        with pytest.raises(ap.PoolTimeout, match="all 2 connections busy"):
            pool.acquire(timeout=0.05)
        with pytest.raises(ap.PoolTimeout):
            pool.acquire(timeout=0)
    assert tracker.total == 2
    pool.close()


def test_a_connection_broken_by_its_user_is_closed_and_replaced(tracked) -> None:
    factory, tracker = tracked
    pool = ap.ConnectionPool(factory, max_size=1)
    with pool.connection() as first:
        first.close()  # as if the server had dropped it
    assert pool.slots.open == 0  # its slot is free again
    with pool.connection() as second:
        assert second is not first
        assert ap.is_healthy(second)
    assert pool.slots.opened == tracker.total == 2
    pool.close()
    assert tracker.open == 0


def test_a_connection_that_breaks_while_idle_fails_the_checkout_check(
    tracked,
) -> None:
    factory, tracker = tracked
    pool = ap.ConnectionPool(factory, max_size=1)
    with pool.connection() as first:
        pass
    first.close()  # breaks while idle in the pool
    with pool.connection() as second:
        assert second is not first
        assert ap.is_healthy(second)
    pool.close()
    assert tracker.open == 0


def test_a_custom_check_retires_connections_it_rejects(tracked) -> None:
    factory, tracker = tracked
    retired: set[int] = set()
    pool = ap.ConnectionPool(factory, max_size=1, check=lambda c: id(c) not in retired)
    with pool.connection() as first:
        retired.add(id(first))  # e.g. older than the maximum lifetime
    with pool.connection() as second:
        assert second is not first
    assert tracker.total == 2
    pool.close()
    assert tracker.open == 0


def test_release_rolls_back_what_the_last_user_left_uncommitted(tracked) -> None:
    factory, _ = tracked
    pool = ap.ConnectionPool(factory, max_size=1)
    with pool.connection() as conn:
        conn.execute("INSERT INTO hits VALUES (1, 1)")
        assert conn.in_transaction
    with pool.connection() as again:
        assert again is conn
        assert not again.in_transaction
        assert again.execute("SELECT count(*) FROM hits").fetchone() == (0,)
    pool.close()


def test_an_exception_in_the_block_still_gives_the_connection_back(tracked) -> None:
    factory, _ = tracked
    pool = ap.ConnectionPool(factory, max_size=1)
    with pytest.raises(ZeroDivisionError), pool.connection():
        _ = 1 / 0
    assert len(pool.slots.idle) == 1
    pool.close()


def test_a_failing_factory_gives_its_slot_back(tracked) -> None:
    factory, tracker = tracked
    failures = [sqlite3.OperationalError("unable to open database file")]

    def flaky() -> sqlite3.Connection:
        if failures:
            raise failures.pop()
        return factory()

    pool = ap.ConnectionPool(flaky, max_size=1)
    with pytest.raises(sqlite3.OperationalError):
        pool.acquire()
    assert pool.slots.open == 0
    with pool.connection() as conn:
        assert ap.is_healthy(conn)
    pool.close()
    assert tracker.open == 0


def test_closing_the_pool_wakes_waiters_and_closes_connections_given_back(
    tracked,
) -> None:
    factory, tracker = tracked
    pool = ap.ConnectionPool(factory, max_size=1, timeout=10)
    held = pool.acquire()
    errors: list[Exception] = []

    def wait_for_one() -> None:
        try:
            pool.acquire()
        except ap.PoolClosed as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait_for_one)
    waiter.start()
    pool.close()
    waiter.join(timeout=10)
    assert [type(e) for e in errors] == [ap.PoolClosed]
    pool.release(held)  # given back after close: closed, not kept
    assert tracker.open == 0
    with pytest.raises(ap.PoolClosed):
        pool.acquire()


# --------------------------------------------------------------------------- migrations

M1 = ap.Migration(
    1, "users", ("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)",)
)
M2 = ap.Migration(
    2, "email index", ("CREATE UNIQUE INDEX users_email ON users (email)",)
)
M3 = ap.Migration(
    3, "display name", ("ALTER TABLE users ADD COLUMN display_name TEXT DEFAULT ''",)
)
BROKEN = ap.Migration(
    4,
    "tags",
    (
        "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT)",
        "INSERT INTO tags (label) VALUES ('one')",
        "CREATE INDEX tags_label ON tags (no_such_column)",
    ),
)


def schema(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE name != 'schema_migrations' ORDER BY name"
    ).fetchall()


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        yield conn


def test_migrations_apply_in_version_order_and_are_recorded(db) -> None:
    shuffled = [M3, M1, M2]
    with ap.QueryCounter(db) as counter:
        assert ap.migrate(db, shuffled) == [1, 2, 3]
    ddl = [s for s in counter.statements if s.startswith(("CREATE", "ALTER"))][1:]
    assert [s.split()[0:3] for s in ddl] == [
        ["CREATE", "TABLE", "users"],
        ["CREATE", "UNIQUE", "INDEX"],
        ["ALTER", "TABLE", "users"],
    ]
    rows = db.execute(
        "SELECT version, name, checksum FROM schema_migrations"
    ).fetchall()
    assert rows == [(m.version, m.name, m.checksum) for m in (M1, M2, M3)]
    columns = [row[1] for row in db.execute("PRAGMA table_info(users)")]
    assert columns == ["id", "email", "display_name"]


def test_each_migration_runs_in_its_own_transaction(db) -> None:
    with ap.QueryCounter(db) as counter:
        ap.migrate(db, [M1, M2])
    words = [s.split()[0] for s in counter.statements]
    assert words.count("BEGIN") == words.count("COMMIT") == 2


def test_running_migrations_again_applies_nothing(db) -> None:
    ap.migrate(db, [M1, M2, M3])
    before = schema(db)
    with ap.QueryCounter(db) as counter:
        assert ap.migrate(db, [M1, M2, M3]) == []
    assert not any(s.startswith(("BEGIN", "ALTER")) for s in counter.statements)
    assert schema(db) == before


def test_a_failed_migration_leaves_no_partial_change(db) -> None:
    ap.migrate(db, [M1, M2, M3])
    before = schema(db)
    with pytest.raises(ap.MigrationError, match=r"4 \(tags\): no such column"):
        ap.migrate(db, [M1, M2, M3, BROKEN])
    assert schema(db) == before  # no tags table, no index: the CREATE was rolled back
    assert sorted(ap.applied_migrations(db)) == [1, 2, 3]
    assert not db.in_transaction


def test_a_fixed_migration_then_applies_alone(db) -> None:
    with pytest.raises(ap.MigrationError):
        ap.migrate(db, [M1, BROKEN])
    fixed = ap.Migration(4, "tags", BROKEN.statements[:2])
    assert ap.migrate(db, [M1, fixed]) == [4]
    assert db.execute("SELECT label FROM tags").fetchall() == [("one",)]


def test_a_migration_edited_after_it_ran_is_refused(db) -> None:
    ap.migrate(db, [M1])
    edited = ap.Migration(1, "users", ("CREATE TABLE users (id INTEGER PRIMARY KEY)",))
    with pytest.raises(ap.MigrationError, match="edited after it ran"):
        ap.migrate(db, [edited])


def test_a_migration_older_than_the_applied_ones_is_refused(db) -> None:
    ap.migrate(db, [M1, M3])
    with pytest.raises(ap.MigrationError, match="older than applied 3"):
        ap.migrate(db, [M1, M2, M3])


def test_two_migrations_with_one_version_are_refused(db) -> None:
    with pytest.raises(ap.MigrationError, match="share a version"):
        ap.migrate(db, [M1, ap.Migration(1, "again", ("SELECT 1",))])


def test_migrating_inside_an_open_transaction_is_refused(db) -> None:
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")  # sqlite3 opened a transaction
    with pytest.raises(ap.MigrationError, match="open transaction"):
        ap.migrate(db, [M1])


def test_two_processes_migrating_at_once_apply_each_migration_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.db"
    start = threading.Barrier(2, timeout=10)
    applied: list[list[int]] = [[], []]

    def deploy(i: int) -> None:
        with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
            start.wait()
            applied[i] = ap.migrate(conn, [M1, M2, M3])

    run_threads(deploy, 2)
    assert sorted(applied[0] + applied[1]) == [1, 2, 3]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert sorted(ap.applied_migrations(conn)) == [1, 2, 3]


@settings(max_examples=40)
@given(st.randoms(use_true_random=False))
def test_any_order_of_the_same_migrations_gives_the_same_schema(
    rng: random.Random,
) -> None:
    order = [M1, M2, M3]
    rng.shuffle(order)
    with contextlib.closing(sqlite3.connect(":memory:")) as a:
        ap.migrate(a, order)
        with contextlib.closing(sqlite3.connect(":memory:")) as b:
            ap.migrate(b, [M1, M2, M3])
            assert schema(a) == schema(b)


def test_apply_one_skips_a_migration_another_process_recorded_meanwhile(db) -> None:
    """migrate() plans from a read taken before the lock; apply_one re-checks under it."""
    assert ap.migrate(db, [M1]) == [1]
    with ap.QueryCounter(db) as counter:
        assert ap.apply_one(db, M1) is False
    assert not any(s.startswith("CREATE TABLE users") for s in counter.statements)
    assert not db.in_transaction
