"""What the idempotency page claims, asserted on a real SQLite file, real sockets and
real processes killed with SIGKILL.

The oracle is the outcome the draft asks for (draft-ietf-httpapi-idempotency-key-header):
however a client's attempts interleave or crash, the charges table holds one row per
key, and every answer after the first completed one is the same bytes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from snippets.application.app_core import Request, Response, call, serving
from snippets.reliability import idempotency as idem
from tests.helpers import TIMEOUT, raw_exchange

SCOPE = "POST /charges"
KEY = '"8e03978e-40d5-43e8-bc93-6894a57f9324"'
PAY = b'{"amount_cents": 500}'


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "charges.db")


def charges(path: str) -> list[tuple[int, int]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT id, amount_cents FROM charges").fetchall()


def post(server, key: str = KEY, body: bytes = PAY) -> Response:
    return call(server, "POST", "/charges", body, [("Idempotency-Key", key)])


def raw_post(server, key: str = KEY, body: bytes = PAY) -> bytes:
    """The whole answer, as bytes off the socket."""
    head = (
        f"POST /charges HTTP/1.1\r\nHost: t\r\nIdempotency-Key: {key}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return raw_exchange(server.server_address, head + body)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0


# --- the store, with a clock the test moves --------------------------------------------


@pytest.fixture
def conn(path: str):
    conn = idem.connect(path)
    conn.executescript(idem.CHARGES)
    yield conn
    conn.close()


def test_a_second_claim_while_the_first_runs_is_409_with_the_lease_left(conn) -> None:
    token = idem.claim(conn, SCOPE, KEY, PAY, now=1000.0, lease=30.0)
    assert isinstance(token, str)
    refusal = idem.claim(conn, SCOPE, KEY, PAY, now=1012.5, lease=30.0)
    assert refusal.status == 409
    assert refusal.header("Retry-After") == "18"  # ceil(1030 - 1012.5)
    assert refusal.header("Content-Type") == "application/problem+json"


def test_another_body_with_the_same_key_is_422_running_or_done(conn) -> None:
    token = idem.claim(conn, SCOPE, KEY, PAY, now=1000.0)
    assert idem.claim(conn, SCOPE, KEY, b'{"amount_cents": 9}', 1001.0).status == 422
    idem.complete(conn, SCOPE, KEY, token, idem.charge(PAY))
    assert idem.claim(conn, SCOPE, KEY, b'{"amount_cents": 9}', 1002.0).status == 422


def test_the_same_key_in_another_scope_is_another_claim(conn) -> None:
    assert isinstance(idem.claim(conn, SCOPE, KEY, PAY, 1000.0), str)
    assert isinstance(idem.claim(conn, "POST /refunds", KEY, PAY, 1000.0), str)


def test_a_finished_key_replays_the_stored_response(conn) -> None:
    token = idem.claim(conn, SCOPE, KEY, PAY, now=1000.0)
    first = idem.complete(conn, SCOPE, KEY, token, idem.charge(PAY))
    assert first.status == 201
    replay = idem.claim(conn, SCOPE, KEY, PAY, now=5000.0)  # long after any lease
    assert replay == first
    assert charges(conn.execute("PRAGMA database_list").fetchone()[2]) == [(1, 500)]


def test_a_lease_that_ran_out_is_taken_over_and_the_old_holder_cannot_commit(
    conn,
) -> None:
    slow = idem.claim(conn, SCOPE, KEY, PAY, now=1000.0, lease=30.0)
    assert idem.claim(conn, SCOPE, KEY, PAY, now=1029.9, lease=30.0).status == 409
    fresh = idem.claim(conn, SCOPE, KEY, PAY, now=1030.0, lease=30.0)
    assert isinstance(fresh, str)
    assert fresh != slow
    done = idem.complete(conn, SCOPE, KEY, fresh, idem.charge(PAY))
    late = idem.complete(conn, SCOPE, KEY, slow, idem.charge(PAY))
    assert (done.status, late.status) == (201, 409)
    assert late.json()["detail"] == "this request's claim was taken over"
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    assert charges(path) == [(1, 500)]  # the late holder's insert rolled back


def test_a_holder_that_lost_its_lease_before_finishing_rolls_its_work_back(
    conn,
) -> None:
    slow = idem.claim(conn, SCOPE, KEY, PAY, now=1000.0, lease=1.0)
    assert isinstance(idem.claim(conn, SCOPE, KEY, PAY, now=1002.0, lease=1.0), str)
    assert idem.complete(conn, SCOPE, KEY, slow, idem.charge(PAY)).status == 409
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    assert charges(path) == []


def test_work_that_raises_commits_nothing_and_frees_the_key_at_once(conn) -> None:
    token = idem.claim(conn, SCOPE, KEY, PAY, now=1000.0)

    def broken(db: sqlite3.Connection) -> Response:
        db.execute("INSERT INTO charges (amount_cents) VALUES (1)")
        raise RuntimeError("the disk is on fire")

    with pytest.raises(RuntimeError):
        idem.complete(conn, SCOPE, KEY, token, broken)
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    assert charges(path) == []
    assert isinstance(idem.claim(conn, SCOPE, KEY, PAY, now=1000.1), str)


def test_purge_forgets_old_finished_keys_only_and_then_the_key_runs_again(
    conn,
) -> None:
    token = idem.claim(conn, SCOPE, KEY, PAY, now=1000.0)
    idem.complete(conn, SCOPE, KEY, token, idem.charge(PAY))
    running = '"11111111-2222-4333-8444-555555555555"'
    assert isinstance(idem.claim(conn, SCOPE, running, PAY, now=1000.0), str)
    assert idem.purge(conn, older_than=1000.0) == 0  # created at 1000: kept
    assert idem.purge(conn, older_than=1000.5) == 1  # the running claim stays
    assert isinstance(idem.claim(conn, SCOPE, KEY, PAY, now=9000.0), str)


# --- over HTTP ----------------------------------------------------------------------------


def test_the_operation_refuses_a_missing_or_malformed_key_with_400(path) -> None:
    with serving(idem.charges_app(path)) as server:
        for headers in ([], [("Idempotency-Key", "no-quotes")]):
            reply = call(server, "POST", "/charges", PAY, headers)
            assert reply.status == 400
            assert reply.header("Link") == f'<{idem.DOCS}>; rel="describedby"'
        assert call(server, "GET", "/charges").status == 404
    assert charges(path) == []


def test_a_validation_error_is_a_result_stored_and_replayed(path) -> None:
    with serving(idem.charges_app(path)) as server:
        bad = b'{"amount_cents": -5}'
        first, again = post(server, body=bad), post(server, body=bad)
    assert first.status == again.status == 422
    assert first == again
    assert charges(path) == []


@pytest.mark.parametrize(
    "body", [b"{", b"[]", b'{"amount_cents": "5"}', b'{"amount_cents": true}']
)
def test_bodies_that_are_not_a_positive_amount_are_422(path, body: bytes) -> None:
    with serving(idem.charges_app(path)) as server:
        assert post(server, body=body).status == 422


@pytest.mark.timeout(60)
def test_50_concurrent_posts_with_one_key_charge_once_and_replay_the_same_bytes(
    path,
) -> None:
    """The first claimant stands still until the other 49 have been answered, so
    every one of them really overlaps it: exactly 49 must be 409."""
    answered, runs = threading.Semaphore(0), []

    def hold_the_first(point: str) -> None:
        if point == "claimed":
            runs.append(point)
            for _ in range(49):
                assert answered.acquire(timeout=4 * TIMEOUT)

    def attempt(server) -> Response:
        reply = post(server)
        if reply.status != 201:
            answered.release()
        return reply

    app = idem.charges_app(path, checkpoint=hold_the_first)
    with serving(app) as server, ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(attempt, [server] * 50))
        replays = {raw_post(server) for _ in range(3)}
    assert Counter(reply.status for reply in replies) == {201: 1, 409: 49}
    assert all(r.header("Retry-After") for r in replies if r.status == 409)
    assert runs == ["claimed"]
    assert charges(path) == [(1, 500)]
    assert len(replays) == 1
    (replay,) = replays
    assert replay.startswith(b"HTTP/1.1 201 ")
    assert replay.endswith(b'{"id": 1, "amount_cents": 500}')


@pytest.mark.timeout(60)
@pytest.mark.parametrize("point", ["claimed", "charged", "committed"])
def test_a_server_killed_at_each_point_is_retried_and_charges_exactly_once(
    path, point: str
) -> None:
    doomed = idem.ServerProcess(path, lease=0.5, pause_at=point)
    with doomed, ThreadPoolExecutor(1) as pool:
        attempt = pool.submit(post, doomed)
        assert doomed.expect("paused") == f"at {point}"
        doomed.kill()
        assert isinstance(attempt.exception(timeout=TIMEOUT), ConnectionError)
    assert doomed.process.returncode == -9
    expected_before = [(1, 500)] if point == "committed" else []
    assert charges(path) == expected_before
    statuses = []
    with idem.ServerProcess(path, lease=0.5) as server:
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
    assert charges(path) == [(1, 500)]
    assert len(replays) == 1
    assert next(iter(replays)).endswith(reply.body)


@pytest.mark.timeout(60)
def test_a_killed_process_leaves_the_database_consistent(path) -> None:
    doomed = idem.ServerProcess(path, lease=0.5, pause_at="charged")
    with doomed, ThreadPoolExecutor(1) as pool:
        pool.submit(post, doomed)
        doomed.expect("paused")
        doomed.kill()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        row = db.execute("SELECT status, token IS NOT NULL FROM idempotency_keys")
        assert row.fetchall() == [(None, 1)]  # a claim, its lease running out


def test_the_server_process_stops_when_its_stdin_closes(path) -> None:
    server = idem.ServerProcess(path)
    assert post(server).status == 201
    server.close()
    assert server.process.returncode == 0


def test_a_request_that_is_not_the_operation_is_not_claimed(path) -> None:
    app = idem.charges_app(path)
    reply = app(Request("POST", "/refunds", headers=[("Idempotency-Key", KEY)]))
    assert reply.status == 404
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM idempotency_keys").fetchone() == (0,)
