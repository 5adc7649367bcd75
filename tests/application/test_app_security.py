"""The application security page's claims: each attack works on the vulnerable handler
and fails on the fixed one.

Oracles: sqlite3 runs the SQL; html.escape and html.parser (a real HTML tokenizer) judge
the escaping; json.loads reads what json_for_script writes; http.cookies parses the
session cookie; http.client and urllib talk to the handlers over loopback; trustme makes
the certificates for the HTTPS cases; Chromium (the browser-marked tests) shows whether an
injected script runs, whether a page can be framed, and which headers and cookies a
forged cross-site form really carries. Every network test stays on loopback: a guard
refuses any connect() to another address before the operating system sees it, and the
"internal admin" that the SSRF attacks aim at is a second loopback server that counts
its visitors. Private addresses other than loopback are only checked, never connected to.
"""

from __future__ import annotations

import contextlib
import html
import http.client
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
from tests.helpers import raw_exchange, run_demo

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


class Admin:
    """The internal admin service: records every request it receives."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    def page(self, request: sec.Request) -> sec.Response:
        self.hits.append(request.path)
        return sec.text(200, "internal admin: db password is hunter2\n")


@pytest.fixture
def admin():
    service = Admin()
    with sec.serving({("GET", "/admin"): service.page}) as server:
        server.hits = service.hits
        server.url = sec.origin_of(server) + "/admin"
        yield server


def redirect(request: sec.Request) -> sec.Response:
    """GET /go?to=URL: 302 to URL (an open redirect on a 'public' site)."""
    return sec.Response(302, headers={"Location": request.query.get("to", "")})


def hello(request: sec.Request) -> sec.Response:
    return sec.text(200, "hello from a public page\n")


@pytest.fixture
def public_site():
    """A site the tests treat as public: an open redirect and a page."""
    routes = {("GET", "/go"): redirect, ("GET", "/hello"): hello}
    with sec.serving(routes) as server:
        yield server


def loopback_is_public(*servers) -> sec.FetchPolicy:
    """A test policy: 127.0.0.1 counts as public, and only these servers' ports."""

    def refuse(ip: sec.IPAddress) -> str | None:
        return (
            None if ip == ipaddress.ip_address("127.0.0.1") else sec.refuse_reason(ip)
        )

    ports = frozenset({80} | {server.server_address[1] for server in servers})
    return sec.FetchPolicy(ports=ports, refuse=refuse)


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
        with sec.serving({("GET", "/profile"): sec.profile_handler(render)}) as server:
            status, headers, pages[render] = sec.call(server, "GET", path)
        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script" in [
        tag for tag, _ in Document(pages[sec.profile_page_vulnerable]).tags
    ]
    assert "script" not in [tag for tag, _ in Document(pages[sec.profile_page]).tags]


# ---------------------------------------------------------------------------------------
# CSRF

FORM = "application/x-www-form-urlencoded"
FORGED = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}


@contextlib.contextmanager
def bank_server(fixed: bool, tls: ssl.SSLContext | None = None):
    bank = sec.Bank()
    with sec.serving(sec.bank_routes(bank, fixed), tls) as server:
        bank.origin = sec.origin_of(server)
        yield bank, server


def log_in(server) -> str:
    status, headers, _ = sec.call(server, "POST", "/login", "user=alice")
    assert status == 204
    return headers["Set-Cookie"].split(";")[0]


def post_transfer(server, cookie: str, body: str, **headers: str):
    names = {name.replace("_", "-"): value for name, value in headers.items()}
    return sec.call(
        server,
        "POST",
        "/transfer",
        body,
        {"Cookie": cookie, "Content-Type": FORM, **names},
    )


def token_from_form(server, cookie: str) -> str:
    """Read the CSRF token as the bank's own page carries it, with a real tokenizer."""
    status, _, page = sec.call(server, "GET", "/transfer", headers={"Cookie": cookie})
    assert status == 200
    fields = {attrs.get("name"): attrs.get("value") for _, attrs in Document(page).tags}
    return fields["csrf_token"]


