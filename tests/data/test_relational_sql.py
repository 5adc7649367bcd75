"""The relational page's claims, checked against SQLite itself (stdlib sqlite3).

The oracle is SQLite: its constraints, its join results (compared with joins computed in
plain Python over the same seed rows) and its parser, which must read the attacks as SQL
in the string-built query and as plain values in the parameterized one.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data import relational_sql as rs
from tests.helpers import run_demo

OR_TRUE = "' OR '1'='1"
UNION_STEAL = "' UNION SELECT service, token FROM api_keys --"


@pytest.fixture
def shop():
    with closing(rs.open_shop()) as conn:
        yield conn


def count(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


# --- normalization ---------------------------------------------------------------------


def test_flat_table_update_on_one_order_gives_one_customer_two_cities() -> None:
    with closing(rs.open_flat()) as flat:
        assert rs.cities_of(flat, "ada@example.com") == ["London"]
        flat.execute(
            "UPDATE order_lines SET customer_city = 'Paris' WHERE order_id = 2"
        )
        assert rs.cities_of(flat, "ada@example.com") == ["London", "Paris"]


def test_flat_table_deleting_the_only_order_line_deletes_the_customer() -> None:
    with closing(rs.open_flat()) as flat:
        flat.execute("DELETE FROM order_lines WHERE order_id = 3")
        assert rs.cities_of(flat, "alan@example.com") == []


def test_normalized_update_of_one_row_moves_the_customer_for_every_order(shop) -> None:
    shop.execute("UPDATE customers SET city = 'Paris' WHERE id = 1")
    cities = shop.execute(
        "SELECT DISTINCT c.city FROM orders AS o JOIN customers AS c"
        " ON c.id = o.customer_id WHERE c.id = 1"
    ).fetchall()
    assert cities == [("Paris",)]


def test_normalized_shop_holds_a_customer_with_no_orders(shop) -> None:
    grace = shop.execute("SELECT COUNT(*) FROM orders WHERE customer_id = 3").fetchone()
    assert grace == (0,)
    assert rs.find_customer(shop, "grace@example.com") == [
        ("Grace Hopper", "Arlington")
    ]


# --- constraints -------------------------------------------------------------------------

ADD_CUSTOMER = "INSERT INTO customers (email, name, city) VALUES (?, ?, ?)"
ADD_PRODUCT = "INSERT INTO products (name, price_cents) VALUES (?, ?)"
ADD_ITEM = "INSERT INTO order_items VALUES (?, ?, ?, ?)"


@pytest.mark.parametrize(
    ("table", "sql", "params", "message"),
    [
        (
            "customers",
            ADD_CUSTOMER,
            (None, "x", "y"),
            "NOT NULL constraint failed: customers.email",
        ),
        (
            "customers",
            ADD_CUSTOMER,
            ("ada@example.com", "x", "y"),
            "UNIQUE constraint failed: customers.email",
        ),
        (
            "products",
            ADD_PRODUCT,
            ("keyboard", 1),
            "UNIQUE constraint failed: products.name",
        ),
        (
            "products",
            ADD_PRODUCT,
            ("refund", -500),
            "CHECK constraint failed: price_cents >= 0",
        ),
        (
            "order_items",
            ADD_ITEM,
            (3, 2, 0, 1999),
            "CHECK constraint failed: quantity > 0",
        ),
        (
            "order_items",
            ADD_ITEM,
            (1, 1, 5, 4999),
            "UNIQUE constraint failed: order_items.order_id, order_items.product_id",
        ),
        ("order_items", ADD_ITEM, (99, 1, 1, 4999), "FOREIGN KEY constraint failed"),
        ("orders", "INSERT INTO orders (customer_id) VALUES (?)", (99,), "FOREIGN KEY"),
    ],
)
def test_constraint_rejects_the_bad_row_and_leaves_the_table_unchanged(
    shop, table, sql, params, message
) -> None:
    before = count(shop, table)
    with pytest.raises(sqlite3.IntegrityError, match=message) as refused:
        shop.execute(sql, params)
    assert rs.try_statement(shop, sql, params) == f"rejected: {refused.value}"
    assert count(shop, table) == before


def test_try_statement_reports_a_good_row_as_accepted(shop) -> None:
    assert rs.try_statement(shop, ADD_CUSTOMER, ("kat@example.com", "Kat", "Oslo")) == (
        "accepted"
    )
    assert count(shop, "customers") == 4


def test_foreign_keys_are_off_by_default_in_a_new_sqlite_connection() -> None:
    with closing(sqlite3.connect(":memory:")) as conn:
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)


def test_with_foreign_keys_off_an_orphan_order_is_accepted_and_found_later() -> None:
    with closing(rs.open_shop(foreign_keys=False)) as conn:
        sql = "INSERT INTO orders (customer_id) VALUES (99)"
        assert rs.try_statement(conn, sql) == "accepted"
        orphans = conn.execute("PRAGMA foreign_key_check(orders)").fetchall()
        assert [(table, parent) for table, _, parent, _ in orphans] == [
            ("orders", "customers")
        ]
        # the inner join silently loses the orphan order
        joined = conn.execute(
            "SELECT COUNT(*) FROM orders AS o JOIN customers AS c ON c.id = o.customer_id"
        ).fetchone()
        assert (count(conn, "orders"), joined[0]) == (4, 3)


def test_foreign_keys_pragma_is_a_no_op_inside_a_transaction() -> None:
    """The pitfall: Python's default mode opens a transaction before an INSERT."""
    with closing(sqlite3.connect(":memory:")) as conn:  # legacy implicit transactions
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE child (parent_id INTEGER REFERENCES parent (id))")
        conn.execute("INSERT INTO child VALUES (1)")  # opens a transaction
        assert conn.in_transaction
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)
        conn.commit()
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_deleting_an_order_that_still_has_items_is_refused(shop) -> None:
    """The page's exercise: order 3 still has an order item that references it."""
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        shop.execute("DELETE FROM orders WHERE id = 3")
    assert count(shop, "orders") == 3


