"""The items API served: `ItemsApi`, one route per operation, a handler of the
core.

What it teaches: how the pieces of this package make one API. `ItemsApi` holds
the database, a lock for its shared connection, the idempotency keys and an
injected clock; `create` checks the media type (415 with an `Accept` header),
then the `Idempotency-Key`, and stores or replays the response. `route` has one
branch per operation of the OpenAPI description, answers 405 with an `Allow`
header for a known path with the wrong method and 404 for anything else
(including `/v2/items`), and `items_app` makes it a handler of the application
core, where every `ApiError` becomes a problem document. The demos page, filter
and sort over HTTP, retry a POST with and without a key, and fetch
`/openapi.json`.

Read first: `pagination`, `idempotency_keys` and `openapi_description` in this
package; the app_core page (docs/application/app_core.md, "The application
core"): this module builds on `snippets.application.app_core`, whose server
reads the body and refuses one over its limit with 413 before the API runs, and
whose `serving` and `call` the demos use.

What it leaves out: authentication, ETags and conditional requests, field
selection, and serving two versions at once.

Run it: `python -m snippets.application.api_design.items_server`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports of the first shown
# section.)
import json
import re
import sqlite3
import threading
from collections.abc import Callable

from snippets.application.api_design.idempotency_keys import (
    KEY,
    IdempotencyStore,
    parse_new_item,
)
from snippets.application.api_design.openapi_description import OPENAPI
from snippets.application.api_design.pagination import (
    COLUMNS,
    ApiError,
    Item,
    add_item,
    list_items,
    open_store,
    parse_query,
    seconds,
)
from snippets.application.app_core import Response

# isort: split
# --8<-- [start:api]
from datetime import UTC, datetime

from snippets.application.app_core import Request, json_response


def utc_now() -> str:
    """The current time in the format of the `created` column."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def item_json(item: Item) -> dict[str, object]:
    """The representation of an item: exactly the Item schema."""
    return {
        "id": item.id,
        "title": item.title,
        "status": item.status,
        "created": item.created,
    }


class ItemsApi:
    """The application: a database, the idempotency keys, and a clock."""

    def __init__(
        self, db: sqlite3.Connection, clock: Callable[[], str] = utc_now
    ):
        self.db, self.clock = db, clock
        # one statement at a time on the shared connection
        self.lock = threading.Lock()
        self.keys = IdempotencyStore()

    def get(self, item_id: int) -> Item:
        """One item, or ApiError 404."""
        with self.lock:
            row = self.db.execute(
                f"{COLUMNS} WHERE id = ?", (item_id,)
            ).fetchone()
        if row is None:
            raise ApiError(404, f"there is no item {item_id}")
        return Item(*row)

    def create(self, request: Request) -> Response:
        """POST /v1/items: with an Idempotency-Key, at most one item per key."""
        media_type = (
            (request.header("Content-Type") or "").split(";")[0].strip()
        )
        if media_type.lower() != "application/json":
            accept = [("Accept", "application/json")]  # RFC 9110 section 12.5.1
            raise ApiError(415, "send application/json", headers=accept)
        # two fields join to '"a", "b"': 400
        key = request.header("Idempotency-Key")
        if key is None:  # no key: a retry creates a second item
            return self._insert(request.body)
        if not KEY.fullmatch(key):
            raise ApiError(
                400, 'the Idempotency-Key must be a quoted string: "..."'
            )
        if (earlier := self.keys.begin(key, request.body)) is not None:
            return earlier
        try:
            response = self._insert(request.body)
        except BaseException:
            self.keys.abandon(key)  # not completed: a retry may run it again
            raise
        self.keys.finish(key, response)
        return response

    def _insert(self, body: bytes) -> Response:
        try:
            title, status = parse_new_item(body)
        # an error is a result too: retries get it again
        except ApiError as error:
            return error.response()
        with self.lock:
            item = add_item(self.db, title, status, self.clock())
        location = [("Location", f"/v1/items/{item.id}")]
        return json_response(item_json(item), 201, location)


# --8<-- [end:api]


# --8<-- [start:routes]
from snippets.application.app_core import Handler