def test_forged_cross_site_post_moves_money_on_the_vulnerable_bank() -> None:
    with bank_server(fixed=False) as (bank, server):
        status, _, body = post_transfer(
            server, log_in(server), "to=eve&amount=100", **FORGED
        )
    assert (status, body) == (200, "sent 100 to eve\n")
    assert bank.balances == {"alice": 0, "eve": 100}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (FORGED, "Sec-Fetch-Site is cross-site"),
        ({"Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site is same-site"),
        ({"Origin": "http://evil.example"}, "Origin http://evil.example is not"),
        ({"Origin": "null"}, "Origin null is not"),
    ],
    ids=["cross-site", "sibling-subdomain", "origin-only", "null-origin"],
)
def test_fixed_bank_refuses_a_request_the_browser_marks_as_foreign(
    headers: dict[str, str], reason: str
) -> None:
    with bank_server(fixed=True) as (bank, server):
        cookie = log_in(server)
        token = token_from_form(server, cookie)  # even the right token does not help
        names = {name.replace("-", "_"): value for name, value in headers.items()}
        status, _, body = post_transfer(
            server, cookie, f"to=eve&amount=100&csrf_token={token}", **names
        )
    assert status == 403
    assert reason in body
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
        cookie = log_in(server)
        status, _, body = post_transfer(
            server,
            cookie,
            f"to=eve&amount=100&csrf_token={quote(sent)}",
            Origin=bank.origin,
            Sec_Fetch_Site="same-origin",
        )
    assert (status, body) == (403, "missing or wrong CSRF token\n")
    assert bank.balances["alice"] == 100


def test_a_token_from_another_session_is_refused() -> None:
    with bank_server(fixed=True) as (bank, server):
        first, second = log_in(server), log_in(server)
        stolen = token_from_form(server, first)
        status, _, _ = post_transfer(
            server, second, f"to=eve&amount=1&csrf_token={stolen}", Origin=bank.origin
        )
    assert status == 403
    assert bank.balances["alice"] == 100


def test_a_client_without_browser_headers_still_needs_the_token() -> None:
    """curl sends neither Origin nor Sec-Fetch-Site: the token is the defence."""
    with bank_server(fixed=True) as (bank, server):
        cookie = log_in(server)
        refused, _, _ = post_transfer(server, cookie, "to=eve&amount=5")
        token = token_from_form(server, cookie)
        accepted, _, _ = post_transfer(
            server, cookie, f"to=eve&amount=5&csrf_token={token}"
        )
    assert (refused, accepted) == (403, 200)
    assert bank.balances == {"alice": 95, "eve": 5}


def test_the_banks_own_form_with_its_token_still_works() -> None:
    with bank_server(fixed=True) as (bank, server):
        cookie = log_in(server)
        token = token_from_form(server, cookie)
        status, _, body = post_transfer(
            server,
            cookie,
            f"to=eve&amount=30&csrf_token={token}",
            Origin=bank.origin,
            Sec_Fetch_Site="same-origin",
        )
    assert (status, body) == (200, "sent 30 to eve\n")
    assert bank.balances == {"alice": 70, "eve": 30}


@pytest.mark.parametrize("fixed", [False, True])
def test_transfers_need_a_session_and_a_valid_amount(fixed: bool) -> None:
    with bank_server(fixed) as (bank, server):
        assert post_transfer(server, "session=forged", "to=eve&amount=1")[0] == 401
        assert sec.call(server, "GET", "/transfer")[0] == 401
        cookie = log_in(server)
        token = token_from_form(server, cookie)
        same_origin = {"Origin": bank.origin, "Sec_Fetch_Site": "same-origin"}
        for body in ("to=nobody&amount=1", "to=eve&amount=-5", "to=eve&amount=101"):
            status, _, _ = post_transfer(
                server, cookie, f"{body}&csrf_token={token}", **same_origin
            )
            assert status == 400, body
        assert sec.call(server, "POST", "/login", "user=mallory")[0] == 403
    assert bank.balances == {"alice": 100, "eve": 0}


