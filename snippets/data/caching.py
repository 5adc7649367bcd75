"""Caching: LRU and TTL caches, three write policies, invalidation, stampede
protection.

Read first: the access patterns page (query counting with SQLite's trace
callback). This module builds a least-recently-used cache on
`collections.OrderedDict` that agrees with `functools.lru_cache` hit for hit; a
time-to-live cache whose clock is a parameter, so expiry is tested without
sleeping; cache-aside, write-through and write-behind in front of a real SQLite
database; invalidation by deleting on write and by versioned keys; and a "single
flight" that lets only one of many concurrent misses run the slow load.

What it leaves out: a network cache server (Redis, memcached) and its
serialization, memory limits in bytes rather than entries, eviction policies
beyond LRU (LFU, W-TinyLFU), probabilistic early refresh, and cross-process
invalidation messages. The caches here are not thread-safe on their own: the
single flight guards its cache with its own lock.

Run it: `python -m snippets.data.caching`.
"""

# --8<-- [start:lru]
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

MISSING: Any = object()  # "not in the cache": None is a value a cache may hold


class CacheInfo(NamedTuple):
    """Statistics in the shape of `functools.lru_cache`'s `cache_info()`."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


class LRUCache:
    """At most `maxsize` entries; when full, the least recently used one goes.

    Args:
        maxsize: how many entries to keep; 0 keeps none.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 0:
            raise ValueError(f"maxsize must be >= 0, got {maxsize}")
        self.maxsize = maxsize
        self.hits = self.misses = 0
        # least recent first
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, default: Any = MISSING) -> Any:
        """The cached value (now the most recently used), or `default` on a
        miss."""
        if key not in self._data:
            self.misses += 1
            return default
        self.hits += 1
        self._data.move_to_end(key)
        return self._data[key]

    def put(self, key: Hashable, value: Any) -> None:
        """Store a value as the most recently used; evict the least recent if
        full."""
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.maxsize:
            # the front is the least recently used
            self._data.popitem(last=False)

    def delete(self, key: Hashable) -> None:
        """Forget a key if it is cached."""
        self._data.pop(key, None)

    def info(self) -> CacheInfo:
        """Hits, misses, maxsize and current size."""
        return CacheInfo(self.hits, self.misses, self.maxsize, len(self._data))


# --8<-- [end:lru]


# --8<-- [start:decorator]
import functools


