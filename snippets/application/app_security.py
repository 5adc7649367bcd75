"""Application security: six attacks, each run against a vulnerable and a fixed handler.

What it teaches: most web vulnerabilities are one of two mistakes. Either data crosses
into a place where it is read as code (SQL injection, cross-site scripting, a JSON body
that names fields the client must not set), or the server trusts something about a
request that an attacker controls (a cookie that the browser attaches to a forged
request, a URL that makes the server fetch its own admin page). For each attack the
module has a vulnerable handler and a fixed one: parameterized SQL and allow-listed
identifiers; HTML escaping that depends on the context (text, attribute, URL, script);
CSRF defences (SameSite cookies, Sec-Fetch-Site and Origin checks, a synchronizer token
compared in constant time); an SSRF-resistant fetcher (scheme and port allow-lists,
every resolved address checked with `ipaddress`, the connection pinned to the checked
address, every redirect checked again); an allow-list of writable fields against mass
assignment; and security headers (CSP, nosniff, Referrer-Policy, frame-ancestors, and
HSTS for a deployment that serves HTTPS).

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): every handler here is a core handler run with its `serving`, and the security
headers are one of its middleware, so this module builds on
`snippets.application.app_core`. The middleware page shows more of that shape.

What it leaves out: it is not a complete HTML sanitizer, a web application firewall, an
authentication system or a network egress firewall; DNS rebinding is only mitigated for
the connections this module makes itself. The core speaks plain HTTP, so HTTPS (the
Secure cookie, HSTS) is a property of the deployment that the handlers are told. Use
your framework's escaping, CSRF and session machinery, and a network-level egress
policy, in production.

Run it: `python -m snippets.application.app_security`.
"""

# --8<-- [start:sqli]
import sqlite3

SCHEMA = """
CREATE TABLE users (name TEXT, email TEXT);
CREATE TABLE api_keys (owner TEXT, secret TEXT);
INSERT INTO users VALUES ('alice', 'alice@example.com'), ('bob', 'bob@example.com');
INSERT INTO api_keys VALUES ('admin', 'sk-live-7f3a9c');
"""


def open_db() -> sqlite3.Connection:
    """An in-memory database with two users and a secret in another table."""
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    return db


def find_users_vulnerable(db: sqlite3.Connection, name: str) -> list[tuple]:
    """VULNERABLE: the name is pasted into the SQL text, so it can change the query."""
    query = f"SELECT name, email FROM users WHERE name = '{name}'"
    return db.execute(query).fetchall()


# --8<-- [end:sqli]


# --8<-- [start:sqli_fix]
SORTABLE = {"name": "name", "newest": "rowid DESC"}  # identifiers: allow-listed


def find_users(db: sqlite3.Connection, name: str, sort: str = "name") -> list[tuple]:
    """FIXED: the name travels as a parameter; the sort key picks from an allow-list."""
    order = SORTABLE.get(sort)
    if order is None:
        raise ValueError(f"cannot sort by {sort!r}")
    query = f"SELECT name, email FROM users WHERE name = ? ORDER BY {order}"
    return db.execute(query, (name,)).fetchall()


# --8<-- [end:sqli_fix]


# --8<-- [start:escape]
HTML_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
)


def escape_html(value: str) -> str:
    """Make `value` inert in HTML text or a quoted attribute (same as html.escape)."""
    return value.translate(HTML_ESCAPES)


# --8<-- [end:escape]


# --8<-- [start:xss]
from urllib.parse import urlsplit


def profile_page_vulnerable(name: str, website: str) -> str:
    """VULNERABLE: user data pasted into HTML as if it were markup."""
    return f'<h1>{name}</h1><a href="{website}" title="{name}">site</a>'


SAFE_SCHEMES = {"http", "https"}


def safe_url(url: str) -> str:
    """`url` if its scheme is http or https, else a harmless "#"."""
    try:
        scheme = urlsplit(url).scheme  # lower-cased, control characters stripped
    except ValueError:
        return "#"
    return url if scheme in SAFE_SCHEMES else "#"


def profile_page(name: str, website: str) -> str:
    """FIXED: every value escaped for where it lands; the URL's scheme allow-listed."""
    name, href = escape_html(name), escape_html(safe_url(website))
    return f'<h1>{name}</h1><a href="{href}" title="{name}">site</a>'


# --8<-- [end:xss]


