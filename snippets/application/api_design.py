"""API design: pagination, filters, sorting, idempotent POST and an OpenAPI description.

What it teaches: offset pagination (`LIMIT ? OFFSET ?`) shows an item twice when a row
is inserted between two page requests, and skips one when a row is deleted; keyset
pagination with an opaque cursor (base64url of the last row's sort key and id, used in
`WHERE (created, id) < (?, ?)`) stays correct while rows come and go. Filters and sort
orders come from allow-lists, so no byte of the query string ever becomes SQL text.
`POST` is made safe to retry with an `Idempotency-Key` header (an IETF Internet-Draft,
not yet an RFC): the first response is stored and replayed. The whole API is described
in OpenAPI 3.1, built here as a Python dict and served at `/openapi.json`; the tests
validate the description with `openapi-spec-validator` and the server's real responses
against its schemas.

Read first: the app_core page (docs/application/app_core.md, "The application core"):
the API here is one of its handlers, its errors are its problem documents, and it is
served with its `serving`, so this module builds on `snippets.application.app_core`.
Then the APIs over HTTP page (resources, methods, status codes), the validation page
(problem details) and the indexes page (why a keyset query is fast).

What it leaves out: authentication (and so per-client idempotency keys), expiry of
stored keys, total counts, Link headers (RFC 8288) for next pages, and more than one
API version actually served side by side.

Run it: `python -m snippets.application.api_design`.
"""

# --8<-- [start:store]
import sqlite3
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created TEXT NOT NULL  -- UTC, 'YYYY-MM-DDTHH:MM:SSZ': sorts as text in time order
);
CREATE INDEX items_by_created ON items (created, id);
CREATE INDEX items_by_title ON items (title, id);
"""


@dataclass(frozen=True, slots=True)
class Item:
    """One row of the items table."""

    id: int
    title: str
    status: str
    created: str


def open_store(path: str = ":memory:") -> sqlite3.Connection:
    """A connection with the schema in place (the caller closes it)."""
    db = sqlite3.connect(path, check_same_thread=False)
    db.executescript(SCHEMA)
    return db


def add_item(db: sqlite3.Connection, title: str, status: str, created: str) -> Item:
    """Insert one item and return it."""
    with db:
        cursor = db.execute(
            "INSERT INTO items (title, status, created) VALUES (?, ?, ?)",
            (title, status, created),
        )
    return Item(cursor.lastrowid, title, status, created)


def seconds(n: int) -> str:
    """A fixed instant plus n seconds: repeatable `created` values for the demos."""
    return f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z"


# --8<-- [end:store]


# --8<-- [start:offset]
COLUMNS = "SELECT id, title, status, created FROM items"


def offset_page(db: sqlite3.Connection, limit: int, offset: int) -> list[Item]:
    """Newest first, page by position: skip `offset` rows, take `limit`."""
    rows = db.execute(
        f"{COLUMNS} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?", (limit, offset)
    )
    return [Item(*row) for row in rows]


# --8<-- [end:offset]


# --8<-- [start:problems]
import json

from snippets.application.app_core import Headers, Response, problem


class ApiError(Exception):
    """A 4xx refusal, raised anywhere below the handler, answered as a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list | None = None,
        headers: Headers = (),
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors
        self.headers = list(headers)

    def response(self) -> Response:
        """An RFC 9457 problem document, with an `errors` member when there are any."""
        members = {"errors": self.errors} if self.errors else {}
        return problem(self.status, self.detail, self.headers, **members)


# --8<-- [end:problems]


# --8<-- [start:cursor]
import base64


def encode_cursor(sort: str, key: str, row_id: int) -> str:
    """An opaque token: base64url of [sort, last sort key, last id], no padding."""
    raw = json.dumps([sort, key, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, sort: str) -> tuple[str, int]:
    """The position a cursor marks, if it is one of ours for this sort order."""
    if len(token) > 512:  # ours are short; a long one could nest JSON deeply
        raise ApiError(400, "the cursor is not one this API issued")
    try:
        padded = token + "=" * (-len(token) % 4)
        name, key, row_id = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):  # bad base64, not JSON, not three values
        raise ApiError(400, "the cursor is not one this API issued") from None
    if name != sort:
        raise ApiError(400, "the cursor belongs to another sort order")
    if not isinstance(key, str) or type(row_id) is not int:
        raise ApiError(400, "the cursor is not one this API issued")
    return key, row_id


