"""What the crash demo claims, on real processes killed with SIGKILL at each
checkpoint: the retry charges exactly once and replays the same bytes."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from snippets.reliability.idempotency import server_process as sp
from tests.helpers import TIMEOUT


@pytest.mark.timeout(60)
@pytest.mark.parametrize("point", ["claimed", "charged", "committed"])
def test_a_server_killed_at_each_point_is_retried_and_charges_exactly_once(
    path, point: str, charges, post, raw_post
) -> None:
    doomed = sp.ServerProcess(path, lease=0.5, pause_at=point)
    with doomed, ThreadPoolExecutor(1) as pool:
        attempt = pool.submit(post, doomed)
        assert doomed.expect("paused") == f"at {point}"
        doomed.kill()
        assert isinstance(attempt.exception(timeout=TIMEOUT), ConnectionError)
    assert doomed.process.returncode == -9
    expected_before = [(1, 500)] if point == "committed" else []
    assert charges() == expected_before
    statuses = []
    with sp.ServerProcess(path, lease=0.5) as server:
        deadline = time.monotonic() + 4 * TIMEOUT
        while (reply := post(server)).status == 409 and time.monotonic() < deadline:
            statuses.append(409)
            time.sleep(0.1)
        statuses.append(reply.status)
        replays = {raw_post(server) for _ in range(2)}
    if point == "committed":  # the result was stored: the first retry gets it
        assert statuses == [201]
    assert statuses[-1] == 201
    assert set(statuses) <= {201, 409}
    assert reply.json() == {"id": 1, "amount_cents": 500}
    assert charges() == [(1, 500)]
    assert len(replays) == 1
    assert next(iter(replays)).endswith(reply.body)


@pytest.mark.timeout(60)
def test_a_killed_process_leaves_the_database_consistent(path, post) -> None:
    doomed = sp.ServerProcess(path, lease=0.5, pause_at="charged")
    with doomed, ThreadPoolExecutor(1) as pool:
        pool.submit(post, doomed)
        doomed.expect("paused")
        doomed.kill()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        row = db.execute("SELECT status, token IS NOT NULL FROM idempotency_keys")
        assert row.fetchall() == [(None, 1)]  # a claim, its lease running out


def test_the_server_process_stops_when_its_stdin_closes(path, post) -> None:
    server = sp.ServerProcess(path)
    assert post(server).status == 201
    server.close()
    assert server.process.returncode == 0
