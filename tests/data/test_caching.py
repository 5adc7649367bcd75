"""The caching page's claims: LRU agrees with functools.lru_cache, TTL expires on time,
the write policies reach SQLite when they say, and a stampede runs one load.

The oracles are `functools.lru_cache` (its `cache_info()`, step by step) and SQLite's
trace callback, which counts the queries that reach the database.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data import caching
from snippets.data.caching import MISSING
from tests.helpers import TIMEOUT

# --------------------------------------------------------------------------- LRU


@settings(max_examples=200)
@given(
    maxsize=st.integers(0, 8),
    keys=st.lists(st.integers(0, 12), max_size=80),
)
def test_lru_counts_the_same_hits_and_misses_as_functools_at_every_step(
    maxsize: int, keys: list[int]
) -> None:
    @caching.lru_cached(maxsize)
    def ours(n: int) -> int:
        return n * 3

    @functools.lru_cache(maxsize=maxsize)
    def real(n: int) -> int:
        return n * 3

    for key in keys:
        assert ours(key) == real(key)
        assert ours.cache_info() == real.cache_info()  # type: ignore[attr-defined]


def test_the_page_sequence_gives_one_hit_and_five_misses() -> None:
    @caching.lru_cached(2)
    def square(n: int) -> int:
        return n * n

    for n in [1, 2, 1, 3, 2, 1]:
        square(n)
    assert square.cache_info() == (1, 5, 2, 2)  # type: ignore[attr-defined]
    assert square.__name__ == "square"


def test_a_hit_protects_an_entry_from_eviction() -> None:
    cache = caching.LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("c", 3)
    assert cache.get("b") is MISSING
    assert (cache.get("a"), cache.get("c")) == (1, 3)


def test_put_on_a_cached_key_replaces_the_value_and_refreshes_it() -> None:
    cache = caching.LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)  # evicts "b", not the refreshed "a"
    assert cache.get("a") == 10
    assert cache.get("b") is MISSING
    assert cache.info().currsize == 2


def test_lru_holds_none_as_a_value_and_maxsize_zero_holds_nothing() -> None:
    cache = caching.LRUCache(1)
    cache.put("nobody", None)
    assert cache.get("nobody") is None
    assert cache.get("other", "fallback") == "fallback"
    empty = caching.LRUCache(0)
    empty.put("a", 1)
    assert empty.get("a") is MISSING
    assert empty.info() == (0, 1, 0, 0)


def test_delete_forgets_a_key_and_ignores_an_unknown_one() -> None:
    cache = caching.LRUCache(3)
    cache.put("a", 1)
    cache.delete("a")
    cache.delete("never there")
    assert cache.get("a") is MISSING


def test_a_negative_maxsize_is_refused() -> None:
    with pytest.raises(ValueError, match="maxsize must be >= 0"):
        caching.LRUCache(-1)


# --------------------------------------------------------------------------- TTL


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_ttl_entry_is_served_until_its_expiry_and_not_at_it() -> None:
    clock = FakeClock()
    cache = caching.TTLCache(ttl=30, clock=clock)
    cache.put("k", "v")
    clock.now += 29.999
    assert cache.get("k") == "v"
    clock.now += 0.001  # exactly 30 s after the put
    assert cache.get("k") is MISSING
    assert (cache.hits, cache.misses) == (1, 1)


def test_ttl_per_entry_override_and_refresh_on_put() -> None:
    clock = FakeClock()
    cache = caching.TTLCache(ttl=30, clock=clock)
    cache.put("short", 1, ttl=5)
    cache.put("long", 2)
    clock.now += 10
    assert cache.get("short") is MISSING
    cache.put("long", 3)  # a new put starts a new 30 s
    clock.now += 25
    assert cache.get("long") == 3


def test_purge_drops_only_expired_entries() -> None:
    clock = FakeClock()
    cache = caching.TTLCache(ttl=10, clock=clock)
    for key in range(5):
        cache.put(key, key, ttl=key + 1)
    clock.now += 3
    assert cache.purge() == 3  # ttl 1, 2, 3 have expired
    assert [cache.get(k) for k in (3, 4)] == [3, 4]
    cache.delete(3)
    assert cache.get(3) is MISSING


def test_ttl_cache_uses_the_monotonic_clock_by_default() -> None:
    assert caching.TTLCache(ttl=1).clock is time.monotonic


ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 3), st.integers()),
        st.tuples(st.just("advance"), st.floats(0, 20), st.none()),
        st.tuples(st.just("get"), st.integers(0, 3), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=100)
@given(ttl=st.floats(0.5, 15), operations=ops)
def test_ttl_get_returns_a_value_exactly_while_younger_than_ttl(
    ttl: float, operations: list[tuple[str, Any, Any]]
) -> None:
    clock = FakeClock(0.0)
    cache = caching.TTLCache(ttl=ttl, clock=clock)
    stored: dict[int, tuple[float, int]] = {}  # the model: key -> (put time, value)
    for op, arg, value in operations:
        if op == "put":
            cache.put(arg, value)
            stored[arg] = (clock.now, value)
        elif op == "advance":
            clock.now += arg
        else:
            put_at, expected = stored.get(arg, (None, MISSING))
            fresh = put_at is not None and clock.now < put_at + ttl
            assert cache.get(arg) == (expected if fresh else MISSING)


# --------------------------------------------------------------------------- policies


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        caching.make_users(conn, {1: "Ada", 2: "Grace"})
        yield conn


@contextlib.contextmanager
def counting(conn: sqlite3.Connection) -> Iterator[list[str]]:
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        conn.set_trace_callback(None)


def selects(statements: list[str]) -> int:
    return sum(s.startswith("SELECT") for s in statements)


def test_cache_aside_reads_the_database_once_per_key(conn) -> None:
    cache = caching.LRUCache(10)
    with counting(conn) as statements:
        names = [caching.get_user(cache, conn, i % 2 + 1) for i in range(10)]
    assert names == ["Ada", "Grace"] * 5
    assert selects(statements) == 2
    assert cache.info() == (8, 2, 10, 2)


def test_deleting_on_write_makes_the_next_read_fresh(conn) -> None:
    cache = caching.LRUCache(10)
    caching.get_user(cache, conn, 1)
    caching.rename_user(cache, conn, 1, "Ada Lovelace")
    with counting(conn) as statements:
        assert caching.get_user(cache, conn, 1) == "Ada Lovelace"
    assert selects(statements) == 1


def test_a_write_that_skips_the_cache_leaves_it_stale(conn) -> None:
    cache = caching.LRUCache(10)
    caching.get_user(cache, conn, 1)
    caching.save_user(conn, 1, "Ada Lovelace")
    assert caching.get_user(cache, conn, 1) == "Ada"
    assert caching.load_user(conn, 1) == "Ada Lovelace"


def test_a_missing_user_is_cached_as_none_until_invalidated(conn) -> None:
    cache = caching.LRUCache(10)
    with counting(conn) as statements:
        assert caching.get_user(cache, conn, 3) is None
        assert caching.get_user(cache, conn, 3) is None
    assert selects(statements) == 1  # the negative entry spared the second query
    caching.rename_user(cache, conn, 3, "Barbara")  # an upsert creates the user
    assert caching.get_user(cache, conn, 3) == "Barbara"


def test_a_slow_reader_can_put_back_a_stale_value_that_ttl_then_bounds(conn) -> None:
    """The race of delete-on-write, replayed step by step: read, write, late fill."""
    clock = FakeClock()
    cache = caching.TTLCache(ttl=60, clock=clock)
    old = caching.load_user(conn, 1)  # reader: miss, reads the database...
    caching.rename_user(cache, conn, 1, "Ada Lovelace")  # writer: update, delete
    cache.put(("user", 1), old)  # ...reader: fills the cache with what it read
    assert caching.get_user(cache, conn, 1) == "Ada"  # stale
    clock.now += 60
    assert caching.get_user(cache, conn, 1) == "Ada Lovelace"  # TTL ended it


def test_write_through_writes_the_database_before_the_cache(conn) -> None:
    store = caching.WriteThrough(caching.LRUCache(10), conn)
    store.write(2, "Grace Hopper")
    assert caching.load_user(conn, 2) == "Grace Hopper"
    with counting(conn) as statements:
        assert caching.get_user(store.cache, conn, 2) == "Grace Hopper"
    assert selects(statements) == 0


def test_write_through_with_racing_writers_can_cache_the_older_value(conn) -> None:
    """Writer A commits, writer B commits, B fills the cache, A fills it last."""
    cache = caching.LRUCache(10)
    caching.save_user(conn, 2, "Grace A")  # writer A: commit...
    caching.WriteThrough(cache, conn).write(2, "Grace B")  # writer B: commit, put
    cache.put(("user", 2), "Grace A")  # ...writer A: its put lands last
    assert caching.load_user(conn, 2) == "Grace B"
    assert caching.get_user(cache, conn, 2) == "Grace A"  # older than the database


def test_write_through_with_a_failed_cache_update_keeps_the_old_value(
    conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = caching.WriteThrough(caching.LRUCache(10), conn)
    store.write(2, "Grace Hopper")

    def cache_down(key, value) -> None:
        raise ConnectionError("cache server unreachable")

    monkeypatch.setattr(store.cache, "put", cache_down)
    with pytest.raises(ConnectionError):
        store.write(2, "Rear Admiral Hopper")
    monkeypatch.undo()
    assert caching.load_user(conn, 2) == "Rear Admiral Hopper"  # committed
    assert caching.get_user(store.cache, conn, 2) == "Grace Hopper"  # stale


def test_write_behind_reaches_the_database_only_on_flush(conn) -> None:
    store = caching.WriteBehind(caching.LRUCache(10), conn)
    for i in range(100):
        store.write(1, f"Ada v{i}")
    store.write(4, "Katherine")
    assert caching.load_user(conn, 1) == "Ada"
    assert caching.load_user(conn, 4) is None
    with counting(conn) as statements:
        assert store.flush() == 2  # 101 writes coalesced into 2 rows
    words = [s.split()[0] for s in statements]
    assert (words.count("BEGIN"), words.count("COMMIT")) == (1, 1)
    assert caching.load_user(conn, 1) == "Ada v99"
    assert caching.load_user(conn, 4) == "Katherine"
    assert store.flush() == 0


def test_write_behind_loses_unflushed_writes_when_the_process_dies(conn) -> None:
    store = caching.WriteBehind(caching.LRUCache(10), conn)
    store.write(2, "Grace Hopper")
    del store  # the process died: the dirty set was only in memory
    assert caching.load_user(conn, 2) == "Grace"


def test_versioned_keys_invalidate_one_group_and_leave_the_others() -> None:
    keys = caching.VersionedKeys()
    cache = caching.LRUCache(10)
    cache.put(keys.key("user:1", "page", 1), "u1p1")
    cache.put(keys.key("user:2", "page", 1), "u2p1")
    keys.invalidate("user:1")
    assert cache.get(keys.key("user:1", "page", 1)) is MISSING
    assert cache.get(keys.key("user:2", "page", 1)) == "u2p1"
    cache.put(keys.key("user:1", "page", 1), "fresh")
    assert cache.get(keys.key("user:1", "page", 1)) == "fresh"
    assert keys.key("user:1", "page", 1) == ("user:1", 1, "page", 1)


# --------------------------------------------------------------------------- stampede

THREADS = 8


class WatchedCache(caching.LRUCache):
    """An LRU cache that lets a test wait until N callers have looked a key up."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.cond = threading.Condition()
        self.lookups = 0  # guarded by cond

    def get(self, key: Hashable, default: Any = MISSING) -> Any:
        with self.cond:
            self.lookups += 1
            self.cond.notify_all()
        return super().get(key, default)

    def wait_for_lookups(self, n: int) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.lookups >= n, timeout=TIMEOUT)


