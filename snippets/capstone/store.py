"""The orders service's data and rules: an SQLite file in WAL mode, a
repository that writes an order and its outbox event together, validation at
the boundary, and a service that prices, claims the idempotency key and
places the order.

What it teaches: how the chapters' pieces meet at one transaction. The input is
parsed with the validation page's parsers (a 422 lists every bad field); the
price comes from the slow dependency BEFORE any lock is taken, so a slow
dependency never holds SQLite's write lock; then the idempotency key is
claimed, and the order, its outbox event and the stored response commit in
one transaction (`key_store.complete`), so a retry gets the same answer and
the worker ships the order exactly once.

Read first: the layering page (`docs/application/layering.md`), the
idempotency page (`docs/reliability/idempotency.md`, "Idempotency keys") and
the background work page (`docs/reliability/background_work.md`). This module
builds on `snippets.application.validation.signup_parsing` and
`problem_details`, `snippets.application.layering`,
`snippets.reliability.idempotency.key_store`,
`snippets.reliability.background_work.outbox` and
`snippets.application.api_design.idempotency_keys`.

What it leaves out: updating or cancelling an order, listing orders with
pagination, money in several currencies, and schema migrations.

Run it: `python -m snippets.capstone.store`.
"""

from __future__ import annotations

# --8<-- [start:schema]
import json
import sqlite3
from dataclasses import asdict, dataclass

from snippets.reliability.background_work import outbox
from snippets.reliability.idempotency import key_store

ORDERS = """
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    customer TEXT NOT NULL,           -- the token's subject
    item TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price_cents INTEGER NOT NULL
);
"""
BUSY_TIMEOUT = 0.25  # seconds a request waits for SQLite's write lock


def create(path: str) -> None:
    """The orders, the outbox (whose `orders` table ours already is) and the
    idempotency keys, in one WAL-mode file."""
    conn = outbox.connect(path, ORDERS + outbox.ORDERS)
    conn.executescript(key_store.SCHEMA)
    conn.close()


def connect(path: str) -> sqlite3.Connection:
    """A connection for one request: autocommit, a short busy timeout."""
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)


# --8<-- [end:schema]


# --8<-- [start:repository]
@dataclass(frozen=True)
class Order:
    id: int
    customer: str
    item: str
    quantity: int
    price_cents: int


class OrderRepository:
    """Orders in SQLite; `add` runs inside the caller's transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def add(self, customer: str, item: str, quantity: int, price: int):
        sql = (
            "INSERT INTO orders (customer, item, quantity, price_cents)"
            " VALUES (?, ?, ?, ?)"
        )
        values = (customer, item, quantity, price)
        order = Order(self.conn.execute(sql, values).lastrowid, *values)
        event = {"type": "order placed", "order": order.id, "item": item}
        sql = "INSERT INTO outbox (event) VALUES (?)"  # same transaction
        self.conn.execute(sql, (json.dumps(event),))
        return order

    def get(self, order_id: int) -> Order | None:
        row = self.conn.execute(
            "SELECT id, customer, item, quantity, price_cents FROM orders"
            " WHERE id = ?",
            (order_id,),
        ).fetchone()
        return None if row is None else Order(*row)


# --8<-- [end:repository]


# --8<-- [start:parse]
from snippets.application.validation.problem_details import Problem
from snippets.application.validation.signup_parsing import (
    Invalid,
    integer,
    obj,
    text,
)

order_fields = obj(
    {"item": text(1, 40, r"[a-z][a-z -]*"), "quantity": integer(1, 100)},
    required={"item", "quantity"},
)


def parse_order(document: object) -> dict:
    """A JSON value in, {"item", "quantity"} out, or Problem 422."""
    try:
        return order_fields(document)
    except Invalid as invalid:
        errors = [{"pointer": p, "detail": d} for p, d in invalid.errors]
        detail = f"{len(errors)} field(s) need attention"
        raise Problem("invalid-input", detail, errors) from None


# --8<-- [end:parse]


# --8<-- [start:service]
import time
from collections.abc import Callable

from snippets.application.api_design.idempotency_keys import KEY
from snippets.application.app_core import Response, json_response
from snippets.application.layering import NotFound

SCOPE = "POST /orders"


class OrderService:
    """Places and reads orders; `price` asks the pricing dependency."""

    def __init__(self, path: str, price: Callable[[str], int]) -> None:
        self.path, self.price = path, price

    def place(self, customer: str, key: str | None, document: object):
        """201 with the order, the stored answer to a retry, or a Problem."""
        if key is None or not KEY.fullmatch(key):
            raise Problem(400, 'send an Idempotency-Key: "<a UUID>"')
        fields = parse_order(document)
        price = self.price(fields["item"]) * fields["quantity"]  # no lock held
        body = json.dumps(document, sort_keys=True).encode()

        def work(conn: sqlite3.Connection) -> Response:
            order = OrderRepository(conn).add(customer, **fields, price=price)
            where = [("Location", f"/orders/{order.id}")]
            return json_response(asdict(order), 201, where)

        conn = connect(self.path)
        try:  # the key is the customer's own: scope it to them
            scope = f"{SCOPE} {customer}"
            token = key_store.claim(conn, scope, key, body, time.time())
            if isinstance(token, Response):
                return token  # a retry's stored answer, or 409 / 422
            return key_store.complete(conn, scope, key, token, work)
        finally:
            conn.close()

    def count(self) -> int:
        conn = connect(self.path)
        try:
            return conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        finally:
            conn.close()

    def get(self, order_id: int) -> Order:
        conn = connect(self.path)
        try:
            order = OrderRepository(conn).get(order_id)
        finally:
            conn.close()
        if order is None:
            raise NotFound(f"no order {order_id}")
        return order


# --8<-- [end:service]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/orders.db"
        create(path)
        service = OrderService(path, price=lambda item: 250)
        key = '"0b7a3c2e-2f4e-4c43-9f1d-7d4f1d1c2a10"'
        first = service.place("ada", key, {"item": "teapot", "quantity": 2})
        again = service.place("ada", key, {"item": "teapot", "quantity": 2})
        print(first.status, first.json()["price_cents"], first == again)
        #> 201 500 True
        try:
            service.place("ada", key.replace("0b", "1b"), {"item": "", "n": 1})
        except Problem as refusal:
            print(refusal.status, [e["pointer"] for e in refusal.errors])
            #> 422 ['/n', '/item', '/quantity']
        conn = connect(path)
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        conn.close()
        print(mode, events, service.get(1).item)
        #> wal 1 teapot
    # --8<-- [end:demo]
