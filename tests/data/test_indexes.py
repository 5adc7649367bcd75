"""The indexes page's claims, checked against SQLite's own B-trees and planner.

The oracles: Python's set membership for the toy B+tree's search (hypothesis), SQLite's
`dbstat` table for the real tree's depth and size, SQLite's `EXPLAIN QUERY PLAN` for
every plan the page shows, and wall-clock ratios measured in the same run for the
speed-up and the write cost (wide margins: the machine is shared).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data import indexes as ix

N = 200_000
FIND = "SELECT * FROM users WHERE email = ?"


@pytest.fixture(scope="module")
def big():
    """200,000 users with an email index; `scan_and_indexed` times taken on the way."""
    with closing(ix.users_db(N)) as conn:
        emails = [f"user{i}@example.com" for i in range(0, N, 10_007)]
        plan_before = ix.query_plan(conn, FIND)
        rows_before = [conn.execute(FIND, (e,)).fetchall() for e in emails]
        scan = ix.seconds_per_lookup(conn, FIND, emails)
        conn.execute("CREATE INDEX idx_email ON users (email)")
        indexed = ix.seconds_per_lookup(conn, FIND, emails * 100)
        yield {
            "conn": conn,
            "emails": emails,
            "plan_before": plan_before,
            "rows_before": rows_before,
            "scan": scan,
            "indexed": indexed,
        }


# --- the toy B+tree ---------------------------------------------------------------------


@settings(max_examples=150)
@given(
    keys=st.sets(st.integers(-10_000, 10_000), max_size=600),
    probes=st.lists(st.integers(-10_100, 10_100), max_size=20),
    fanout=st.integers(2, 40),
)
def test_toy_search_finds_exactly_the_stored_keys_reading_one_page_per_level(
    keys, probes, fanout
) -> None:
    ordered = sorted(keys)
    root = ix.build_btree(ordered, fanout)
    levels = ix.levels_needed(len(ordered), fanout)
    for key in ordered[:: max(1, len(ordered) // 20)] + probes:
        assert ix.search(root, key) == (key in keys, levels)


@settings(max_examples=200)
@given(n=st.integers(0, 10**7), fanout=st.integers(2, 500))
def test_levels_needed_is_the_smallest_power_of_the_fanout_that_covers_n(
    n, fanout
) -> None:
    levels = ix.levels_needed(n, fanout)
    assert fanout**levels >= n
    assert levels == 1 or fanout ** (levels - 1) < n


def test_levels_needed_grows_by_one_per_factor_of_the_fanout() -> None:
    assert [ix.levels_needed(n, 100) for n in (1_000, 10**6, 10**9)] == [2, 3, 5]
    # the page: with real interior fan-outs, in the hundreds, a billion keys take four
    assert [ix.levels_needed(10**9, f) for f in (200, 500, 1000)] == [4, 4, 3]


def test_every_leaf_of_the_toy_tree_sits_at_the_same_depth() -> None:
    def leaf_depths(page: ix.Page, depth: int = 1) -> set[int]:
        if not page.children:
            return {depth}
        return set().union(*(leaf_depths(c, depth + 1) for c in page.children))

    root = ix.build_btree(list(range(12_345)), fanout=7)
    assert leaf_depths(root) == {ix.levels_needed(12_345, 7)} == {5}


def test_toy_tree_over_no_keys_finds_nothing_in_one_read() -> None:
    assert ix.search(ix.build_btree([], 10), 5) == (False, 1)


def test_toy_tree_refuses_a_fanout_below_two() -> None:
    with pytest.raises(ValueError, match="fanout must be at least 2"):
        ix.build_btree([1, 2, 3], 1)


# --- SQLite: plans, speed, shape -----------------------------------------------------


def test_plan_is_a_scan_without_an_index_and_a_search_with_one(big) -> None:
    assert big["plan_before"] == "SCAN users"
    assert ix.query_plan(big["conn"], FIND) == (
        "SEARCH users USING INDEX idx_email (email=?)"
    )


def test_the_index_returns_the_same_rows_as_the_scan(big) -> None:
    conn = big["conn"]
    after = [conn.execute(FIND, (e,)).fetchall() for e in big["emails"]]
    assert after == big["rows_before"]
    assert all(len(rows) == 1 for rows in after)


def test_indexed_lookup_is_more_than_five_times_faster_than_a_scan(big) -> None:
    """Typically 1,000 to 7,000 times here; the margin absorbs a loaded machine."""
    assert big["scan"] / big["indexed"] > 5


def test_sqlite_index_on_200k_emails_has_three_levels_as_log_f_n_predicts(big) -> None:
    levels, pages, per_leaf = ix.btree_shape(big["conn"], "idx_email")
    assert (levels, pages, per_leaf) == (3, 1491, 134)  # SQLite 3.40, 4096-byte pages
    assert ix.levels_needed(N, per_leaf) == levels


def test_each_index_entry_is_stored_once_and_each_row_once_in_a_leaf(big) -> None:
    cells = big["conn"].execute(
        "SELECT name, pagetype, SUM(ncell) FROM dbstat"
        " WHERE name IN ('idx_email', 'users') GROUP BY name, pagetype"
    )
    totals = {(name, kind): n for name, kind, n in cells}
    # index: a B-tree, interior entries are real entries; table: rows only in leaves
    assert totals[("idx_email", "internal")] + totals[("idx_email", "leaf")] == N
    assert totals[("users", "leaf")] == N


@pytest.mark.parametrize("n", [1_000, 5_000, 50_000])
def test_sqlite_index_depth_is_within_one_level_of_log_f_n(n) -> None:
    """Near a power of the fan-out the estimate can be off by one (interior pages of
    an index hold entries too); it is never further off."""
    with closing(ix.users_db(n)) as conn:
        conn.execute("CREATE INDEX idx_email ON users (email)")
        levels, _, per_leaf = ix.btree_shape(conn, "idx_email")
    assert abs(ix.levels_needed(n, per_leaf) - levels) <= 1


def test_seconds_per_lookup_is_a_positive_average() -> None:
    with closing(ix.users_db(10)) as conn:
        assert ix.seconds_per_lookup(conn, FIND, ["user1@example.com"] * 3) > 0


# --- composite and covering indexes -------------------------------------------------


@pytest.fixture(scope="module")
def country_age():
    with closing(ix.users_db(1_000)) as conn:
        conn.execute("CREATE INDEX idx_country_age ON users (country, age)")
        yield conn


@pytest.mark.parametrize(
    ("where", "plan"),
    [
        ("country = ?", "SEARCH users USING INDEX idx_country_age (country=?)"),
        (
            "country = ? AND age = ?",
            "SEARCH users USING INDEX idx_country_age (country=? AND age=?)",
        ),
        (
            "age = ? AND country = ?",
            "SEARCH users USING INDEX idx_country_age (country=? AND age=?)",
        ),
        (
            "country = ? AND age > ?",
            "SEARCH users USING INDEX idx_country_age (country=? AND age>?)",
        ),
        ("age = ?", "SCAN users"),
    ],
)
def test_composite_index_serves_its_leftmost_prefix_only(country_age, where, plan):
    assert ix.query_plan(country_age, f"SELECT * FROM users WHERE {where}") == plan


def test_a_range_on_the_first_column_stops_the_prefix() -> None:
    with closing(ix.users_db(1_000)) as conn:
        conn.execute("CREATE INDEX idx_age_country ON users (age, country)")
        sql = "SELECT * FROM users WHERE country = ? AND age > ?"
        assert ix.query_plan(conn, sql) == (
            "SEARCH users USING INDEX idx_age_country (age>?)"
        )
        assert ix.query_plan(conn, "SELECT * FROM users WHERE country = ?") == (
            "SCAN users"
        )


def test_covering_index_answers_without_the_table(country_age) -> None:
    assert ix.query_plan(country_age, "SELECT age FROM users WHERE country = ?") == (
        "SEARCH users USING COVERING INDEX idx_country_age (country=?)"
    )
    # no usable prefix, but the index is smaller than the table: scan it instead
    assert ix.query_plan(country_age, "SELECT country FROM users WHERE age = ?") == (
        "SCAN users USING COVERING INDEX idx_country_age"
    )


def test_index_order_serves_order_by_without_a_sort(country_age) -> None:
    base = "SELECT * FROM users WHERE country = ? ORDER BY"
    assert "TEMP B-TREE" not in ix.query_plan(country_age, f"{base} age")
    assert ix.query_plan(country_age, f"{base} email").endswith(
        "USE TEMP B-TREE FOR ORDER BY"
    )


def test_index_order_and_an_explicit_sort_agree(country_age) -> None:
    rows = country_age.execute(
        "SELECT age FROM users WHERE country = 'de' ORDER BY age"
    ).fetchall()
    assert rows == sorted(rows)
    assert len(rows) == 125


def test_analyze_lets_sqlite_skip_scan_the_leftmost_column() -> None:
    with closing(ix.users_db(1_000)) as conn:
        conn.execute("CREATE INDEX idx_country_age ON users (country, age)")
        conn.execute("ANALYZE")
        plan = ix.query_plan(conn, "SELECT * FROM users WHERE age = ?")
    assert plan == "SEARCH users USING INDEX idx_country_age (ANY(country) AND age=?)"


# --- pitfalls ------------------------------------------------------------------------


@pytest.fixture
def emails_indexed():
    with closing(ix.users_db(1_000)) as conn:
        conn.execute("CREATE INDEX idx_email ON users (email)")
        yield conn


@pytest.mark.parametrize(
    "where",
    [
        "lower(email) = ?",
        "email LIKE 'user1%'",  # LIKE is case-insensitive, the index is not
        "email LIKE '%@example.com'",
    ],
)
def test_these_conditions_cannot_search_a_plain_index(emails_indexed, where) -> None:
    assert ix.query_plan(emails_indexed, f"SELECT * FROM users WHERE {where}") == (
        "SCAN users"
    )


def test_an_index_on_the_expression_serves_the_function(emails_indexed) -> None:
    emails_indexed.execute("CREATE INDEX idx_lower ON users (lower(email))")
    sql = "SELECT * FROM users WHERE lower(email) = ?"
    assert ix.query_plan(emails_indexed, sql).startswith(
        "SEARCH users USING INDEX idx_lower"
    )


def test_every_plan_query_binds_its_placeholders() -> None:
    with closing(ix.users_db(0)) as conn, pytest.raises(sqlite3.ProgrammingError):
        conn.execute("EXPLAIN QUERY PLAN " + FIND).fetchall()  # why query_plan binds


# --- write cost ------------------------------------------------------------------------


def test_three_indexes_make_inserts_more_than_one_and_a_half_times_slower() -> None:
    """Typically 3 to 5 times here (best of three runs each)."""
    plain = ix.insert_seconds(20_000, [])
    indexed = ix.insert_seconds(20_000, ["email", "country, age", "age"])
    assert indexed / plain > 1.5


def test_index_takes_space_in_pages(big) -> None:
    pages = big["conn"].execute("SELECT COUNT(*) FROM dbstat WHERE name = 'idx_email'")
    size = pages.fetchone()[0] * big["conn"].execute("PRAGMA page_size").fetchone()[0]
    assert 5 * 2**20 < size < 7 * 2**20  # "nearly 6 MiB"
