"""What the background work page claims of the outbox, asserted with real
processes killed by SIGKILL at every checkpoint of the relay and the consumer:
every order placed is shipped exactly once, and nothing is left behind."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from snippets.reliability.background_work.job_queue import JobQueue
from snippets.reliability.background_work.outbox import (
    ORDERS,
    SHIPPING,
    connect,
    place_order,
    relay,
)

MODULE = "snippets.reliability.background_work.outbox"
ITEMS = [f"item {n}" for n in range(1, 9)]


def run(role: str, folder: Path, point: str = "never", after: int = 1) -> int:
    """Run the relay or the consumer as a process; its exit status."""
    command = [sys.executable, "-m", MODULE, role, str(folder), point, str(after)]
    return subprocess.run(command, timeout=60, check=False).returncode


def rows(path: Path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize(
    ("role", "point"),
    [
        ("relay", "published"),
        ("relay", "marked"),
        ("consume", "received"),
        ("consume", "shipped"),
        ("consume", "deleted"),
    ],
)
def test_sigkill_at_every_checkpoint_ships_each_order_once(
    tmp_path: Path, role: str, point: str
) -> None:
    with contextlib.closing(connect(str(tmp_path / "orders.db"), ORDERS)) as conn:
        ordered = [(place_order(conn, item), item) for item in ITEMS]
    if role == "relay":
        assert run("relay", tmp_path, point, after=3) == -signal.SIGKILL
    assert run("relay", tmp_path) == 0  # the restart finishes the outbox
    if role == "consume":
        assert run("consume", tmp_path, point, after=3) == -signal.SIGKILL
    assert run("consume", tmp_path) == 0  # the restart finishes the queue
    shipped = rows(tmp_path / "shipping.db", "SELECT order_id, item FROM shipments")
    assert sorted(shipped) == ordered  # every order, exactly once
    unpublished = "SELECT count(*) FROM outbox WHERE published = 0"
    assert rows(tmp_path / "orders.db", unpublished) == [(0,)]
    assert rows(tmp_path / "broker.db", "SELECT count(*) FROM jobs") == [(0,)]
    assert rows(tmp_path / "broker.db", "SELECT count(*) FROM dead_letters") == [(0,)]
    inbox = rows(tmp_path / "shipping.db", "SELECT count(*) FROM inbox")
    assert inbox == [(len(ITEMS),)]


def test_a_relay_killed_after_publishing_sends_that_event_twice(tmp_path) -> None:
    # The duplicate the inbox is there for: at least once, not exactly once.
    with contextlib.closing(connect(str(tmp_path / "orders.db"), ORDERS)) as conn:
        for item in ITEMS:
            place_order(conn, item)
    assert run("relay", tmp_path, "published", after=3) == -signal.SIGKILL
    assert run("relay", tmp_path) == 0
    bodies = rows(tmp_path / "broker.db", "SELECT body FROM jobs")
    assert len(bodies) == len(ITEMS) + 1
    assert len(set(bodies)) == len(ITEMS)


def test_an_order_rolled_back_leaves_no_event(tmp_path) -> None:
    conn = connect(str(tmp_path / "orders.db"), ORDERS)
    try:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN "
            "SELECT RAISE(ABORT, 'the disk is full'); END"
        )
        with pytest.raises(sqlite3.IntegrityError, match="disk is full"):
            place_order(conn, "kettle")
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (0,)
        broker = JobQueue(str(tmp_path / "broker.db"))
        assert relay(conn, broker, lambda name: None) == 0
        broker.close()
    finally:
        conn.close()


def test_the_consumer_schema_keeps_one_inbox_row_per_event(tmp_path) -> None:
    conn = connect(str(tmp_path / "shipping.db"), SHIPPING)
    try:
        conn.execute("INSERT INTO inbox VALUES (1)")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO inbox VALUES (1)")
    finally:
        conn.close()
