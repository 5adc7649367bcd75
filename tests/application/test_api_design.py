"""The API design page's claims: cursors survive concurrent writes, offsets do not; no
request byte becomes SQL; Idempotency-Key makes POST safe to retry; the OpenAPI 3.1
description is valid and the server's real responses match it.

Oracles: `openapi-spec-validator` checks the description against the OpenAPI 3.1
specification; `jsonschema` (Draft 2020-12, the dialect of OpenAPI 3.1, with format
checks) validates every response body the server sends against the schema that the
description declares for that path, method, status and media type; SQLite runs the
pagination queries, and a recording connection shows every SQL text it executed.
Framing and body limits are the application core's, tested once for the whole site.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from snippets.application import api_design as api
from snippets.application.app_core import MAX_BODY, Request, Response, serving
from snippets.communication.http_messages.message_server import MessageServer
from tests.helpers import TIMEOUT, Reply, http_request, run_demo


def query(text: str) -> dict[str, list[str]]:
    """A query string as the core hands it to a handler in `request.query`."""
    return parse_qs(text, keep_blank_values=True)


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    connection = api.open_store()
    yield connection
    connection.close()


def fill(db: sqlite3.Connection, count: int) -> list[api.Item]:
    return [
        api.add_item(db, f"item {n}", "open", api.seconds(n))
        for n in range(1, count + 1)
    ]


# --- Offset pagination breaks under concurrent writes ---------------------------------


def test_offset_pagination_repeats_an_item_when_a_row_is_inserted(db) -> None:
    fill(db, 6)
    first = api.offset_page(db, limit=3, offset=0)
    api.add_item(db, "item 7", "open", api.seconds(7))
    second = api.offset_page(db, limit=3, offset=3)
    ids = [item.id for item in first + second]
    assert ids == [6, 5, 4, 4, 3, 2]  # 4 twice
    assert 1 not in ids  # and the walk ends one short


def test_offset_pagination_skips_an_item_when_a_row_is_deleted(db) -> None:
    fill(db, 6)
    first = api.offset_page(db, limit=3, offset=0)
    with db:
        db.execute("DELETE FROM items WHERE id = 6")
    second = api.offset_page(db, limit=3, offset=3)
    seen = {item.id for item in first + second}
    assert 3 not in seen  # item 3 was never deleted, yet never shown


def test_the_cursor_walk_has_neither_problem(db) -> None:
    fill(db, 6)
    first, cursor = api.list_items(db, api.parse_query(query("limit=3")))
    api.add_item(db, "item 7", "open", api.seconds(7))
    with db:
        db.execute("DELETE FROM items WHERE id = 6")
    second, end = api.list_items(db, api.parse_query(query(f"limit=3&cursor={cursor}")))
    assert [i.id for i in first + second] == [6, 5, 4, 3, 2, 1]
    assert end is None


def walk(db: sqlite3.Connection, sort: str, limit: int, between) -> list[api.Item]:
    """Follow next_cursor to the end, calling `between(page_number)` after each page."""
    seen: list[api.Item] = []
    query = api.ListQuery(sort=sort, limit=limit)
    for page_number in range(1000):
        items, cursor = api.list_items(db, query)
        seen += items
        if cursor is None:
            return seen
        between(page_number)
        query = dataclasses.replace(query, after=api.decode_cursor(cursor, sort))
    raise AssertionError("the walk did not end")


SORT_KEY = {
    "created": lambda item: (item.created, item.id),
    "-created": lambda item: (item.created, item.id),
    "title": lambda item: (item.title, item.id),
    "-title": lambda item: (item.title, item.id),
}
rows = st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 5))  # many ties
writes = st.lists(
    st.tuples(st.booleans(), rows, st.integers(0, 1000)), max_size=8
)  # (insert?, row to insert, which row to delete)


@settings(max_examples=100)
@given(
    st.lists(rows, max_size=25),
    st.sampled_from(sorted(api.SORTS)),
    st.integers(1, 6),
    writes,
)
def test_cursor_pagination_sees_every_surviving_row_once_in_order(
    initial, sort, limit, changes
) -> None:
    db = api.open_store()
    try:
        for title, second in initial:
            api.add_item(db, title, "open", api.seconds(second))
        deleted: set[int] = set()
        pending = list(changes)

        def between(_: int) -> None:
            if not pending:
                return
            insert, (title, second), victim = pending.pop(0)
            if insert:
                api.add_item(db, title, "open", api.seconds(second))
            else:
                ids = [row[0] for row in db.execute("SELECT id FROM items ORDER BY id")]
                if ids:
                    deleted.add(ids[victim % len(ids)])
                    with db:
                        db.execute(
                            "DELETE FROM items WHERE id = ?", (ids[victim % len(ids)],)
                        )

        seen = walk(db, sort, limit, between)
        ids = [item.id for item in seen]
        assert len(ids) == len(set(ids)), "an item was shown twice"
        survivors = set(range(1, len(initial) + 1)) - deleted
        assert survivors <= set(ids), "an item that was there all along was skipped"
        keys = [SORT_KEY[sort](item) for item in seen]
        assert keys == sorted(keys, reverse=sort.startswith("-"))
    finally:
        db.close()


# --- Cursors, filters and sorting --------------------------------------------------------


@settings(max_examples=100)
@given(st.sampled_from(sorted(api.SORTS)), st.text(max_size=30), st.integers(1, 2**40))
def test_cursors_round_trip(sort, key, row_id) -> None:
    token = api.encode_cursor(sort, key, row_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)  # base64url, no padding: URL-safe
    assert api.decode_cursor(token, sort) == (key, row_id)


@settings(max_examples=100)
@given(
    st.text(max_size=80)
    | st.binary(max_size=60).map(lambda b: api.base64.urlsafe_b64encode(b).decode())
)
def test_any_garbage_cursor_is_a_400_never_a_crash(token) -> None:
    with pytest.raises(api.ApiError) as caught:
        api.decode_cursor(token, "-created")
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "payload",
    [
        b'["title","x",1]',  # another sort order
        b'["-created",5,1]',  # key of the wrong type
        b'["-created","x",true]',  # id of the wrong type
        b'["-created","x"]',  # two values
        b"[" * 300 + b"]" * 300,  # deep nesting, inside the length limit
        b"[" * 5000 + b"]" * 5000,  # beyond it
    ],
)
def test_forged_cursors_are_refused(payload: bytes) -> None:
    token = api.base64.urlsafe_b64encode(payload).decode().rstrip("=")
    with pytest.raises(api.ApiError) as caught:
        api.decode_cursor(token, "-created")
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("sort=password", "sort must be one of"),
        ("sort=created;DROP TABLE items", "sort must be one of"),
        ("status=deleted", "status has a value"),
        ("created_after=yesterday", "created_after has a value"),
        ("q=", "q has a value"),
        ("limit=0", "limit must be"),
        ("limit=101", "limit must be"),
        ("limit=07", "limit must be"),
        ("limit=%D9%A1", "limit must be"),  # an Arabic-Indic one
        ("status=open&status=closed", "give each parameter once"),
        ("order_by=id", "order_by is not a parameter"),
    ],
)
def test_bad_list_parameters_are_400(text: str, detail: str) -> None:
    with pytest.raises(api.ApiError, match=detail) as caught:
        api.parse_query(query(text))
    assert caught.value.status == 400


def test_filters_and_sorts_combine(db) -> None:
    api.add_item(db, "beta", "open", api.seconds(1))
    api.add_item(db, "alpha", "closed", api.seconds(2))
    api.add_item(db, "gamma", "open", api.seconds(3))
    api.add_item(db, "alphabet", "open", api.seconds(4))

    def titles(text: str) -> list[str]:
        return [i.title for i in api.list_items(db, api.parse_query(query(text)))[0]]

    assert titles("sort=title") == ["alpha", "alphabet", "beta", "gamma"]
    assert titles("sort=-title&status=open") == ["gamma", "beta", "alphabet"]
    assert titles("q=alpha&sort=created") == ["alpha", "alphabet"]
    assert titles("created_after=" + api.seconds(2)) == ["alphabet", "gamma"]


MARKER = "zz'; DROP TABLE items; --"


class RecordingDb:
    """Passes statements to SQLite and keeps the SQL text apart from the values."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.texts, self.values = db, [], []

    def execute(self, sql: str, params=()) -> sqlite3.Cursor:
        self.texts.append(sql)
        self.values += list(params)
        return self.db.execute(sql, params)