def run_at_once(call: Callable[[], Any], threads: int = THREADS) -> list[Any]:
    """Release `threads` threads together through a Barrier; return what each got."""
    start = threading.Barrier(threads, timeout=TIMEOUT)
    results: list[Any] = []  # list.append is atomic
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            results.append(call())
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=10)
    assert not any(w.is_alive() for w in workers)
    return results + errors


def test_without_protection_every_concurrent_miss_runs_the_loader() -> None:
    cache = WatchedCache(10)
    loads: list[Hashable] = []

    def loader(key: Hashable) -> str:
        loads.append(key)
        assert cache.wait_for_lookups(THREADS)  # every thread has missed by now
        return "value"

    def naive_get() -> Any:
        value = cache.get("k")
        if value is MISSING:
            value = loader("k")
        return value

    assert run_at_once(naive_get) == ["value"] * THREADS
    assert len(loads) == THREADS


def test_single_flight_runs_the_loader_once_for_concurrent_misses() -> None:
    cache = WatchedCache(10)
    flight = caching.SingleFlight(cache)
    loads: list[Hashable] = []

    def loader(key: Hashable) -> str:
        loads.append(key)
        assert cache.wait_for_lookups(THREADS)  # every thread has missed by now
        return "value"

    assert run_at_once(lambda: flight.get("k", loader)) == ["value"] * THREADS
    assert loads == ["k"]
    assert (flight.loads, flight.joined) == (1, THREADS - 1)
    assert cache.get("k") == "value"


