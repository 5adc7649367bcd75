"""Idempotency keys that survive a crash: claims, leases and one transaction.

What it teaches: the application page's `IdempotencyStore` keeps its keys in
memory, so a restart forgets them and a retry after a crash does the work a
second time. Here the keys live in SQLite beside the data they protect. A
request claims its key with an INSERT that the primary key makes unique, and
the claim carries a lease: a deadline after which a retry may take the work
over, because the process that claimed it is presumed dead. The work and its
stored response commit in one transaction, which also checks that the lease is
still this request's (a fencing token), so a request that lost its lease cannot
commit. A process killed at any point leaves either nothing, a claim whose
lease runs out, or a finished result that every retry gets back byte for byte.

Read first: the API design page (`docs/application/api_design.md`, "API
design"), whose `idempotency_keys` this module builds on
(`snippets.application.api_design.idempotency_keys`: the key's syntax and the
400, 409 and 422 of the draft), and the transactions page
(`docs/data/transactions.md`, "Transactions"), whose `transaction` it uses.

What it leaves out: scoping keys by client (here by operation; a real service
adds the authenticated account), work that calls another service (which needs
that service's own idempotency key, see the page), and purging old keys on a
schedule (`purge` is called by hand).

Run it: `python -m snippets.reliability.idempotency`.
"""

# --8<-- [start:store]
import hashlib
import json
import math
import secrets
import sqlite3
import time
from collections.abc import Callable