# --8<-- [start:tokenize]
from html.parser import HTMLParser


class TagCollector(HTMLParser):
    """Records each start tag with its decoded attributes, as a tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def start_tags(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    """The start tags an HTML tokenizer finds in `markup`, with their attributes."""
    collector = TagCollector()
    collector.feed(markup)
    collector.close()
    return collector.tags


# --8<-- [end:tokenize]


# --8<-- [start:js_context]
import json


def json_for_script(value: object) -> str:
    """JSON that cannot end a `<script>` element: no '<', '>' or '&' is left in it."""
    encoded = json.dumps(value)  # ensure_ascii: U+2028 and U+2029 come out escaped
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        encoded = encoded.replace(char, escape)
    return encoded


def settings_script(settings: dict[str, str]) -> str:
    """The page's data as a JSON data block that the page's own script file reads."""
    data = json_for_script(settings)
    return f'<script type="application/json" id="settings">{data}</script>'


# --8<-- [end:js_context]


# --8<-- [start:bank]
import secrets
import threading
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from snippets.application.app_core import Handler, Request, Response, problem, text

HTML = ("Content-Type", "text/html; charset=utf-8")


def form(request: Request) -> dict[str, str]:
    """The fields of an application/x-www-form-urlencoded body."""
    return dict(parse_qsl(request.body.decode(errors="replace")))


@dataclass
class Bank:
    """Balances and cookie sessions; `origin` is where clients reach the bank."""

    origin: str = "http://127.0.0.1"  # "https://..." when TLS ends at a proxy in front
    balances: dict[str, int] = field(default_factory=lambda: {"alice": 100, "eve": 0})
    sessions: dict[str, str] = field(default_factory=dict)  # session id -> user
    tokens: dict[str, str] = field(default_factory=dict)  # session id -> CSRF token
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards balances


def log_in(bank: Bank, request: Request) -> Response:
    """Start a session (no password: authentication is another page's subject)."""
    user = form(request).get("user", "")
    if user not in bank.balances:
        return problem(403, "unknown user")
    session = secrets.token_urlsafe(32)
    bank.sessions[session], bank.tokens[session] = user, secrets.token_urlsafe(32)
    secure = "; Secure" if bank.origin.startswith("https://") else ""
    cookie = f"session={session}; Path=/; HttpOnly; SameSite=Lax{secure}"
    return Response(204, headers=[("Set-Cookie", cookie)])


def session_of(bank: Bank, request: Request) -> str | None:
    """The session id in the request's cookie, if it names a live session."""
    cookies = SimpleCookie(request.header("cookie") or "")
    session = cookies["session"].value if "session" in cookies else ""
    return session if session in bank.sessions else None


def transfer_form(bank: Bank, request: Request) -> Response:
    """The bank's own form, with the session's CSRF token in a hidden field."""
    session = session_of(bank, request)
    if session is None:
        return problem(401, "log in first")
    token = escape_html(bank.tokens[session])
    page = (
        f'<form method="post" action="/transfer">'
        f'<input type="hidden" name="csrf_token" value="{token}">'
        '<input name="to"><input name="amount"></form>'
    )
    return Response(200, page.encode(), [HTML])


# --8<-- [end:bank]


# --8<-- [start:csrf_vulnerable]
def move_money(bank: Bank, user: str, fields: dict[str, str]) -> Response:
    """Move `amount` from `user` to `to`, if both are valid."""
    to, amount = fields.get("to", ""), fields.get("amount", "")
    if to not in bank.balances or not (amount.isascii() and amount.isdigit()):
        return problem(400, "bad transfer")
    with bank.lock:
        if int(amount) > bank.balances[user]:
            return problem(400, "insufficient funds")
        bank.balances[user] -= int(amount)
        bank.balances[to] += int(amount)
    return text(f"sent {amount} to {to}\n")


def transfer_vulnerable(bank: Bank, request: Request) -> Response:
    """VULNERABLE: the session cookie alone authorizes the transfer."""
    session = session_of(bank, request)
    if session is None:
        return problem(401, "log in first")
    return move_money(bank, bank.sessions[session], form(request))


# --8<-- [end:csrf_vulnerable]


# --8<-- [start:csrf_fix]
import hmac


def cross_site_reason(request: Request, origin: str) -> str | None:
    """Why the browser says this request came from another origin, or None."""
    site = request.header("sec-fetch-site")
    if site is not None and site != "same-origin":
        return f"Sec-Fetch-Site is {site}"
    sender = request.header("origin")
    if sender is not None and sender != origin:
        return f"Origin {sender} is not {origin}"
    return None


def transfer(bank: Bank, request: Request) -> Response:
    """FIXED: refuse cross-site requests, then require the session's CSRF token."""
    session = session_of(bank, request)
    if session is None:
        return problem(401, "log in first")
    if reason := cross_site_reason(request, bank.origin):
        return problem(403, f"cross-site request refused: {reason}")
    fields = form(request)
    sent = fields.get("csrf_token", "").encode()
    if not hmac.compare_digest(sent, bank.tokens[session].encode()):
        return problem(403, "missing or wrong CSRF token")
    return move_money(bank, bank.sessions[session], fields)


def bank_app(bank: Bank, fixed: bool) -> Handler:
    """The bank as one handler, with the vulnerable or the fixed transfer."""
    routes = {
        ("POST", "/login"): log_in,
        ("GET", "/transfer"): transfer_form,
        ("POST", "/transfer"): transfer if fixed else transfer_vulnerable,
    }

    def app(request: Request) -> Response:
        route = routes.get((request.method, request.path))
        return route(bank, request) if route else problem(404, "no such page")

    return app


def origin_of(server: Any) -> str:
    """The origin (scheme, host and port) a loopback server's pages come from."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


# --8<-- [end:csrf_fix]


# --8<-- [start:ssrf_vulnerable]
import urllib.request

from snippets.application.app_core import MAX_BODY, TIMEOUT


def preview_vulnerable(url: str) -> bytes:
    """VULNERABLE: fetch any URL: any scheme, any host, redirects followed."""
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.read(MAX_BODY)


# --8<-- [end:ssrf_vulnerable]


# --8<-- [start:address_check]
import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
REFUSED = ("unspecified", "loopback", "link_local", "multicast", "private", "reserved")


class ForbiddenDestination(ValueError):
    """A URL the fetcher refuses: its scheme, its port or one of its addresses."""


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside ::ffff:a.b.c.d (mapped) or 2002:: (6to4), if any."""
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped or ip.sixtofour
    return None


def refuse_reason(ip: IPAddress) -> str | None:
    """Why a server must not connect to `ip` on a user's behalf, or None if public."""
    ip = embedded_ipv4(ip) or ip
    for kind in REFUSED:
        if getattr(ip, f"is_{kind}"):
            return f"{ip} is {kind.replace('_', '-')}"
    return None if ip.is_global else f"{ip} is not global"


# --8<-- [end:address_check]


# --8<-- [start:url_check]
import socket
import ssl
from collections.abc import Callable
from urllib.parse import SplitResult

DEFAULT_PORTS = {"http": 80, "https": 443}


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (numbers like 2130706433 included)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].partition("%")[0]) for info in infos]


