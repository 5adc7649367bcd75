"""Horizontal scaling and statelessness: several server processes behind one
balancer, with the session state moved out of them into a shared SQLite file.

What it teaches: a session kept in one process's memory is unknown to every
other process, so behind round robin a logged-in user is logged out on every
other request. Moving the sessions into a store that every process reads (here
SQLite in WAL mode, in a file of a temporary directory) makes the processes
interchangeable: any of them serves any request, one can be killed with
SIGKILL and lose only the requests it was serving, and adding a process adds
capacity. The balancer here also skips a backend that refuses connections,
which is safe because a refused request was never sent.

Read first: the load balancing page (`docs/performance/load_balancing.md`,
"Load balancing") and the authentication page
(`docs/application/authentication.md`, "Authentication"). This module
builds on `snippets.performance.load_balancing.balancer` for the balancer
and the process plumbing, `snippets.application.authentication.session_login`
for the login handler and the session guard,
`snippets.application.authentication.session_cookies` for the session fields,
and `snippets.application.load_generator` for the closed-loop load.

What it leaves out: Redis or a database server as the store, health checks
that bring a backend back, retries of requests that were already sent,
sticky sessions, and deleting expired sessions in bulk.

Run it: `python -m snippets.performance.horizontal_scaling`.
"""

from __future__ import annotations

# --8<-- [start:store]
import contextlib
import secrets
import sqlite3
import time
from collections.abc import Generator

from snippets.application.app_core import TIMEOUT
from snippets.application.authentication.session_cookies import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    Session,
    SessionStore,
    _key,
)

SCHEMA = """CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY, user TEXT, created REAL, last_seen REAL)"""