# --8<-- [end:cursor]


# --8<-- [start:query]
import re
from collections.abc import Callable

TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# The allow-lists: the only SQL fragments a request can select. Values are parameters.
SORTS = {  # name: (sort column, ORDER BY, "after the cursor" condition)
    "created": ("created", "created ASC, id ASC", "(created, id) > (?, ?)"),
    "-created": ("created", "created DESC, id DESC", "(created, id) < (?, ?)"),
    "title": ("title", "title ASC, id ASC", "(title, id) > (?, ?)"),
    "-title": ("title", "title DESC, id DESC", "(title, id) < (?, ?)"),
}
FILTERS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "status": ("status = ?", lambda value: value in ("open", "closed")),
    "created_after": ("created > ?", TIMESTAMP.fullmatch),
    "q": ("instr(title, ?) > 0", lambda value: 1 <= len(value) <= 50),  # no LIKE
}


@dataclass(frozen=True)
class ListQuery:
    """A list request, parsed: every field already checked against the allow-lists."""

    sort: str = "-created"
    filters: tuple[tuple[str, str], ...] = ()
    limit: int = 20
    after: tuple[str, int] | None = None


def parse_query(query: dict[str, list[str]]) -> ListQuery:
    """`request.query` (`{"sort": ["title"], ...}`) to a ListQuery, or ApiError 400."""
    known = {"sort", "limit", "cursor", *FILTERS}
    if unknown := sorted(set(query) - known):
        raise ApiError(400, f"{unknown[0]} is not a parameter of this list")
    if any(len(values) > 1 for values in query.values()):
        raise ApiError(400, "give each parameter once")
    params = {name: values[0] for name, values in query.items()}
    sort = params.get("sort", "-created")
    if sort not in SORTS:
        raise ApiError(400, f"sort must be one of {sorted(SORTS)}")
    limit = params.get("limit", "20")
    if not re.fullmatch(r"[1-9][0-9]?|100", limit):
        raise ApiError(400, "limit must be a whole number from 1 to 100")
    for name, (_, accepts) in FILTERS.items():
        if name in params and not accepts(params[name]):
            raise ApiError(400, f"{name} has a value this API does not accept")
    filters = tuple((n, params[n]) for n in FILTERS if n in params)
    cursor = params.get("cursor")
    after = decode_cursor(cursor, sort) if cursor is not None else None
    return ListQuery(sort, filters, int(limit), after)


# --8<-- [end:query]


# --8<-- [start:keyset]
def list_items(
    db: sqlite3.Connection, query: ListQuery
) -> tuple[list[Item], str | None]:
    """One page in the requested order, and the next page's cursor (None at the end)."""
    column, order_by, after_condition = SORTS[query.sort]
    conditions = [FILTERS[name][0] for name, _ in query.filters]
    params: list[object] = [value for _, value in query.filters]
    if query.after is not None:
        conditions.append(after_condition)
        params += query.after
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = f"{COLUMNS}{where} ORDER BY {order_by} LIMIT ?"  # fragments: allow-list only
    rows = db.execute(sql, [*params, query.limit + 1]).fetchall()  # one extra: more?
    items = [Item(*row) for row in rows[: query.limit]]
    if len(rows) <= query.limit:
        return items, None
    last = items[-1]
    return items, encode_cursor(query.sort, getattr(last, column), last.id)


# --8<-- [end:keyset]


# --8<-- [start:idempotency]
import hashlib
import threading

KEY = re.compile(r'"([\x20\x21\x23-\x5b\x5d-\x7e]{1,255})"')  # an sf-string, no escapes