from snippets.application.app_core import TIMEOUT, Response, problem
from snippets.data.transactions import transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope TEXT NOT NULL,        -- the operation: 'POST /charges'
    key TEXT NOT NULL,          -- the client's Idempotency-Key
    fingerprint TEXT NOT NULL,  -- SHA-256 of the request body
    token TEXT,                 -- the lease holder's token; NULL once done
    lease_until REAL,           -- the claim holds until then
    status INTEGER,             -- the stored response, once done
    headers TEXT,
    body BLOB,
    created REAL NOT NULL,
    PRIMARY KEY (scope, key)    -- one claim per key: a second INSERT fails
) STRICT;
"""
LEASE = 30.0  # seconds a claim holds before a retry may take the work over


class LeaseLost(Exception):
    """Another request took this key over: this one must not commit."""


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode: `transaction` issues every BEGIN."""
    conn = sqlite3.connect(path, timeout=TIMEOUT, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for writer
    conn.execute("PRAGMA synchronous = FULL")  # a commit survives power loss
    conn.executescript(SCHEMA)
    return conn


def claim(
    conn: sqlite3.Connection,
    scope: str,
    key: str,
    body: bytes,
    now: float,
    lease: float = LEASE,
) -> str | Response:
    """This request's lease token, or the response to send instead."""
    fingerprint = hashlib.sha256(body).hexdigest()
    token = secrets.token_hex(16)
    with transaction(conn):  # IMMEDIATE: read and decide as one step
        try:
            conn.execute(
                "INSERT INTO idempotency_keys (scope, key, fingerprint,"
                " token, lease_until, created) VALUES (?, ?, ?, ?, ?, ?)",
                (scope, key, fingerprint, token, now + lease, now),
            )
            return token  # the first request with this key
        except sqlite3.IntegrityError:  # the key is already there
            row = conn.execute(
                "SELECT fingerprint, lease_until, status, headers, body"
                " FROM idempotency_keys WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()
        seen, until, status, headers, stored = row
        if seen != fingerprint:
            return problem(422, "this key was sent with another body")
        if status is not None:  # done: the stored response, byte for byte
            fields = [(name, value) for name, value in json.loads(headers)]
            return Response(status, stored, fields)
        if until > now:  # running, or its process died less than a lease ago
            wait = [("Retry-After", str(math.ceil(until - now)))]
            return problem(409, "a request with this key is running", wait)
        conn.execute(  # the lease ran out: the holder is presumed dead
            "UPDATE idempotency_keys SET token = ?, lease_until = ?"
            " WHERE scope = ? AND key = ?",
            (token, now + lease, scope, key),
        )
        return token


def complete(
    conn: sqlite3.Connection,
    scope: str,
    key: str,
    token: str,
    work: Callable[[sqlite3.Connection], Response],
) -> Response:
    """Run `work` and store its response in one transaction, if still ours."""
    try:
        with transaction(conn):
            response = work(conn)  # its writes share this transaction
            stored = conn.execute(
                "UPDATE idempotency_keys SET status = ?, headers = ?,"
                " body = ?, token = NULL, lease_until = NULL"
                " WHERE scope = ? AND key = ? AND token = ?",
                (
                    response.status,
                    json.dumps(response.headers),
                    response.body,
                    scope,
                    key,
                    token,
                ),
            ).rowcount
            if not stored:  # rolls the work back with it
                raise LeaseLost(key)
    except LeaseLost:
        return problem(409, "this request's claim was taken over")
    except BaseException:  # nothing was committed: let a retry run it now
        with transaction(conn):
            conn.execute(
                "DELETE FROM idempotency_keys"
                " WHERE scope = ? AND key = ? AND token = ?",
                (scope, key, token),
            )
        raise
    return response


def purge(conn: sqlite3.Connection, older_than: float) -> int:
    """Forget finished keys created before `older_than`; how many went."""
    with transaction(conn):
        return conn.execute(
            "DELETE FROM idempotency_keys"
            " WHERE status IS NOT NULL AND created < ?",
            (older_than,),
        ).rowcount


# --8<-- [end:store]


# --8<-- [start:app]
from snippets.application.api_design.idempotency_keys import KEY
from snippets.application.app_core import Handler, Request, json_response

CHARGES = """
CREATE TABLE IF NOT EXISTS charges (
    id INTEGER PRIMARY KEY,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0)
) STRICT;
"""
DOCS = "/docs/idempotency"  # where a 400 sends the client (the draft asks)


def charge(body: bytes) -> Callable[[sqlite3.Connection], Response]:
    """The work of POST /charges: validate, insert, answer 201 or 422."""

    def work(conn: sqlite3.Connection) -> Response:
        try:
            amount = json.loads(body)["amount_cents"]
        except (ValueError, TypeError, KeyError):
            amount = None
        if type(amount) is not int or amount <= 0:  # an error is a result too
            return problem(422, "amount_cents must be a positive integer")
        cursor = conn.execute(
            "INSERT INTO charges (amount_cents) VALUES (?)", (amount,)
        )
        document = {"id": cursor.lastrowid, "amount_cents": amount}
        location = [("Location", f"/charges/{cursor.lastrowid}")]
        return json_response(document, 201, location)

    return work


def charges_app(
    path: str,
    lease: float = LEASE,
    clock: Callable[[], float] = time.time,
    checkpoint: Callable[[str], None] = lambda point: None,
) -> Handler:
    """POST /charges, which requires an Idempotency-Key."""
    setup = connect(path)
    setup.executescript(CHARGES)
    setup.close()

    def handle(request: Request) -> Response:
        if (request.method, request.path) != ("POST", "/charges"):
            return problem(404, f"there is no {request.method} {request.path}")
        key = request.header("Idempotency-Key")
        if key is None or not KEY.fullmatch(key):
            return problem(
                400,
                'this operation needs an Idempotency-Key: "<a UUID>"',
                [("Link", f'<{DOCS}>; rel="describedby"')],
            )
        conn = connect(path)  # one connection per request and thread
        try:
            scope = "POST /charges"
            token = claim(conn, scope, key, request.body, clock(), lease)
            if isinstance(token, Response):
                return token
            checkpoint("claimed")
            work = charge(request.body)

            def work_then_pause(conn: sqlite3.Connection) -> Response:
                response = work(conn)
                checkpoint("charged")  # written, not committed
                return response

            response = complete(conn, scope, key, token, work_then_pause)
            checkpoint("committed")  # committed, not yet sent
            return response
        finally:
            conn.close()

    return handle


# --8<-- [end:app]


# --8<-- [start:process]
import os
import selectors
import subprocess
import sys
import threading

from snippets.application.app_core import serving


def serve(path: str, lease: float, pause_at: str | None) -> None:
    """Serve the charges app until stdin closes; stall at `pause_at`."""

    def checkpoint(point: str) -> None:
        if point == pause_at:  # stand still here until the test kills us
            print("paused at", point, flush=True)
            threading.Event().wait(60)

    app = charges_app(path, lease, checkpoint=checkpoint)
    with serving(app) as server:
        print("listening", server.server_address[1], flush=True)
        sys.stdin.read()  # until the parent closes our stdin


class ServerProcess:
    """The charges service in a process of its own, that a test can kill."""

    def __init__(
        self, path: str, lease: float = LEASE, pause_at: str | None = None
    ) -> None:
        command = [sys.executable, "-m", "snippets.reliability.idempotency"]
        command += ["serve", path, str(lease), pause_at or "-"]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._pending = b""
        try:
            port = self.expect("listening")
        except BaseException:
            self.kill()  # it never came up: leave nothing behind
            raise
        self.server_address = ("127.0.0.1", int(port))

    def expect(self, word: str, timeout: float = 4 * TIMEOUT) -> str:
        """Wait for the process's next line, which must start with `word`."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"no {word!r} line in {timeout} s")
                data = os.read(self.process.stdout.fileno(), 4096)
                if not data:
                    raise EOFError(f"the server exited before {word!r}")
                self._pending += data
        line, self._pending = self._pending.split(b"\n", 1)
        first, _, rest = line.decode().partition(" ")
        if first != word:
            raise ValueError(f"expected {word!r}, got {line!r}")
        return rest

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, no goodbye, like a power cut."""
        self.process.kill()
        self.close()

    def close(self) -> None:
        """Close stdin (the server stops), reap it, close the pipes."""
        self.process.stdin.close()
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(TIMEOUT)
        self.process.stdout.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.returncode is None:
            self.close()


# --8<-- [end:process]


# The demo's `#>` lines are checked by the docs test; ruff format would
# rewrite them, so it stops here.
# fmt: off
if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    path, lease, pause_at = sys.argv[2], float(sys.argv[3]), sys.argv[4]
    serve(path, lease, None if pause_at == "-" else pause_at)
elif __name__ == "__main__":
    # --8<-- [start:demo_retry]
    import os
    import tempfile

    from snippets.application.app_core import call, serving

    folder = tempfile.TemporaryDirectory()
    path = os.path.join(folder.name, "charges.db")
    key = ("Idempotency-Key", '"8e03978e-40d5-43e8-bc93-6894a57f9324"')
    pay, other = b'{"amount_cents": 500}', b'{"amount_cents": 900}'
    with serving(charges_app(path)) as server:
        first = call(server, "POST", "/charges", pay, [key])
        again = call(server, "POST", "/charges", pay, [key])
        print(first.status, again.status, again.json())
        #> 201 201 {'id': 1, 'amount_cents': 500}
        print(first == again)  # status, fields and body: the same
        #> True
        reply = call(server, "POST", "/charges", other, [key])
        print(reply.status, reply.json()["detail"])
        #> 422 this key was sent with another body
        reply = call(server, "POST", "/charges", pay)
        print(reply.status, reply.header("Link"))
        #> 400 </docs/idempotency>; rel="describedby"
    # --8<-- [end:demo_retry]

    # --8<-- [start:demo_race]
    import contextlib
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor


    def count_charges(path: str) -> int:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return conn.execute("SELECT count(*) FROM charges").fetchone()[0]


    key = ("Idempotency-Key", '"0f6c1c55-3b8e-4a4c-9d2b-5e2b7a1f9e10"')
    with serving(charges_app(path)) as server, ThreadPoolExecutor(50) as pool:
        def post(_: int) -> Response:
            return call(server, "POST", "/charges", pay, [key])

        replies = list(pool.map(post, range(50)))
    statuses = Counter(reply.status for reply in replies)
    print(sorted(statuses) in ([201], [201, 409]), count_charges(path))
    #> True 2
    print(len({reply.body for reply in replies if reply.status == 201}))
    #> 1
    # --8<-- [end:demo_race]

    # --8<-- [start:demo_crash]
    key = ("Idempotency-Key", '"c4a1f3de-2f7b-4e59-8c1d-7a9b0e6d5f21"')
    doomed = ServerProcess(path, lease=1.0, pause_at="charged")
    with doomed, ThreadPoolExecutor(1) as pool:
        attempt = pool.submit(call, doomed, "POST", "/charges", pay, [key])
        print(doomed.expect("paused"))  # inside the transaction
        #> at charged
        doomed.kill()
        print(type(attempt.exception()).__name__)
        #> RemoteDisconnected
    print(count_charges(path))  # the charge died with its transaction
    #> 2
    with ServerProcess(path, lease=1.0) as server:
        reply = call(server, "POST", "/charges", pay, [key])
        while reply.status == 409:  # until the dead request's lease runs out
            time.sleep(float(reply.header("Retry-After")))
            reply = call(server, "POST", "/charges", pay, [key])
        print(reply.status, reply.json(), count_charges(path))
        #> 201 {'id': 3, 'amount_cents': 500} 3
    folder.cleanup()
    # --8<-- [end:demo_crash]