def test_unique_allows_several_nulls() -> None:
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        conn.execute("CREATE TABLE t (code TEXT UNIQUE)")
        conn.executemany("INSERT INTO t VALUES (?)", [(None,), (None,)])
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.executemany("INSERT INTO t VALUES (?)", [("a",), ("a",)])
        assert count(conn, "t") == 3  # the two NULLs and the first 'a'


def test_flexible_typing_accepts_text_in_an_integer_column_unless_strict() -> None:
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        conn.execute("CREATE TABLE loose (n INTEGER)")
        conn.execute("INSERT INTO loose VALUES ('abc')")
        assert conn.execute("SELECT typeof(n) FROM loose").fetchone() == ("text",)
        conn.execute("CREATE TABLE strict_t (n INTEGER) STRICT")
        with pytest.raises(sqlite3.IntegrityError, match="cannot store TEXT"):
            conn.execute("INSERT INTO strict_t VALUES ('abc')")


def test_the_strict_exercise_text_price_is_stored_and_passes_the_check_until_strict(
    shop,
) -> None:
    """The page's exercise: a non-key INTEGER column takes 'abc', CHECK included."""
    shop.execute("INSERT INTO products (name, price_cents) VALUES ('mug', 'abc')")
    stored = "SELECT typeof(price_cents) FROM products WHERE name = 'mug'"
    assert shop.execute(stored).fetchone() == ("text",)
    schema = rs.SCHEMA.split("CREATE TABLE products", 1)[1].split(";", 1)[0]
    shop.execute(f"CREATE TABLE strict_products {schema.strip()} STRICT")
    with pytest.raises(sqlite3.IntegrityError, match="cannot store TEXT"):
        shop.execute(
            "INSERT INTO strict_products (name, price_cents) VALUES ('mug', 'abc')"
        )


def test_an_integer_primary_key_refuses_text_even_without_strict(shop) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="datatype mismatch"):
        shop.execute("INSERT INTO customers VALUES ('abc', 'x@example', 'X', 'Y')")


# --- joins --------------------------------------------------------------------------------


def python_order_lines() -> list[tuple]:
    """The inner join of the seed rows, computed with nested loops in Python."""
    customers = {c[0]: c[2] for c in rs.SEED["customers"]}
    products = {p[0]: p[1] for p in rs.SEED["products"]}
    orders = dict(rs.SEED["orders"])
    rows = [
        (customers[orders[oid]], oid, products[pid], qty)
        for oid, pid, qty, _ in rs.SEED["order_items"]
    ]
    return sorted(rows, key=lambda r: (r[1], r[2]))


def test_inner_join_rebuilds_the_flat_rows_from_four_tables(shop) -> None:
    assert shop.execute(rs.ORDER_LINES).fetchall() == python_order_lines()


def test_inner_join_drops_the_customer_without_orders_and_left_join_keeps_her(
    shop,
) -> None:
    per_customer = {cid: 0 for cid, *_ in rs.SEED["customers"]}
    for _, cid in rs.SEED["orders"]:
        per_customer[cid] += 1
    names = {c[0]: c[2] for c in rs.SEED["customers"]}
    expected_left = [(names[cid], n) for cid, n in sorted(per_customer.items())]
    assert shop.execute(rs.ORDERS_PER_CUSTOMER_LEFT).fetchall() == expected_left
    expected_inner = [row for row in expected_left if row[1] > 0]
    assert shop.execute(rs.ORDERS_PER_CUSTOMER_INNER).fetchall() == expected_inner
    assert ("Grace Hopper", 0) in expected_left


def test_count_star_with_a_left_join_counts_the_unmatched_row(shop) -> None:
    sql = rs.ORDERS_PER_CUSTOMER_LEFT.replace("COUNT(o.id)", "COUNT(*)")
    assert ("Grace Hopper", 1) in shop.execute(sql).fetchall()