def test_session_cookie_is_httponly_and_samesite_lax_but_not_secure_over_http() -> None:
    with bank_server(fixed=True) as (_, server):
        _, headers, _ = sec.call(server, "POST", "/login", "user=alice")
    morsel = SimpleCookie(headers["Set-Cookie"])["session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert not morsel["secure"]
    assert len(morsel.value) >= 43  # 32 random bytes, base64url


@pytest.fixture(scope="module")
def certificates():
    """A test CA and a certificate for 'localhost': the server and client contexts."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    return server_context, client_context


def https_call(server, client_context, method: str, path: str, body: str = ""):
    port = server.server_address[1]
    conn = http.client.HTTPSConnection(
        "localhost", port, timeout=5, context=client_context
    )
    try:
        conn.request(method, path, body=body.encode())
        response = conn.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        conn.close()


def test_session_cookie_is_secure_over_https(certificates) -> None:
    server_context, client_context = certificates
    with bank_server(fixed=True, tls=server_context) as (_, server):
        status, headers, _ = https_call(
            server, client_context, "POST", "/login", "user=alice"
        )
    assert status == 204
    assert SimpleCookie(headers["Set-Cookie"])["session"]["secure"] is True


# ---------------------------------------------------------------------------------------
# SSRF


def preview(server, url: str) -> tuple[int, str]:
    status, _, body = sec.call(server, "GET", "/preview?url=" + quote(url, safe=""))
    return status, body


@contextlib.contextmanager
def preview_app(fetch):
    with sec.serving({("GET", "/preview"): sec.preview_handler(fetch)}) as server:
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
        assert preview(app, admin.url) == (400, "refused: 127.0.0.1 is loopback\n")
        assert (
            preview(app, f"http://localhost:{admin.server_address[1]}/admin")[0] == 400
        )
    assert admin.hits == []


def test_fixed_preview_refuses_a_port_outside_the_allow_list(admin) -> None:
    with preview_app(sec.fetch) as app:
        port = admin.server_address[1]
        assert preview(app, admin.url) == (
            400,
            f"refused: port {port} is not allowed\n",
        )
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
            "refused: file: URLs are not allowed\n",
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
    page = sec.origin_of(public_site) + "/hello"
    bounce = sec.origin_of(public_site) + "/go?to=" + quote(page, safe="")
    assert (
        sec.fetch(bounce, loopback_is_public(public_site))
        == b"hello from a public page\n"
    )
    relative = sec.origin_of(public_site) + "/go?to=/hello"
    assert sec.fetch(relative, loopback_is_public(public_site)).startswith(b"hello")


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


def test_preview_answers_400_for_a_bad_port_and_502_for_a_dead_server(
    public_site,
) -> None:
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
            "could not fetch that URL\n",
        )


def test_fixed_fetch_over_https_pins_the_address_and_checks_the_name(
    certificates,
) -> None:
    server_context, client_context = certificates
    with sec.serving({("GET", "/hello"): hello}, tls=server_context) as server:
        port = server.server_address[1]
        policy = sec.FetchPolicy(
            ports=frozenset({port}),
            refuse=loopback_is_public().refuse,
            tls=client_context,
        )
        assert sec.fetch(f"https://localhost:{port}/hello", policy).startswith(b"hello")
        with pytest.raises(ssl.SSLCertVerificationError):
            sec.fetch(
                f"https://127.0.0.1:{port}/hello", policy
            )  # cert is for localhost


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

ESCALATION = '{"name": "Mallory", "is_admin": true}'


@pytest.mark.parametrize("fixed", [False, True])
def test_a_json_body_that_sets_is_admin(fixed: bool) -> None:
    account = sec.Account("bob", "bob@example.com")
    with sec.serving(sec.account_routes(account, fixed)) as server:
        status, _, body = sec.call(server, "PATCH", "/account", ESCALATION)
    if fixed:
        assert (status, body) == (400, "not writable: is_admin\n")
        assert account == sec.Account("bob", "bob@example.com")
    else:
        assert status == 200
        assert json.loads(body)["is_admin"] is True
        assert account.is_admin is True


def test_fixed_update_changes_the_allowed_fields() -> None:
    account = sec.Account("bob", "bob@example.com")
    request = sec.Request("PATCH", "/account", body=b'{"email": "new@example.com"}')
    response = sec.update_account(account, request)
    assert response.status == 200
    assert account == sec.Account("bob", "new@example.com")


@pytest.mark.parametrize(
    "body", [b'{"name": 7}', b"[1, 2]", b"not json", b'{"name": "x", "role": "admin"}']
)
def test_fixed_update_refuses_bad_bodies_with_a_400(body: bytes) -> None:
    account = sec.Account("bob", "bob@example.com")
    with sec.serving(sec.account_routes(account, fixed=True)) as server:
        status, _, _ = sec.call(server, "PATCH", "/account", body.decode())
    assert status == 400
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
    request = sec.Request("PATCH", "/account", body=json.dumps(changes).encode())
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
# Security headers and the server itself


def csp_directives(value: str) -> dict[str, list[str]]:
    """Parse a CSP as CSP Level 3 section 2.2.1 does: ';'-separated, name then values."""
    directives = {}
    for part in value.split(";"):
        name, *values = part.split()
        directives.setdefault(name.lower(), values)
    return directives


def test_vulnerable_app_sends_no_security_headers() -> None:
    with sec.serving(
        {("GET", "/profile"): sec.profile_handler(sec.profile_page)}
    ) as server:
        _, headers, _ = sec.call(server, "GET", "/profile")
    missing = [*sec.SECURITY_HEADERS, "Strict-Transport-Security"]
    assert [headers[name] for name in missing] == [None] * 5


def test_fixed_app_sends_the_headers_and_no_hsts_over_plain_http() -> None:
    handler = sec.with_security_headers(sec.profile_handler(sec.profile_page))
    with sec.serving({("GET", "/profile"): handler}) as server:
        _, headers, _ = sec.call(server, "GET", "/profile")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Strict-Transport-Security"] is None
    csp = csp_directives(headers["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]
    assert "script-src" not in csp  # falls back to default-src: no inline script runs
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]


def test_fixed_app_sends_hsts_over_https(certificates) -> None:
    server_context, client_context = certificates
    handler = sec.with_security_headers(sec.profile_handler(sec.profile_page))
    with sec.serving({("GET", "/profile"): handler}, tls=server_context) as server:
        status, headers, _ = https_call(server, client_context, "GET", "/profile")
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_a_header_the_handler_set_itself_is_kept() -> None:
    def embeddable(request: sec.Request) -> sec.Response:
        return sec.Response(200, b"", {"Content-Security-Policy": "frame-ancestors *"})

    response = sec.with_security_headers(embeddable)(sec.Request("GET", "/"))
    assert response.headers["Content-Security-Policy"] == "frame-ancestors *"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def raw_request(server, data: bytes) -> bytes:
    return raw_exchange(server.server_address[:2], data)


def test_server_answers_bad_input_with_4xx_and_bugs_with_a_bare_500() -> None:
    def broken(request: sec.Request) -> sec.Response:
        raise RuntimeError("secret stack detail")

    routes = {("GET", "/broken"): broken, ("POST", "/login"): hello}
    with sec.serving(routes) as server:
        assert sec.call(server, "GET", "/nowhere")[::2] == (404, "not found\n")
        assert sec.call(server, "GET", "/broken")[::2] == (500, "internal error\n")
        too_big = b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n"
        assert raw_request(server, too_big + b"Connection: close\r\n\r\n").startswith(
            b"HTTP/1.1 413"
        )
        negative = b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n"
        assert b" 413 " in raw_request(server, negative + b"Connection: close\r\n\r\n")
        garbage = b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n"
        assert b" 400 " in raw_request(server, garbage + b"Connection: close\r\n\r\n")


def test_the_demo_prints_what_the_page_shows() -> None:
    result = run_demo("snippets.application.app_security", check=True)
    lines = result.stdout.splitlines()
    assert lines[:2] == ["[('admin', 'sk-live-7f3a9c')]", "[]"]
    assert "200 sent 100 to eve | eve has 100" in lines
    assert (
        "403 cross-site request refused: Sec-Fetch-Site is cross-site | eve has 0"
        in lines
    )
    assert "(400, 'refused: 127.0.0.1 is loopback\\n')" in lines
    assert "400 False not writable: is_admin" in lines
    assert result.stderr == ""


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


def page_with(html_text: str) -> sec.Handler:
    return lambda request: sec.text(200, html_text, "text/html")


BROWSER_XSS = quote('"><img src=x onerror=window.pwned=1>')


@pytest.mark.browser
def test_chromium_runs_the_injected_handler_only_without_escaping_or_csp(tab) -> None:
    apps = {
        "vulnerable": sec.profile_handler(sec.profile_page_vulnerable),
        "fixed": sec.with_security_headers(sec.profile_handler(sec.profile_page)),
        "vulnerable-but-csp": sec.with_security_headers(
            sec.profile_handler(sec.profile_page_vulnerable)
        ),
    }
    ran = {}
    for name, handler in apps.items():
        with sec.serving({("GET", "/profile"): handler}) as server:
            tab.goto(sec.origin_of(server) + f"/profile?name={BROWSER_XSS}")
            ran[name] = tab.evaluate("window.pwned === 1")
    assert ran == {"vulnerable": True, "fixed": False, "vulnerable-but-csp": False}


@pytest.mark.browser
def test_chromium_frames_the_page_only_without_the_framing_headers(tab) -> None:
    plain = sec.profile_handler(sec.profile_page)
    framed = {}
    for name, handler in {
        "vulnerable": plain,
        "fixed": sec.with_security_headers(plain),
    }.items():
        with sec.serving({("GET", "/profile"): handler}) as target:
            frame = f'<iframe src="{sec.origin_of(target)}/profile?name=bob"></iframe>'
            with sec.serving({("GET", "/"): page_with(frame)}) as attacker:
                tab.goto(
                    sec.origin_of(attacker).replace("127.0.0.1", "localhost") + "/"
                )
                child = tab.frames[1]
                framed[name] = child.url.startswith(sec.origin_of(target))
                if framed[name]:
                    assert child.locator("h1").text_content() == "bob"
    assert framed == {"vulnerable": True, "fixed": False}


class Recorder:
    """Wraps a handler and keeps the headers of each request it sees."""

    def __init__(self, handler: sec.Handler) -> None:
        self.handler = handler
        self.seen: list[dict[str, str]] = []

    def __call__(self, request: sec.Request) -> sec.Response:
        self.seen.append(dict(request.headers))
        return self.handler(request)


LOG_IN = """fetch("/login", {method: "POST", body: "user=alice",
  headers: {"Content-Type": "application/x-www-form-urlencoded"}}).then(r => r.status)"""


@pytest.mark.browser
def test_chromium_marks_a_forged_form_cross_site_and_withholds_the_lax_cookie(
    tab,
) -> None:
    bank = sec.Bank()
    routes = sec.bank_routes(bank, fixed=False)
    recorder = routes[("POST", "/transfer")] = Recorder(routes[("POST", "/transfer")])
    with sec.serving(routes) as server:
        bank.origin = sec.origin_of(server)
        tab.goto(bank.origin + "/transfer")
        assert tab.evaluate(LOG_IN) == 204
        form = (
            f'<form method="post" action="{bank.origin}/transfer">'
            '<input name="to" value="eve"><input name="amount" value="100"></form>'
            "<script>document.forms[0].submit()</script>"
        )
        with sec.serving({("GET", "/"): page_with(form)}) as attacker:
            evil = sec.origin_of(attacker).replace("127.0.0.1", "localhost")
            with tab.expect_response(bank.origin + "/transfer") as answer:
                tab.goto(evil + "/")
            assert answer.value.status == 401  # the vulnerable bank saw no cookie
    (sent,) = recorder.seen
    assert "cookie" not in sent
    assert (sent["origin"], sent["sec-fetch-site"]) == (evil, "cross-site")
    assert bank.balances == {"alice": 100, "eve": 0}
    # An older browser would have attached the cookie: the fixed bank still refuses.
    session = next(iter(bank.sessions))
    forged = sec.Request(
        "POST",
        "/transfer",
        headers={**sent, "cookie": f"session={session}"},
        body=b"to=eve&amount=100",
    )
    assert sec.transfer(bank, forged).status == 403


@pytest.mark.browser
def test_chromium_same_origin_form_with_the_token_passes_the_fixed_bank(tab) -> None:
    bank = sec.Bank()
    routes = sec.bank_routes(bank, fixed=True)
    recorder = routes[("POST", "/transfer")] = Recorder(routes[("POST", "/transfer")])
    with sec.serving(routes) as server:
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
