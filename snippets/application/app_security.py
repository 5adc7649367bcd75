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
assignment; and security headers (CSP, nosniff, Referrer-Policy, frame-ancestors, HSTS
over HTTPS only).

Read first: the middleware page (`snippets/application/middleware.py`) for the
handler-wraps-handler shape that `with_security_headers` uses.

What it leaves out: it is not a complete HTML sanitizer, a web application firewall, an
authentication system or a network egress firewall; DNS rebinding is only mitigated for
the connections this module makes itself. Use your framework's escaping, CSRF and
session machinery, and a network-level egress policy, in production.

Run it: `python -m snippets.application.app_security`.
"""

# --8<-- [start:app]
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    """What a handler sees: header names are lower-case; scheme is http or https."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    scheme: str = "http"


@dataclass
class Response:
    """What a handler returns; middleware may add headers on the way out."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]
Routes = dict[tuple[str, str], Handler]


def text(status: int, body: str, content_type: str = "text/plain") -> Response:
    """A response whose body is `body` encoded as UTF-8, with its charset declared."""
    headers = {"Content-Type": f"{content_type}; charset=utf-8"}
    return Response(status, body.encode(), headers)


def safely(handler: Callable[[], Response]) -> Response:
    """Bad input is a 400 and a bug is a 500; neither leaks a traceback."""
    try:
        return handler()
    except ValueError:
        return text(400, "bad request\n")
    except Exception:
        return text(500, "internal error\n")


# --8<-- [end:app]


# --8<-- [start:server]
import http.server
import ssl
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = 64 * 1024


class RouteHandler(http.server.BaseHTTPRequestHandler):
    """Turns the parsed HTTP request into a Request, and a Response back into bytes."""

    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection is closed after this many seconds

    def do_GET(self) -> None:
        self.send(safely(self.dispatch))

    do_POST = do_PATCH = do_GET

    def dispatch(self) -> Response:
        length = int(self.headers.get("Content-Length") or 0)  # ValueError: 400
        if not 0 <= length <= MAX_BODY:
            return text(413, "body too large\n")
        target = urlsplit(self.path)
        request = Request(
            self.command,
            target.path,
            dict(parse_qsl(target.query, max_num_fields=20)),
            {name.lower(): value for name, value in self.headers.items()},
            self.rfile.read(length),
            "https" if isinstance(self.connection, ssl.SSLSocket) else "http",
        )
        handler = self.server.routes.get((request.method, request.path))
        return handler(request) if handler else text(404, "not found\n")

    def send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the demo's output to what the page shows."""


# --8<-- [end:server]


# --8<-- [start:serving]
import contextlib
import http.client
import threading
from collections.abc import Iterator


class AppServer(http.server.ThreadingHTTPServer):
    """A loopback HTTP server that dispatches to `routes` by method and path."""

    daemon_threads = True

    def __init__(self, routes: Routes) -> None:
        super().__init__(("127.0.0.1", 0), RouteHandler)
        self.routes = routes


