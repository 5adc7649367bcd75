"""Health checks: liveness, readiness and start-up, and checking dependencies
without spreading their failure.

What it teaches: an orchestrator or a balancer asks a process three different
questions. Liveness: is this process stuck, so that only a restart helps? It
looks at the process itself (its loops still make progress), never at a
database, so a database outage does not restart every instance at once.
Readiness: should this instance get traffic now? It checks what the instance
needs to serve, each check bounded by a timeout and its result cached, so a
balancer probing ten times a second does not turn into ten queries a second,
and a hung dependency does not hang the probe. Start-up: has the start-up work
finished? The answers are JSON bodies with one status per check, and 200 or
503, which is all a balancer reads. A real haproxy (`option httpchk`) in the
tests stops routing to an instance whose readiness fails and sends traffic to
it again when it recovers.

Read first: the graceful shutdown page (`docs/reliability/graceful_shutdown.md`,
"Graceful shutdown"), whose small `/livez` and `/readyz` this module
generalises, and the middleware page (`docs/application/middleware.md`,
"Middleware and request context"). This module builds on
`snippets.application.app_core` for the responses, the middleware contract and
the demo's server.

What it leaves out: gRPC's health protocol, TCP and exec probes, the
`application/health+json` draft's full vocabulary ("warn", observed values),
and probes on a separate admin port.

Run it: `python -m snippets.observability.health`.
"""

from __future__ import annotations

# --8<-- [start:check]
import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Probe = Callable[[], None]  # returns if the dependency works, raises if not


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str  # "ok", or why not
    checked_at: float  # time.monotonic() when the probe was started


class Check:
    """One dependency check: its probe runs at most once per `ttl` seconds,
    and is given up on after `timeout` seconds."""

    def __init__(
        self, name: str, probe: Probe, timeout: float = 0.5, ttl: float = 2.0
    ) -> None:
        self.name, self.probe = name, probe
        self.timeout, self.ttl = timeout, ttl
        self.runner = concurrent.futures.ThreadPoolExecutor(1, "check")
        self.lock = threading.Lock()  # one caller refreshes, others wait
        self.last: Result | None = None  # the cached result; guarded by lock
        self.running: concurrent.futures.Future | None = None  # same
        self.runs = 0  # probes started, for the demo and the tests

    def __call__(self) -> Result:
        with self.lock:
            now = time.monotonic()
            if self.last is None or now - self.last.checked_at >= self.ttl:
                self.last = self.refresh(now)
            return self.last

    def refresh(self, now: float) -> Result:
        if self.running is None or self.running.done():
            # a probe that outlived its timeout is not started a second time
            self.running = self.runner.submit(self.probe)
            self.runs += 1
        try:
            self.running.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            detail = f"no answer within {self.timeout} s"
            return Result(self.name, False, detail, now)
        except Exception as error:  # the probe's failure is the result
            detail = f"{type(error).__name__}: {error}"
            return Result(self.name, False, detail, now)
        return Result(self.name, True, "ok", now)

    def close(self) -> None:
        """Wait for a probe still running, then stop the check's thread."""
        self.runner.shutdown(wait=True)


# --8<-- [end:check]


# --8<-- [start:health]
def verdict(checks: dict[str, tuple[bool, str]]) -> dict:
    """A health body: "pass" if every check passed, and one entry per
    check."""
    body = {name: _entry(ok, detail) for name, (ok, detail) in checks.items()}
    everything_ok = all(ok for ok, _ in checks.values())
    return {"status": "pass" if everything_ok else "fail", "checks": body}


def _entry(ok: bool, detail: str) -> dict:
    return {"status": "pass" if ok else "fail", "detail": detail}


class Health:
    """The three questions, answered from the process's own state and from
    its dependency checks."""

    def __init__(self, checks: list[Check], max_stall: float = 10.0) -> None:
        self.checks = checks
        self.started = threading.Event()  # set when start-up work is done
        self.draining = threading.Event()  # set when shutting down
        self.max_stall = max_stall  # seconds a loop may go without a beat
        self.beats: dict[str, float] = {}  # loop -> time.monotonic() of beat

    def beat(self, loop: str) -> None:
        """Called by each long-running loop of the process, every turn."""
        self.beats[loop] = time.monotonic()  # one dict store: atomic

    def live(self) -> dict:
        """Liveness: only the process itself, never a dependency."""
        now = time.monotonic()
        ages = {loop: now - at for loop, at in dict(self.beats).items()}
        return verdict(
            {
                loop: (age <= self.max_stall, f"last beat {age:.1f} s ago")
                for loop, age in ages.items()
            }
        )

    def ready(self) -> dict:
        """Readiness: start-up done, not draining, every check passing."""
        if not self.started.is_set():
            return verdict({"startup": (False, "still starting")})
        if self.draining.is_set():
            return verdict({"shutdown": (False, "draining")})
        results = [check() for check in self.checks]
        return verdict({r.name: (r.ok, r.detail) for r in results})

    def startup(self) -> dict:
        """Start-up: has the start-up work finished?"""
        done = self.started.is_set()
        return verdict({"startup": (done, "done" if done else "starting")})


