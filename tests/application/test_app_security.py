"""The application security page's claims: each attack works on the vulnerable handler
and fails on the fixed one.

Oracles: sqlite3 runs the SQL; html.escape and html.parser (a real HTML tokenizer) judge
the escaping; json.loads reads what json_for_script writes; http.cookies parses the
session cookie; http.client (the shared test client) and urllib talk to the handlers,
served by the application core, over loopback; trustme makes the certificate of the
TLS page's server that the HTTPS fetch connects to; Chromium (the browser-marked tests)
shows whether an injected script runs, whether a page can be framed, and which headers
and cookies a forged cross-site form really carries. Every network test stays on
loopback: a guard refuses any connect() to another address before the operating system
sees it, and the "internal admin" that the SSRF attacks aim at is a second loopback
server that counts its visitors. Private addresses other than loopback are only checked,
never connected to.
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import json
import re
import socket
import sqlite3
import ssl
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import quote, urlsplit

import pytest
import trustme
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from snippets.application import app_security as sec
from snippets.application.app_core import Request, Response, serving, stack, text
from tests.helpers import Reply, http_request, raw_exchange

# ---------------------------------------------------------------------------------------
# Loopback only: the guard and the servers the attacks aim at


class BeyondLoopbackError(ConnectionRefusedError):
    """Raised by the guard instead of connecting to an address that is not loopback."""


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse (and record) every connect() to an address outside loopback."""
    attempts: list[str] = []
    real_connect = socket.socket.connect

    def guarded_connect(sock: socket.socket, address) -> None:
        host = address[0] if sock.family in (socket.AF_INET, socket.AF_INET6) else ""
        if host and not ipaddress.ip_address(host.partition("%")[0]).is_loopback:
            attempts.append(host)
            raise BeyondLoopbackError(f"test guard: no connection to {host}")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return attempts


@pytest.fixture
def admin():
    """The internal admin service: records every request it receives."""
    hits: list[str] = []

    def page(request: Request) -> Response:
        hits.append(request.path)
        return text("internal admin: db password is hunter2\n")

    with serving(page) as server:
        server.hits, server.url = hits, sec.origin_of(server) + "/admin"
        yield server


def public_page(request: Request) -> Response:
    """A site the tests treat as public: /go?to=URL is an open redirect, else a page."""
    if request.path == "/go":
        return Response(302, headers=[("Location", request.query.get("to", [""])[-1])])
    return text("hello from a public page\n")


@pytest.fixture
def public_site():
    with serving(public_page) as server:
        yield server


def loopback_is_public(*servers) -> sec.FetchPolicy:
    """A test policy: 127.0.0.1 counts as public, and only these servers' ports."""

    def refuse(ip: sec.IPAddress) -> str | None:
        return (
            None if ip == ipaddress.ip_address("127.0.0.1") else sec.refuse_reason(ip)
        )

    ports = frozenset({80} | {server.server_address[1] for server in servers})
    return sec.FetchPolicy(ports=ports, refuse=refuse)


def said(reply: Reply) -> str:
    """What an answer says: a problem document's detail, or the text of the body."""
    if reply.header("Content-Type") == "application/problem+json":
        return reply.json()["detail"]
    return reply.text


def test_the_guard_refuses_to_leave_loopback(loopback_only: list[str]) -> None:
    """Guards the guard: a connect() to a private address fails before any packet."""
    with pytest.raises(BeyondLoopbackError):
        socket.create_connection(("10.255.255.1", 80), timeout=1).close()
    assert loopback_only == ["10.255.255.1"]


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