@dataclass(frozen=True)
class FetchPolicy:
    """What the fetcher may reach."""

    ports: frozenset[int] = frozenset({80, 443})  # not 22, 6379, 11211...
    refuse: Callable[[IPAddress], str | None] = refuse_reason
    resolver: Callable[[str, int], list[IPAddress]] = resolve
    max_redirects: int = 3
    tls: ssl.SSLContext | None = None  # None: the system's trusted CAs


DEFAULT_POLICY = FetchPolicy()


@dataclass(frozen=True)
class Destination:
    """A checked URL and the checked address to connect to (never resolved again)."""

    url: SplitResult
    ip: IPAddress


def check_url(url: str, policy: FetchPolicy) -> Destination:
    """Scheme, then port, then every resolved address; ForbiddenDestination if not."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ForbiddenDestination(f"{parts.scheme}: URLs are not allowed")
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    if port not in policy.ports:
        raise ForbiddenDestination(f"port {port} is not allowed")
    addresses = policy.resolver(parts.hostname, port)
    for ip in addresses:
        if reason := policy.refuse(ip):
            raise ForbiddenDestination(reason)
    if not addresses:
        raise ForbiddenDestination(f"{parts.hostname} has no address")
    return Destination(parts, addresses[0])


# --8<-- [end:url_check]


# --8<-- [start:half_fix]
def preview_checked_by_name(url: str, policy: FetchPolicy = DEFAULT_POLICY) -> bytes:
    """STILL VULNERABLE: checks the URL, then urllib resolves the name again."""
    check_url(url, policy)  # the address it checked...
    return preview_vulnerable(url)  # ...is not the one it connects to


# --8<-- [end:half_fix]


# --8<-- [start:fetch]
import http.client
from urllib.parse import urljoin, urlunsplit

REDIRECTS = {301, 302, 303, 307, 308}


def open_pinned(dest: Destination, policy: FetchPolicy) -> http.client.HTTPConnection:
    """A connection to dest's host name that dials the checked address."""
    host, port = dest.url.hostname, dest.url.port or DEFAULT_PORTS[dest.url.scheme]
    if dest.url.scheme == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=TIMEOUT, context=policy.tls
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    # http.client dials through this hook; TLS still checks the certificate's name.
    conn._create_connection = lambda _, *args: socket.create_connection(
        (str(dest.ip), port), *args
    )
    return conn