@settings(max_examples=50)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "q": st.just(MARKER),
            "status": st.sampled_from(["open", "closed"]),
            "sort": st.sampled_from(sorted(api.SORTS)),
            "limit": st.integers(1, 5).map(str),
        },
    )
)
def test_no_request_byte_ever_reaches_the_sql_text(params) -> None:
    """The marker may travel as a bound value, never as part of a statement."""
    db = api.open_store()
    try:
        api.add_item(db, MARKER, "open", api.seconds(1))
        recording = RecordingDb(db)
        items, _ = api.list_items(recording, api.parse_query(query(urlencode(params))))
        assert len(recording.texts) == 1
        assert not any(s in recording.texts[0] for s in ("DROP", "zz", "'"))
        if "q" in params:
            assert MARKER in recording.values
            assert [i.title for i in items] in ([MARKER], [])
        assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 1
    finally:
        db.close()


# --- Idempotency-Key ---------------------------------------------------------------------

JSON = ("Content-Type", "application/json")
KEY = ("Idempotency-Key", '"k-1"')


def post(body: bytes, *headers: tuple[str, str]) -> Request:
    """A POST /v1/items request, as the core hands it to the handler."""
    return Request("POST", "/v1/items", headers=[JSON, *headers], body=body)


def count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT count(*) FROM items").fetchone()[0]