class IdempotencyStore:
    """The first response for each Idempotency-Key, replayed to every retry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> (SHA-256 of the body, its response or None while it is running)
        self._seen: dict[str, tuple[str, Response | None]] = {}

    def begin(self, key: str, body: bytes) -> Response | None:
        """None: this request is the first, process it. A Response: send that."""
        fingerprint = hashlib.sha256(body).hexdigest()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                self._seen[key] = (fingerprint, None)  # claimed by this request
                return None
        if seen[0] != fingerprint:
            return ApiError(422, "this key was sent with another body").response()
        if seen[1] is None:
            return ApiError(409, "a request with this key is still running").response()
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
    """`{"title": ..., "status"?: ...}` to (title, status), or ApiError 400 or 422."""
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


# --8<-- [start:openapi]
from http import HTTPStatus


def schema(name: str) -> dict[str, str]:
    """A reference to a schema in components."""
    return {"$ref": f"#/components/schemas/{name}"}


def problems(*statuses: int) -> dict[str, object]:
    """Response objects for error statuses, all with a problem document."""
    content = {"application/problem+json": {"schema": schema("Problem")}}
    return {
        str(status): {"description": HTTPStatus(status).phrase, "content": content}
        for status in statuses
    }


ITEM = {
    "type": "object",
    "required": ["id", "title", "status", "created"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "status": {"enum": ["open", "closed"]},
        "created": {"type": "string", "format": "date-time"},
    },
}
NEW_ITEM = {
    "type": "object",
    "required": ["title"],
    "additionalProperties": False,
    "properties": {
        "title": ITEM["properties"]["title"],
        "status": {"enum": ["open", "closed"]},
    },
}
ITEM_PAGE = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "additionalProperties": False,
    "properties": {
        "items": {"type": "array", "items": schema("Item")},
        "next_cursor": {"type": ["string", "null"]},  # 3.1: JSON Schema, no `nullable`
    },
}
PROBLEM = {  # RFC 9457 section 3.1 (no "type" means about:blank), and our `errors`
    "type": "object",
    "required": ["title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}


def query_parameter(name: str, description: str, schema_: dict) -> dict[str, object]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "description": description, "schema": schema_}


LIST_PARAMETERS = [
    query_parameter(
        "status", "Only items with this status.", ITEM["properties"]["status"]
    ),
    query_parameter(
        "created_after",
        "Only items created after this instant (UTC).",
        {"type": "string", "pattern": TIMESTAMP.pattern},
    ),
    query_parameter(
        "q",
        "Only items whose title contains this text.",
        {"type": "string", "minLength": 1, "maxLength": 50},
    ),
    query_parameter(
        "sort",
        "The order; a leading minus means descending.",
        {"enum": sorted(SORTS), "default": "-created"},
    ),
    query_parameter(
        "limit",
        "Items per page.",
        {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    ),
    query_parameter(
        "cursor", "The next_cursor of the previous page, as it was.", {"type": "string"}
    ),
]
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "description": "A unique quoted string per operation; a retry with the same key "
    "and body gets the first response again (an IETF draft, not yet an RFC).",
    "schema": {"type": "string", "pattern": "^" + KEY.pattern + "$"},
}
OPENAPI: dict[str, object] = {
    "openapi": "3.1.0",
    "info": {"title": "Items API", "version": "1.0.0"},
    "paths": {
        "/v1/items": {
            "get": {
                "operationId": "listItems",
                "summary": "List items, one page at a time",
                "parameters": LIST_PARAMETERS,
                "responses": {
                    "200": {
                        "description": "A page of items",
                        "content": {"application/json": {"schema": schema("ItemPage")}},
                    },
                    **problems(400),
                },
            },
            "post": {
                "operationId": "createItem",
                "summary": "Create an item",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": schema("NewItem")}},
                },
                "responses": {
                    "201": {
                        "description": "Created",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": schema("Item")}},
                    },
                    **problems(400, 409, 415, 422),
                    "413": {  # the core's server refuses it before the handler runs
                        "description": "The body is larger than the server accepts",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                },
            },
        },
        "/v1/items/{id}": {
            "get": {
                "operationId": "getItem",
                "summary": "One item",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The item",
                        "content": {"application/json": {"schema": schema("Item")}},
                    },
                    **problems(404),
                },
            },
        },
        "/openapi.json": {
            "get": {
                "operationId": "getDescription",
                "summary": "This description",
                "responses": {
                    "200": {
                        "description": "The OpenAPI document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Item": ITEM,
            "NewItem": NEW_ITEM,
            "ItemPage": ITEM_PAGE,
            "Problem": PROBLEM,
        },
    },
}


# --8<-- [end:openapi]


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

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], str] = utc_now):
        self.db, self.clock = db, clock
        self.lock = threading.Lock()  # one statement at a time on the shared connection
        self.keys = IdempotencyStore()

    def get(self, item_id: int) -> Item:
        """One item, or ApiError 404."""
        with self.lock:
            row = self.db.execute(f"{COLUMNS} WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise ApiError(404, f"there is no item {item_id}")
        return Item(*row)

    def create(self, request: Request) -> Response:
        """POST /v1/items: with an Idempotency-Key, at most one item per key."""
        media_type = (request.header("Content-Type") or "").split(";")[0].strip()
        if media_type.lower() != "application/json":
            accept = [("Accept", "application/json")]  # RFC 9110 section 12.5.1
            raise ApiError(415, "send application/json", headers=accept)
        key = request.header("Idempotency-Key")  # two fields join to '"a", "b"': 400
        if key is None:  # no key: a retry creates a second item
            return self._insert(request.body)
        if not KEY.fullmatch(key):
            raise ApiError(400, 'the Idempotency-Key must be a quoted string: "..."')
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
        except ApiError as error:  # an error is a result too: retries get it again
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
    """One operation of the description per branch; anything else is 405 or 404."""
    method, path = request.method, request.path
    if path == "/openapi.json" and method == "GET":
        return json_response(OPENAPI)
    if path == "/v1/items" and method == "GET":
        query = parse_query(request.query)
        with api.lock:
            items, cursor = list_items(api.db, query)
        page = {"items": [item_json(item) for item in items], "next_cursor": cursor}
        return json_response(page)
    if path == "/v1/items" and method == "POST":
        return api.create(request)
    match = ITEM_PATH.fullmatch(path)
    if match and method == "GET":
        return json_response(item_json(api.get(int(match[1]))))
    if allow := ALLOWED.get(path, "GET" if match else ""):
        raise ApiError(
            405, f"{method} is not allowed on {path}", headers=[("Allow", allow)]
        )
    raise ApiError(404, f"there is nothing at {path}")


def items_app(api: ItemsApi) -> Handler:
    """The API as a handler of the application core: each ApiError is a problem."""

    def handle(request: Request) -> Response:
        try:
            return route(api, request)
        except ApiError as error:
            return error.response()

    return handle


# --8<-- [end:routes]


# The demo's `#>` lines are the output that the docs test checks; ruff format would
# rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_offset]
    db = open_store()
    for n in range(1, 7):
        add_item(db, f"item {n}", "open", seconds(n))
    first = offset_page(db, limit=3, offset=0)
    add_item(db, "item 7", "open", seconds(7))  # arrives between two page requests
    second = offset_page(db, limit=3, offset=3)
    print([item.id for item in first], [item.id for item in second])
    #> [6, 5, 4] [4, 3, 2]
    db.close()
    # --8<-- [end:demo_offset]

    # --8<-- [start:demo_cursor]
    db = open_store()
    for n in range(1, 7):
        add_item(db, f"item {n}", "open", seconds(n))
    first, cursor = list_items(db, parse_query({"limit": ["3"]}))
    add_item(db, "item 7", "open", seconds(7))
    second, _ = list_items(db, parse_query({"limit": ["3"], "cursor": [cursor]}))
    print([item.id for item in first], [item.id for item in second])
    #> [6, 5, 4] [3, 2, 1]
    print(cursor)
    #> WyItY3JlYXRlZCIsIjIwMjYtMDEtMDFUMDA6MDA6MDRaIiw0XQ
    print(base64.urlsafe_b64decode(cursor + "=="))
    #> b'["-created","2026-01-01T00:00:04Z",4]'
    db.close()
    # --8<-- [end:demo_cursor]

    # --8<-- [start:demo_query]
    from urllib.parse import parse_qs

    for bad in ("sort=password", "status=deleted", "id=1;DROP TABLE items", "limit=0"):
        try:
            parse_query(parse_qs(bad, keep_blank_values=True))  # as the core does
        except ApiError as error:
            print(error.status, error.detail)
            #> 400 sort must be one of ['-created', '-title', 'created', 'title']
            #> 400 status has a value this API does not accept
            #> 400 id is not a parameter of this list
            #> 400 limit must be a whole number from 1 to 100
    # --8<-- [end:demo_query]

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
        for _ in range(2):  # the first answer was lost on the way: the client retries
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
