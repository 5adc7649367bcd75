"""The session and cookie part's claims: random IDs, expiry, and the cookie's attributes.

Oracle: http.cookiejar, a second cookie parser in the standard library, reads our
Set-Cookie header the way a client does (`jar_with` in conftest.py).
"""

from __future__ import annotations

import base64
import hashlib
import urllib.request
from email.message import Message
from http.cookies import CookieError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application.authentication import session_cookies as sessions


def test_session_ids_are_random_256_bit_urlsafe_strings() -> None:
    store = sessions.SessionStore()
    ids = {store.login("ada") for _ in range(100)}
    assert len(ids) == 100
    assert all(len(base64.urlsafe_b64decode(i + "=")) == 32 for i in ids)


def test_login_rotates_the_id_and_the_old_one_stops_working() -> None:
    store = sessions.SessionStore()
    before = store.login("anonymous")
    after = store.login("ada", old_id=before)
    assert after != before
    assert store.lookup(before) is None
    assert store.lookup(after).user == "ada"


def test_the_store_keeps_only_hashes_of_the_ids() -> None:
    store = sessions.SessionStore()
    session_id = store.login("ada")
    assert session_id not in store._sessions
    assert hashlib.sha256(session_id.encode()).hexdigest() in store._sessions


def test_an_idle_session_expires_and_activity_keeps_it_alive(clock) -> None:
    store = sessions.SessionStore(clock=clock)
    session_id = store.login("ada")
    for _ in range(5):
        clock.now += sessions.IDLE_TIMEOUT - 1  # active just often enough
        assert store.lookup(session_id) is not None
    clock.now += sessions.IDLE_TIMEOUT + 1
    assert store.lookup(session_id) is None


def test_a_session_ends_at_the_absolute_timeout_however_active(clock) -> None:
    store = sessions.SessionStore(clock=clock)
    session_id = store.login("ada")
    while clock.now + 600 - 1_000_000.0 <= sessions.ABSOLUTE_TIMEOUT:
        clock.now += 600
        assert store.lookup(session_id) is not None
    clock.now += 600
    assert store.lookup(session_id) is None


def test_logout_forgets_the_session() -> None:
    store = sessions.SessionStore()
    session_id = store.login("ada")
    store.logout(session_id)
    assert store.lookup(session_id) is None
    store.logout(session_id)  # twice is harmless


def test_set_cookie_carries_every_protective_attribute() -> None:
    header = sessions.set_cookie("abc123")
    parts = [p.strip() for p in header.split(";")]
    assert parts[0] == "__Host-session=abc123"
    assert set(parts[1:]) == {
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
    }  # no Max-Age or Expires: a session cookie, gone when the browser closes
    assert "Domain" not in header  # __Host- forbids it


def test_a_client_cookie_parser_reads_our_attributes(jar_with) -> None:
    jar = jar_with(sessions.set_cookie("abc123"), "https://app.example/login")
    (cookie,) = list(jar)
    assert (cookie.name, cookie.value, cookie.path) == ("__Host-session", "abc123", "/")
    assert cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite") == "Lax"
    assert cookie.expires is None  # non-persistent (OWASP): not kept on disk
    assert cookie.discard  # http.cookiejar's word for "drop at the end of the session"


def test_a_secure_cookie_is_sent_over_https_and_not_over_http(jar_with) -> None:
    jar = jar_with(sessions.set_cookie("abc123"), "https://app.example/login")
    for scheme, sent in (("https", True), ("http", False)):
        request = urllib.request.Request(f"{scheme}://app.example/orders")
        jar.add_cookie_header(request)
        assert ("__Host-session=abc123" in request.get_header("Cookie", "")) is sent


def test_max_age_zero_tells_the_client_to_drop_the_cookie(jar_with) -> None:
    jar = jar_with(sessions.set_cookie("abc123"), "https://app.example/login")
    headers = Message()
    headers["Set-Cookie"] = sessions.set_cookie("", max_age=0)

    class Response:
        def info(self) -> Message:
            return headers

    jar.extract_cookies(Response(), urllib.request.Request("https://app.example/out"))
    assert list(jar) == []


def test_the_session_id_is_read_from_a_cookie_header_among_others() -> None:
    header = "theme=dark; __Host-session=abc-_123; lang=en"
    assert sessions.session_id_from(header) == "abc-_123"
    assert sessions.session_id_from("theme=dark") is None
    assert sessions.session_id_from("") is None


def test_a_duplicated_session_cookie_is_refused() -> None:
    with pytest.raises(CookieError, match="more than once"):
        sessions.session_id_from("__Host-session=planted; __Host-session=real")


def test_an_oversized_cookie_header_is_refused() -> None:
    with pytest.raises(CookieError, match="too large"):
        sessions.session_id_from("a=" + "x" * sessions.MAX_COOKIE_HEADER)


@settings(max_examples=100)
@given(st.text(max_size=300))
def test_any_cookie_header_gives_an_id_none_or_a_cookie_error(header: str) -> None:
    try:
        result = sessions.session_id_from(header)
    except CookieError:
        return
    assert result is None or isinstance(result, str)


def test_a_session_id_round_trips_through_set_cookie_and_cookie() -> None:
    session_id = sessions.SessionStore().login("ada")
    pair = sessions.set_cookie(session_id).split(";")[0]  # what the browser sends back
    assert sessions.session_id_from(pair) == session_id


@pytest.mark.parametrize(
    ("header", "found"),
    [
        # a pair SimpleCookie rejects drops the whole header, the pairs before it too
        ("__Host-session=abc; c d=1", None),
        ("theme=dark; __Host-session=abc; remember", None),
        # bytes its pattern cannot match stop the reading; what came before is kept
        ("__Host-session=abc; bad\x01=2", "abc"),
        ("theme=dark; bad\x01=2; __Host-session=abc", None),
        ('__Host-session=abc; x="unclosed', "abc"),
    ],
)
def test_a_header_simplecookie_cannot_fully_read_fails_closed(
    header: str, found: str | None
) -> None:
    assert sessions.session_id_from(header) == found
