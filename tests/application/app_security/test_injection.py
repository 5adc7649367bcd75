"""The injection part's claims: SQL injection and cross-site scripting work on the
vulnerable code and fail on the fixed code.

Oracles: sqlite3 runs the SQL; html.escape and html.parser (a real HTML tokenizer) judge
the escaping; json.loads reads what json_for_script writes; http.client (the shared test
client) reads the profile page from a handler served by the application core over
loopback. Chromium's view of the same page, with and without the Content-Security-Policy,
is in test_mass_assignment_and_headers.py, next to the header it checks.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import sqlite3
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from snippets.application.app_core import serving
from snippets.application.app_security import injection as sec
from snippets.application.app_security.mass_assignment_and_headers import (
    profile_handler,
)
from tests.application.app_security.security_helpers import Document
from tests.helpers import http_request

# ---------------------------------------------------------------------------------------
# SQL injection


@pytest.fixture
def db():
    with contextlib.closing(sec.open_db()) as connection:
        yield connection


UNION_ATTACK = "nobody' UNION SELECT owner, secret FROM api_keys --"


def test_union_attack_leaks_the_secret_through_the_vulnerable_query(db) -> None:
    assert sec.find_users_vulnerable(db, UNION_ATTACK) == [("admin", "sk-live-7f3a9c")]


def test_or_true_attack_lists_every_user_through_the_vulnerable_query(db) -> None:
    rows = sec.find_users_vulnerable(db, "x' OR '1'='1")
    assert sorted(name for name, _ in rows) == ["alice", "bob"]


def test_parameterized_query_treats_the_attack_as_a_name(db) -> None:
    assert sec.find_users(db, UNION_ATTACK) == []
    assert sec.find_users(db, "x' OR '1'='1") == []
    assert sec.find_users(db, "bob") == [("bob", "bob@example.com")]


def test_an_apostrophe_breaks_the_vulnerable_query_but_not_the_fixed_one(db) -> None:
    db.execute("INSERT INTO users VALUES ('O''Brien', 'ob@example.com')")
    with pytest.raises(sqlite3.OperationalError):
        sec.find_users_vulnerable(db, "O'Brien")
    assert sec.find_users(db, "O'Brien") == [("O'Brien", "ob@example.com")]


def test_sqlite3_refuses_a_second_statement_but_not_a_union(db) -> None:
    """execute() runs one statement: `; DROP TABLE` fails, the UNION above did not."""
    with pytest.raises((sqlite3.Warning, sqlite3.ProgrammingError)):
        sec.find_users_vulnerable(db, "x'; DROP TABLE users; --")
    assert db.execute("SELECT count(*) FROM users").fetchone() == (2,)


def test_sort_keys_come_from_the_allow_list_only(db) -> None:
    db.execute("INSERT INTO users VALUES ('alice', 'second@example.com')")
    newest_first = sec.find_users(db, "alice", sort="newest")
    assert newest_first[0] == ("alice", "second@example.com")
    with pytest.raises(ValueError, match="cannot sort by"):
        sec.find_users(db, "alice", sort="name; DROP TABLE users")


@hypothesis_settings(max_examples=150)
@given(name=st.text())
def test_parameterized_query_matches_exactly_the_name_for_any_text(name: str) -> None:
    with contextlib.closing(sec.open_db()) as connection:
        rows = sec.find_users(connection, name)
        expected = [(name, f"{name}@example.com")] if name in {"alice", "bob"} else []
        assert rows == expected
        assert connection.execute("SELECT count(*) FROM api_keys").fetchone() == (1,)


# ---------------------------------------------------------------------------------------
# XSS and output encoding

ENTITY = re.compile(r"&(amp|lt|gt|quot|#x27);")


@hypothesis_settings(max_examples=200)
@given(value=st.text())
def test_escape_html_never_lets_a_special_character_through(value: str) -> None:
    escaped = sec.escape_html(value)
    assert not set("<>\"'") & set(escaped)
    assert escaped.count("&") == len(ENTITY.findall(escaped))  # every & is an entity


@hypothesis_settings(max_examples=200)
@given(value=st.text())
def test_escape_html_is_exactly_html_escape(value: str) -> None:
    assert sec.escape_html(value) == html.escape(value, quote=True)
    assert html.unescape(sec.escape_html(value)) == value


@hypothesis_settings(max_examples=200)
@given(value=st.text())
def test_escaped_value_reads_back_as_the_same_text_in_text_and_attribute(
    value: str,
) -> None:
    escaped = sec.escape_html(value)
    document = Document(f'<p title="{escaped}">{escaped}</p>')
    assert document.tags == [("p", {"title": value})]
    assert document.text == value


XSS_NAME = '"><img src=x onerror=alert(1)>'


def test_vulnerable_profile_lets_the_name_create_an_element_with_a_handler() -> None:
    tags = sec.start_tags(sec.profile_page_vulnerable(XSS_NAME, "https://ok.example"))
    assert ("img", {"src": "x", "onerror": "alert(1)"}) in tags


def test_fixed_profile_keeps_the_name_as_text_in_both_places() -> None:
    document = Document(sec.profile_page(XSS_NAME, "https://ok.example/?a=1&b=2"))
    assert [tag for tag, _ in document.tags] == ["h1", "a"]
    assert document.tags[1][1] == {
        "href": "https://ok.example/?a=1&b=2",
        "title": XSS_NAME,
    }
    assert document.text == XSS_NAME + "site"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/",
        "http://[::1",
    ],
)
def test_safe_url_replaces_every_non_http_url(url: str) -> None:
    assert sec.safe_url(url) == "#"
    assert Document(sec.profile_page("x", url)).tags[1][1]["href"] == "#"


def test_vulnerable_profile_keeps_a_javascript_url() -> None:
    page = sec.profile_page_vulnerable("x", "javascript:alert(document.cookie)")
    assert sec.start_tags(page)[1][1]["href"] == "javascript:alert(document.cookie)"


def test_html_escaping_does_not_protect_javascript_inside_an_event_handler() -> None:
    """The tokenizer decodes &#x27; back to ' before the script engine sees it."""
    name = "');alert(1);//"
    button = f"<button onclick=\"greet('{sec.escape_html(name)}')\">hi</button>"
    assert sec.start_tags(button)[0][1]["onclick"] == "greet('');alert(1);//')"