@contextlib.contextmanager
def serving(routes: Routes, tls: ssl.SSLContext | None = None) -> Iterator[AppServer]:
    """Serve `routes` on a free loopback port (TLS if given) until the block ends."""
    server = AppServer(routes)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def origin_of(server: AppServer) -> str:
    """The origin (scheme, host and port) that the server's pages come from."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def call(
    server: AppServer,
    method: str,
    path: str,
    body: str = "",
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, str]:
    """One request with http.client: the status, the headers and the body text."""
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    try:
        conn.request(method, path, body=body.encode(), headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        conn.close()


# --8<-- [end:serving]


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
from http.cookies import SimpleCookie


def form(request: Request) -> dict[str, str]:
    """The fields of an application/x-www-form-urlencoded body (at most 20)."""
    return dict(parse_qsl(request.body.decode(), max_num_fields=20))


@dataclass
class Bank:
    """Balances and cookie sessions; `origin` is where the bank serves its pages."""

    origin: str = "http://127.0.0.1"
    balances: dict[str, int] = field(default_factory=lambda: {"alice": 100, "eve": 0})
    sessions: dict[str, str] = field(default_factory=dict)  # session id -> user
    tokens: dict[str, str] = field(default_factory=dict)  # session id -> CSRF token
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards balances


def log_in(bank: Bank, request: Request) -> Response:
    """Start a session (no password: authentication is another page's subject)."""
    user = form(request).get("user", "")
    if user not in bank.balances:
        return text(403, "unknown user\n")
    session = secrets.token_urlsafe(32)
    bank.sessions[session], bank.tokens[session] = user, secrets.token_urlsafe(32)
    secure = "; Secure" if request.scheme == "https" else ""
    cookie = f"session={session}; Path=/; HttpOnly; SameSite=Lax{secure}"
    return Response(204, headers={"Set-Cookie": cookie})


def session_of(bank: Bank, request: Request) -> str | None:
    """The session id in the request's cookie, if it names a live session."""
    cookies = SimpleCookie(request.headers.get("cookie", ""))
    session = cookies["session"].value if "session" in cookies else ""
    return session if session in bank.sessions else None


def transfer_form(bank: Bank, request: Request) -> Response:
    """The bank's own form, with the session's CSRF token in a hidden field."""
    session = session_of(bank, request)
    if session is None:
        return text(401, "log in first\n")
    token = escape_html(bank.tokens[session])
    return text(
        200,
        f'<form method="post" action="/transfer">'
        f'<input type="hidden" name="csrf_token" value="{token}">'
        '<input name="to"><input name="amount"></form>',
        "text/html",
    )


# --8<-- [end:bank]


# --8<-- [start:csrf_vulnerable]
def move_money(bank: Bank, user: str, fields: dict[str, str]) -> Response:
    """Move `amount` from `user` to `to`, if both are valid."""
    to, amount = fields.get("to", ""), fields.get("amount", "")
    if to not in bank.balances or not amount.isdigit():
        return text(400, "bad transfer\n")
    with bank.lock:
        if int(amount) > bank.balances[user]:
            return text(400, "insufficient funds\n")
        bank.balances[user] -= int(amount)
        bank.balances[to] += int(amount)
    return text(200, f"sent {amount} to {to}\n")


def transfer_vulnerable(bank: Bank, request: Request) -> Response:
    """VULNERABLE: the session cookie alone authorizes the transfer."""
    session = session_of(bank, request)
    if session is None:
        return text(401, "log in first\n")
    return move_money(bank, bank.sessions[session], form(request))


# --8<-- [end:csrf_vulnerable]


# --8<-- [start:csrf_fix]
import hmac


def cross_site_reason(request: Request, origin: str) -> str | None:
    """Why the browser says this request came from another origin, or None."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return f"Sec-Fetch-Site is {site}"
    sender = request.headers.get("origin")
    if sender is not None and sender != origin:
        return f"Origin {sender} is not {origin}"
    return None


def transfer(bank: Bank, request: Request) -> Response:
    """FIXED: refuse cross-site requests, then require the session's CSRF token."""
    session = session_of(bank, request)
    if session is None:
        return text(401, "log in first\n")
    if reason := cross_site_reason(request, bank.origin):
        return text(403, f"cross-site request refused: {reason}\n")
    fields = form(request)
    sent = fields.get("csrf_token", "").encode()
    if not hmac.compare_digest(sent, bank.tokens[session].encode()):
        return text(403, "missing or wrong CSRF token\n")
    return move_money(bank, bank.sessions[session], fields)


def bank_routes(bank: Bank, fixed: bool) -> Routes:
    """The bank's routes, with the vulnerable or the fixed transfer handler."""
    move = transfer if fixed else transfer_vulnerable
    return {
        ("POST", "/login"): lambda request: log_in(bank, request),
        ("GET", "/transfer"): lambda request: transfer_form(bank, request),
        ("POST", "/transfer"): lambda request: move(bank, request),
    }


# --8<-- [end:csrf_fix]


# --8<-- [start:ssrf_vulnerable]
import urllib.request


def preview_vulnerable(url: str) -> bytes:
    """VULNERABLE: fetch any URL: any scheme, any host, redirects followed."""
    with urllib.request.urlopen(url, timeout=5) as response:
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
from urllib.parse import SplitResult

DEFAULT_PORTS = {"http": 80, "https": 443}


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (numbers like 2130706433 included)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].partition("%")[0]) for info in infos]


