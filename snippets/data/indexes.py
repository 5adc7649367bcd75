"""Indexes: how a B-tree finds one row among many, and what SQLite's planner
does.

What it teaches: a toy B+tree built from sorted keys, whose search reads one
page per level, so about log_f(N) pages for N keys and a fan-out of f; the real
B-tree of an SQLite index, measured with the `dbstat` table (levels, pages,
entries per page); EXPLAIN QUERY PLAN before and after `CREATE INDEX` (SCAN
versus SEARCH); the leftmost-prefix rule of a composite index and covering
indexes; and what an index costs and buys, both measured: lookups much faster,
inserts slower.

Read first: docs/data/relational_sql.md (tables, keys and queries).

What it leaves out: page splits and rebalancing when rows arrive in random order
(the toy tree is built once, from sorted keys), ANALYZE and the statistics that
steer the planner, partial and expression indexes, and other index kinds (hash,
GIN, BRIN, LSM).

Run it: `python -m snippets.data.indexes` (about a second: it builds 200,000
rows).
"""

# --8<-- [start:toy_btree]
import bisect
from dataclasses import dataclass, field


@dataclass
class Page:
    """One page of the toy B+tree: sorted keys, plus child pages unless it is a
    leaf."""

    keys: list[int]
    children: list["Page"] = field(default_factory=list)  # empty for a leaf


def build_btree(sorted_keys: list[int], fanout: int) -> Page:
    """Pack sorted keys into leaves of `fanout` keys, then index each level
    above.

    Raises:
        ValueError: `fanout` is below 2 (a tree that never narrows).
    """
    if fanout < 2:
        raise ValueError(f"fanout must be at least 2, not {fanout}")
    step = range(0, len(sorted_keys), fanout)
    level = [Page(sorted_keys[i : i + fanout]) for i in step]
    # a parent holds the first key of each of its children
    while len(level) > 1:
        groups = [level[i : i + fanout] for i in range(0, len(level), fanout)]
        level = [
            Page([child.keys[0] for child in group], group) for group in groups
        ]
    return level[0] if level else Page([])


# --8<-- [end:toy_btree]


# --8<-- [start:toy_search]
def search(root: Page, key: int) -> tuple[bool, int]:
    """Walk from the root down to one leaf; return (found, pages read)."""
    page, reads = root, 1
    while page.children:
        # last key <= ours
        slot = max(bisect.bisect_right(page.keys, key) - 1, 0)
        page, reads = page.children[slot], reads + 1
    i = bisect.bisect_left(page.keys, key)
    return i < len(page.keys) and page.keys[i] == key, reads


