"""Access patterns: N+1 queries, a connection pool, migrations, and what an ORM
hides.

Read first: the relational model page (joins) and the transactions page (BEGIN,
COMMIT, ROLLBACK). SQLite (the stdlib `sqlite3`) is the real database
throughout. This module counts the statements SQLite runs with
`Connection.set_trace_callback`, so "how many queries did that page cost?" has
an exact answer; fixes the N+1 pattern with a JOIN and with an `IN (...)` batch;
builds a bounded, blocking connection pool that health-checks its connections;
applies schema migrations in order, each in its own transaction and recorded in
a `schema_migrations` table; and shows how an ORM's lazy loading hides N+1.

What it leaves out: network round trips (SQLite runs in your process, so N+1 is
cheap here; the page does the arithmetic for a client/server database),
prepared-statement caches, a pool's minimum size, warm-up and maximum connection
lifetime, down migrations, and a real ORM's identity map and unit of work.

Run it: `python -m snippets.data.access_patterns`.
"""

# --8<-- [start:schema]
import contextlib
import sqlite3

SCHEMA = """
CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors (id),
    title TEXT NOT NULL
);
CREATE INDEX posts_by_author ON posts (author_id);
"""


def make_blog(conn: sqlite3.Connection, authors: int, posts_each: int) -> None:
    """Create the blog schema and fill it.

    Args:
        conn: an open connection to an empty database.
        authors: how many authors to create.
        posts_each: how many posts each author gets.
    """
    conn.executescript(SCHEMA)
    people = [(i, f"author{i}") for i in range(1, authors + 1)]
    conn.executemany("INSERT INTO authors (id, name) VALUES (?, ?)", people)
    posts = [
        (a, f"post {a}.{p}")
        for a in range(1, authors + 1)
        for p in range(posts_each)
    ]
    conn.executemany(
        "INSERT INTO posts (author_id, title) VALUES (?, ?)", posts
    )
    conn.commit()


# --8<-- [end:schema]