def lru_cached(
    maxsize: int,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Memoize a function of positional, hashable arguments in an `LRUCache`.

    Args:
        maxsize: how many results to keep.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        cache = LRUCache(maxsize)

        @functools.wraps(func)
        def wrapper(*args: Hashable) -> Any:
            value = cache.get(args)
            if value is MISSING:
                value = func(*args)
                cache.put(args, value)
            return value

        wrapper.cache_info = cache.info  # type: ignore[attr-defined]
        return wrapper

    return decorate


# --8<-- [end:decorator]


# --8<-- [start:ttl]
import time


class TTLCache:
    """Entries expire `ttl` seconds after they were stored.

    Args:
        ttl: the default time to live, in seconds.
        clock: returns the current time in seconds; `time.monotonic` by default,
            which never jumps back when the wall clock is adjusted.
    """

    def __init__(
        self, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.hits = self.misses = 0
        # key -> (expires_at, value)
        self._data: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable, default: Any = MISSING) -> Any:
        """The value if present and not yet expired, else `default`."""
        expires_at, value = self._data.get(key, (0.0, MISSING))
        if value is not MISSING and self.clock() < expires_at:
            self.hits += 1
            return value
        self._data.pop(key, None)  # expired entries are removed when met
        self.misses += 1
        return default

    def put(self, key: Hashable, value: Any, ttl: float | None = None) -> None:
        """Store a value for `ttl` seconds (the cache's default when None)."""
        self._data[key] = (
            self.clock() + (self.ttl if ttl is None else ttl),
            value,
        )

    def delete(self, key: Hashable) -> None:
        """Forget a key if it is cached."""
        self._data.pop(key, None)

    def purge(self) -> int:
        """Drop every expired entry; return how many went."""
        now = self.clock()
        expired = [
            key for key, (until, _) in self._data.items() if now >= until
        ]
        for key in expired:
            del self._data[key]
        return len(expired)


# --8<-- [end:ttl]


# --8<-- [start:database]
import sqlite3


def make_users(conn: sqlite3.Connection, names: dict[int, str]) -> None:
    """Create the `users` table and fill it.

    Args:
        conn: a connection to an empty database.
        names: user id -> name.
    """
    conn.execute(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"
    )
    with conn:  # one transaction, committed at the end of the block
        conn.executemany("INSERT INTO users VALUES (?, ?)", names.items())


def load_user(conn: sqlite3.Connection, user_id: int) -> str | None:
    """The user's name from the database, None if there is no such user."""
    row = conn.execute(
        "SELECT name FROM users WHERE id = ?", (user_id,)
    ).fetchone()
    return row[0] if row else None


def save_user(conn: sqlite3.Connection, user_id: int, name: str) -> None:
    """Insert or update one user in its own transaction."""
    with conn:
        conn.execute(
            "INSERT INTO users VALUES (?, ?)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            (user_id, name),
        )


# --8<-- [end:database]


# --8<-- [start:cache_aside]
def get_user(
    cache: LRUCache | TTLCache, conn: sqlite3.Connection, user_id: int
) -> Any:
    """Cache-aside read: ask the cache; on a miss read the database, then fill
    it."""
    key = ("user", user_id)
    name = cache.get(key)
    if name is MISSING:
        name = load_user(conn, user_id)
        cache.put(key, name)  # None is cached too: a "negative" entry
    return name


def rename_user(
    cache: LRUCache | TTLCache,
    conn: sqlite3.Connection,
    user_id: int,
    name: str,
) -> None:
    """Cache-aside write: update the database, then delete (not update) the
    copy."""
    save_user(conn, user_id, name)
    cache.delete(("user", user_id))


# --8<-- [end:cache_aside]


# --8<-- [start:write_policies]
class WriteThrough:
    """Every write goes to the database, then to the cache, before it
    returns."""

    def __init__(self, cache: LRUCache, conn: sqlite3.Connection) -> None:
        self.cache, self.conn = cache, conn

    def write(self, user_id: int, name: str) -> None:
        """Store durably first; then the cache holds the new value."""
        save_user(self.conn, user_id, name)
        self.cache.put(("user", user_id), name)


class WriteBehind:
    """Writes go to the cache and a dirty set; `flush` writes them to the
    database."""

    def __init__(self, cache: LRUCache, conn: sqlite3.Connection) -> None:
        self.cache, self.conn = cache, conn
        # user id -> newest name not yet in the db
        self.dirty: dict[int, str] = {}

    def write(self, user_id: int, name: str) -> None:
        """Fast: memory only. Lost if the process dies before the next flush."""
        self.cache.put(("user", user_id), name)
        self.dirty[user_id] = name  # a later write to the same key replaces it

    def flush(self) -> int:
        """Write every dirty entry in one transaction; return how many rows."""
        rows, self.dirty = self.dirty, {}
        with self.conn:
            self.conn.executemany(
                "INSERT INTO users VALUES (?, ?)"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                rows.items(),
            )
        return len(rows)


# --8<-- [end:write_policies]


# --8<-- [start:versioned]
class VersionedKeys:
    """Invalidate a whole group of cache keys at once by bumping the group's
    version.

    The versions live outside the cache: if eviction could drop a version, an
    old version number could come back and with it every stale entry.
    """

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}

    def key(self, group: str, *parts: Hashable) -> tuple[Hashable, ...]:
        """The cache key for `parts` in `group`'s current version."""
        return (group, self.versions.get(group, 0), *parts)

    def invalidate(self, group: str) -> None:
        """Every key made before this call is now unreachable; eviction removes
        it."""
        self.versions[group] = self.versions.get(group, 0) + 1


# --8<-- [end:versioned]


# --8<-- [start:single_flight]
import threading
from concurrent.futures import Future


class SingleFlight:
    """On a miss, one caller per key runs the loader; concurrent callers wait
    for it.

    Args:
        cache: where loaded values are kept; only touched under this object's
            lock.
    """

    def __init__(self, cache: LRUCache | TTLCache) -> None:
        self.cache = cache
        self.loads = 0  # loader calls started
        self.joined = 0  # callers that waited for another caller's load
        self._lock = threading.Lock()
        # Invariant, under _lock: a key is in _loading exactly while one thread
        # runs its loader; the value enters the cache before the key leaves
        # _loading.
        self._loading: dict[Hashable, Future[Any]] = {}

    def get(
        self,
        key: Hashable,
        loader: Callable[[Hashable], Any],
        timeout: float = 10.0,
    ) -> Any:
        """The cached value, or the result of the one load running for `key`.

        Raises:
            TimeoutError: the load we waited for took longer than `timeout`
                seconds.
        """
        with self._lock:
            value = self.cache.get(key)
            if value is not MISSING:
                return value
            future = self._loading.get(key)
            leader = future is None
            if leader:
                future = self._loading[key] = Future()
                self.loads += 1
            else:
                self.joined += 1
        if leader:
            return self._load(key, loader, future)
        # someone else is loading it: wait for theirs
        return future.result(timeout)

    def _load(
        self,
        key: Hashable,
        loader: Callable[[Hashable], Any],
        future: Future[Any],
    ) -> Any:
        try:
            value = loader(key)  # slow, so outside the lock
        except BaseException as exc:
            with self._lock:
                # nothing cached: the next caller tries again
                del self._loading[key]
            # every waiting caller gets the same error
            future.set_exception(exc)
            raise
        with self._lock:
            # cached before the key leaves _loading, so
            self.cache.put(key, value)
            del self._loading[key]  # no newcomer can miss both and load again
        future.set_result(value)
        return value


