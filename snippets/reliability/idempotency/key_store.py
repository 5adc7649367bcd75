"""The key store: claim a key under a lease, complete the work with its
answer in one transaction, purge old keys.

What it teaches: `claim` inserts the key's row, which the primary key makes
unique, and gives the request a lease and a token; a second request finds the
row and gets 409 while the lease runs, 422 for another body, or the stored
response once the work is done; after the lease, a retry takes the claim over.
`complete` runs the work and stores its response in one transaction, and
commits only if the token is still this request's.

Read first: `idempotency_keys` in the API design package (the in-memory store
this replaces), the transactions page (`docs/data/transactions.md`,
"Transactions"): this module builds on `snippets.data.transactions`, whose
`transaction` it uses.

What it leaves out: scoping keys by client, and a limit on the size of a
stored response.

Run it: `python -m snippets.reliability.idempotency.key_store`.
"""

# --8<-- [start:store]
import hashlib
import json
import math
import secrets
import sqlite3
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


# The demo's `#>` lines are checked by the docs test; ruff format would
# rewrite them, so it stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_store]
    def pay(conn: sqlite3.Connection) -> Response:
        return Response(201, b"charged 500")


    scope, key = "POST /charges", '"8e03978e-40d5-43e8-bc93-6894a57f9324"'
    conn = connect(":memory:")
    token = claim(conn, scope, key, b"500", now=1000.0)
    print(len(token))  # this request may run: 32 hex digits
    #> 32
    busy = claim(conn, scope, key, b"500", now=1010.0)
    print(busy.status, busy.header("Retry-After"))  # 20 s of lease left
    #> 409 20
    print(claim(conn, scope, key, b"900", now=1010.0).status)
    #> 422
    print(complete(conn, scope, key, token, pay).body)
    #> b'charged 500'
    print(claim(conn, scope, key, b"500", now=9999.0).body)  # a replay
    #> b'charged 500'
    conn.close()
    # --8<-- [end:demo_store]