# --8<-- [start:counter]
class QueryCounter:
    """Records every SQL statement SQLite runs on one connection inside a `with`
    block.

    It uses the connection's trace callback, which SQLite calls for each
    statement it actually executes (including the BEGIN and COMMIT the sqlite3
    module sends).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.statements: list[str] = []

    def __enter__(self) -> "QueryCounter":
        self.conn.set_trace_callback(self.statements.append)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.conn.set_trace_callback(None)

    @property
    def count(self) -> int:
        """How many statements ran."""
        return len(self.statements)


# --8<-- [end:counter]


# --8<-- [start:n_plus_one]
def titles_n_plus_one(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """One query for the authors, then one more query per author: 1 + N in
    all."""
    result = {}
    authors = conn.execute(
        "SELECT id, name FROM authors ORDER BY id"
    ).fetchall()
    for author_id, name in authors:
        rows = conn.execute(
            "SELECT title FROM posts WHERE author_id = ? ORDER BY id",
            (author_id,),
        )
        result[name] = [title for (title,) in rows]
    return result


# --8<-- [end:n_plus_one]


# --8<-- [start:join]
def titles_join(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """One query: the database joins the tables. LEFT JOIN keeps post-less
    authors."""
    result: dict[str, list[str]] = {}
    rows = conn.execute(
        "SELECT a.name, p.title FROM authors AS a"
        " LEFT JOIN posts AS p ON p.author_id = a.id ORDER BY a.id, p.id"
    )
    for name, title in rows:
        titles = result.setdefault(name, [])
        # an author without posts comes back once, with NULL
        if title is not None:
            titles.append(title)
    return result


# --8<-- [end:join]


# --8<-- [start:in_batch]
def titles_in_batches(
    conn: sqlite3.Connection, batch_size: int = 500
) -> dict[str, list[str]]:
    """The authors, then their posts `batch_size` authors per `IN (?, ?, ...)`
    query."""
    authors = conn.execute(
        "SELECT id, name FROM authors ORDER BY id"
    ).fetchall()
    by_id: dict[int, list[str]] = {author_id: [] for author_id, _ in authors}
    ids = list(by_id)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        # placeholders only: values stay bound
        marks = ", ".join(["?"] * len(chunk))
        sql = f"SELECT author_id, title FROM posts WHERE author_id IN ({marks})"
        for author_id, title in conn.execute(sql + " ORDER BY id", chunk):
            by_id[author_id].append(title)
    return {name: by_id[author_id] for author_id, name in authors}


# --8<-- [end:in_batch]


# --8<-- [start:pool]
import threading
import time
from collections.abc import Callable, Iterator


class PoolTimeout(Exception):
    """No connection became free before the checkout timeout."""


class PoolClosed(Exception):
    """The pool was closed: it hands out no more connections."""


def is_healthy(conn: sqlite3.Connection) -> bool:
    """A cheap round trip: `SELECT 1` fails on a closed or broken connection."""
    try:
        conn.execute("SELECT 1").fetchone()
    except sqlite3.Error:
        return False
    return True


# --8<-- [end:pool]


# --8<-- [start:slots]
class Slots:
    """A pool's bookkeeping under one lock: the idle connections and the open
    count.

    Args:
        max_size: the most connections open at once, idle and checked out
            together.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.cond = threading.Condition()
        # Invariant, under cond: 0 <= len(idle) <= open <= max_size, where
        # `open` counts idle connections, checked-out ones and slots reserved
        # for opening.
        self.idle: list[sqlite3.Connection] = []
        self.open = 0
        self.opened = 0  # connections ever opened, replacements included
        self.closed = False

    def take(self, deadline: float) -> sqlite3.Connection | None:
        """An idle connection, or None once a slot is reserved for a new one.

        Args:
            deadline: the `time.monotonic()` value after which to give up.

        Raises:
            PoolTimeout: no connection or slot became free before the deadline.
            PoolClosed: the pool was closed.
        """
        with self.cond:
            while (
                not self.closed and not self.idle and self.open >= self.max_size
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolTimeout(f"all {self.max_size} connections busy")
                self.cond.wait(remaining)  # a release or a free() wakes us
            if self.closed:
                raise PoolClosed("the pool is closed")
            if self.idle:
                # LIFO: the most recently used, still warm
                return self.idle.pop()
            self.open += 1
            self.opened += 1
            return None

    def put(self, conn: sqlite3.Connection) -> bool:
        """Make a connection idle again; False if the pool closed meanwhile."""
        with self.cond:
            if self.closed:
                return False
            self.idle.append(conn)
            self.cond.notify()  # wake one waiting checkout
            return True

    def free(self) -> None:
        """Forget one connection (closed or never opened): its slot is free."""
        with self.cond:
            self.open -= 1
            self.cond.notify()

    def close(self) -> list[sqlite3.Connection]:
        """Refuse further checkouts; hand back the idle connections to close."""
        with self.cond:
            self.closed = True
            idle, self.idle = self.idle, []
            self.open -= len(idle)
            # waiting checkouts wake up and raise PoolClosed
            self.cond.notify_all()
            return idle


# --8<-- [end:slots]


# --8<-- [start:connection_pool]
class ConnectionPool:
    """A bounded pool of connections shared by threads, with health checks.

    Args:
        factory: opens one new connection.
        max_size: the most connections open at once.
        timeout: seconds a checkout waits before `PoolTimeout`.
        check: False for a connection that must be closed and replaced.
    """

    def __init__(
        self,
        factory: Callable[[], sqlite3.Connection],
        max_size: int = 5,
        timeout: float = 5.0,
        check: Callable[[sqlite3.Connection], bool] = is_healthy,
    ) -> None:
        self.slots = Slots(max_size)
        self.factory, self.timeout, self.check = factory, timeout, check

    def acquire(self, timeout: float | None = None) -> sqlite3.Connection:
        """Check out a healthy connection, waiting at most `timeout` seconds."""
        deadline = time.monotonic() + (
            self.timeout if timeout is None else timeout
        )
        while True:
            conn = self.slots.take(deadline)
            if conn is None:  # a slot is reserved for us: open a new connection
                try:
                    return self.factory()
                except BaseException:
                    self.slots.free()
                    raise
            if self.check(conn):
                return conn
            # broke while idle: replace it, never hand it out
            self._discard(conn)

    def release(self, conn: sqlite3.Connection) -> None:
        """Give a connection back: reset and kept if healthy, else closed."""
        if not (self._reset(conn) and self.slots.put(conn)):
            self._discard(conn)

    def _reset(self, conn: sqlite3.Connection) -> bool:
        try:
            conn.rollback()  # what the last user left uncommitted must not leak
        except sqlite3.Error:
            return False
        return self.check(conn)

    def _discard(self, conn: sqlite3.Connection) -> None:
        conn.close()
        self.slots.free()

    @contextlib.contextmanager
    def connection(
        self, timeout: float | None = None
    ) -> Iterator[sqlite3.Connection]:
        """A checked-out connection for a `with` block, always given back."""
        conn = self.acquire(timeout)
        try:
            yield conn
        finally:
            self.release(conn)

    def close(self) -> None:
        """Close the idle connections; checked-out ones are closed when given
        back."""
        for conn in self.slots.close():
            conn.close()


# --8<-- [end:connection_pool]


# --8<-- [start:migrations]
import hashlib
from dataclasses import dataclass


class MigrationError(Exception):
    """A migration failed and was rolled back, or the history and the code
    disagree."""


@dataclass(frozen=True)
class Migration:
    """One schema change: a version number, a name and the statements to run."""

    version: int
    name: str
    statements: tuple[str, ...]

    @property
    def checksum(self) -> str:
        """A fingerprint of the statements, to notice a migration edited after
        use."""
        return hashlib.sha256("\n".join(self.statements).encode()).hexdigest()[
            :16
        ]


HISTORY = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


def applied_migrations(conn: sqlite3.Connection) -> dict[int, str]:
    """The recorded history: version -> checksum."""
    conn.execute(HISTORY)
    return dict(conn.execute("SELECT version, checksum FROM schema_migrations"))


# --8<-- [end:migrations]


# --8<-- [start:migrate]
def apply_one(conn: sqlite3.Connection, migration: Migration) -> bool:
    """Run one migration and record it in one transaction; False if already
    applied."""
    # take the write lock: a second migrator waits
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = conn.execute(
            "SELECT 1 FROM schema_migrations WHERE version = ?",
            (migration.version,),
        ).fetchone()
        if done:  # another process applied it while we waited for the lock
            conn.rollback()
            return False
        for statement in migration.statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?, datetime('now'))",
            (migration.version, migration.name, migration.checksum),
        )
    except sqlite3.Error as exc:
        # SQLite's DDL is transactional: the schema is as before
        conn.rollback()
        raise MigrationError(
            f"{migration.version} ({migration.name}): {exc}"
        ) from exc
    conn.commit()
    return True


