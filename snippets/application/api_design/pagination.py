"""Pagination: offsets and their bug, opaque cursors, filters and sorts by
allow-list.

What it teaches: offset pagination (`LIMIT ? OFFSET ?`) shows an item twice when
a row is inserted between two page requests, and skips one when a row is
deleted; keyset pagination with an opaque cursor (base64url of the last row's
sort key and id, used in `WHERE (created, id) < (?, ?)`) stays correct while
rows come and go. Filters and sort orders come from allow-lists, so no byte of
the query string ever becomes SQL text. A bad cursor or parameter is the
client's error: an `ApiError`, answered as an RFC 9457 problem document.

Read first: the app_core page (docs/application/app_core.md, "The application
core"): this module builds on `snippets.application.app_core`, whose `problem`
writes the refusals; then the indexes page (why a keyset query is fast).

What it leaves out: total counts, Link headers (RFC 8288) for next pages, signed
or encrypted cursors, and jumping to page N (which a cursor cannot do).

Run it: `python -m snippets.application.api_design.pagination`.
"""

# --8<-- [start:store]
import sqlite3
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    -- UTC, 'YYYY-MM-DDTHH:MM:SSZ': sorts as text in time order
    created TEXT NOT NULL
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


def add_item(
    db: sqlite3.Connection, title: str, status: str, created: str
) -> Item:
    """Insert one item and return it."""
    with db:
        cursor = db.execute(
            "INSERT INTO items (title, status, created) VALUES (?, ?, ?)",
            (title, status, created),
        )
    return Item(cursor.lastrowid, title, status, created)


def seconds(n: int) -> str:
    """A fixed instant plus n seconds: repeatable `created` values for the
    demos."""
    return f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z"


# --8<-- [end:store]


# --8<-- [start:offset]
COLUMNS = "SELECT id, title, status, created FROM items"


def offset_page(db: sqlite3.Connection, limit: int, offset: int) -> list[Item]:
    """Newest first, page by position: skip `offset` rows, take `limit`."""
    rows = db.execute(
        f"{COLUMNS} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [Item(*row) for row in rows]


# --8<-- [end:offset]


# --8<-- [start:problems]
import json

from snippets.application.app_core import Headers, Response, problem


class ApiError(Exception):
    """A 4xx refusal, raised anywhere below the handler, answered as a
    problem."""

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
        """An RFC 9457 problem document, with an `errors` member when there are
        any."""
        members = {"errors": self.errors} if self.errors else {}
        return problem(self.status, self.detail, self.headers, **members)


# --8<-- [end:problems]


# --8<-- [start:cursor]
import base64


def encode_cursor(sort: str, key: str, row_id: int) -> str:
    """An opaque token: base64url of [sort, last sort key, last id], no
    padding."""
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

TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
)
# The allow-lists: the only SQL fragments a request can select. Values are
# parameters.
SORTS = {  # name: (sort column, ORDER BY, "after the cursor" condition)
    "created": ("created", "created ASC, id ASC", "(created, id) > (?, ?)"),
    "-created": ("created", "created DESC, id DESC", "(created, id) < (?, ?)"),
    "title": ("title", "title ASC, id ASC", "(title, id) > (?, ?)"),
    "-title": ("title", "title DESC, id DESC", "(title, id) < (?, ?)"),
}
FILTERS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "status": ("status = ?", lambda value: value in ("open", "closed")),
    "created_after": ("created > ?", TIMESTAMP.fullmatch),
    # no LIKE
    "q": ("instr(title, ?) > 0", lambda value: 1 <= len(value) <= 50),
}


@dataclass(frozen=True)
class ListQuery:
    """A list request, parsed: every field already checked against the
    allow-lists."""

    sort: str = "-created"
    filters: tuple[tuple[str, str], ...] = ()
    limit: int = 20
    after: tuple[str, int] | None = None


def parse_query(query: dict[str, list[str]]) -> ListQuery:
    """`request.query` (`{"sort": ["title"], ...}`) to a ListQuery, or ApiError
    400."""
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
    """One page in the requested order, and the next page's cursor (None at the
    end)."""
    column, order_by, after_condition = SORTS[query.sort]
    conditions = [FILTERS[name][0] for name, _ in query.filters]
    params: list[object] = [value for _, value in query.filters]
    if query.after is not None:
        conditions.append(after_condition)
        params += query.after
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    # fragments: allow-list only
    sql = f"{COLUMNS}{where} ORDER BY {order_by} LIMIT ?"
    # one extra: more?
    rows = db.execute(sql, [*params, query.limit + 1]).fetchall()
    items = [Item(*row) for row in rows[: query.limit]]
    if len(rows) <= query.limit:
        return items, None
    last = items[-1]
    return items, encode_cursor(query.sort, getattr(last, column), last.id)


# --8<-- [end:keyset]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_offset]
    db = open_store()
    for n in range(1, 7):
        add_item(db, f"item {n}", "open", seconds(n))
    first = offset_page(db, limit=3, offset=0)
    # arrives between two page requests
    add_item(db, "item 7", "open", seconds(7))
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
    second, _ = list_items(
        db, parse_query({"limit": ["3"], "cursor": [cursor]})
    )
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

    for bad in (
        "sort=password",
        "status=deleted",
        "id=1;DROP TABLE items",
        "limit=0",
    ):
        try:
            # as the core does
            parse_query(parse_qs(bad, keep_blank_values=True))
        except ApiError as error:
            print(error.status, error.detail)
            #> 400 sort must be one of ['-created', '-title', 'created', 'title']
            #> 400 status has a value this API does not accept
            #> 400 id is not a parameter of this list
            #> 400 limit must be a whole number from 1 to 100
    # --8<-- [end:demo_query]
