"""The charges service: POST /charges with a required Idempotency-Key.

What it teaches: how the key store wraps one operation. The handler refuses a
missing or malformed key with 400 and a link to the documentation, claims the
key, and runs the charge and stores its answer in one transaction; a body that
is not a positive amount is a 422, stored like a success. `checkpoint` names
the three places a test can stop it: after the claim, after the charge was
written, after the commit. Fifty concurrent requests with one key charge once.

Read first: `key_store` in this package; the app_core page
(`docs/application/app_core.md`, "The application core"): this module builds
on `snippets.application.app_core`, whose handler contract, `serving` and
`call` it uses.

What it leaves out: reading a charge back (GET), accounts, and currencies.

Run it: `python -m snippets.reliability.idempotency.charges_service`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports shown below.)
import json
import sqlite3
from collections.abc import Callable

from snippets.application.app_core import Response, problem
from snippets.reliability.idempotency.key_store import (
    LEASE,
    claim,
    complete,
    connect,
)

# isort: split
# --8<-- [start:app]
import time

from snippets.application.api_design.idempotency_keys import KEY
from snippets.application.app_core import Handler, Request, json_response

CHARGES = """
CREATE TABLE IF NOT EXISTS charges (
    id INTEGER PRIMARY KEY,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0)
) STRICT;
"""
DOCS = "/docs/idempotency"  # where a 400 sends the client (the draft asks)


def charge(
    body: bytes, checkpoint: Callable[[str], None] = lambda point: None
) -> Callable[[sqlite3.Connection], Response]:
    """The work of POST /charges: validate, insert, answer 201 or 422."""

    def work(conn: sqlite3.Connection) -> Response:
        try:
            amount = json.loads(body)["amount_cents"]
        except (ValueError, TypeError, KeyError):
            amount = None
        # type(), not isinstance(): True is an int too, and not an amount
        if type(amount) is not int or amount <= 0:  # an error is a result too
            return problem(422, "amount_cents must be a positive integer")
        cursor = conn.execute(
            "INSERT INTO charges (amount_cents) VALUES (?)", (amount,)
        )
        checkpoint("charged")  # written, not committed
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
            work = charge(request.body, checkpoint)
            response = complete(conn, scope, key, token, work)
            checkpoint("committed")  # committed, not yet sent
            return response
        finally:
            conn.close()

    return handle


# --8<-- [end:app]


# The demo's `#>` lines are checked by the docs test; ruff format would
# rewrite them, so it stops here.
# fmt: off
if __name__ == "__main__":
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
    folder.cleanup()
    # --8<-- [end:demo_race]