def fetch(url: str, policy: FetchPolicy = DEFAULT_POLICY) -> bytes:
    """FIXED: GET `url` only if it is allowed; check every redirect's target too."""
    for _ in range(policy.max_redirects + 1):
        dest = check_url(url, policy)
        conn = open_pinned(dest, policy)
        try:
            target = urlunsplit(("", "", dest.url.path or "/", dest.url.query, ""))
            conn.request("GET", target)
            response = conn.getresponse()
            if response.status not in REDIRECTS:
                return response.read(MAX_BODY)
            url = urljoin(url, response.headers.get("Location", ""))
        finally:
            conn.close()
    raise ForbiddenDestination(f"more than {policy.max_redirects} redirects")


# --8<-- [end:fetch]


# --8<-- [start:preview]
def preview_handler(fetcher: Callable[[str], bytes]) -> Handler:
    """GET /preview?url=...: the first bytes of the page at `url`, as text."""

    def handle(request: Request) -> Response:
        try:
            page = fetcher(request.query.get("url", [""])[-1])
        except ValueError as refused:  # ForbiddenDestination, or not a URL at all
            return problem(400, f"refused: {refused}")
        except (OSError, http.client.HTTPException):
            return problem(502, "could not fetch that URL")
        return text(page[:200].decode(errors="replace"))

    return handle


# --8<-- [end:preview]


# --8<-- [start:mass_assignment]
from dataclasses import asdict

from snippets.application.app_core import json_response


def json_object(request: Request) -> dict[str, object]:
    """The body as a JSON object; ValueError for anything else."""
    value = json.loads(request.body)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


@dataclass
class Account:
    """A user's account; `is_admin` is not the user's to change."""

    name: str
    email: str
    is_admin: bool = False


def update_account_vulnerable(account: Account, request: Request) -> Response:
    """VULNERABLE: every field the client sends is copied onto the account."""
    for name, value in json_object(request).items():
        setattr(account, name, value)
    return json_response(asdict(account))


# --8<-- [end:mass_assignment]


# --8<-- [start:mass_assignment_fix]
WRITABLE = {"name": str, "email": str}  # the fields a user may change, and their types


def update_account(account: Account, request: Request) -> Response:
    """FIXED: only allow-listed fields, of the right type; anything else is a 400."""
    changes = json_object(request)
    refused = sorted(set(changes) - WRITABLE.keys())
    if refused:
        return problem(400, f"not writable: {', '.join(refused)}")
    if not all(isinstance(value, WRITABLE[name]) for name, value in changes.items()):
        return problem(400, "wrong type")
    for name, value in changes.items():
        setattr(account, name, value)
    return json_response(asdict(account))


def account_app(account: Account, fixed: bool) -> Handler:
    """PATCH /account with the vulnerable or the fixed update."""
    update = update_account if fixed else update_account_vulnerable

    def app(request: Request) -> Response:
        try:
            return update(account, request)
        except ValueError as error:  # not JSON, or not an object: the client's fault
            return problem(400, str(error))

    return app


# --8<-- [end:mass_assignment_fix]


# --8<-- [start:headers]
from dataclasses import replace

