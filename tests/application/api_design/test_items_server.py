"""The items server's claims: Idempotency-Key makes POST safe to retry; the server's
real responses match the OpenAPI 3.1 description; anything it does not describe is a
405 or a 404.

Oracles: `jsonschema` (Draft 2020-12, the dialect of OpenAPI 3.1, with format checks)
validates every response body the server sends against the schema that the description
declares for that path, method, status and media type; SQLite counts the items that
retries created. Framing and body limits are the application core's, tested once for
the whole site.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from snippets.application.api_design.items_server import (
    ITEM_PATH,
    ItemsApi,
    items_app,
)
from snippets.application.api_design.openapi_description import OPENAPI
from snippets.application.api_design.pagination import (
    ApiError,
    add_item,
    open_store,
    seconds,
)
from snippets.application.app_core import MAX_BODY, Request, Response, serving
from snippets.communication.http_messages.message_server import MessageServer
from tests.helpers import TIMEOUT, Reply, http_request, run_demo

# --- Idempotency-Key ---------------------------------------------------------------------

JSON = ("Content-Type", "application/json")
KEY = ("Idempotency-Key", '"k-1"')


def post(body: bytes, *headers: tuple[str, str]) -> Request:
    """A POST /v1/items request, as the core hands it to the handler."""
    return Request("POST", "/v1/items", headers=[JSON, *headers], body=body)


def count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT count(*) FROM items").fetchone()[0]


def test_a_retry_with_the_same_key_gets_the_same_bytes_and_creates_nothing(db) -> None:
    items = ItemsApi(db, clock=lambda: seconds(0))
    first = items.create(post(b'{"title": "pay"}', KEY))
    again = items.create(post(b'{"title": "pay"}', KEY))
    assert first == again
    assert first.status == 201
    assert count(db) == 1


def test_the_same_key_with_another_body_is_422(db) -> None:
    items = ItemsApi(db)
    items.create(post(b'{"title": "pay"}', KEY))
    response = items.create(post(b'{"title": "pay more"}', KEY))
    assert response.status == 422
    assert response.json()["detail"] == "this key was sent with another body"


def test_an_error_is_a_result_and_is_replayed_too(db) -> None:
    items = ItemsApi(db)
    first = items.create(post(b'{"title": ""}', KEY))
    assert first.status == 422
    assert items.create(post(b'{"title": ""}', KEY)) == first


def test_a_first_attempt_that_crashed_can_be_retried(db, monkeypatch) -> None:
    items = ItemsApi(db)

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
    with pytest.raises(ApiError) as caught:
        ItemsApi(db).create(request)
    assert caught.value.status == 400
    assert count(db) == 0


def test_without_a_key_a_retry_creates_a_duplicate(db) -> None:
    items = ItemsApi(db)
    items.create(post(b'{"title": "pay"}'))
    items.create(post(b'{"title": "pay"}'))
    assert count(db) == 2


def test_racing_retries_create_exactly_one_item(db) -> None:
    items = ItemsApi(db)
    barrier = threading.Barrier(12, timeout=TIMEOUT)

    def attempt(_: int) -> int:
        barrier.wait()
        return items.create(post(b'{"title": "pay"}', KEY)).status

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(attempt, range(12)))
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    assert count(db) == 1


# --- The server's responses against the description -----------------------------------


def template_of(path: str) -> str:
    return "/v1/items/{id}" if ITEM_PATH.fullmatch(path) else path


def assert_documented(method: str, target: str, response: Reply | Response) -> object:
    """The response's status and media type are in the description, and the body
    validates against the schema declared for them."""
    path = target.partition("?")[0]
    operation = OPENAPI["paths"][template_of(path)][method.lower()]
    declared = operation["responses"][str(response.status)]
    media_type = response.header("Content-Type").split(";")[0]
    schema = declared["content"][media_type]["schema"]
    body = response.json() if "json" in media_type else response.body.decode()
    validator = Draft202012Validator(
        {**schema, "components": OPENAPI["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    validator.validate(body)
    for name in declared.get("headers", {}):
        assert response.header(name) is not None, name
    return body


@pytest.fixture
def server() -> Iterator[MessageServer]:
    db = open_store()
    ticks = iter(range(10_000))
    items = ItemsApi(db, clock=lambda: seconds(next(ticks)))
    for n in range(5):
        items.create(post(json.dumps({"title": f"t{n}"}).encode()))
    with serving(items_app(items)) as server:
        yield server
    db.close()


def request(server, method, target, document=None, headers=(JSON,)):
    body = b"" if document is None else json.dumps(document).encode()
    reply = http_request(server, method, target, body=body, headers=headers)
    return assert_documented(method, target, reply), reply.status


def test_served_description_is_the_dict(server) -> None:
    body, status = request(server, "GET", "/openapi.json")
    assert (status, body) == (200, OPENAPI)


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
    db = open_store()
    try:
        add_item(db, "one", "open", seconds(1))
        handler = items_app(ItemsApi(db))
        target = "/v1/items?" + urlencode(params)
        query = parse_qs(urlencode(params), keep_blank_values=True)  # as the core does
        response = handler(Request("GET", "/v1/items", query))
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
    done = run_demo("snippets.application.api_design.items_server", check=True)
    assert done.stderr == ""
