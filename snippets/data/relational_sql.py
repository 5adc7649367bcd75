"""The relational model in SQLite: schema, constraints, joins, normalization,
injection.

What it teaches: a denormalized table that repeats facts and so contradicts
itself after an update (an update anomaly); the same data normalized into four
tables whose constraints (NOT NULL, UNIQUE, CHECK, FOREIGN KEY) let the database
refuse bad rows; inner and left joins that put the facts back together; and SQL
injection, shown working against a query built by pasting strings and failing
against a parameterized query.

Read first: docs/data/why_databases.md (why a database at all). Every connection
here is an in-memory SQLite database from the standard library's `sqlite3`,
opened in autocommit mode (`isolation_level=None`) so that each statement is its
own transaction; the pages on transactions and isolation take over from there.

What it leaves out: transactions and concurrency, indexes (next page), SQLite's
flexible typing beyond one pitfall, views, triggers, and any ORM.

Run it: `python -m snippets.data.relational_sql`.
"""

# --8<-- [start:flat]
import sqlite3
from contextlib import closing

FLAT_SCHEMA = """
CREATE TABLE order_lines (
    order_id INTEGER, customer_email TEXT, customer_city TEXT,
    product TEXT, price_cents INTEGER, quantity INTEGER
);
"""
# one row per product per order: Ada's city is written three times
FLAT_ROWS = [
    (1, "ada@example.com", "London", "keyboard", 4999, 1),
    (1, "ada@example.com", "London", "mouse", 1999, 2),
    (2, "ada@example.com", "London", "monitor", 17999, 1),
    (3, "alan@example.com", "Manchester", "keyboard", 4999, 1),
]


def open_flat() -> sqlite3.Connection:
    """An in-memory database holding the denormalized `order_lines` table."""
    conn = sqlite3.connect(":memory:", isolation_level=None)  # autocommit
    conn.executescript(FLAT_SCHEMA)
    conn.executemany(
        "INSERT INTO order_lines VALUES (?, ?, ?, ?, ?, ?)", FLAT_ROWS
    )
    return conn


def cities_of(conn: sqlite3.Connection, email: str) -> list[str]:
    """Every city the flat table records for one customer."""
    sql = (
        "SELECT DISTINCT customer_city FROM order_lines"
        " WHERE customer_email = ?"
    )
    return sorted(city for (city,) in conn.execute(sql, (email,)))


# --8<-- [end:flat]


# --8<-- [start:schema]
SCHEMA = """
CREATE TABLE customers (
    id    INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name  TEXT NOT NULL,
    city  TEXT NOT NULL
);
CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0)
);
CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id)
);
CREATE TABLE order_items (
    order_id    INTEGER NOT NULL REFERENCES orders (id),
    product_id  INTEGER NOT NULL REFERENCES products (id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),  -- the price paid
    PRIMARY KEY (order_id, product_id)
);
CREATE TABLE api_keys (service TEXT PRIMARY KEY, token TEXT NOT NULL);
"""
# --8<-- [end:schema]


# --8<-- [start:seed]
SEED = {
    "customers": [
        (1, "ada@example.com", "Ada Lovelace", "London"),
        (2, "alan@example.com", "Alan Turing", "Manchester"),
        (3, "grace@example.com", "Grace Hopper", "Arlington"),  # no orders yet
    ],
    "products": [
        (1, "keyboard", 4999),
        (2, "mouse", 1999),
        (3, "monitor", 17999),
    ],
    "orders": [(1, 1), (2, 1), (3, 2)],
    "order_items": [
        (1, 1, 1, 4999),
        (1, 2, 2, 1999),
        (2, 3, 1, 17999),
        (3, 1, 1, 4999),
    ],
    "api_keys": [
        ("payments", "tok-payments-7f3a"),
        ("email", "tok-email-91c2"),
    ],
}


