"""The orders store: WAL mode, an order and its outbox event in one
transaction, idempotent placement scoped per customer, validation with every
error, and no SQLite lock held while the dependency is asked. SQLite itself is
the oracle for what was stored."""

from __future__ import annotations

import sqlite3

import pytest

from snippets.application.layering import NotFound
from snippets.application.validation.problem_details import Problem
from snippets.capstone.store import OrderService, connect, create

TEAPOT = {"item": "teapot", "quantity": 2}


@pytest.fixture
def path(tmp_path):
    create(str(tmp_path / "orders.db"))
    return str(tmp_path / "orders.db")


def count(path: str, table: str) -> int:
    conn = connect(path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_the_database_is_in_wal_mode(path):
    conn = connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_a_key_places_one_order_with_one_event_even_when_retried(path):
    service = OrderService(path, price=lambda item: 250)
    first = service.place("ada", '"k1"', TEAPOT)
    again = service.place("ada", '"k1"', TEAPOT)
    assert first.status == 201
    assert first == again
    assert first.json() == {
        "id": 1,
        "customer": "ada",
        "item": "teapot",
        "quantity": 2,
        "price_cents": 500,
    }
    assert (count(path, "orders"), count(path, "outbox")) == (1, 1)
    # The same key from another customer is another order.
    assert service.place("bob", '"k1"', TEAPOT).json()["id"] == 2
    # The same key with another body is refused.
    assert service.place("ada", '"k1"', {**TEAPOT, "quantity": 3}).status == 422


def test_a_key_must_be_a_quoted_string(path):
    service = OrderService(path, price=lambda item: 250)
    for bad in (None, "k1", '""'):
        with pytest.raises(Problem) as refusal:
            service.place("ada", bad, TEAPOT)
        assert refusal.value.status == 400


def test_every_invalid_field_is_reported_and_nothing_is_stored(path):
    service = OrderService(path, price=lambda item: 250)
    with pytest.raises(Problem) as refusal:
        service.place("ada", '"k"', {"item": "A", "quantity": True, "x": 1})
    assert refusal.value.status == 422
    assert sorted(e["pointer"] for e in refusal.value.errors) == [
        "/item",
        "/quantity",
        "/x",
    ]
    assert count(path, "orders") == 0


def test_the_price_is_asked_before_any_lock_is_taken(path):
    seen = []

    def price(item: str) -> int:  # a writer can still take the lock now
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()
        seen.append(item)
        return 100

    OrderService(path, price).place("ada", '"k"', TEAPOT)
    assert seen == ["teapot"]


def test_a_failing_price_stores_nothing_and_claims_no_key(path):
    def price(item: str) -> int:
        raise ConnectionError("pricing is down")

    with pytest.raises(ConnectionError):
        OrderService(path, price).place("ada", '"k"', TEAPOT)
    assert count(path, "idempotency_keys") == 0
    # the retry, once pricing works, places the order
    assert OrderService(path, lambda item: 1).place("ada", '"k"', TEAPOT).status == 201


def test_a_missing_order_is_not_found(path):
    service = OrderService(path, price=lambda item: 250)
    with pytest.raises(NotFound):
        service.get(1)
    assert service.count() == 0
