"""Game day: the worker killed mid-job. A worker process is killed with
SIGKILL at a checkpoint, started again, and every order ships exactly once;
the service's own worker thread ships orders placed over HTTP and beats the
liveness heartbeat. SQLite (the shipments and inbox tables) is the oracle."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from snippets.capstone.store import OrderService, create
from snippets.capstone.worker import drain

ORDERS = 4


def shipped(folder) -> list[int]:
    conn = sqlite3.connect(f"{folder}/shipping.db")
    try:
        rows = conn.execute("SELECT order_id FROM shipments ORDER BY order_id")
        return [order for (order,) in rows]
    except sqlite3.OperationalError:  # the worker has not created it yet
        return []
    finally:
        conn.close()


@pytest.fixture
def folder(tmp_path):
    create(f"{tmp_path}/orders.db")
    service = OrderService(f"{tmp_path}/orders.db", price=lambda item: 1)
    for n in range(ORDERS):
        service.place("ada", f'"{n}"', {"item": "cup", "quantity": 1})
    return tmp_path


@pytest.mark.parametrize("point", ["published", "shipped", "deleted"])
def test_a_worker_killed_mid_job_ships_every_order_exactly_once(folder, point):
    command = [sys.executable, "-m", "snippets.capstone.worker", str(folder)]
    killed = subprocess.run([*command, point, "2"], timeout=30, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert len(shipped(folder)) < ORDERS or point == "deleted"
    assert drain(str(folder)) == ORDERS
    assert shipped(folder) == list(range(1, ORDERS + 1))


def test_the_services_worker_thread_ships_orders_and_beats(orders):
    with orders() as run:
        for n in range(3):
            key = ("Idempotency-Key", f'"{n}"')
            reply = http_post(run, key)
            assert reply.status == 201
        end = time.monotonic() + 5
        while len(shipped(run.db.rsplit("/", 1)[0])) < 3:
            assert time.monotonic() < end, "the worker shipped nothing"
            time.sleep(0.02)
        beats = dict(run.service.health.beats)
    assert "outbox worker" in beats
    assert shipped(run.db.rsplit("/", 1)[0]) == [1, 2, 3]


def http_post(run, key):
    from tests.helpers import http_request

    body = b'{"item": "cup", "quantity": 1}'
    headers = [run.bearer, ("Content-Type", "application/json"), key]
    return http_request(run.server, "POST", "/orders", body=body, headers=headers)