def test_functools_lru_cache_does_not_protect_against_a_stampede() -> None:
    """The oracle agrees with the problem: its docs say the function may run twice."""
    inside = threading.Barrier(THREADS, timeout=TIMEOUT)
    calls: list[int] = []

    @functools.lru_cache(maxsize=10)
    def slow(n: int) -> int:
        calls.append(n)
        inside.wait()  # all THREADS calls are inside the function at once
        return n

    assert run_at_once(lambda: slow(1)) == [1] * THREADS
    assert len(calls) == THREADS
    assert slow.cache_info().currsize == 1


def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    cache = WatchedCache(10)
    flight = caching.SingleFlight(cache)
    attempts: list[int] = []

    def failing(key: Hashable) -> str:
        attempts.append(1)
        assert cache.wait_for_lookups(THREADS)
        raise ConnectionError("database down")

    outcomes = run_at_once(lambda: flight.get("k", failing))
    assert [type(o) for o in outcomes] == [ConnectionError] * THREADS
    assert len(attempts) == 1
    assert flight.get("k", lambda key: "recovered") == "recovered"  # tried again
    assert flight.loads == 2


def test_a_waiter_gives_up_after_its_timeout() -> None:
    flight = caching.SingleFlight(caching.LRUCache(10))
    entered, release = threading.Event(), threading.Event()

    def stuck(key: Hashable) -> str:
        entered.set()
        assert release.wait(timeout=TIMEOUT)
        return "late"

    leader = threading.Thread(target=lambda: flight.get("k", stuck))
    leader.start()
    try:
        assert entered.wait(timeout=TIMEOUT)
        with pytest.raises(TimeoutError):
            flight.get("k", stuck, timeout=0.05)
    finally:
        release.set()
        leader.join(timeout=TIMEOUT)
    assert flight.get("k", stuck) == "late"
    assert flight.loads == 1


def test_different_keys_load_in_parallel_not_one_after_another() -> None:
    flight = caching.SingleFlight(caching.LRUCache(10))
    both_inside = threading.Barrier(
        2, timeout=TIMEOUT
    )  # breaks if loads were serialized

    def loader(key: Hashable) -> Hashable:
        both_inside.wait()
        return key

    keys = iter(["a", "b"])
    lock = threading.Lock()

    def next_key() -> Hashable:
        with lock:
            return next(keys)

    assert sorted(run_at_once(lambda: flight.get(next_key(), loader), 2)) == ["a", "b"]
    assert flight.loads == 2
