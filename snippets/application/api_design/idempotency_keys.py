"""Idempotency keys: POST made safe to retry; a strict parser for the body it
creates.

What it teaches: a client sends the same `Idempotency-Key` header (a quoted
Structured Field string) with every attempt of one operation, and the server
replays the first response to every retry, byte for byte, so a retried POST
creates nothing new. The header is an IETF Internet-Draft
(draft-ietf-httpapi-idempotency-key-header), not yet an RFC: a key reused with
another body is 422, a retry while the first request still runs is 409. The key
is claimed under a lock, so two racing retries cannot both be first; a first
attempt that crashes releases it. `parse_new_item` reads the body strictly: 400
for bytes that are not JSON, 422 with JSON Pointers for bad fields.

Read first: `pagination` in this package (`ApiError`, the 4xx these refusals
are); the app_core page (docs/application/app_core.md, "The application core"):
this module builds on `snippets.application.app_core`, whose `Response` is what
is stored and replayed; the validation page (the full treatment of a body's
fields).

What it leaves out: per-client keys (a key is looked up by itself, not by who
sent it), expiry of stored keys, and storing the key in the same transaction as
the effect. `items_server` in this package uses the store in `ItemsApi.create`.

Run it: `python -m snippets.application.api_design.idempotency_keys`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports of the first shown
# section.)
import json
import re

from snippets.application.api_design.pagination import ApiError
from snippets.application.app_core import Response

# isort: split
# --8<-- [start:idempotency]
import hashlib
import threading

# an sf-string, no escapes
KEY = re.compile(r'"([\x20\x21\x23-\x5b\x5d-\x7e]{1,255})"')


class IdempotencyStore:
    """The first response for each Idempotency-Key, replayed to every retry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> (SHA-256 of the body, its response or None while it is running)
        self._seen: dict[str, tuple[str, Response | None]] = {}

    def begin(self, key: str, body: bytes) -> Response | None:
        """None: this request is the first, process it. A Response: send
        that."""
        fingerprint = hashlib.sha256(body).hexdigest()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                self._seen[key] = (fingerprint, None)  # claimed by this request
                return None
        if seen[0] != fingerprint:
            return ApiError(
                422, "this key was sent with another body"
            ).response()
        if seen[1] is None:
            return ApiError(
                409, "a request with this key is still running"
            ).response()
        return seen[1]  # a retry: the stored response, byte for byte

    def finish(self, key: str, response: Response) -> None:
        """Store the response of the first request for its retries."""
        with self._lock:
            self._seen[key] = (self._seen[key][0], response)

    def abandon(self, key: str) -> None:
        """The first request failed unexpectedly: let a retry run it again."""
        with self._lock:
            del self._seen[key]


# --8<-- [end:idempotency]


# --8<-- [start:create]
def parse_new_item(body: bytes) -> tuple[str, str]:
    """`{"title": ..., "status"?: ...}` to (title, status), or ApiError 400 or
    422."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(document, dict):
        raise ApiError(422, "the body must be a JSON object")
    errors = [
        {
            "pointer": "/" + name.replace("~", "~0").replace("/", "~1"),
            "detail": "not a known field",
        }
        for name in document
        if name not in ("title", "status")
    ]
    title, status = document.get("title"), document.get("status", "open")
    if not (isinstance(title, str) and 1 <= len(title) <= 200):
        errors.append(
            {"pointer": "/title", "detail": "a string of 1 to 200 characters"}
        )
    if status not in ("open", "closed"):
        errors.append({"pointer": "/status", "detail": "open or closed"})
    if errors:
        raise ApiError(422, f"{len(errors)} field(s) need attention", errors)
    return title, status


# --8<-- [end:create]


# The demo's `#>` lines are checked by this part's test (the page shows the same
# story over HTTP, in `items_server`); ruff format would rewrite them, so it
# stops here.
# fmt: off
if __name__ == "__main__":
    from snippets.application.app_core import json_response

    store, key = IdempotencyStore(), '"3f9c1e2a-7b4d-4c8e-9a51-0d6e2f8b7c13"'
    pay, other = b'{"title": "pay invoice 42"}', b'{"title": "pay invoice 43"}'
    print(store.begin(key, pay))  # the first request: process it
    #> None
    print(store.begin(key, pay).status, store.begin(key, other).status)
    #> 409 422
    created = json_response({"id": 1, "title": "pay invoice 42"}, 201)
    store.finish(key, created)
    print(store.begin(key, pay) is created)  # a retry: the stored response
    #> True
    for body in (b"{", b'{"title": "", "colour": "red"}'):
        try:
            parse_new_item(body)
        except ApiError as error:
            pointers = [e["pointer"] for e in error.errors or []]
            print(error.status, error.detail, pointers)
            #> 400 the body is not JSON []
            #> 422 2 field(s) need attention ['/colour', '/title']