# --8<-- [end:single_flight]


# The demo's printed lines are checked on the page as `#>` comments, which a
# formatter would rewrite as `# >`: keep it out of the formatter's reach.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_lru]
    @lru_cached(maxsize=2)
    def square(n: int) -> int:
        return n * n

    @functools.lru_cache(maxsize=2)
    def real_square(n: int) -> int:
        return n * n

    for n in [1, 2, 1, 3, 2, 1]:  # 3 evicts 2 (least recent), then 2 evicts 1
        square(n)
        real_square(n)
    print(square.cache_info())
    #> CacheInfo(hits=1, misses=5, maxsize=2, currsize=2)
    print(square.cache_info() == real_square.cache_info())
    #> True
    # --8<-- [end:demo_lru]

    # --8<-- [start:demo_ttl]
    now = [1000.0]  # a clock the demo moves by hand: no sleeping
    sessions = TTLCache(ttl=30, clock=lambda: now[0])
    sessions.put("alice", "token-1")
    now[0] += 29.9
    print(sessions.get("alice"))
    #> token-1
    now[0] += 0.1
    print(sessions.get("alice") is MISSING, sessions.hits, sessions.misses)
    #> True 1 1
    # --8<-- [end:demo_ttl]

    # --8<-- [start:demo_cache_aside]
    import contextlib

    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        make_users(conn, {1: "Ada", 2: "Grace"})
        queries: list[str] = []
        conn.set_trace_callback(queries.append)
        cache = LRUCache(maxsize=100)
        names = [get_user(cache, conn, 1) for _ in range(10)]
        print(names[-1], len(queries), cache.info())
        #> Ada 1 CacheInfo(hits=9, misses=1, maxsize=100, currsize=1)
        save_user(conn, 1, "Ada Lovelace")  # a write that forgets the cache
        print(get_user(cache, conn, 1))
        #> Ada
        # deletes the cached copy
        rename_user(cache, conn, 1, "Countess Lovelace")
        print(get_user(cache, conn, 1))
        #> Countess Lovelace
    # --8<-- [end:demo_cache_aside]

    # --8<-- [start:demo_write_policies]
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        make_users(conn, {1: "Ada", 2: "Grace"})
        through = WriteThrough(LRUCache(100), conn)
        through.write(2, "Grace Hopper")
        print(load_user(conn, 2))  # already in the database
        #> Grace Hopper
        behind = WriteBehind(LRUCache(100), conn)
        for i in range(100):
            behind.write(1, f"Ada v{i}")
        # db lags behind
        print(load_user(conn, 1), behind.cache.get(("user", 1)))
        #> Ada Ada v99
        print(behind.flush(), load_user(conn, 1))  # 100 writes, 1 row written
        #> 1 Ada v99
    # --8<-- [end:demo_write_policies]

    # --8<-- [start:demo_versioned]
    keys = VersionedKeys()
    pages = LRUCache(maxsize=100)
    pages.put(keys.key("user:1:posts", "page", 1), ["post A", "post B"])
    print(pages.get(keys.key("user:1:posts", "page", 1)))
    #> ['post A', 'post B']
    # user 1 published a post: every page is stale
    keys.invalidate("user:1:posts")
    print(pages.get(keys.key("user:1:posts", "page", 1)) is MISSING)
    #> True
    # --8<-- [end:demo_versioned]

    # --8<-- [start:demo_stampede]
    def stampede(get: Callable[[], Any], threads: int = 8) -> None:
        """Start `threads` threads at the same instant, each calling get()."""
        start = threading.Barrier(threads, timeout=5)

        def request() -> None:
            start.wait()
            get()

        workers = [threading.Thread(target=request) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=10)

    naive_loads: list[Hashable] = []
    # holds each load until all 8 are in it
    inside = threading.Barrier(8, timeout=5)

    def crowded_query(key: Hashable) -> str:
        naive_loads.append(key)
        inside.wait()
        return "front page"

    naive_cache = LRUCache(100)
    lock = threading.Lock()  # the cache is not thread-safe: guard each call

    def naive_get() -> Any:
        with lock:
            value = naive_cache.get("home")
        if value is MISSING:
            value = crowded_query("home")
            with lock:
                naive_cache.put("home", value)
        return value

    stampede(naive_get)
    print(f"cache-aside: {len(naive_loads)} loads")
    #> cache-aside: 8 loads

    def slow_query(key: Hashable) -> str:
        time.sleep(0.05)  # a slow database query
        return "front page"

    flight = SingleFlight(LRUCache(100))
    stampede(lambda: flight.get("home", slow_query))
    print(f"single flight: {flight.loads} load")
    #> single flight: 1 load
    # --8<-- [end:demo_stampede]
# fmt: on