class Document(HTMLParser):
    """Everything a tokenizer reports: tags with attributes, and the text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text = ""
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data


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
        with serving(sec.profile_handler(render)) as server:
            reply = http_request(server, "GET", path)
        assert reply.status == 200
        assert reply.header("Content-Type") == "text/html; charset=utf-8"
        pages[render] = reply.text
    assert "script" in [
        tag for tag, _ in Document(pages[sec.profile_page_vulnerable]).tags
    ]
    assert "script" not in [tag for tag, _ in Document(pages[sec.profile_page]).tags]


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
# SSRF


def preview(server, url: str) -> tuple[int, str]:
    reply = http_request(server, "GET", "/preview?url=" + quote(url, safe=""))
    return reply.status, said(reply)


@contextlib.contextmanager
def preview_app(fetch):
    with serving(sec.preview_handler(fetch)) as server:
        yield server


def test_vulnerable_preview_fetches_the_internal_admin_page(admin) -> None:
    with preview_app(sec.preview_vulnerable) as app:
        assert preview(app, admin.url) == (
            200,
            "internal admin: db password is hunter2\n",
        )
    assert admin.hits == ["/admin"]


def test_fixed_preview_refuses_loopback_and_never_reaches_the_admin(admin) -> None:
    any_port = sec.FetchPolicy(ports=frozenset({admin.server_address[1]}))
    with preview_app(lambda url: sec.fetch(url, any_port)) as app:
        assert preview(app, admin.url) == (400, "refused: 127.0.0.1 is loopback")
        by_name = f"http://localhost:{admin.server_address[1]}/admin"
        assert preview(app, by_name)[0] == 400
    assert admin.hits == []


def test_fixed_preview_refuses_a_port_outside_the_allow_list(admin) -> None:
    with preview_app(sec.fetch) as app:
        port = admin.server_address[1]
        assert preview(app, admin.url) == (400, f"refused: port {port} is not allowed")
    assert admin.hits == []


def test_vulnerable_preview_reads_local_files_fixed_refuses_the_scheme(
    tmp_path,
) -> None:
    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key=abc123\n")
    with preview_app(sec.preview_vulnerable) as app:
        assert preview(app, secret.as_uri()) == (200, "aws_secret_access_key=abc123\n")
    with preview_app(sec.fetch) as app:
        assert preview(app, secret.as_uri()) == (
            400,
            "refused: file: URLs are not allowed",
        )


def test_vulnerable_preview_follows_a_redirect_to_the_admin(admin, public_site) -> None:
    bounce = sec.origin_of(public_site) + "/go?to=" + quote(admin.url, safe="")
    with preview_app(sec.preview_vulnerable) as app:
        assert preview(app, bounce)[0] == 200
    assert admin.hits == ["/admin"]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("http://10.0.0.7/", "10.0.0.7 is private"),
        ("http://[fd00::7]/", "fd00::7 is private"),
        ("http://0.0.0.0/", "0.0.0.0 is unspecified"),
        ("file:///etc/passwd", "file: URLs are not allowed"),
        ("gopher://127.0.0.1:6379/_INFO", "gopher: URLs are not allowed"),
    ],
)
def test_fixed_fetch_checks_the_target_of_every_redirect(
    public_site, loopback_only: list[str], target: str, reason: str
) -> None:
    bounce = sec.origin_of(public_site) + "/go?to=" + quote(target, safe="")
    with pytest.raises(sec.ForbiddenDestination, match=re.escape(reason)):
        sec.fetch(bounce, loopback_is_public(public_site))
    assert loopback_only == []  # refused by the check, not by the test's guard


def test_fixed_fetch_refuses_a_redirect_to_the_admins_port(admin, public_site) -> None:
    bounce = sec.origin_of(public_site) + "/go?to=" + quote(admin.url, safe="")
    with pytest.raises(sec.ForbiddenDestination, match="is not allowed"):
        sec.fetch(bounce, loopback_is_public(public_site))
    assert admin.hits == []


def test_fixed_fetch_follows_a_redirect_to_an_allowed_page(public_site) -> None:
    policy = loopback_is_public(public_site)
    page = sec.origin_of(public_site) + "/hello"
    bounce = sec.origin_of(public_site) + "/go?to=" + quote(page, safe="")
    assert sec.fetch(bounce, policy) == b"hello from a public page\n"
    relative = sec.origin_of(public_site) + "/go?to=/hello"
    assert sec.fetch(relative, policy).startswith(b"hello")


def test_fixed_fetch_stops_after_a_few_redirects(public_site) -> None:
    loop = sec.origin_of(public_site) + "/go?to=/go"
    with pytest.raises(sec.ForbiddenDestination, match="more than 3 redirects"):
        sec.fetch(loop, loopback_is_public(public_site))


class Rebinding:
    """A DNS answer that changes: public for the check, the admin's for the fetch."""

    def __init__(self, real_getaddrinfo) -> None:
        self.real = real_getaddrinfo
        self.answers = ["93.184.216.34", "127.0.0.1"]
        self.lookups = 0

    def getaddrinfo(self, host, port, *args, **kwargs):
        if host != "rebind.test":
            return self.real(host, port, *args, **kwargs)
        address = self.answers[min(self.lookups, 1)]
        self.lookups += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


