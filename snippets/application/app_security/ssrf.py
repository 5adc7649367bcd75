"""Server-side request forgery: a user's URL makes the server fetch its own
admin page.

What it teaches: a server trusts a URL an attacker chose. A link preview that
fetches any URL with `urlopen` (any scheme, any host, redirects followed) reads
the internal admin page on loopback and local files. The SSRF-resistant fetcher
allow-lists schemes and ports, checks every address the host name resolves to
with `ipaddress` (an IPv4 address inside an IPv6 one included), connects to the
address it checked instead of resolving the name again (DNS rebinding), and
checks every redirect again. A half-fix that checks the name and lets urllib
resolve it a second time shows why the connection must be pinned. The preview is
a core handler run with its `serving`, so this part builds on
`snippets.application.app_core`.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"). From `csrf` in this package the demo borrows only `origin_of`.

What it leaves out: a network egress firewall. DNS rebinding is only mitigated
for the connections this part makes itself: a proxy set in the environment,
another library or another service that reuses the URL is not covered. Addresses
hidden in NAT64 or Teredo are not unwrapped, and `ipaddress` is only as current
as your Python. Use a network-level egress policy in production.

Run it: `python -m snippets.application.app_security.ssrf`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports of the first shown
# section.)
from dataclasses import dataclass
from urllib.parse import urlsplit

from snippets.application.app_core import (
    Handler,
    Request,
    Response,
    problem,
    text,
)

# isort: split
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
REFUSED = (
    "unspecified",
    "loopback",
    "link_local",
    "multicast",
    "private",
    "reserved",
)


class ForbiddenDestination(ValueError):
    """A URL the fetcher refuses: its scheme, its port or one of its
    addresses."""


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside ::ffff:a.b.c.d (mapped) or 2002:: (6to4), if
    any."""
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped or ip.sixtofour
    return None


def refuse_reason(ip: IPAddress) -> str | None:
    """Why a server must not connect to `ip` on a user's behalf, or None if
    public."""
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
    return [
        ipaddress.ip_address(info[4][0].partition("%")[0]) for info in infos
    ]


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
    """A checked URL and the checked address to connect to (never resolved
    again)."""

    url: SplitResult
    ip: IPAddress


def check_url(url: str, policy: FetchPolicy) -> Destination:
    """Scheme, then port, then every resolved address; ForbiddenDestination if
    not."""
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
def preview_checked_by_name(
    url: str, policy: FetchPolicy = DEFAULT_POLICY
) -> bytes:
    """STILL VULNERABLE: checks the URL, then urllib resolves the name again."""
    check_url(url, policy)  # the address it checked...
    return preview_vulnerable(url)  # ...is not the one it connects to


# --8<-- [end:half_fix]


# --8<-- [start:fetch]
import http.client
from urllib.parse import urljoin, urlunsplit

REDIRECTS = {301, 302, 303, 307, 308}


def open_pinned(
    dest: Destination, policy: FetchPolicy
) -> http.client.HTTPConnection:
    """A connection to dest's host name that dials the checked address."""
    host, port = (
        dest.url.hostname,
        dest.url.port or DEFAULT_PORTS[dest.url.scheme],
    )
    if dest.url.scheme == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=TIMEOUT, context=policy.tls
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    # http.client dials through this hook; TLS still checks the certificate's
    # name.
    conn._create_connection = lambda _, *args: socket.create_connection(
        (str(dest.ip), port), *args
    )
    return conn


def fetch(url: str, policy: FetchPolicy = DEFAULT_POLICY) -> bytes:
    """FIXED: GET `url` only if it is allowed; check every redirect's target
    too."""
    for _ in range(policy.max_redirects + 1):
        dest = check_url(url, policy)
        conn = open_pinned(dest, policy)
        try:
            target = urlunsplit(
                ("", "", dest.url.path or "/", dest.url.query, "")
            )
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
# stands in for the server's log: why each URL was refused
REFUSALS: list[str] = []


def preview_handler(fetcher: Callable[[str], bytes]) -> Handler:
    """GET /preview?url=...: the first bytes of the page at `url`, as text."""

    def handle(request: Request) -> Response:
        url = request.query.get("url", [""])[-1]
        try:
            page = fetcher(url)
        except (ValueError, OSError, http.client.HTTPException) as failed:
            # One answer for "refused" and "unreachable": a detail such as
            # "10.0.0.5 is private" would let a caller map the internal network
            # by name.
            REFUSALS.append(f"{url!r}: {failed}")  # the reason goes to the log
            return problem(400, "that URL cannot be previewed")
        return text(page[:200].decode(errors="replace"))

    return handle


# --8<-- [end:preview]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # Imported by earlier blocks of the page; here, so that this demo runs
    # alone.
    from snippets.application.app_core import call, serving
    from snippets.application.app_security.csrf import origin_of

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
            #> 400 that URL cannot be previewed
            print(REFUSALS[-1].split(": ", 1)[1])
            #> 127.0.0.1 is loopback
    print(admin_hits)
    #> ['/admin']
    # --8<-- [end:demo_ssrf]
    # --8<-- [start:demo_ssrf_check]
    for url in [
        "http://169.254.169.254/latest/",
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
            print(f"{url:31} {refused}")
            #> http://169.254.169.254/latest/  169.254.169.254 is link-local
            #> http://10.0.0.5/                10.0.0.5 is private
            #> http://2130706433/admin         127.0.0.1 is loopback
            #> http://[::ffff:127.0.0.1]/      127.0.0.1 is loopback
            #> http://[fe80::1]/               fe80::1 is link-local
            #> http://example.com:6379/        port 6379 is not allowed
            #> file:///etc/passwd              file: URLs are not allowed
    # --8<-- [end:demo_ssrf_check]