from snippets.application.app_core import Middleware

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}
# A year, subdomains included: send it only once every subdomain serves HTTPS, and start
# with a short max-age (see the page's pitfalls): browsers keep it for that long.
HSTS = {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"}


def adding(extra: dict[str, str]) -> Middleware:
    """A middleware that adds each of `extra`'s headers the handler did not set."""

    def middleware(handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            response = handler(request)
            new = [(k, v) for k, v in extra.items() if response.header(k) is None]
            return replace(response, headers=[*response.headers, *new])

        return wrapped

    return middleware


with_security_headers = adding(SECURITY_HEADERS)
# RFC 6797 section 7.2: never over plain HTTP. The core speaks plain HTTP, so stack this
# only in a deployment whose clients reach it over HTTPS (TLS ends at a proxy in front).
with_hsts = adding(HSTS)


def profile_handler(render: Callable[[str, str], str]) -> Handler:
    """GET /profile?name=...&website=...: a profile page rendered by `render`."""

    def handle(request: Request) -> Response:
        name, website = (request.query.get(k, [""])[-1] for k in ("name", "website"))
        return Response(200, render(name, website).encode(), [HTML])

    return handle


# --8<-- [end:headers]


# The demo's `#>` lines are the output that the docs test checks; ruff format would
# rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_sqli]
    import contextlib

    attack = "nobody' UNION SELECT owner, secret FROM api_keys --"
    with contextlib.closing(open_db()) as db:
        print(find_users_vulnerable(db, attack))
        #> [('admin', 'sk-live-7f3a9c')]
        print(find_users(db, attack))
        #> []
        print(find_users(db, "alice"))
        #> [('alice', 'alice@example.com')]
        try:
            find_users_vulnerable(db, "O'Brien")
        except sqlite3.OperationalError as error:
            print("an honest name breaks it too:", error)
            #> an honest name breaks it too: near "Brien": syntax error
    # --8<-- [end:demo_sqli]
    # --8<-- [start:demo_xss]
    name = '"><img src=x onerror=alert(1)>'
    website = "javascript:alert(document.cookie)"
    page = profile_page_vulnerable(name, website)
    print([tag for tag, _ in start_tags(page)])
    #> ['h1', 'img', 'a', 'img']
    print(start_tags(page)[1][1])
    #> {'src': 'x', 'onerror': 'alert(1)'}
    page = profile_page(name, website)
    print([tag for tag, _ in start_tags(page)])
    #> ['h1', 'a']
    print(start_tags(page)[1][1])
    #> {'href': '#', 'title': '"><img src=x onerror=alert(1)>'}
    print(page.partition("<a")[0])
    #> <h1>&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</h1>
    # --8<-- [end:demo_xss]
    # --8<-- [start:demo_contexts]
    name = "');alert(1);//"
    button = f"<button onclick=\"greet('{escape_html(name)}')\">hi</button>"
    print(button)
    #> <button onclick="greet('&#x27;);alert(1);//')">hi</button>
    print(start_tags(button)[0][1]["onclick"])  # what the JavaScript engine gets
    #> greet('');alert(1);//')
    settings = {"theme": "</script><script>alert(1)</script>"}
    naive = f'<script type="application/json">{json.dumps(settings)}</script>'
    print([tag for tag, _ in start_tags(naive)])
    #> ['script', 'script']
    print([tag for tag, _ in start_tags(settings_script(settings))])
    #> ['script']
    print(json_for_script(settings))
    #> {"theme": "\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e"}
    # --8<-- [end:demo_contexts]
    # --8<-- [start:demo_csrf]
    from snippets.application.app_core import call, serving

    forged = [  # what the browser sends when evil.example's page submits a form
        ("Origin", "http://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]
    for fixed in (False, True):
        bank = Bank()
        with serving(bank_app(bank, fixed)) as server:
            bank.origin = origin_of(server)
            login = call(server, "POST", "/login", b"user=alice")
            cookie = login.header("Set-Cookie").split(";")[0]  # the browser keeps it
            reply = call(server, "POST", "/transfer", b"to=eve&amount=100",
                         [*forged, ("Cookie", cookie)])
        print(reply.status, "| eve has", bank.balances["eve"])
        #> 200 | eve has 100
        #> 403 | eve has 0
    print(reply.json()["detail"])
    #> cross-site request refused: Sec-Fetch-Site is cross-site
    print(login.header("Set-Cookie").partition("; ")[2])
    #> Path=/; HttpOnly; SameSite=Lax
    # --8<-- [end:demo_csrf]
    # --8<-- [start:demo_csrf_token]
    bank = Bank()
    with serving(bank_app(bank, fixed=True)) as server:
        bank.origin = origin_of(server)
        login = call(server, "POST", "/login", b"user=alice")
        cookie = ("Cookie", login.header("Set-Cookie").split(";")[0])
        page = call(server, "GET", "/transfer", headers=[cookie]).body.decode()
        token = start_tags(page)[1][1]["value"]  # the hidden field of the bank's form
        same_origin = [cookie, ("Origin", bank.origin),
                       ("Sec-Fetch-Site", "same-origin")]
        statuses = [
            call(server, "POST", "/transfer",
                 f"to=eve&amount=30&csrf_token={sent}".encode(), same_origin).status
            for sent in ("", "guessed", token)
        ]
    print(statuses, bank.balances)
    #> [403, 403, 200] {'alice': 70, 'eve': 30}
    # --8<-- [end:demo_csrf_token]
    # --8<-- [start:demo_ssrf]
    admin_hits = []

    def admin_page(request: Request) -> Response:
        admin_hits.append(request.path)
        return text("internal admin: db password is hunter2\n")

    with serving(admin_page) as admin:
        target = origin_of(admin) + "/admin"
        with serving(preview_handler(preview_vulnerable)) as app:
            reply = call(app, "GET", f"/preview?url={target}")
            print(reply.status, reply.body)
            #> 200 b'internal admin: db password is hunter2\n'
        any_port = FetchPolicy(ports=frozenset({admin.server_address[1]}))
        with serving(preview_handler(lambda url: fetch(url, any_port))) as app:
            reply = call(app, "GET", f"/preview?url={target}")
            print(reply.status, reply.json()["detail"])
            #> 400 refused: 127.0.0.1 is loopback
    print(admin_hits)
    #> ['/admin']
    # --8<-- [end:demo_ssrf]
    # --8<-- [start:demo_ssrf_check]
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://2130706433/admin",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://example.com:6379/",
        "file:///etc/passwd",
    ]:
        try:
            check_url(url, DEFAULT_POLICY)
        except ForbiddenDestination as refused:
            print(f"{url:41} {refused}")
            #> http://169.254.169.254/latest/meta-data/  169.254.169.254 is link-local
            #> http://10.0.0.5/                          10.0.0.5 is private
            #> http://2130706433/admin                   127.0.0.1 is loopback
            #> http://[::ffff:127.0.0.1]/                127.0.0.1 is loopback
            #> http://[fe80::1]/                         fe80::1 is link-local
            #> http://example.com:6379/                  port 6379 is not allowed
            #> file:///etc/passwd                        file: URLs are not allowed
    # --8<-- [end:demo_ssrf_check]
    # --8<-- [start:demo_mass]
    attack = b'{"name": "Mallory", "is_admin": true}'
    for fixed in (False, True):
        account = Account("bob", "bob@example.com")
        with serving(account_app(account, fixed)) as server:
            reply = call(server, "PATCH", "/account", attack)
        print(reply.status, account)
        #> 200 Account(name='Mallory', email='bob@example.com', is_admin=True)
        #> 400 Account(name='bob', email='bob@example.com', is_admin=False)
    print(reply.json()["detail"])
    #> not writable: is_admin
    # --8<-- [end:demo_mass]
    # --8<-- [start:demo_headers]
    from snippets.application.app_core import stack

    plain = profile_handler(profile_page)
    for app in (plain, stack(plain, with_security_headers)):
        with serving(app) as server:
            reply = call(server, "GET", "/profile?name=bob")
        print(reply.status, sum(reply.header(h) is not None for h in SECURITY_HEADERS))
        #> 200 0
        #> 200 4
    for name in ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"):
        print(f"{name}: {reply.header(name)}")
        #> X-Content-Type-Options: nosniff
        #> Referrer-Policy: strict-origin-when-cross-origin
        #> X-Frame-Options: DENY
    for directive in reply.header("Content-Security-Policy").split("; "):
        print(directive)
        #> default-src 'self'
        #> object-src 'none'
        #> base-uri 'none'
        #> form-action 'self'
        #> frame-ancestors 'none'
    print(reply.header("Strict-Transport-Security"))  # plain HTTP: no HSTS
    #> None
    behind_tls = stack(plain, with_hsts, with_security_headers)  # an HTTPS deployment
    print(behind_tls(Request("GET", "/profile")).header("Strict-Transport-Security"))
    #> max-age=31536000; includeSubDomains
    # --8<-- [end:demo_headers]