def test_plain_json_in_a_script_element_can_close_it() -> None:
    settings = {"theme": "</script><script>alert(1)</script>"}
    naive = f'<script type="application/json">{json.dumps(settings)}</script>'
    assert [tag for tag, _ in Document(naive).tags] == ["script", "script"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@hypothesis_settings(max_examples=100)
@given(value=JSON_VALUES)
def test_json_for_script_round_trips_and_never_closes_the_script(value) -> None:
    encoded = sec.json_for_script(value)
    assert json.loads(encoded) == value
    assert not set("<>&") & set(encoded)
    document = Document(sec.settings_script({"data": encoded}))
    assert [tag for tag, _ in document.tags] == ["script"]
    assert json.loads(json.loads(document.text)["data"]) == value


def test_json_for_script_escapes_the_javascript_line_separators() -> None:
    assert sec.json_for_script("a\u2028b\u2029c") == '"a\\u2028b\\u2029c"'


def test_profile_over_http_vulnerable_reflects_markup_fixed_escapes_it() -> None:
    path = "/profile?name=" + quote("<script>alert(1)</script>")
    pages = {}
    for render in (sec.profile_page_vulnerable, sec.profile_page):
        with serving(profile_handler(render)) as server:
            reply = http_request(server, "GET", path)
        assert reply.status == 200
        assert reply.header("Content-Type") == "text/html; charset=utf-8"
        pages[render] = reply.text
    assert "script" in [
        tag for tag, _ in Document(pages[sec.profile_page_vulnerable]).tags
    ]
    assert "script" not in [tag for tag, _ in Document(pages[sec.profile_page]).tags]