def test_checking_by_name_then_fetching_falls_to_dns_rebinding(
    admin, monkeypatch: pytest.MonkeyPatch, loopback_only: list[str]
) -> None:
    dns = Rebinding(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    port = admin.server_address[1]
    policy = sec.FetchPolicy(ports=frozenset({port}))
    page = sec.preview_checked_by_name(f"http://rebind.test:{port}/admin", policy)
    assert page.startswith(b"internal admin")
    assert (dns.lookups, admin.hits, loopback_only) == (2, ["/admin"], [])


def test_fixed_fetch_connects_to_the_address_it_checked(
    admin, monkeypatch: pytest.MonkeyPatch, loopback_only: list[str]
) -> None:
    """One lookup, and the connection goes to that answer (the guard stops it there)."""
    dns = Rebinding(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    port = admin.server_address[1]
    policy = sec.FetchPolicy(ports=frozenset({port}))
    with pytest.raises(BeyondLoopbackError):
        sec.fetch(f"http://rebind.test:{port}/admin", policy)
    assert (dns.lookups, admin.hits, loopback_only) == (1, [], ["93.184.216.34"])


@pytest.mark.parametrize(
    "host",
    ["2130706433", "0x7f.1", "127.1", "017700000001", "localhost", "[::1]", "[::]"],
)
def test_every_spelling_of_a_local_address_is_refused_after_resolving(
    host: str,
) -> None:
    with pytest.raises(sec.ForbiddenDestination, match=r"loopback|unspecified"):
        sec.check_url(f"http://{host}/", sec.DEFAULT_POLICY)


def test_a_name_with_any_private_address_is_refused() -> None:
    def resolver(host: str, port: int) -> list[sec.IPAddress]:
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.1.2.3")]

    policy = sec.FetchPolicy(resolver=resolver)
    with pytest.raises(sec.ForbiddenDestination, match=r"10\.1\.2\.3 is private"):
        sec.check_url("http://mixed.test/", policy)


def test_a_name_without_addresses_is_refused() -> None:
    policy = sec.FetchPolicy(resolver=lambda host, port: [])
    with pytest.raises(sec.ForbiddenDestination, match="has no address"):
        sec.check_url("http://empty.test/", policy)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "ftp: URLs"),
        ("http:///path-only", "http: URLs"),
        ("https://example.com:22/", "port 22"),
        ("http://example.com:6379/", "port 6379"),
    ],
)
def test_scheme_host_and_port_are_checked_before_any_lookup(
    url: str, reason: str
) -> None:
    def no_lookup(host: str, port: int) -> list[sec.IPAddress]:
        raise AssertionError("resolved a name it should have refused first")

    with pytest.raises(sec.ForbiddenDestination, match=reason):
        sec.check_url(url, sec.FetchPolicy(resolver=no_lookup))


def test_preview_answers_400_for_a_bad_port_and_502_for_a_dead_server() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    policy = sec.FetchPolicy(
        ports=frozenset({dead_port}), refuse=loopback_is_public().refuse
    )
    with preview_app(lambda url: sec.fetch(url, policy)) as app:
        assert preview(app, "http://127.0.0.1:99999/")[0] == 400
        assert preview(app, f"http://127.0.0.1:{dead_port}/") == (
            502,
            "could not fetch that URL",
        )