# --8<-- [end:health]


# --8<-- [start:endpoints]
from snippets.application.app_core import (
    Handler,
    Middleware,
    Request,
    Response,
    json_response,
)

HEALTH_HEADERS = [("Cache-Control", "no-store")]  # a health answer is now


def health_endpoints(health: Health) -> Middleware:
    """Answer /livez, /readyz and /startupz in front of any application:
    200 with a "pass" body, 503 with a "fail" one."""
    questions = {
        "/livez": health.live,
        "/readyz": health.ready,
        "/startupz": health.startup,
    }

    def middleware(app: Handler) -> Handler:
        def handler(request: Request) -> Response:
            question = questions.get(request.path)
            if question is None or request.method not in ("GET", "HEAD"):
                return app(request)
            body = question()
            status = 200 if body["status"] == "pass" else 503
            return json_response(body, status, HEALTH_HEADERS)

        return handler

    return middleware


# --8<-- [end:endpoints]


# --8<-- [start:sqlite]
import sqlite3
from pathlib import Path


def sqlite_probe(path: Path, busy_timeout: float = 0.1) -> Probe:
    """A probe: open the database read-write (never create it) and read
    its schema, waiting at most `busy_timeout` s for a lock."""
    uri = f"{Path(path).resolve().as_uri()}?mode=rw"

    def probe() -> None:
        db = sqlite3.connect(uri, uri=True, timeout=busy_timeout)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            db.close()

    return probe


# --8<-- [end:sqlite]


# --8<-- [start:app]
import contextlib
from collections.abc import Iterator

from snippets.application.app_core import problem


def orders_app(name: str, path: Path) -> Handler:
    """The application behind the balancer: it names itself and counts the
    orders in its database."""

    def handler(request: Request) -> Response:
        db = sqlite3.connect(path, timeout=0.1)
        try:
            (count,) = db.execute("SELECT count(*) FROM orders").fetchone()
        except sqlite3.Error as error:
            return problem(503, f"database: {error}")
        finally:
            db.close()
        return json_response({"backend": name, "orders": count})

    return handler


def create_database(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO orders VALUES (1), (2)")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An outage: hold SQLite's exclusive lock, so nobody else can read."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


# --8<-- [end:app]


# --8<-- [start:haproxy]
# haproxy 2.6: probe GET /readyz every 100 ms; a server is out after 2
# failed probes in a row (fall) and back in after 2 good ones (rise).
HAPROXY_CONFIG = """\
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
    option http-server-close
frontend front
    bind {bind}
    default_backend app
backend app
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter 100ms fall 2 rise 2
{servers}
"""
# --8<-- [end:haproxy]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_probes]
    import tempfile

    from snippets.application.app_core import call, serving, stack

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.db"
        create_database(path)
        check = Check("database", sqlite_probe(path), timeout=0.5, ttl=0.0)
        health = Health([check])
        app = stack(orders_app("a", path), health_endpoints(health))
        with serving(app) as server:
            def ask(target):
                return call(server, "GET", target).status

            print(ask("/startupz"), ask("/readyz"), ask("/livez"))
            #> 503 503 200
            health.started.set()  # start-up work done: migrations, warm-up
            print(ask("/startupz"), ask("/readyz"), ask("/livez"))
            #> 200 200 200
            with locked(path):  # the database is down
                reply = call(server, "GET", "/readyz")
                print(reply.status, reply.header("cache-control"))
                #> 503 no-store
                entry = reply.json()["checks"]["database"]
                print(entry["status"], entry["detail"])
                #> fail OperationalError: database is locked
                print(ask("/livez"), ask("/orders"))
                #> 200 503
            print(ask("/readyz"), ask("/orders"))
            #> 200 200
        check.close()
    # --8<-- [end:demo_probes]

    # --8<-- [start:demo_slow]
    def hangs() -> None:
        time.sleep(0.5)  # a dependency that answers far too late

    slow = Check("search", hangs, timeout=0.05, ttl=1.0)
    start = time.monotonic()
    results = [slow() for _ in range(100)]  # a hundred probes in a burst
    took = time.monotonic() - start
    print(results[0].ok, results[0].detail)
    #> False no answer within 0.05 s
    print(slow.runs, took < 0.25)  # one probe ran; the rest read the cache
    #> 1 True
    slow.close()
    # --8<-- [end:demo_slow]