class SqliteSessionStore(SessionStore):
    """SessionStore's contract, kept in a SQLite file that processes share."""

    def __init__(self, path: str, clock=time.time) -> None:
        super().__init__(clock)
        self.path = path
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # readers never block
            db.execute(SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Generator[sqlite3.Connection, None, None]:
        # one connection per call: safe across the server's threads
        db = sqlite3.connect(self.path, timeout=TIMEOUT, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: survives a kill
            yield db
        finally:
            db.close()

    def login(self, user: str, old_id: str | None = None) -> str:
        if old_id is not None:
            self.logout(old_id)  # no session fixation
        session_id, now = secrets.token_urlsafe(32), self._clock()
        with self._connect() as db:
            row = (_key(session_id), user, now, now)
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", row)
        return session_id

    def lookup(self, session_id: str) -> Session | None:
        now, key = self._clock(), _key(session_id)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # take the write lock first
            row = db.execute(
                "SELECT user, created, last_seen FROM sessions WHERE key = ?",
                (key,),
            ).fetchone()
            live = row is not None and (
                now - row[2] <= IDLE_TIMEOUT
                and now - row[1] <= ABSOLUTE_TIMEOUT
            )
            if live:
                sql = "UPDATE sessions SET last_seen = ? WHERE key = ?"
                db.execute(sql, (now, key))
            else:
                db.execute("DELETE FROM sessions WHERE key = ?", (key,))
            db.execute("COMMIT")
        return Session(row[0], row[1], now) if live else None

    def logout(self, session_id: str) -> None:
        with self._connect() as db:
            sql = "DELETE FROM sessions WHERE key = ?"
            db.execute(sql, (_key(session_id),))


# --8<-- [end:store]


# --8<-- [start:backend]
import sys
import threading
import time

from snippets.application.app_core import Request, Response, serving, text
from snippets.application.authentication.password_hashing import (
    ScryptParams,
    hash_password,
)
from snippets.application.authentication.session_cookies import SessionStore
from snippets.application.authentication.session_login import (
    current_user,
    login_handler,
    require_session,
)

PASSWORD = "s3cret-passphrase"
DEMO_POLICY = ScryptParams(log2_n=14)  # 16 MiB: cheaper than OWASP's, for speed


def backend_app(name: str, store: SessionStore, delay: float):
    """POST /login logs in; any other request needs a session and answers
    with this backend's name. One request at a time, `delay` s each."""
    users = {"ada": hash_password(PASSWORD, DEMO_POLICY)}
    login = login_handler(users, store, DEMO_POLICY)
    worker = threading.Lock()  # held while a request is served: one at a time

    def whoami(request: Request) -> Response:
        with worker:
            time.sleep(delay)  # the time the process is busy with a request
        return text(f"{name} serves {current_user.get()}")

    guarded = require_session(store)(whoami)

    def app(request: Request) -> Response:
        is_login = (request.method, request.path) == ("POST", "/login")
        return login(request) if is_login else guarded(request)

    return app


def serve_backend(name: str, store_path: str, delay: float) -> None:
    """Serve until stdin closes; store_path "memory" keeps sessions here."""
    store = (
        SessionStore()
        if store_path == "memory"
        else SqliteSessionStore(store_path)
    )
    with serving(backend_app(name, store, delay)) as server:
        print("listening", server.server_address[1], flush=True)
        sys.stdin.read()


# --8<-- [end:backend]


# --8<-- [start:processes]
import contextlib
import subprocess
from collections.abc import Iterator

from snippets.performance.load_balancing.balancer import Address, port_of, stop


def start(name: str, store_path: str, delay: float) -> subprocess.Popen:
    module = "snippets.performance.horizontal_scaling"
    command = [sys.executable, "-m", module, "serve", name, store_path]
    pipe = subprocess.PIPE
    return subprocess.Popen([*command, str(delay)], stdin=pipe, stdout=pipe)


@contextlib.contextmanager
def cluster(
    names: list[str], store_path: str, delay: float = 0.0
) -> Iterator[tuple[dict[str, Address], dict[str, subprocess.Popen]]]:
    """One backend process per name, all on the same store; stopped on exit.

    They start one after another: the first sets the new file up (WAL mode,
    the table), and processes doing that at the same moment can fail with
    "database is locked"."""
    processes, ports = {}, {}
    try:
        for name in names:
            processes[name] = start(name, store_path, delay)
            ports[name] = port_of(processes[name])
        yield {n: ("127.0.0.1", p) for n, p in ports.items()}, processes
    finally:
        for process in processes.values():
            stop(process)  # a killed one has exited already


# --8<-- [end:processes]


# --8<-- [start:failover]
import http.client

from snippets.application.app_core import problem
from snippets.performance.load_balancing.balancer import relay


def failing_over(picker, addresses: dict[str, Address]):
    """Forward as `balancing` does, but skip a backend that refused a
    connection: nothing was sent to it, so any request may go elsewhere."""
    down: set[str] = set()  # backends that refused; no health check revives

    def forward(request: Request) -> Response:
        for _ in range(2 * len(addresses)):  # bounded: every backend, twice
            backend = picker.pick()
            try:
                if backend in down:
                    continue
                return relay(addresses[backend], request)
            except ConnectionRefusedError:
                down.add(backend)  # set.add is atomic under the GIL
            except (OSError, http.client.HTTPException) as error:
                # sent, maybe half done: a retry could run it twice
                return problem(502, f"backend {backend} failed: {error!r}")
            finally:
                picker.done(backend)
        return problem(502, "no backend is up")

    return forward


# --8<-- [end:failover]


# --8<-- [start:client]
from snippets.application.app_core import call

FORM = [("Content-Type", "application/x-www-form-urlencoded")]


def log_in(front) -> list[tuple[str, str]]:
    """Log in through the balancer; the Cookie header a browser sends back."""
    body = f"name=ada&password={PASSWORD}".encode()
    reply = call(front, "POST", "/login", body, FORM)
    return [("Cookie", reply.header("Set-Cookie").split(";")[0])]


def statuses(front, cookie, count: int) -> list[int]:
    """`count` GETs in a row with the session cookie; each one's status."""
    return [
        call(front, "GET", "/", headers=cookie).status for _ in range(count)
    ]


# --8<-- [end:client]


# --8<-- [start:throughput]
import asyncio

from snippets.application.load_generator import closed_loop, get


def throughput(front, cookie, clients: int, seconds: float) -> float:
    """Answers a second from a closed loop of `clients` through `front`,
    counted from the first send to the last answer (the last sends of the
    loop end after `seconds`)."""
    address = front.server_address

    def send(deadline: float):
        return get(address, cookie)

    began = time.monotonic()
    outcomes = asyncio.run(closed_loop(send, clients, seconds, TIMEOUT))
    elapsed = time.monotonic() - began
    return sum(o.status == 200 for o in outcomes) / elapsed


def best_rates(fronts: dict, cookie, rounds: int = 3, seconds: float = 0.75):
    """Measure each front in turn, `rounds` times; keep each one's best.
    Other load on a shared machine can slow a round down, never speed it up."""
    rates = dict.fromkeys(fronts, 0.0)
    for _ in range(rounds):
        for name, front in fronts.items():
            rate = throughput(front, cookie, clients=4, seconds=seconds)
            rates[name] = max(rates[name], rate)
    return rates


# --8<-- [end:throughput]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve_backend(sys.argv[2], sys.argv[3], float(sys.argv[4]))
elif __name__ == "__main__":
    # --8<-- [start:demo_memory]
    from snippets.performance.load_balancing.balancer import balancing
    from snippets.performance.load_balancing.pickers import RoundRobin

    names = ["a", "b"]
    with (
        cluster(names, "memory") as (addresses, _),
        serving(balancing(RoundRobin(names), addresses)) as front,
    ):
        cookie = log_in(front)  # served by a: only a knows the session
        print(statuses(front, cookie, 4))
        #> [401, 200, 401, 200]
    # --8<-- [end:demo_memory]

    # --8<-- [start:demo_shared]
    import tempfile

    names = ["a", "b", "c"]
    with (
        tempfile.TemporaryDirectory() as folder,
        cluster(names, f"{folder}/sessions.db") as (addresses, _),
        serving(balancing(RoundRobin(names), addresses)) as front,
    ):
        cookie = log_in(front)
        bodies = [call(front, "GET", "/", headers=cookie).body for _ in names]
    print(sorted(body.decode() for body in bodies))
    #> ['a serves ada', 'b serves ada', 'c serves ada']
    # --8<-- [end:demo_shared]

    # --8<-- [start:demo_kill]
    import asyncio
    from collections import Counter

    from snippets.application.load_generator import closed_loop, get

    names = ["a", "b", "c"]
    with (
        tempfile.TemporaryDirectory() as folder,
        cluster(names, f"{folder}/sessions.db", 0.02) as (addresses, procs),
        serving(failing_over(RoundRobin(names), addresses)) as front,
    ):
        cookie = log_in(front)

        def send(deadline: float):
            return get(front.server_address, cookie)

        async def load_and_kill() -> list:
            asyncio.get_running_loop().call_later(0.3, procs["b"].kill)
            return await closed_loop(send, 4, 1.0, TIMEOUT)

        counts = Counter(o.status for o in asyncio.run(load_and_kill()))
        after = statuses(front, cookie, 6)
    print("401s:", counts[401], "502s at most 4:", counts[502] <= 4)
    #> 401s: 0 502s at most 4: True
    print("after the kill:", after)
    #> after the kill: [200, 200, 200, 200, 200, 200]
    # --8<-- [end:demo_kill]

    # --8<-- [start:demo_throughput]
    with (
        tempfile.TemporaryDirectory() as folder,
        cluster(["a", "b", "c"], f"{folder}/s.db", 0.05) as (addrs, _),
        serving(balancing(RoundRobin(["a"]), addrs)) as one,
        serving(balancing(RoundRobin(["b", "c"]), addrs)) as two,
    ):
        cookie = log_in(one)  # the same session works behind both
        rates = best_rates({"one": one, "two": two}, cookie)
    scaled = rates["two"] >= 1.5 * rates["one"]
    print("two processes, at least 1.5 times one:", scaled)
    #> two processes, at least 1.5 times one: True
    # --8<-- [end:demo_throughput]
