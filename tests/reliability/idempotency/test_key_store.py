"""What the key store claims, asserted on a real SQLite file with a clock the test
moves: claims, leases, takeovers, the fencing token, purging."""

from __future__ import annotations

import sqlite3

import pytest

from snippets.application.app_core import Response
from snippets.reliability.idempotency import key_store as ks
from snippets.reliability.idempotency.charges_service import CHARGES, charge

SCOPE = "POST /charges"
KEY = '"8e03978e-40d5-43e8-bc93-6894a57f9324"'
PAY = b'{"amount_cents": 500}'


@pytest.fixture
def conn(path: str):
    conn = ks.connect(path)
    conn.executescript(CHARGES)
    yield conn
    conn.close()


def test_a_second_claim_while_the_first_runs_is_409_with_the_lease_left(conn) -> None:
    token = ks.claim(conn, SCOPE, KEY, PAY, now=1000.0, lease=30.0)
    assert isinstance(token, str)
    refusal = ks.claim(conn, SCOPE, KEY, PAY, now=1012.5, lease=30.0)
    assert refusal.status == 409
    assert refusal.header("Retry-After") == "18"  # ceil(1030 - 1012.5)
    assert refusal.header("Content-Type") == "application/problem+json"


def test_another_body_with_the_same_key_is_422_running_or_done(conn) -> None:
    token = ks.claim(conn, SCOPE, KEY, PAY, now=1000.0)
    assert ks.claim(conn, SCOPE, KEY, b'{"amount_cents": 9}', 1001.0).status == 422
    ks.complete(conn, SCOPE, KEY, token, charge(PAY))
    assert ks.claim(conn, SCOPE, KEY, b'{"amount_cents": 9}', 1002.0).status == 422


def test_the_same_key_in_another_scope_is_another_claim(conn) -> None:
    assert isinstance(ks.claim(conn, SCOPE, KEY, PAY, 1000.0), str)
    assert isinstance(ks.claim(conn, "POST /refunds", KEY, PAY, 1000.0), str)


def test_a_finished_key_replays_the_stored_response(conn, charges) -> None:
    token = ks.claim(conn, SCOPE, KEY, PAY, now=1000.0)
    first = ks.complete(conn, SCOPE, KEY, token, charge(PAY))
    assert first.status == 201
    replay = ks.claim(conn, SCOPE, KEY, PAY, now=5000.0)  # long after any lease
    assert replay == first
    assert charges() == [(1, 500)]


def test_a_lease_that_ran_out_is_taken_over_and_the_old_holder_cannot_commit(
    conn, charges
) -> None:
    slow = ks.claim(conn, SCOPE, KEY, PAY, now=1000.0, lease=30.0)
    assert ks.claim(conn, SCOPE, KEY, PAY, now=1029.9, lease=30.0).status == 409
    fresh = ks.claim(conn, SCOPE, KEY, PAY, now=1030.0, lease=30.0)
    assert isinstance(fresh, str)
    assert fresh != slow
    done = ks.complete(conn, SCOPE, KEY, fresh, charge(PAY))
    late = ks.complete(conn, SCOPE, KEY, slow, charge(PAY))
    assert (done.status, late.status) == (201, 409)
    assert late.json()["detail"] == "this request's claim was taken over"
    assert charges() == [(1, 500)]  # the late holder's insert rolled back


def test_a_holder_that_lost_its_lease_before_finishing_rolls_its_work_back(
    conn, charges
) -> None:
    slow = ks.claim(conn, SCOPE, KEY, PAY, now=1000.0, lease=1.0)
    assert isinstance(ks.claim(conn, SCOPE, KEY, PAY, now=1002.0, lease=1.0), str)
    assert ks.complete(conn, SCOPE, KEY, slow, charge(PAY)).status == 409
    assert charges() == []


def test_work_that_raises_commits_nothing_and_frees_the_key_at_once(
    conn, charges
) -> None:
    token = ks.claim(conn, SCOPE, KEY, PAY, now=1000.0)

    def broken(db: sqlite3.Connection) -> Response:
        db.execute("INSERT INTO charges (amount_cents) VALUES (1)")
        raise RuntimeError("the disk is on fire")

    with pytest.raises(RuntimeError):
        ks.complete(conn, SCOPE, KEY, token, broken)
    assert charges() == []
    assert isinstance(ks.claim(conn, SCOPE, KEY, PAY, now=1000.1), str)


def test_purge_forgets_old_finished_keys_only_and_then_the_key_runs_again(conn) -> None:
    token = ks.claim(conn, SCOPE, KEY, PAY, now=1000.0)
    ks.complete(conn, SCOPE, KEY, token, charge(PAY))
    running = '"11111111-2222-4333-8444-555555555555"'
    assert isinstance(ks.claim(conn, SCOPE, running, PAY, now=1000.0), str)
    assert ks.purge(conn, older_than=1000.0) == 0  # created at 1000: kept
    assert ks.purge(conn, older_than=1000.5) == 1  # the running claim stays
    assert isinstance(ks.claim(conn, SCOPE, KEY, PAY, now=9000.0), str)
