"""The CSRF part's claims: a forged cross-site transfer moves money at the vulnerable
bank and is refused by the fixed one, whose own form still works.

Oracles: http.cookies parses the session cookie; html.parser (a real HTML tokenizer) reads
the token from the bank's own form; http.client (the shared test client) talks to the
bank, served by the application core, over loopback; Chromium (the browser-marked tests)
shows which headers and cookies a forged cross-site form really carries. The core's
framing is sent the request smuggling that the page's own server once let in.
"""

from __future__ import annotations

import contextlib
import re
from http.cookies import SimpleCookie
from urllib.parse import quote

import pytest

from snippets.application.app_core import Request, Response, serving
from snippets.application.app_security import csrf as sec
from tests.application.app_security.security_helpers import (
    BROWSER_IDLE,
    Document,
    elsewhere,
    page_with,
    said,
)
from tests.helpers import Reply, http_request, raw_exchange

# ---------------------------------------------------------------------------------------
# CSRF

FORM = ("Content-Type", "application/x-www-form-urlencoded")
FORGED = [("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site")]


@contextlib.contextmanager
def bank_server(fixed: bool):
    bank = sec.Bank()
    with serving(sec.bank_app(bank, fixed)) as server:
        bank.origin = sec.origin_of(server)
        yield bank, server


def log_in(server) -> str:
    reply = http_request(server, "POST", "/login", body=b"user=alice")
    assert reply.status == 204
    return reply.header("Set-Cookie").split(";")[0]


def post_transfer(server, cookie: str, body: str, headers=()) -> Reply:
    sent = [("Cookie", cookie), FORM, *headers]
    return http_request(server, "POST", "/transfer", body=body.encode(), headers=sent)


def token_from_form(server, cookie: str) -> str:
    """Read the CSRF token as the bank's own page carries it, with a real tokenizer."""
    reply = http_request(server, "GET", "/transfer", headers=[("Cookie", cookie)])
    assert reply.status == 200
    tags = Document(reply.text).tags
    fields = {attrs.get("name"): attrs.get("value") for _, attrs in tags}
    return fields["csrf_token"]


def same_origin(bank: sec.Bank) -> list[tuple[str, str]]:
    return [("Origin", bank.origin), ("Sec-Fetch-Site", "same-origin")]


def test_forged_cross_site_post_moves_money_on_the_vulnerable_bank() -> None:
    with bank_server(fixed=False) as (bank, server):
        reply = post_transfer(server, log_in(server), "to=eve&amount=100", FORGED)
    assert (reply.status, reply.text) == (200, "sent 100 to eve\n")
    assert bank.balances == {"alice": 0, "eve": 100}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (FORGED, "Sec-Fetch-Site is cross-site"),
        ([("Sec-Fetch-Site", "same-site")], "Sec-Fetch-Site is same-site"),
        ([("Origin", "http://evil.example")], "Origin http://evil.example is not"),
        ([("Origin", "null")], "Origin null is not"),
    ],
    ids=["cross-site", "sibling-subdomain", "origin-only", "null-origin"],
)
def test_fixed_bank_refuses_a_request_the_browser_marks_as_foreign(
    headers: list[tuple[str, str]], reason: str
) -> None:
    with bank_server(fixed=True) as (bank, server):
        cookie = log_in(server)
        token = token_from_form(server, cookie)  # even the right token does not help
        body = f"to=eve&amount=100&csrf_token={token}"
        reply = post_transfer(server, cookie, body, headers)
    assert reply.status == 403
    assert said(reply).startswith(f"cross-site request refused: {reason}")
    assert bank.balances == {"alice": 100, "eve": 0}


@pytest.mark.parametrize(
    "sent",
    ["", "guessed", "A" * 43, "é"],
    ids=["missing", "guessed", "same-length", "non-ascii"],
)
def test_fixed_bank_refuses_a_same_origin_post_without_the_right_token(
    sent: str,
) -> None:
    with bank_server(fixed=True) as (bank, server):
        body = f"to=eve&amount=100&csrf_token={quote(sent)}"
        reply = post_transfer(server, log_in(server), body, same_origin(bank))
    assert (reply.status, said(reply)) == (403, "missing or wrong CSRF token")
    assert bank.balances["alice"] == 100


