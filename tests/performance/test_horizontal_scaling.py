"""What the horizontal scaling page claims, asserted on real backend processes
behind the balancer: a session kept in one process's memory works only on that
process; kept in a shared SQLite file (WAL mode, checked with sqlite3 itself)
it works on every process; a backend killed with SIGKILL under load costs at
most the requests in flight and no session; two processes serve at least 1.5
times the requests of one.

Oracles: the session guard of the authentication page (a 401 is its answer to
an unknown session), SQLite read directly, and the kernel (a SIGKILLed
process's return code is -9).

Margins: with 50 ms of work per request and one request at a time per
process, each measured three times in turn and the best round kept, two
processes served 1.99 to 2.01 times one over 5 runs on a shared 2-core machine
(load average 2 to 4), and 1.84 to 1.99 over 5 runs with three extra busy loops
running; the test asserts at least 1.5 (and at most 2.5, which one request at
a time per process rules out). In-flight requests are bounded by the 4
closed-loop clients, so the kill test allows at most 4 failed requests.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections import Counter

from snippets.application.app_core import TIMEOUT, call, serving
from snippets.application.authentication.session_cookies import IDLE_TIMEOUT
from snippets.application.load_generator import closed_loop, get
from snippets.performance.horizontal_scaling import (
    SqliteSessionStore,
    best_rates,
    cluster,
    failing_over,
    log_in,
    statuses,
)
from snippets.performance.load_balancing.balancer import balancing
from snippets.performance.load_balancing.pickers import RoundRobin

NAMES = ["a", "b", "c"]
CLIENTS = 4


def bodies(front, cookie, count: int) -> list[str]:
    return [call(front, "GET", "/", headers=cookie).body.decode() for _ in range(count)]


def test_an_in_memory_session_works_only_on_the_process_that_made_it() -> None:
    with (
        cluster(NAMES, "memory") as (addresses, _),
        serving(balancing(RoundRobin(NAMES), addresses)) as front,
    ):
        cookie = log_in(front)  # round robin: a logs in
        got = statuses(front, cookie, 6)  # b c a b c a
    assert got == [401, 401, 200, 401, 401, 200]


def test_a_shared_sqlite_session_works_on_every_process(tmp_path) -> None:
    path = str(tmp_path / "sessions.db")
    with (
        cluster(NAMES, path) as (addresses, _),
        serving(balancing(RoundRobin(NAMES), addresses)) as front,
    ):
        cookie = log_in(front)
        got = bodies(front, cookie, 3 * len(NAMES))
    assert sorted(got) == sorted(f"{n} serves ada" for n in NAMES * 3)
    with sqlite3.connect(path) as db:  # the file itself, read by SQLite
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT user FROM sessions").fetchall() == [("ada",)]
    db.close()


def test_two_stores_on_one_file_share_login_expiry_and_logout(tmp_path) -> None:
    clock = [1_000.0]
    path = str(tmp_path / "sessions.db")
    one = SqliteSessionStore(path, clock=lambda: clock[0])
    two = SqliteSessionStore(path, clock=lambda: clock[0])  # another process
    first = one.login("ada")
    assert two.lookup(first).user == "ada"
    second = two.login("ada", old_id=first)  # rotated: the old ID is gone
    assert one.lookup(first) is None
    assert one.lookup(second).user == "ada"
    clock[0] += IDLE_TIMEOUT - 1  # a lookup on one moves last_seen for both
    assert two.lookup(second) is not None
    clock[0] += IDLE_TIMEOUT - 1
    assert one.lookup(second) is not None
    one.logout(second)
    assert two.lookup(second) is None
    third = one.login("ada")
    clock[0] += IDLE_TIMEOUT + 1
    assert two.lookup(third) is None


def load_and_kill(front, cookie, victim) -> Counter[int | None]:
    def send(deadline: float):
        return get(front.server_address, cookie)

    async def run() -> list:
        asyncio.get_running_loop().call_later(0.3, victim.kill)
        return await closed_loop(send, CLIENTS, 1.0, TIMEOUT)

    return Counter(outcome.status for outcome in asyncio.run(run()))


def test_sigkill_loses_at_most_in_flight_requests_and_no_session(
    tmp_path,
) -> None:
    path = str(tmp_path / "sessions.db")
    with (
        cluster(NAMES, path, 0.02) as (addresses, processes),
        serving(failing_over(RoundRobin(NAMES), addresses)) as front,
    ):
        cookie = log_in(front)
        counts = load_and_kill(front, cookie, processes["b"])
        after = bodies(front, cookie, 6)
        assert processes["b"].wait(TIMEOUT) == -signal.SIGKILL
    assert set(counts) <= {200, 502}, counts  # no 401: no session lost
    assert counts[502] <= CLIENTS, counts  # only what was in flight
    assert counts[200] > 2 * CLIENTS, counts  # the load ran
    assert sorted(set(after)) == ["a serves ada", "c serves ada"]


def test_without_failover_the_dead_backend_gets_502_the_others_serve(
    tmp_path,
) -> None:
    path = str(tmp_path / "sessions.db")
    with (
        cluster(NAMES, path) as (addresses, processes),
        serving(balancing(RoundRobin(NAMES), addresses)) as front,
    ):
        cookie = log_in(front)  # a
        processes["b"].kill()
        processes["b"].wait(TIMEOUT)
        got = statuses(front, cookie, 6)  # b c a b c a
    assert got == [502, 200, 200, 502, 200, 200]


def test_two_processes_serve_at_least_one_and_a_half_times_one(
    tmp_path,
) -> None:
    path = str(tmp_path / "sessions.db")
    with (
        cluster(NAMES, path, 0.05) as (addresses, _),
        serving(balancing(RoundRobin(["a"]), addresses)) as one,
        serving(balancing(RoundRobin(["b", "c"]), addresses)) as two,
    ):
        rates = best_rates({"one": one, "two": two}, log_in(one))
    ratio = rates["two"] / rates["one"]
    print(f"one: {rates['one']:.1f}/s two: {rates['two']:.1f}/s {ratio:.2f}")
    assert 1.5 <= ratio <= 2.5, rates  # 2.5: one at a time caps each process