def open_shop(*, foreign_keys: bool = True) -> sqlite3.Connection:
    """An in-memory shop: the normalized schema, loaded with `SEED`.

    Args:
        foreign_keys: Turn on `PRAGMA foreign_keys` (SQLite leaves it off by
            default).
    """
    conn = sqlite3.connect(":memory:", isolation_level=None)  # autocommit
    conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    conn.executescript(SCHEMA)
    # table names come from our code, never input
    for table, rows in SEED.items():
        marks = ", ".join("?" * len(rows[0]))
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    return conn


# --8<-- [end:seed]


# --8<-- [start:constraints]
def try_statement(
    conn: sqlite3.Connection, sql: str, params: tuple = ()
) -> str:
    """Run one statement; say whether the database accepted it, and if not,
    why."""
    try:
        conn.execute(sql, params)
    except sqlite3.IntegrityError as exc:  # a constraint said no
        return f"rejected: {exc}"
    return "accepted"


# --8<-- [end:constraints]


# --8<-- [start:joins]
ORDER_LINES = """
SELECT c.name, o.id, p.name, i.quantity
FROM orders AS o
JOIN customers AS c ON c.id = o.customer_id
JOIN order_items AS i ON i.order_id = o.id
JOIN products AS p ON p.id = i.product_id
ORDER BY o.id, p.name
"""
ORDERS_PER_CUSTOMER_INNER = """
SELECT c.name, COUNT(o.id) FROM customers AS c
JOIN orders AS o ON o.customer_id = c.id
GROUP BY c.id ORDER BY c.id
"""
ORDERS_PER_CUSTOMER_LEFT = """
SELECT c.name, COUNT(o.id) FROM customers AS c
LEFT JOIN orders AS o ON o.customer_id = c.id
GROUP BY c.id ORDER BY c.id
"""
# --8<-- [end:joins]


# --8<-- [start:injection]
def lookup_sql_unsafe(email: str) -> str:
    """Build the query by pasting the input into the SQL text. Never do this."""
    return f"SELECT name, city FROM customers WHERE email = '{email}'"


def find_customer_unsafe(conn: sqlite3.Connection, email: str) -> list[tuple]:
    """Look a customer up with the string-built query: injectable."""
    return conn.execute(lookup_sql_unsafe(email)).fetchall()


def find_customer(conn: sqlite3.Connection, email: str) -> list[tuple]:
    """Look a customer up with a parameter: the input is only ever a value."""
    sql = "SELECT name, city FROM customers WHERE email = ?"
    return conn.execute(sql, (email,)).fetchall()


# --8<-- [end:injection]


# --8<-- [start:identifiers]
SORTABLE = {"name": "name", "city": "city", "newest": "id DESC"}  # input -> SQL


def customers_sorted(conn: sqlite3.Connection, sort: str) -> list[str]:
    """Customer names in an order the caller picks from a fixed list.

    Raises:
        ValueError: `sort` is not one of the keys of `SORTABLE`.
    """
    if sort not in SORTABLE:  # a column name cannot be a ? parameter
        raise ValueError(f"cannot sort by {sort!r}")
    sql = f"SELECT name FROM customers ORDER BY {SORTABLE[sort]}"
    return [name for (name,) in conn.execute(sql)]


# --8<-- [end:identifiers]