@pytest.fixture(scope="module")
def certificates():
    """A test CA and a certificate for 'localhost': the server and client contexts."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    return server_context, client_context


def test_fixed_fetch_over_https_pins_the_address_and_checks_the_name(
    certificates,
) -> None:
    """The TLS page's HTTPS server: the core has no TLS of its own."""
    from snippets.communication.tls_basics import TLSServer

    server_context, client_context = certificates
    with TLSServer(server_context) as server:
        port = server.server_address[1]
        policy = sec.FetchPolicy(
            ports=frozenset({port}),
            refuse=loopback_is_public().refuse,
            tls=client_context,
        )
        page = sec.fetch(f"https://localhost:{port}/", policy)
        assert page.startswith(b"hello over TLS")
        with pytest.raises(ssl.SSLCertVerificationError):  # the cert names localhost
            sec.fetch(f"https://127.0.0.1:{port}/", policy)


# The address checker against the IANA special-purpose registries (RFC 6890 and updates),
# written out here independently of the ipaddress module that the snippet relies on.
REFUSED_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/29",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
REFUSED_V6 = ["::1/128", "::/128", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32"]
# Not asserted either way: ranges where the registry and Python 3.11's ipaddress differ.
UNSETTLED_V4 = ["192.0.0.0/24", "192.88.99.0/24"]
SPECIAL_V4 = [ipaddress.ip_network(n) for n in REFUSED_V4 + UNSETTLED_V4]


@st.composite
def address_in(draw, networks: list[str]) -> sec.IPAddress:
    network = ipaddress.ip_network(draw(st.sampled_from(networks)))
    return network[draw(st.integers(0, network.num_addresses - 1))]


def six_to_four(v4: ipaddress.IPv4Address, low_bits: int) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80) | low_bits)


@hypothesis_settings(max_examples=200)
@given(ip=address_in(REFUSED_V4 + REFUSED_V6))
def test_every_address_in_the_special_ranges_is_refused(ip: sec.IPAddress) -> None:
    assert sec.refuse_reason(ip) is not None


@hypothesis_settings(max_examples=100)
@given(v4=address_in(REFUSED_V4), low_bits=st.integers(0, 2**80 - 1))
def test_a_special_ipv4_address_wrapped_in_ipv6_is_refused(v4, low_bits: int) -> None:
    assert sec.refuse_reason(ipaddress.IPv6Address(f"::ffff:{v4}")) is not None
    assert sec.refuse_reason(six_to_four(v4, low_bits)) is not None


@hypothesis_settings(max_examples=200)
@given(number=st.integers(0, 2**32 - 1))
def test_every_ipv4_address_outside_the_registry_is_accepted(number: int) -> None:
    ip = ipaddress.IPv4Address(number)
    if any(ip in network for network in SPECIAL_V4):
        assert ip in ipaddress.ip_network("192.0.0.0/24") or sec.refuse_reason(ip)
    else:
        assert sec.refuse_reason(ip) is None
        assert sec.refuse_reason(ipaddress.IPv6Address(f"::ffff:{ip}")) is None


GLOBAL_V6 = ["2400::/12", "2600::/12", "2800::/12", "2a00::/12", "2c00::/12"]


@hypothesis_settings(max_examples=100)
@given(ip=address_in(GLOBAL_V6))
def test_global_ipv6_unicast_addresses_are_accepted(ip: sec.IPAddress) -> None:
    assert sec.refuse_reason(ip) is None


def test_refusal_names_the_kind_of_address() -> None:
    reasons = {
        "127.0.0.1": "127.0.0.1 is loopback",
        "169.254.169.254": "169.254.169.254 is link-local",
        "224.0.0.251": "224.0.0.251 is multicast",
        "100.64.0.1": "100.64.0.1 is not global",
        "2002:a00:1::": "10.0.0.1 is private",
        "8.8.8.8": None,
    }
    for address, reason in reasons.items():
        assert sec.refuse_reason(ipaddress.ip_address(address)) == reason