def test_a_retry_with_the_same_key_gets_the_same_bytes_and_creates_nothing(db) -> None:
    items = api.ItemsApi(db, clock=lambda: api.seconds(0))
    first = items.create(post(b'{"title": "pay"}', KEY))
    again = items.create(post(b'{"title": "pay"}', KEY))
    assert first == again
    assert first.status == 201
    assert count(db) == 1


def test_the_same_key_with_another_body_is_422(db) -> None:
    items = api.ItemsApi(db)
    items.create(post(b'{"title": "pay"}', KEY))
    response = items.create(post(b'{"title": "pay more"}', KEY))
    assert response.status == 422
    assert response.json()["detail"] == "this key was sent with another body"


def test_a_key_still_in_flight_is_409() -> None:
    store = api.IdempotencyStore()
    assert store.begin('"k"', b"{}") is None  # the first request is running
    assert store.begin('"k"', b"{}").status == 409


def test_an_error_is_a_result_and_is_replayed_too(db) -> None:
    items = api.ItemsApi(db)
    first = items.create(post(b'{"title": ""}', KEY))
    assert first.status == 422
    assert items.create(post(b'{"title": ""}', KEY)) == first


def test_a_first_attempt_that_crashed_can_be_retried(db, monkeypatch) -> None:
    items = api.ItemsApi(db)

    def crash(body: bytes) -> Response:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(items, "_insert", crash)
    with pytest.raises(RuntimeError):
        items.create(post(b'{"title": "pay"}', KEY))
    monkeypatch.undo()
    assert items.create(post(b'{"title": "pay"}', KEY)).status == 201


@pytest.mark.parametrize(
    "keys",
    [["k-1"], ['"unterminated'], ['""'], ['"a\\"b"'], ['"é"'], ['"a"', '"b"']],
    ids=["bare", "unterminated", "empty", "escape", "non-ascii", "two fields"],
)
def test_a_key_that_is_not_one_plain_sf_string_is_400(db, keys: list[str]) -> None:
    request = post(b'{"title": "x"}', *[("Idempotency-Key", key) for key in keys])
    with pytest.raises(api.ApiError) as caught:
        api.ItemsApi(db).create(request)
    assert caught.value.status == 400
    assert count(db) == 0