@dataclass(frozen=True)
class FetchPolicy:
    """What the fetcher may reach, and how much it reads."""

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
from urllib.parse import urljoin, urlunsplit

REDIRECTS = {301, 302, 303, 307, 308}


def open_pinned(dest: Destination, policy: FetchPolicy) -> http.client.HTTPConnection:
    """A connection to dest's host name that dials the checked address."""
    port = dest.url.port or DEFAULT_PORTS[dest.url.scheme]
    if dest.url.scheme == "https":
        conn = http.client.HTTPSConnection(
            dest.url.hostname, port, timeout=5, context=policy.tls
        )
    else:
        conn = http.client.HTTPConnection(dest.url.hostname, port, timeout=5)
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
            page = fetcher(request.query.get("url", ""))
        except ForbiddenDestination as refused:
            return text(400, f"refused: {refused}\n")
        except (OSError, http.client.HTTPException):
            return text(502, "could not fetch that URL\n")
        return text(200, page[:200].decode(errors="replace"))

    return handle


# --8<-- [end:preview]


# --8<-- [start:mass_assignment]
from dataclasses import asdict


def json_object(request: Request) -> dict[str, object]:
    """The body as a JSON object; ValueError (so a 400) for anything else."""
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
    return text(200, json.dumps(asdict(account)), "application/json")


# --8<-- [end:mass_assignment]


# --8<-- [start:mass_assignment_fix]
WRITABLE = {"name": str, "email": str}  # the fields a user may change, and their types


def update_account(account: Account, request: Request) -> Response:
    """FIXED: only allow-listed fields, of the right type; anything else is a 400."""
    changes = json_object(request)
    refused = sorted(set(changes) - WRITABLE.keys())
    if refused:
        return text(400, f"not writable: {', '.join(refused)}\n")
    if not all(isinstance(value, WRITABLE[name]) for name, value in changes.items()):
        return text(400, "wrong type\n")
    for name, value in changes.items():
        setattr(account, name, value)
    return text(200, json.dumps(asdict(account)), "application/json")


def account_routes(account: Account, fixed: bool) -> Routes:
    """PATCH /account with the vulnerable or the fixed update handler."""
    update = update_account if fixed else update_account_vulnerable
    return {("PATCH", "/account"): lambda request: update(account, request)}


# --8<-- [end:mass_assignment_fix]


# --8<-- [start:headers]
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}
# A year, subdomains included: send it only once every subdomain serves HTTPS, and start
# with a short max-age (see the page's pitfalls): browsers keep it for that long.
HSTS = "max-age=31536000; includeSubDomains"