ITEM_PATH = re.compile(r"/v1/items/([1-9][0-9]{0,9})")
ALLOWED = {"/openapi.json": "GET", "/v1/items": "GET, POST"}


def route(api: ItemsApi, request: Request) -> Response:
    """One operation of the description per branch; anything else is 405 or
    404."""
    method, path = request.method, request.path
    if path == "/openapi.json" and method == "GET":
        return json_response(OPENAPI)
    if path == "/v1/items" and method == "GET":
        query = parse_query(request.query)
        with api.lock:
            items, cursor = list_items(api.db, query)
        page = {
            "items": [item_json(item) for item in items],
            "next_cursor": cursor,
        }
        return json_response(page)
    if path == "/v1/items" and method == "POST":
        return api.create(request)
    match = ITEM_PATH.fullmatch(path)
    if match and method == "GET":
        return json_response(item_json(api.get(int(match[1]))))
    if allow := ALLOWED.get(path, "GET" if match else ""):
        raise ApiError(
            405,
            f"{method} is not allowed on {path}",
            headers=[("Allow", allow)],
        )
    raise ApiError(404, f"there is nothing at {path}")


def items_app(api: ItemsApi) -> Handler:
    """The API as a handler of the application core: each ApiError is a
    problem."""

    def handle(request: Request) -> Response:
        try:
            return route(api, request)
        except ApiError as error:
            return error.response()

    return handle


# --8<-- [end:routes]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_http]
    from snippets.application.app_core import call, serving

    sent = [("Content-Type", "application/json")]
    ticks = iter(range(100, 200))
    api = ItemsApi(open_store(), clock=lambda: seconds(next(ticks)))
    with serving(items_app(api)) as server:
        for title in ("write spec", "add tests", "ship", "celebrate"):
            body = json.dumps({"title": title}).encode()
            call(server, "POST", "/v1/items", body, sent)
        page = call(server, "GET", "/v1/items?sort=title&limit=3").json()
        print([item["title"] for item in page["items"]])
        #> ['add tests', 'celebrate', 'ship']
        target = f"/v1/items?sort=title&limit=3&cursor={page['next_cursor']}"
        page = call(server, "GET", target).json()
        print([item["title"] for item in page["items"]], page["next_cursor"])
        #> ['write spec'] None
        target = "/v1/items?q=e&created_after=" + seconds(100)
        page = call(server, "GET", target).json()
        print([item["title"] for item in page["items"]])
        #> ['celebrate', 'add tests']
    api.db.close()
    # --8<-- [end:demo_http]

    # --8<-- [start:demo_idempotency]
    api = ItemsApi(open_store(), clock=lambda: seconds(0))
    key = ("Idempotency-Key", '"3f9c1e2a-7b4d-4c8e-9a51-0d6e2f8b7c13"')
    pay, other = b'{"title": "pay invoice 42"}', b'{"title": "pay invoice 43"}'
    with serving(items_app(api)) as server:
        # the first answer was lost on the way: the client retries
        for _ in range(2):
            reply = call(server, "POST", "/v1/items", pay, [*sent, key])
            print(reply.status, reply.header("Location"), reply.json()["id"])
            #> 201 /v1/items/1 1
            #> 201 /v1/items/1 1
        reply = call(server, "POST", "/v1/items", other, [*sent, key])
        print(reply.status, reply.json()["detail"])
        #> 422 this key was sent with another body
        for _ in range(2):  # no key: every retry creates one more item
            reply = call(server, "POST", "/v1/items", pay, sent)
            print(reply.status, reply.header("Location"), reply.json()["id"])
            #> 201 /v1/items/2 2
            #> 201 /v1/items/3 3
    api.db.close()
    # --8<-- [end:demo_idempotency]

    # --8<-- [start:demo_openapi]
    api = ItemsApi(open_store())
    with serving(items_app(api)) as server:
        reply = call(server, "GET", "/openapi.json")
    api.db.close()
    print(reply.status, reply.json()["openapi"], sorted(reply.json()["paths"]))
    #> 200 3.1.0 ['/openapi.json', '/v1/items', '/v1/items/{id}']
    print(reply.json() == OPENAPI)
    #> True
    # --8<-- [end:demo_openapi]