def test_without_a_key_a_retry_creates_a_duplicate(db) -> None:
    items = api.ItemsApi(db)
    items.create(post(b'{"title": "pay"}'))
    items.create(post(b'{"title": "pay"}'))
    assert count(db) == 2


def test_racing_retries_create_exactly_one_item(db) -> None:
    items = api.ItemsApi(db)
    barrier = threading.Barrier(12, timeout=TIMEOUT)

    def attempt(_: int) -> int:
        barrier.wait()
        return items.create(post(b'{"title": "pay"}', KEY)).status

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(attempt, range(12)))
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    assert count(db) == 1


@pytest.mark.parametrize(
    ("body", "status", "pointers"),
    [
        (b"{", 400, None),
        (b"[" * 5000 + b"]" * 5000, 400, None),
        (b"[]", 422, None),
        (b'{"title": "x", "status": "deleted"}', 422, ["/status"]),
        (b'{"title": "x", "a/b~": 1}', 422, ["/a~1b~0"]),
        (b'{"title": ""}', 422, ["/title"]),
    ],
)
def test_new_items_are_parsed_strictly(body: bytes, status: int, pointers) -> None:
    with pytest.raises(api.ApiError) as caught:
        api.parse_new_item(body)
    assert caught.value.status == status
    if pointers is not None:
        assert [e["pointer"] for e in caught.value.errors] == pointers


# --- The OpenAPI description, and the server's responses against it ---------------------


def test_the_description_is_valid_openapi_3_1() -> None:
    validate(api.OPENAPI)  # raises OpenAPIValidationError if not
    assert api.OPENAPI["openapi"].startswith("3.1.")


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.pop("info"),
        lambda d: d["paths"]["/v1/items"]["get"]["responses"]["200"].pop("description"),
        lambda d: d["paths"]["/v1/items/{id}"]["get"]["parameters"][0].pop("required"),
        lambda d: d["paths"]["/v1/items"]["get"]["parameters"][0].update(
            {"in": "cookies"}
        ),
    ],
    ids=["no info", "response without description", "optional path param", "bad in"],
)
def test_the_validator_is_a_real_check(breakage) -> None:
    broken = copy.deepcopy(api.OPENAPI)
    breakage(broken)
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def template_of(path: str) -> str:
    return "/v1/items/{id}" if api.ITEM_PATH.fullmatch(path) else path