# ---------------------------------------------------------------------------------------
# Mass assignment

ESCALATION = b'{"name": "Mallory", "is_admin": true}'


@pytest.mark.parametrize("fixed", [False, True])
def test_a_json_body_that_sets_is_admin(fixed: bool) -> None:
    account = sec.Account("bob", "bob@example.com")
    with serving(sec.account_app(account, fixed)) as server:
        reply = http_request(server, "PATCH", "/account", body=ESCALATION)
    if fixed:
        assert (reply.status, said(reply)) == (400, "not writable: is_admin")
        assert account == sec.Account("bob", "bob@example.com")
    else:
        assert reply.status == 200
        assert reply.json()["is_admin"] is True
        assert account.is_admin is True


def test_fixed_update_changes_the_allowed_fields() -> None:
    account = sec.Account("bob", "bob@example.com")
    request = Request("PATCH", "/account", body=b'{"email": "new@example.com"}')
    response = sec.update_account(account, request)
    assert response.status == 200
    assert response.json() == {
        "name": "bob",
        "email": "new@example.com",
        "is_admin": False,
    }
    assert account == sec.Account("bob", "new@example.com")


@pytest.mark.parametrize(
    "body",
    [b'{"name": 7}', b"[1, 2]", b"not json", b"\xff", b'{"name": "x", "role": "a"}'],
)
def test_fixed_update_refuses_bad_bodies_with_a_400(body: bytes) -> None:
    account = sec.Account("bob", "bob@example.com")
    with serving(sec.account_app(account, fixed=True)) as server:
        reply = http_request(server, "PATCH", "/account", body=body)
    assert reply.status == 400
    assert reply.header("Content-Type") == "application/problem+json"
    assert account == sec.Account("bob", "bob@example.com")


@hypothesis_settings(max_examples=100)
@given(
    changes=st.dictionaries(
        st.sampled_from(["name", "email", "is_admin", "id", "__class__", "role"]),
        st.none() | st.booleans() | st.text(max_size=5),
        max_size=4,
    )
)
def test_fixed_update_never_touches_a_field_outside_the_allow_list(changes) -> None:
    account = sec.Account("bob", "bob@example.com")
    request = Request("PATCH", "/account", body=json.dumps(changes).encode())
    response = sec.update_account(account, request)
    writable = set(changes) <= {"name", "email"}
    allowed = writable and all(isinstance(value, str) for value in changes.values())
    assert response.status == (200 if allowed else 400)
    expected = {
        "name": "bob",
        "email": "bob@example.com",
        **(changes if allowed else {}),
    }
    assert account == sec.Account(**expected)


# ---------------------------------------------------------------------------------------
# Security headers


def csp_directives(value: str) -> dict[str, list[str]]:
    """Parse a CSP as CSP Level 3 section 2.2.1 does: ';'-separated, name then values."""
    directives = {}
    for part in value.split(";"):
        name, *values = part.split()
        directives.setdefault(name.lower(), values)
    return directives


PROFILE = sec.profile_handler(sec.profile_page)


def test_vulnerable_app_sends_no_security_headers() -> None:
    with serving(PROFILE) as server:
        reply = http_request(server, "GET", "/profile")
    missing = [*sec.SECURITY_HEADERS, *sec.HSTS]
    assert [reply.header(name) for name in missing] == [None] * 5


def test_fixed_app_sends_the_headers_and_no_hsts_over_plain_http() -> None:
    with serving(stack(PROFILE, sec.with_security_headers)) as server:
        reply = http_request(server, "GET", "/profile")
    assert reply.header("X-Content-Type-Options") == "nosniff"
    assert reply.header("Referrer-Policy") == "strict-origin-when-cross-origin"
    assert reply.header("X-Frame-Options") == "DENY"
    assert reply.header("Strict-Transport-Security") is None
    csp = csp_directives(reply.header("Content-Security-Policy"))
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]
    assert "script-src" not in csp  # falls back to default-src: no inline script runs
    assert "'unsafe-inline'" not in reply.header("Content-Security-Policy")