def test_a_token_from_another_session_is_refused() -> None:
    with bank_server(fixed=True) as (bank, server):
        first, second = log_in(server), log_in(server)
        stolen = token_from_form(server, first)
        body = f"to=eve&amount=1&csrf_token={stolen}"
        reply = post_transfer(server, second, body, [("Origin", bank.origin)])
    assert reply.status == 403
    assert bank.balances["alice"] == 100


def test_a_client_without_browser_headers_still_needs_the_token() -> None:
    """curl sends neither Origin nor Sec-Fetch-Site: the token is the defence."""
    with bank_server(fixed=True) as (bank, server):
        cookie = log_in(server)
        refused = post_transfer(server, cookie, "to=eve&amount=5")
        token = token_from_form(server, cookie)
        accepted = post_transfer(server, cookie, f"to=eve&amount=5&csrf_token={token}")
    assert (refused.status, accepted.status) == (403, 200)
    assert bank.balances == {"alice": 95, "eve": 5}


def test_the_banks_own_form_with_its_token_still_works() -> None:
    with bank_server(fixed=True) as (bank, server):
        cookie = log_in(server)
        body = f"to=eve&amount=30&csrf_token={token_from_form(server, cookie)}"
        reply = post_transfer(server, cookie, body, same_origin(bank))
    assert (reply.status, reply.text) == (200, "sent 30 to eve\n")
    assert bank.balances == {"alice": 70, "eve": 30}


@pytest.mark.parametrize("fixed", [False, True])
def test_transfers_need_a_session_a_known_page_and_a_valid_amount(
    fixed: bool,
) -> None:
    with bank_server(fixed) as (bank, server):
        assert post_transfer(server, "session=forged", "to=eve&amount=1").status == 401
        assert http_request(server, "GET", "/transfer").status == 401
        assert http_request(server, "GET", "/nowhere").status == 404
        cookie = log_in(server)
        token = token_from_form(server, cookie)
        for body in (
            "to=nobody&amount=1",
            "to=eve&amount=-5",
            "to=eve&amount=101",
            "to=eve&amount=%D9%A3",  # ARABIC-INDIC DIGIT THREE: int() would accept it
            "to=eve&amount=%C2%B2",  # SUPERSCRIPT TWO: isdigit(), but int() refuses it
        ):
            reply = post_transfer(
                server, cookie, f"{body}&csrf_token={token}", same_origin(bank)
            )
            assert reply.status == 400, body
        login = http_request(server, "POST", "/login", body=b"user=mallory")
        assert login.status == 403
    assert bank.balances == {"alice": 100, "eve": 0}


def test_session_cookie_is_httponly_and_samesite_lax_but_not_secure_over_http() -> None:
    with bank_server(fixed=True) as (_, server):
        reply = http_request(server, "POST", "/login", body=b"user=alice")
    morsel = SimpleCookie(reply.header("Set-Cookie"))["session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert not morsel["secure"]
    assert len(morsel.value) >= 43  # 32 random bytes, base64url


def test_session_cookie_is_secure_when_the_bank_is_reached_over_https() -> None:
    """The core speaks plain HTTP: the bank's origin tells it that TLS ends in front."""
    bank = sec.Bank(origin="https://bank.example")
    response = sec.log_in(bank, Request("POST", "/login", body=b"user=alice"))
    assert response.status == 204
    morsel = SimpleCookie(response.header("Set-Cookie"))["session"]
    assert morsel["secure"] is True
    assert morsel["samesite"] == "Lax"


# ---------------------------------------------------------------------------------------
# The server underneath: the core's framing, sent the smuggling this page once let in

STATUS_LINE = re.compile(rb"^HTTP/1\.1 (\d{3}) ", re.M)
HIDDEN = b"POST /transfer HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n"


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["cl-and-te", "te-with-a-request-as-the-body"],
)
def test_a_smuggled_second_request_gets_one_400_and_a_closed_connection(
    framing: bytes,
) -> None:
    """The smuggled transfer carries alice's cookie; the bank is the vulnerable one."""
    seen: list[str] = []
    bank = sec.Bank()
    app = sec.bank_app(bank, fixed=False)

    def recording(request: Request) -> Response:
        seen.append(f"{request.method} {request.path}")
        return app(request)

    with serving(recording) as server:
        cookie = log_in(server)
        hidden = HIDDEN + f"Cookie: {cookie}\r\n\r\nto=eve&amount=100".encode()
        outer = b"POST /login HTTP/1.1\r\nHost: a\r\n" + framing
        # raw_exchange reads until the server closes; a connection left open would
        # fail it with a timeout instead of returning.
        answer = raw_exchange(server.server_address[:2], outer + hidden)
    assert STATUS_LINE.findall(answer) == [b"400"]
    assert seen == ["POST /login"]  # only the test's own log-in reached the app
    assert bank.balances == {"alice": 100, "eve": 0}