def assert_documented(method: str, target: str, response: Reply | Response) -> object:
    """The response's status and media type are in the description, and the body
    validates against the schema declared for them."""
    path = target.partition("?")[0]
    operation = api.OPENAPI["paths"][template_of(path)][method.lower()]
    declared = operation["responses"][str(response.status)]
    media_type = response.header("Content-Type").split(";")[0]
    schema = declared["content"][media_type]["schema"]
    body = response.json() if "json" in media_type else response.body.decode()
    validator = Draft202012Validator(
        {**schema, "components": api.OPENAPI["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    validator.validate(body)
    for name in declared.get("headers", {}):
        assert response.header(name) is not None, name
    return body


@pytest.fixture
def server() -> Iterator[MessageServer]:
    db = api.open_store()
    ticks = iter(range(10_000))
    items = api.ItemsApi(db, clock=lambda: api.seconds(next(ticks)))
    for n in range(5):
        items.create(post(json.dumps({"title": f"t{n}"}).encode()))
    with serving(api.items_app(items)) as server:
        yield server
    db.close()


def request(server, method, target, document=None, headers=(JSON,)):
    body = b"" if document is None else json.dumps(document).encode()
    reply = http_request(server, method, target, body=body, headers=headers)
    return assert_documented(method, target, reply), reply.status


def test_served_description_is_the_dict(server) -> None:
    body, status = request(server, "GET", "/openapi.json")
    assert (status, body) == (200, api.OPENAPI)


@pytest.mark.parametrize(
    ("method", "target", "document", "headers", "status"),
    [
        ("GET", "/v1/items", None, (), 200),
        ("GET", "/v1/items?limit=2&sort=title&status=open", None, (), 200),
        ("GET", "/v1/items?q=t1&created_after=2026-01-01T00:00:00Z", None, (), 200),
        ("GET", "/v1/items?limit=0", None, (), 400),
        ("GET", "/v1/items?cursor=nonsense", None, (), 400),
        ("GET", "/v1/items/1", None, (), 200),
        ("GET", "/v1/items/999", None, (), 404),
        ("POST", "/v1/items", {"title": "new"}, [JSON], 201),
        ("POST", "/v1/items", {"title": "new", "status": "closed"}, [JSON], 201),
        ("POST", "/v1/items", {"title": 5, "colour": "red", "a/b": 1}, [JSON], 422),
        ("POST", "/v1/items", [1, 2], [JSON], 422),
        ("POST", "/v1/items", {"title": "x"}, [("Content-Type", "text/plain")], 415),
        ("POST", "/v1/items", {"title": "x"}, [], 415),
        ("POST", "/v1/items", {"title": "x"}, [JSON, ("Idempotency-Key", "bare")], 400),
    ],
)
def test_each_response_matches_the_schema_the_description_declares(
    server, method, target, document, headers, status
) -> None:
    body, got = request(server, method, target, document, headers)
    assert got == status, body


def test_a_body_over_the_limit_gets_the_413_the_description_declares(server) -> None:
    """The core's server refuses it before the API runs; the description says so."""
    too_long = [JSON, ("Content-Length", str(MAX_BODY + 1))]  # and no body sent
    reply = http_request(server, "POST", "/v1/items", headers=too_long)
    assert reply.status == 413
    assert_documented("POST", "/v1/items", reply)


def test_a_415_says_which_media_type_to_send(server) -> None:
    reply = http_request(server, "POST", "/v1/items", body=b"title=x")
    assert (reply.status, reply.header("Accept")) == (415, "application/json")


def test_a_paged_walk_over_http_matches_the_description_on_every_page(server) -> None:
    target, titles = "/v1/items?limit=2&sort=created", []
    while True:
        page, _ = request(server, "GET", target)
        titles += [item["title"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        target = f"/v1/items?limit=2&sort=created&cursor={page['next_cursor']}"
    assert titles == [f"t{n}" for n in range(5)]


def test_idempotent_retry_over_http_is_documented_and_identical(server) -> None:
    key = [JSON, ("Idempotency-Key", '"retry-1"')]
    first, _ = request(server, "POST", "/v1/items", {"title": "pay"}, key)
    again, _ = request(server, "POST", "/v1/items", {"title": "pay"}, key)
    other, status = request(server, "POST", "/v1/items", {"title": "pay 2"}, key)
    assert first == again
    assert status == 422
    assert other["status"] == 422


@settings(max_examples=50)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["sort", "limit", "cursor", "status", "q", "created_after", "x"]
            ),
            st.text(max_size=12),
        ),
        max_size=4,
    )
)
def test_no_query_string_gets_an_undocumented_answer(params) -> None:
    """200 or 400, and the body fits the declared schema either way."""
    db = api.open_store()
    try:
        api.add_item(db, "one", "open", api.seconds(1))
        handler = api.items_app(api.ItemsApi(db))
        target = "/v1/items?" + urlencode(params)
        response = handler(Request("GET", "/v1/items", query(urlencode(params))))
        assert response.status in (200, 400)
        assert_documented("GET", target, response)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("method", "target", "status", "allow"),
    [
        ("DELETE", "/v1/items", 405, "GET, POST"),
        ("PUT", "/v1/items/1", 405, "GET"),
        ("POST", "/openapi.json", 405, "GET"),
        ("GET", "/v2/items", 404, None),
        ("GET", "/v1/items/0", 404, None),
    ],
)
def test_undocumented_operations_are_405_or_404(
    server, method, target, status, allow
) -> None:
    reply = http_request(server, method, target)
    assert (reply.status, reply.header("Allow")) == (status, allow)
    assert reply.header("Content-Type") == "application/problem+json"


def test_the_demo_runs_clean_as_a_reader_runs_it() -> None:
    """Its printed lines are checked on the page; here: exit 0, and nothing on stderr."""
    done = run_demo("snippets.application.api_design", check=True)
    assert done.stderr == ""