# --8<-- [end:migrate]


# --8<-- [start:migrate_all]
def migrate(conn: sqlite3.Connection, migrations: list[Migration]) -> list[int]:
    """Apply, in version order, every migration not yet recorded; return their
    versions.

    Args:
        conn: a connection with no transaction open.
        migrations: every migration of the application, in any order.

    Raises:
        MigrationError: a migration failed, or the history and the code
            disagree.
    """
    if conn.in_transaction:
        raise MigrationError("commit or roll back the open transaction first")
    ordered = sorted(migrations, key=lambda m: m.version)
    if len({m.version for m in ordered}) != len(ordered):
        raise MigrationError("two migrations share a version number")
    done = applied_migrations(conn)
    for m in ordered:
        if m.version in done and done[m.version] != m.checksum:
            raise MigrationError(
                f"{m.version} ({m.name}) was edited after it ran"
            )
    pending = [m for m in ordered if m.version not in done]
    if pending and done and pending[0].version < max(done):
        raise MigrationError(
            f"{pending[0].version} is older than applied {max(done)}"
        )
    return [m.version for m in pending if apply_one(conn, m)]


# --8<-- [end:migrate_all]


# --8<-- [start:orm]
class Author:
    """A row of `authors` as an object, mapped the way an ORM maps it."""

    def __init__(
        self, conn: sqlite3.Connection, author_id: int, name: str
    ) -> None:
        self._conn = conn
        self.id = author_id
        self.name = name
        self._posts: list[str] | None = None  # not loaded yet

    @property
    def posts(self) -> list[str]:
        """The author's post titles, loaded on first access: a hidden query."""
        if self._posts is None:
            rows = self._conn.execute(
                "SELECT title FROM posts WHERE author_id = ? ORDER BY id",
                (self.id,),
            )
            self._posts = [title for (title,) in rows]
        return self._posts