if __name__ == "__main__":
    # fmt: off
    # --8<-- [start:flat_demo]
    with closing(open_flat()) as flat:
        print(cities_of(flat, "ada@example.com"))
        #> ['London']
        # Ada moves. The update touches the rows of order 2 only:
        flat.execute(
            "UPDATE order_lines SET customer_city = 'Paris' WHERE order_id = 2"
        )
        # now the table contradicts itself
        print(cities_of(flat, "ada@example.com"))
        #> ['London', 'Paris']
    # --8<-- [end:flat_demo]

    # --8<-- [start:constraints_demo]
    with closing(open_shop()) as conn:
        add_customer = (
            "INSERT INTO customers (email, name, city) VALUES (?, ?, ?)"
        )
        print(try_statement(conn, add_customer, (None, "Nobody", "Oslo")))
        #> rejected: NOT NULL constraint failed: customers.email
        print(
            try_statement(
                conn, add_customer, ("ada@example.com", "Ada 2", "Rome")
            )
        )
        #> rejected: UNIQUE constraint failed: customers.email
        add_product = "INSERT INTO products (name, price_cents) VALUES (?, ?)"
        print(try_statement(conn, add_product, ("refund", -500)))
        #> rejected: CHECK constraint failed: price_cents >= 0
        print(
            try_statement(conn, "INSERT INTO orders (customer_id) VALUES (99)")
        )
        #> rejected: FOREIGN KEY constraint failed
    # --8<-- [end:constraints_demo]

    # --8<-- [start:foreign_keys_off]
    with closing(open_shop(foreign_keys=False)) as conn:
        print(conn.execute("PRAGMA foreign_keys").fetchone())  # 0: not enforced
        #> (0,)
        print(
            try_statement(conn, "INSERT INTO orders (customer_id) VALUES (99)")
        )
        #> accepted
    # --8<-- [end:foreign_keys_off]

    # --8<-- [start:joins_demo]
    with closing(open_shop()) as conn:
        for row in conn.execute(ORDER_LINES):
            print(row)
            #> ('Ada Lovelace', 1, 'keyboard', 1)
            #> ('Ada Lovelace', 1, 'mouse', 2)
            #> ('Ada Lovelace', 2, 'monitor', 1)
            #> ('Alan Turing', 3, 'keyboard', 1)
        print(conn.execute(ORDERS_PER_CUSTOMER_INNER).fetchall())
        #> [('Ada Lovelace', 2), ('Alan Turing', 1)]
        print(conn.execute(ORDERS_PER_CUSTOMER_LEFT).fetchall())
        #> [('Ada Lovelace', 2), ('Alan Turing', 1), ('Grace Hopper', 0)]
    # --8<-- [end:joins_demo]

    # --8<-- [start:normalized_update_demo]
    with closing(open_shop()) as conn:
        # one row
        conn.execute("UPDATE customers SET city = 'Paris' WHERE id = 1")
        sql = """SELECT o.id, c.city FROM orders AS o
                 JOIN customers AS c ON c.id = o.customer_id WHERE c.id = 1"""
        # every order of Ada's sees the move
        print(conn.execute(sql).fetchall())
        #> [(1, 'Paris'), (2, 'Paris')]
    # --8<-- [end:normalized_update_demo]

    # --8<-- [start:injection_demo]
    with closing(open_shop()) as conn:
        attack = "' OR '1'='1"
        print(lookup_sql_unsafe(attack))
        #> SELECT name, city FROM customers WHERE email = '' OR '1'='1'
        # everyone
        print([name for name, _ in find_customer_unsafe(conn, attack)])
        #> ['Ada Lovelace', 'Alan Turing', 'Grace Hopper']
        print(find_customer(conn, attack))  # nobody has that odd email address
        #> []
        steal = "' UNION SELECT service, token FROM api_keys --"
        print(find_customer_unsafe(conn, steal))
        #> [('email', 'tok-email-91c2'), ('payments', 'tok-payments-7f3a')]
        print(find_customer(conn, steal))
        #> []
    # --8<-- [end:injection_demo]

    # --8<-- [start:identifiers_demo]
    with closing(open_shop()) as conn:
        print(customers_sorted(conn, "city"))
        #> ['Grace Hopper', 'Ada Lovelace', 'Alan Turing']
        try:
            customers_sorted(conn, "name; DROP TABLE customers")
        except ValueError as exc:
            print(exc)
            #> cannot sort by 'name; DROP TABLE customers'
    # --8<-- [end:identifiers_demo]
    # fmt: on
