"""The pagination part's claims: cursors survive concurrent writes, offsets do not; bad
cursors and list parameters are 400s; no request byte becomes SQL.

Oracles: SQLite runs the pagination queries, and a recording connection shows every SQL
text it executed; Hypothesis walks every sort order while rows are inserted and deleted
between pages.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import sqlite3
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application.api_design import pagination as api
from tests.helpers import run_demo


def query(text: str) -> dict[str, list[str]]:
    """A query string as the core hands it to a handler in `request.query`."""
    return parse_qs(text, keep_blank_values=True)


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
    | st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode())
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
    token = base64.urlsafe_b64encode(payload).decode().rstrip("=")
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


def test_the_demo_runs_clean_as_a_reader_runs_it() -> None:
    """Its printed lines are checked on the page; here: exit 0, and nothing on stderr."""
    done = run_demo("snippets.application.api_design.pagination", check=True)
    assert done.stderr == ""