def load_authors(conn: sqlite3.Connection, eager: bool = False) -> list[Author]:
    """Every author; with `eager=True` their posts too, in one `IN (...)`
    query."""
    rows = conn.execute("SELECT id, name FROM authors ORDER BY id")
    authors = {
        author_id: Author(conn, author_id, name) for author_id, name in rows
    }
    if eager and authors:
        for author in authors.values():
            author._posts = []
        marks = ", ".join(["?"] * len(authors))
        sql = f"SELECT author_id, title FROM posts WHERE author_id IN ({marks})"
        for author_id, title in conn.execute(
            sql + " ORDER BY id", list(authors)
        ):
            authors[author_id].posts.append(title)
    return list(authors.values())


# --8<-- [end:orm]


# The demo's printed lines are checked on the page as `#>` comments, which a
# formatter would rewrite as `# >`: keep it out of the formatter's reach.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_n_plus_one]
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        make_blog(conn, authors=100, posts_each=3)
        answers = []
        for fetch in (titles_n_plus_one, titles_join, titles_in_batches):
            with QueryCounter(conn) as counter:
                answers.append(fetch(conn))
            print(f"{fetch.__name__}: queries={counter.count}")
            #> titles_n_plus_one: queries=101
            #> titles_join: queries=1
            #> titles_in_batches: queries=2
    print(answers[0] == answers[1] == answers[2], len(answers[0]["author7"]))
    #> True 3
    # --8<-- [end:demo_n_plus_one]

    # --8<-- [start:demo_pool]
    def shared_memory_db() -> sqlite3.Connection:
        # one in-memory db, many conns
        uri = "file:pool_demo?mode=memory&cache=shared"
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    pool = ConnectionPool(shared_memory_db, max_size=3, timeout=5.0)
    served: list[int] = []  # list.append is atomic: safe from many threads

    def handle_request(n: int) -> None:
        with pool.connection() as conn:
            served.append(conn.execute("SELECT ?", (n,)).fetchone()[0])

    threads = [
        threading.Thread(target=handle_request, args=(n,)) for n in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    print(sorted(served) == list(range(20)), pool.slots.opened <= 3)
    #> True True
    # --8<-- [end:demo_pool]

    # --8<-- [start:demo_pool_errors]
    with pool.connection() as first:
        first.close()  # as if the database server had dropped it
    with pool.connection() as second:
        print(second is not first, is_healthy(second))
        #> True True
    small = ConnectionPool(shared_memory_db, max_size=1, timeout=0.05)
    with small.connection():
        try:
            small.acquire()
        except PoolTimeout as exc:
            print(f"PoolTimeout: {exc}")
            #> PoolTimeout: all 1 connections busy
    small.close()
    pool.close()
    # --8<-- [end:demo_pool_errors]

    # --8<-- [start:demo_migrations]
    MIGRATIONS = [
        Migration(
            1,
            "create users",
            (
                "CREATE TABLE users"
                " (id INTEGER PRIMARY KEY, email TEXT NOT NULL)",
            ),
        ),
        Migration(
            2,
            "unique emails",
            ("CREATE UNIQUE INDEX users_email ON users (email)",),
        ),
        Migration(
            3,
            "display names",
            (
                "ALTER TABLE users"
                " ADD COLUMN display_name TEXT NOT NULL DEFAULT ''",
            ),
        ),
    ]
    broken = Migration(
        4,
        "tags",
        (
            "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT)",
            "INSERT INTO tag (label) VALUES ('typo in the table name')",
        ),
    )
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        print(migrate(conn, MIGRATIONS), migrate(conn, MIGRATIONS))
        #> [1, 2, 3] []
        try:
            migrate(conn, [*MIGRATIONS, broken])
        except MigrationError as exc:
            print(f"MigrationError: {exc}")
            #> MigrationError: 4 (tags): no such table: tag
        tables = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
        print(
            sorted(name for (name,) in tables), sorted(applied_migrations(conn))
        )
        #> ['schema_migrations', 'users'] [1, 2, 3]
    # --8<-- [end:demo_migrations]

    # --8<-- [start:demo_orm]
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        make_blog(conn, authors=100, posts_each=3)
        for eager in (False, True):
            with QueryCounter(conn) as counter:
                total = sum(
                    len(author.posts) for author in load_authors(conn, eager)
                )
            print(f"eager={eager}: {total} posts, {counter.count} queries")
            #> eager=False: 300 posts, 101 queries
            #> eager=True: 300 posts, 2 queries
    # --8<-- [end:demo_orm]
# fmt: on