def test_a_handler_bug_is_a_bare_500_that_leaks_nothing() -> None:
    def broken(request: Request) -> Response:
        raise RuntimeError("secret stack detail")

    with serving(broken) as server:
        reply = http_request(server, "GET", "/")
    assert reply.status == 500
    assert b"secret" not in reply.body
    assert b"Traceback" not in reply.body


# ---------------------------------------------------------------------------------------
# A real browser as the oracle: which headers and cookies does Chromium send with a
# forged form? (The `tab` fixture is in conftest.py.)


class Recorder:
    """Wraps the bank and keeps the headers of each POST /transfer it sees."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: list[dict[str, str]] = []

    def __call__(self, request: Request) -> Response:
        if (request.method, request.path) == ("POST", "/transfer"):
            self.seen.append({k.lower(): v for k, v in request.headers})
        return self.app(request)


LOG_IN = """fetch("/login", {method: "POST", body: "user=alice",
  headers: {"Content-Type": "application/x-www-form-urlencoded"}}).then(r => r.status)"""


@pytest.mark.browser
def test_chromium_marks_a_forged_form_cross_site_and_withholds_the_lax_cookie(
    tab,
) -> None:
    bank = sec.Bank()
    recorder = Recorder(sec.bank_app(bank, fixed=False))
    with serving(recorder, timeout=BROWSER_IDLE) as server:
        bank.origin = sec.origin_of(server)
        tab.goto(bank.origin + "/transfer")
        assert tab.evaluate(LOG_IN) == 204
        form = (
            f'<form method="post" action="{bank.origin}/transfer">'
            '<input name="to" value="eve"><input name="amount" value="100"></form>'
            "<script>document.forms[0].submit()</script>"
        )
        with serving(page_with(form), timeout=BROWSER_IDLE) as attacker:
            evil = elsewhere(attacker)
            with tab.expect_response(bank.origin + "/transfer") as answer:
                tab.goto(evil + "/")
            assert answer.value.status == 401  # the vulnerable bank saw no cookie
    (sent,) = recorder.seen
    assert "cookie" not in sent
    assert (sent["origin"], sent["sec-fetch-site"]) == (evil, "cross-site")
    assert bank.balances == {"alice": 100, "eve": 0}
    # An older browser would have attached the cookie: the fixed bank still refuses.
    session = next(iter(bank.sessions))
    headers = [*sent.items(), ("cookie", f"session={session}")]
    forged = Request("POST", "/transfer", headers=headers, body=b"to=eve&amount=100")
    assert sec.transfer(bank, forged).status == 403


@pytest.mark.browser
def test_chromium_same_origin_form_with_the_token_passes_the_fixed_bank(tab) -> None:
    bank = sec.Bank()
    recorder = Recorder(sec.bank_app(bank, fixed=True))
    with serving(recorder, timeout=BROWSER_IDLE) as server:
        bank.origin = sec.origin_of(server)
        tab.goto(bank.origin + "/transfer")
        assert tab.evaluate(LOG_IN) == 204
        tab.goto(bank.origin + "/transfer")  # the bank's own form, with the token
        tab.fill("input[name=to]", "eve")
        tab.fill("input[name=amount]", "30")
        with tab.expect_response(bank.origin + "/transfer") as answer:
            tab.evaluate("document.forms[0].submit()")
        assert answer.value.status == 200
    (sent,) = recorder.seen
    assert (sent["origin"], sent["sec-fetch-site"]) == (bank.origin, "same-origin")
    assert bank.balances == {"alice": 70, "eve": 30}