def test_an_https_deployment_stacks_hsts_on_top() -> None:
    """Told that TLS ends in front of it, the app adds HSTS: no TLS socket needed."""
    app = stack(PROFILE, sec.with_hsts, sec.with_security_headers)
    response = app(Request("GET", "/profile"))
    assert response.header("Strict-Transport-Security") == (
        "max-age=31536000; includeSubDomains"
    )
    assert response.header("X-Frame-Options") == "DENY"


def test_a_header_the_handler_set_itself_is_kept_and_not_repeated() -> None:
    def embeddable(request: Request) -> Response:
        return Response(200, b"", [("Content-Security-Policy", "frame-ancestors *")])

    app = stack(embeddable, sec.with_hsts, sec.with_security_headers)
    response = app(Request("GET", "/"))
    csp = [v for k, v in response.headers if k == "Content-Security-Policy"]
    assert csp == ["frame-ancestors *"]
    assert response.header("X-Content-Type-Options") == "nosniff"


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
# A real browser as the oracle: does the script run, does the frame load, which headers
# and cookies does Chromium send with a forged form? (Chromium from tests/site/browser.py;
# every request it makes outside loopback is aborted.)


@pytest.fixture
def chromium(browser):
    """The session's Chromium (tests/conftest.py)."""
    return browser


@pytest.fixture
def tab(chromium):
    """A fresh browser context (no cookies) whose requests stay on loopback."""
    context = chromium.new_context()

    def loopback_only_route(route) -> None:
        host = urlsplit(route.request.url).hostname
        route.continue_() if host in {"127.0.0.1", "localhost"} else route.abort()

    context.route("**/*", loopback_only_route)
    yield context.new_page()
    context.close()


def page_with(html_text: str):
    return lambda request: Response(200, html_text.encode(), [sec.HTML])


def elsewhere(server) -> str:
    """The same server under another site's name: localhost is not 127.0.0.1."""
    return sec.origin_of(server).replace("127.0.0.1", "localhost")


BROWSER_XSS = quote('"><img src=x onerror=window.pwned=1>')


@pytest.mark.browser
def test_chromium_runs_the_injected_handler_only_without_escaping_or_csp(tab) -> None:
    vulnerable = sec.profile_handler(sec.profile_page_vulnerable)
    apps = {
        "vulnerable": vulnerable,
        "fixed": stack(PROFILE, sec.with_security_headers),
        "vulnerable-but-csp": stack(vulnerable, sec.with_security_headers),
    }
    ran = {}
    for name, app in apps.items():
        with serving(app) as server:
            tab.goto(sec.origin_of(server) + f"/profile?name={BROWSER_XSS}")
            ran[name] = tab.evaluate("window.pwned === 1")
    assert ran == {"vulnerable": True, "fixed": False, "vulnerable-but-csp": False}


@pytest.mark.browser
def test_chromium_frames_the_page_only_without_the_framing_headers(tab) -> None:
    framed = {}
    for name, app in {
        "vulnerable": PROFILE,
        "fixed": stack(PROFILE, sec.with_security_headers),
    }.items():
        with serving(app) as target:
            frame = f'<iframe src="{sec.origin_of(target)}/profile?name=bob"></iframe>'
            with serving(page_with(frame)) as attacker:
                tab.goto(elsewhere(attacker) + "/")
                child = tab.frames[1]
                framed[name] = child.url.startswith(sec.origin_of(target))
                if framed[name]:
                    assert child.locator("h1").text_content() == "bob"
    assert framed == {"vulnerable": True, "fixed": False}


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
    with serving(recorder) as server:
        bank.origin = sec.origin_of(server)
        tab.goto(bank.origin + "/transfer")
        assert tab.evaluate(LOG_IN) == 204
        form = (
            f'<form method="post" action="{bank.origin}/transfer">'
            '<input name="to" value="eve"><input name="amount" value="100"></form>'
            "<script>document.forms[0].submit()</script>"
        )
        with serving(page_with(form)) as attacker:
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
    with serving(recorder) as server:
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
