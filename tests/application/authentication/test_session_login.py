"""The login part's claims: a login handler and a guard, served by the application core.

Oracle: http.cookiejar, the client side of the standard library, stores the Set-Cookie
of a real response and builds the Cookie header of the next request (`jar_with` in
conftest.py); the requests go through the shared test client.
"""

from __future__ import annotations

import urllib.request

import pytest

from snippets.application.app_core import Request, Response, serving
from snippets.application.authentication import password_hashing as hashing
from snippets.application.authentication import session_cookies as sessions
from snippets.application.authentication import session_login as login
from tests.helpers import Reply, http_request

FAST = hashing.ScryptParams(log2_n=10, r=8, p=1)  # 1 MiB: keeps the tests quick
FORM = [("Content-Type", "application/x-www-form-urlencoded")]
PASSWORD = b"name=ada&password=correct+horse"


class Site:
    """A served auth_app with its user table, session store and fake clock."""

    def __init__(self, server, users: dict[str, str], store, clock):
        self.server, self.users, self.store, self.clock = server, users, store, clock

    def login(self, body: bytes = PASSWORD, cookie: str | None = None) -> Reply:
        headers = FORM + ([("Cookie", cookie)] if cookie else [])
        return http_request(self.server, "POST", "/login", body=body, headers=headers)

    def get(self, cookie: str | None = None, target: str = "/orders") -> Reply:
        headers = [("Cookie", cookie)] if cookie else []
        return http_request(self.server, "GET", target, headers=headers)


@pytest.fixture
def site(clock):
    users = {"ada": hashing.hash_password("correct horse", FAST)}
    store = sessions.SessionStore(clock=clock)
    with serving(login.auth_app(users, store, FAST)) as server:
        yield Site(server, users, store, clock)


def cookie_pair(reply: Reply) -> str:
    """The `name=value` a browser sends back for the reply's one Set-Cookie."""
    (set_cookie,) = reply.header_list("Set-Cookie")
    return set_cookie.split(";")[0]


def test_without_a_session_the_guard_answers_401_with_a_challenge(site: Site) -> None:
    reply = site.get()
    assert reply.status == 401
    assert reply.header("WWW-Authenticate") == login.CHALLENGE[1]  # RFC 9110, 15.5.2
    assert reply.header("Content-Type") == "application/problem+json"
    assert reply.json()["detail"] == "log in first"


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(site: Site) -> None:
    wrong = site.login(b"name=ada&password=guess")
    unknown = site.login(b"name=nobody&password=guess")
    garbled = site.login(b"\xff\xfe name")  # not even UTF-8: refused, not a crash
    for reply in (wrong, unknown, garbled):
        assert (reply.status, reply.body) == (401, wrong.body)
        assert reply.header_list("Set-Cookie") == []
    assert len(site.store._sessions) == 0


def test_a_login_sets_a_cookie_that_a_client_jar_sends_back(
    site: Site, jar_with
) -> None:
    """http.cookiejar, the client side, stores our Set-Cookie from a real response and
    builds the Cookie header of the next request; the guard accepts it."""
    reply = site.login()
    assert (reply.status, reply.json()) == (200, {"user": "ada"})
    (set_cookie,) = reply.header_list("Set-Cookie")
    jar = jar_with(set_cookie, "https://app.example/login")
    request = urllib.request.Request("https://app.example/orders")
    jar.add_cookie_header(request)
    orders = site.get(request.get_header("Cookie"))
    assert (orders.status, orders.text) == (200, "orders of ada\n")


def test_the_session_cookie_attributes_survive_the_trip(site: Site) -> None:
    (set_cookie,) = site.login().header_list("Set-Cookie")
    attributes = {part.strip() for part in set_cookie.split(";")[1:]}
    assert attributes == set(sessions.set_cookie("x").split("; ")[1:])


def test_a_login_ends_the_session_the_request_came_with(site: Site) -> None:
    planted = site.store.login("anonymous")  # an ID an attacker may know
    reply = site.login(cookie=f"{sessions.COOKIE_NAME}={planted}")
    fresh = cookie_pair(reply).split("=", 1)[1]
    assert fresh != planted
    assert site.store.lookup(planted) is None
    assert site.get(f"{sessions.COOKIE_NAME}={planted}").status == 401


def test_a_login_upgrades_an_old_hash_over_http(site: Site) -> None:
    site.users["ada"] = hashing.hash_password("correct horse", hashing.ScryptParams(9))
    assert site.login().status == 200
    assert not hashing.needs_rehash(site.users["ada"], FAST)


def test_logout_ends_the_session_and_tells_the_client_to_drop_it(site: Site) -> None:
    cookie = cookie_pair(site.login())
    reply = http_request(site.server, "POST", "/logout", headers=[("Cookie", cookie)])
    assert reply.status == 204
    assert "Max-Age=0" in reply.header("Set-Cookie")
    assert site.get(cookie).status == 401
    anonymous = http_request(site.server, "POST", "/logout")  # harmless without one
    assert anonymous.status == 204


def test_an_idle_session_gets_401_and_activity_keeps_it(site: Site) -> None:
    cookie = cookie_pair(site.login())
    site.clock.now += sessions.IDLE_TIMEOUT - 1
    assert site.get(cookie).status == 200
    site.clock.now += sessions.IDLE_TIMEOUT + 1
    assert site.get(cookie).status == 401


@pytest.mark.parametrize(
    "make_cookie",
    [
        lambda pair: f"{pair}; {pair}x",  # the session cookie twice: one may be planted
        lambda pair: "a=" + "x" * sessions.MAX_COOKIE_HEADER + "; " + pair,  # too large
        lambda pair: pair[:-3],  # a truncated ID: no such session
        lambda pair: f"{sessions.COOKIE_NAME}=",  # empty
    ],
    ids=["duplicated", "oversized", "truncated", "empty"],
)
def test_a_doubtful_cookie_header_is_no_session(site: Site, make_cookie) -> None:
    pair = cookie_pair(site.login())
    assert site.get(make_cookie(pair)).status == 401


def test_two_cookie_lines_are_read_as_one_list(site: Site) -> None:
    """RFC 9113, 8.2.3: several Cookie lines join with "; " (a comma would glue the
    session ID to the next cookie)."""
    pair = cookie_pair(site.login())
    for lines in ([pair, "theme=dark"], ["theme=dark", pair]):
        reply = http_request(
            site.server, "GET", "/orders", headers=[("Cookie", line) for line in lines]
        )
        assert reply.status == 200


def test_the_user_is_known_only_during_the_request() -> None:
    store = sessions.SessionStore()
    session_id = store.login("ada")
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(login.current_user.get())
        return Response(204)

    guarded = login.require_session(store)(handler)
    cookie = ("Cookie", f"{sessions.COOKIE_NAME}={session_id}")
    assert guarded(Request("GET", "/", headers=[cookie])).status == 204
    assert seen == ["ada"]
    assert login.current_user.get(None) is None


def test_routes_answer_405_with_allow_and_404(site: Site) -> None:
    wrong_method = site.get(target="/login")
    assert (wrong_method.status, wrong_method.header("Allow")) == (405, "POST")
    assert site.get(target="/admin").status == 404


# --- base64url and the JWT --------------------------------------------------------