def with_security_headers(handler: Handler) -> Handler:
    """Middleware: add the security headers a handler did not set itself."""

    def wrapped(request: Request) -> Response:
        response = handler(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.scheme == "https":  # RFC 6797 section 7.2: never over plain HTTP
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    return wrapped


def profile_handler(render: Callable[[str, str], str]) -> Handler:
    """GET /profile?name=...&website=...: a profile page rendered by `render`."""
    return lambda request: text(
        200,
        render(request.query.get("name", ""), request.query.get("website", "")),
        "text/html",
    )


# --8<-- [end:headers]


# The demo's `#>` lines are the output that the docs test checks; ruff format would
# rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_sqli]
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
    forged = {  # what the browser sends when evil.example's page submits a form
        "Origin": "http://evil.example",
        "Sec-Fetch-Site": "cross-site",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    for fixed in (False, True):
        bank = Bank()
        with serving(bank_routes(bank, fixed)) as server:
            bank.origin = origin_of(server)
            _, headers, _ = call(server, "POST", "/login", "user=alice")
            cookie = headers["Set-Cookie"].split(";")[0]  # the browser keeps it
            status, _, body = call(server, "POST", "/transfer", "to=eve&amount=100",
                                   {**forged, "Cookie": cookie})
        print(status, body.strip(), "| eve has", bank.balances["eve"])
        #> 200 sent 100 to eve | eve has 100
        #> 403 cross-site request refused: Sec-Fetch-Site is cross-site | eve has 0
    print(headers["Set-Cookie"].partition("; ")[2])
    #> Path=/; HttpOnly; SameSite=Lax
    # --8<-- [end:demo_csrf]
    # --8<-- [start:demo_csrf_token]
    bank = Bank()
    with serving(bank_routes(bank, fixed=True)) as server:
        bank.origin = origin_of(server)
        _, headers, _ = call(server, "POST", "/login", "user=alice")
        cookie = headers["Set-Cookie"].split(";")[0]
        _, _, page = call(server, "GET", "/transfer", headers={"Cookie": cookie})
        token = start_tags(page)[1][1]["value"]  # the hidden field of the bank's form
        same_origin = {"Cookie": cookie, "Origin": bank.origin,
                       "Sec-Fetch-Site": "same-origin"}
        for sent in ("", "guessed", token):
            status, _, body = call(server, "POST", "/transfer",
                                   f"to=eve&amount=30&csrf_token={sent}", same_origin)
            print(status, body.strip())
            #> 403 missing or wrong CSRF token
            #> 403 missing or wrong CSRF token
            #> 200 sent 30 to eve
    # --8<-- [end:demo_csrf_token]
    # --8<-- [start:demo_ssrf]
    admin_hits = []

    def admin_page(request: Request) -> Response:
        admin_hits.append(request.path)
        return text(200, "internal admin: db password is hunter2\n")

    with serving({("GET", "/admin"): admin_page}) as admin:
        target = origin_of(admin) + "/admin"
        vulnerable = {("GET", "/preview"): preview_handler(preview_vulnerable)}
        with serving(vulnerable) as app:
            print(call(app, "GET", f"/preview?url={target}")[::2])
            #> (200, 'internal admin: db password is hunter2\n')
        any_port = FetchPolicy(ports=frozenset({admin.server_address[1]}))
        fixed = {("GET", "/preview"): preview_handler(lambda u: fetch(u, any_port))}
        with serving(fixed) as app:
            print(call(app, "GET", f"/preview?url={target}")[::2])
            #> (400, 'refused: 127.0.0.1 is loopback\n')
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
    attack = '{"name": "Mallory", "is_admin": true}'
    for fixed in (False, True):
        account = Account("bob", "bob@example.com")
        with serving(account_routes(account, fixed)) as server:
            status, _, body = call(server, "PATCH", "/account", attack)
        print(status, account.is_admin, body.strip())
        #> 200 True {"name": "Mallory", "email": "bob@example.com", "is_admin": true}
        #> 400 False not writable: is_admin
    # --8<-- [end:demo_mass]
    # --8<-- [start:demo_headers]
    for render in (profile_page_vulnerable, profile_page):
        handler = profile_handler(render)
        if render is profile_page:
            handler = with_security_headers(handler)
        with serving({("GET", "/profile"): handler}) as server:
            status, headers, _ = call(server, "GET", "/profile?name=bob")
        print(status, sum(name in headers for name in SECURITY_HEADERS), "of 4 headers")
        #> 200 0 of 4 headers
        #> 200 4 of 4 headers
    for name in ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"):
        print(f"{name}: {headers[name]}")
        #> X-Content-Type-Options: nosniff
        #> Referrer-Policy: strict-origin-when-cross-origin
        #> X-Frame-Options: DENY
    for directive in headers["Content-Security-Policy"].split("; "):
        print(directive)
        #> default-src 'self'
        #> object-src 'none'
        #> base-uri 'none'
        #> form-action 'self'
        #> frame-ancestors 'none'
    print(headers["Strict-Transport-Security"])  # plain HTTP: no HSTS
    #> None
    # --8<-- [end:demo_headers]