def levels_needed(n: int, fanout: int) -> int:
    """Levels of a tree over `n` keys: the smallest L with fanout**L >= n."""
    pages, levels = -(-n // fanout), 1  # leaves: n / fanout, rounded up
    while pages > 1:
        pages, levels = -(-pages // fanout), levels + 1
    return levels


# --8<-- [end:toy_search]


# --8<-- [start:users]
import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing

COUNTRIES = ["br", "ca", "de", "fr", "in", "jp", "ng", "us"]


def users_db(n: int) -> sqlite3.Connection:
    """An in-memory database with `n` users and no index but the primary key."""
    conn = sqlite3.connect(":memory:", isolation_level=None)  # autocommit
    conn.execute(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL,"
        " country TEXT NOT NULL, age INTEGER NOT NULL)"
    )
    rows = (
        (f"user{i}@example.com", COUNTRIES[i % 8], 18 + i * 7 % 60)
        for i in range(n)
    )
    conn.execute("BEGIN")  # one transaction for all rows, not one per row
    conn.executemany(
        "INSERT INTO users (email, country, age) VALUES (?, ?, ?)", rows
    )
    conn.execute("COMMIT")
    return conn


# --8<-- [end:users]


# --8<-- [start:plans]
def query_plan(conn: sqlite3.Connection, sql: str) -> str:
    """SQLite's plan for `sql`, each step's detail joined by '; '.

    Every `?` is bound to NULL: without ANALYZE statistics the plan does not
    depend on the values.
    """
    rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", [None] * sql.count("?"))
    return "; ".join(detail for _, _, _, detail in rows)


def seconds_per_lookup(
    conn: sqlite3.Connection, sql: str, values: Sequence
) -> float:
    """Average wall time of running `sql` once for each value."""
    start = time.perf_counter()
    for value in values:
        conn.execute(sql, (value,)).fetchall()
    return (time.perf_counter() - start) / len(values)


# --8<-- [end:plans]


# --8<-- [start:shape]
def btree_shape(conn: sqlite3.Connection, name: str) -> tuple[int, int, int]:
    """(levels, pages, average entries per leaf page) of one table or index
    B-tree.

    Reads SQLite's `dbstat` virtual table: one row per page, whose `path` says
    where the page sits ('/' is the root, '/000/' its first child, '/000/01f/' a
    grandchild).
    """
    sql = "SELECT path, pagetype, ncell FROM dbstat WHERE name = ?"
    pages = conn.execute(sql, (name,)).fetchall()
    levels = max(path.count("/") for path, _, _ in pages)
    leaves = [ncell for _, kind, ncell in pages if kind == "leaf"]
    return levels, len(pages), round(sum(leaves) / len(leaves))


# --8<-- [end:shape]


# --8<-- [start:write_cost]
def insert_seconds(n: int, indexes: Sequence[str], repeat: int = 3) -> float:
    """Time to insert `n` users into a table that has the given indexes.

    Args:
        n: How many rows to insert, in one transaction.
        indexes: Column lists, one per index, such as `"email"` or `"country,
            age"`.
        repeat: Runs to make; the fastest one counts (the run least disturbed by
            other programs on the machine).
    """
    rows = [(f"user{i * 7919 % n}@example.com", "de", i % 60) for i in range(n)]
    return min(timed_insert(rows, indexes) for _ in range(repeat))


def timed_insert(rows: list[tuple], indexes: Sequence[str]) -> float:
    """Seconds to insert `rows` in one transaction into a fresh, indexed
    table."""
    with closing(users_db(0)) as conn:
        for i, columns in enumerate(indexes):
            conn.execute(f"CREATE INDEX idx_{i} ON users ({columns})")
        insert = "INSERT INTO users (email, country, age) VALUES (?, ?, ?)"
        start = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
        return time.perf_counter() - start


# --8<-- [end:write_cost]


if __name__ == "__main__":
    # fmt: off
    # --8<-- [start:toy_demo]
    keys = list(range(0, 2_000_000, 10))  # 200,000 sorted keys
    root = build_btree(keys, fanout=100)
    # (found, pages read)
    print(search(root, 1_234_560), search(root, 1_234_561))
    #> (True, 3) (False, 3)
    print(len(keys) // 100, "leaf pages a full scan would read")
    #> 2000 leaf pages a full scan would read
    print([levels_needed(n, 100) for n in (1_000, 1_000_000, 1_000_000_000)])
    #> [2, 3, 5]
    # --8<-- [end:toy_demo]

    # --8<-- [start:before_after]
    with closing(users_db(200_000)) as conn:
        find = "SELECT * FROM users WHERE email = ?"
        print(query_plan(conn, find))
        #> SCAN users
        emails = [f"user{i}@example.com" for i in range(0, 200_000, 10_007)]
        scan = seconds_per_lookup(conn, find, emails)  # 20 full scans
        conn.execute("CREATE INDEX idx_email ON users (email)")
        print(query_plan(conn, find))
        #> SEARCH users USING INDEX idx_email (email=?)
        indexed = seconds_per_lookup(conn, find, emails * 100)  # 2,000 lookups
        print(scan / indexed > 10)  # typically a thousand times faster or more
        #> True
        print(btree_shape(conn, "idx_email"), btree_shape(conn, "users"))
        #> (3, 1491, 134) (3, 1745, 115)
        print(levels_needed(200_000, 134))
        #> 3
    # --8<-- [end:before_after]

    # --8<-- [start:composite_demo]
    with closing(users_db(1_000)) as conn:
        conn.execute("CREATE INDEX idx_country_age ON users (country, age)")
        wheres = [
            "country = ?",
            "country = ? AND age = ?",
            # the order you write them in does not matter
            "age = ? AND country = ?",
            "country = ? AND age > ?",
            # no condition on the leftmost column: the index cannot help
            "age = ?",
        ]
        for where in wheres:
            print(query_plan(conn, f"SELECT * FROM users WHERE {where}"))
            #> SEARCH users USING INDEX idx_country_age (country=?)
            #> SEARCH users USING INDEX idx_country_age (country=? AND age=?)
            #> SEARCH users USING INDEX idx_country_age (country=? AND age=?)
            #> SEARCH users USING INDEX idx_country_age (country=? AND age>?)
            #> SCAN users
    # --8<-- [end:composite_demo]

    # --8<-- [start:covering_demo]
    with closing(users_db(1_000)) as conn:
        conn.execute("CREATE INDEX idx_country_age ON users (country, age)")
        print(query_plan(conn, "SELECT age FROM users WHERE country = ?"))
        #> SEARCH users USING COVERING INDEX idx_country_age (country=?)
        by_age = query_plan(
            conn, "SELECT * FROM users WHERE country = ? ORDER BY age"
        )
        print(by_age)  # the index hands rows over already sorted by age
        #> SEARCH users USING INDEX idx_country_age (country=?)
        by_email = "SELECT * FROM users WHERE country = ? ORDER BY email"
        # a sort
        print("USE TEMP B-TREE FOR ORDER BY" in query_plan(conn, by_email))
        #> True
    # --8<-- [end:covering_demo]

    # --8<-- [start:write_cost_demo]
    plain = insert_seconds(20_000, [])
    indexed = insert_seconds(20_000, ["email", "country, age", "age"])
    print(indexed > plain)  # typically three to five times slower
    #> True
    # --8<-- [end:write_cost_demo]
    # fmt: on