def test_a_where_on_the_right_table_turns_a_left_join_into_an_inner_join(shop) -> None:
    base = "SELECT c.name FROM customers AS c LEFT JOIN orders AS o"
    in_where = shop.execute(f"{base} ON o.customer_id = c.id WHERE o.id > 0").fetchall()
    in_on = shop.execute(
        f"{base} ON o.customer_id = c.id AND o.id > 0 GROUP BY c.id"
    ).fetchall()
    assert ("Grace Hopper",) not in in_where
    assert ("Grace Hopper",) in in_on


# --- SQL injection --------------------------------------------------------------------


def test_or_true_attack_returns_every_customer_from_the_string_built_query_only(
    shop,
) -> None:
    assert rs.lookup_sql_unsafe(OR_TRUE).endswith("WHERE email = '' OR '1'='1'")
    leaked = rs.find_customer_unsafe(shop, OR_TRUE)
    assert len(leaked) == len(rs.SEED["customers"]) == 3
    assert rs.find_customer(shop, OR_TRUE) == []


def test_union_attack_reads_the_api_keys_through_the_string_built_query_only(
    shop,
) -> None:
    leaked = rs.find_customer_unsafe(shop, UNION_STEAL)
    assert sorted(leaked) == sorted(rs.SEED["api_keys"])
    assert rs.find_customer(shop, UNION_STEAL) == []


def test_union_attack_can_read_the_schema_itself(shop) -> None:
    attack = "' UNION SELECT name, sql FROM sqlite_schema WHERE type = 'table' --"
    tables = {name for name, _ in rs.find_customer_unsafe(shop, attack)}
    assert {"customers", "api_keys", "order_items"} <= tables
    assert rs.find_customer(shop, attack) == []


def test_the_parameterized_query_stores_and_finds_the_attack_as_a_plain_value(
    shop,
) -> None:
    shop.execute(ADD_CUSTOMER, (UNION_STEAL, "Mallory", "Nowhere"))
    assert rs.find_customer(shop, UNION_STEAL) == [("Mallory", "Nowhere")]


def test_an_honest_quote_breaks_the_string_built_query_but_not_the_parameterized(
    shop,
) -> None:
    email = "o'brien@example.com"
    shop.execute(ADD_CUSTOMER, (email, "Pat O'Brien", "Cork"))
    with pytest.raises(sqlite3.OperationalError, match="syntax error"):
        rs.find_customer_unsafe(shop, email)
    assert rs.find_customer(shop, email) == [("Pat O'Brien", "Cork")]


def test_sqlite3_execute_refuses_stacked_statements(shop) -> None:
    with pytest.raises(sqlite3.ProgrammingError, match="one statement at a time"):
        rs.find_customer_unsafe(shop, "'; DROP TABLE customers; --")
    assert count(shop, "customers") == 3


@settings(max_examples=100)
@given(email=st.text(max_size=40))
def test_parameterized_lookup_matches_exactly_the_rows_with_that_email(email) -> None:
    """Property: whatever the text, the parameter is one value compared for equality."""
    with closing(rs.open_shop()) as conn:
        expected = [(c[2], c[3]) for c in rs.SEED["customers"] if c[1] == email]
        assert rs.find_customer(conn, email) == expected
        if not expected:
            conn.execute(ADD_CUSTOMER, (email, "Round Trip", "Here"))
            assert rs.find_customer(conn, email) == [("Round Trip", "Here")]


# --- identifiers -----------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["name", "city", "newest"])
def test_sorting_by_an_allowed_key_matches_python_sorting(shop, sort) -> None:
    customers = rs.SEED["customers"]
    key = {
        "name": lambda c: c[2],
        "city": lambda c: c[3],
        "newest": lambda c: -c[0],
    }[sort]
    expected = [c[2] for c in sorted(customers, key=key)]
    assert rs.customers_sorted(shop, sort) == expected


def test_sorting_by_anything_else_raises_and_runs_no_sql(shop) -> None:
    with pytest.raises(ValueError, match="cannot sort by"):
        rs.customers_sorted(shop, "name; DROP TABLE customers")
    assert count(shop, "customers") == 3


def test_order_by_a_parameter_binds_a_constant_and_sorts_nothing(shop) -> None:
    by_param = shop.execute("SELECT name FROM customers ORDER BY ?", ("city",))
    by_column = shop.execute("SELECT name FROM customers ORDER BY city")
    assert by_param.fetchall() != by_column.fetchall()


# --- connections ----------------------------------------------------------------------


def test_with_connect_commits_but_does_not_close_the_connection() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        with conn:
            conn.execute("CREATE TABLE t (x)")
            conn.execute("INSERT INTO t VALUES (1)")
        assert not conn.in_transaction  # committed by the with block
        assert conn.execute("SELECT x FROM t").fetchone() == (1,)  # still open
    finally:
        conn.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")


def test_the_demo_prints_the_leak_and_the_refusals() -> None:
    result = run_demo("snippets.data.relational_sql", check=True)
    lines = result.stdout.splitlines()
    assert lines[:2] == ["['London']", "['London', 'Paris']"]
    assert "rejected: FOREIGN KEY constraint failed" in lines
    assert "[('email', 'tok-email-91c2'), ('payments', 'tok-payments-7f3a')]" in lines
    assert result.stderr == ""
