"""The SSRF part's claims: the vulnerable preview fetches the internal admin page, local
files and redirects; the fixed fetcher refuses every address that is not public, before
any connection, and connects only to the address it checked.

Oracles: http.client (the shared test client) and urllib talk to the handlers, served by
the application core, over loopback; trustme makes the certificate of the TLS page's
server that the HTTPS fetch connects to; the IANA special-purpose address registries are
written out here, independently of the ipaddress module. Every network test stays on
loopback: a guard (conftest.py) refuses any connect() to another address before the
operating system sees it, and the "internal admin" that the SSRF attacks aim at is a
second loopback server that counts its visitors. Private addresses other than loopback
are only checked, never connected to.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import ssl
from urllib.parse import quote

import pytest
import trustme
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from snippets.application.app_core import Request, Response, serving, text
from snippets.application.app_security import ssrf as sec
from snippets.application.app_security.csrf import origin_of
from tests.application.app_security.security_helpers import BeyondLoopbackError, said
from tests.helpers import http_request


@pytest.fixture
def admin():
    """The internal admin service: records every request it receives."""
    hits: list[str] = []

    def page(request: Request) -> Response:
        hits.append(request.path)
        return text("internal admin: db password is hunter2\n")

    with serving(page) as server:
        server.hits, server.url = hits, origin_of(server) + "/admin"
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


def test_the_guard_refuses_to_leave_loopback(loopback_only: list[str]) -> None:
    """Guards the guard: a connect() to a private address fails before any packet."""
    with pytest.raises(BeyondLoopbackError):
        socket.create_connection(("10.255.255.1", 80), timeout=1).close()
    assert loopback_only == ["10.255.255.1"]


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
        assert preview(app, admin.url) == (400, "that URL cannot be previewed")
        assert sec.REFUSALS[-1].endswith("127.0.0.1 is loopback")
        by_name = f"http://localhost:{admin.server_address[1]}/admin"
        assert preview(app, by_name)[0] == 400
    assert admin.hits == []


def test_fixed_preview_refuses_a_port_outside_the_allow_list(admin) -> None:
    with preview_app(sec.fetch) as app:
        port = admin.server_address[1]
        assert preview(app, admin.url) == (400, "that URL cannot be previewed")
        assert sec.REFUSALS[-1].endswith(f"port {port} is not allowed")
    assert admin.hits == []


def test_vulnerable_preview_reads_local_files_fixed_refuses_the_scheme(
    tmp_path,
) -> None:
    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key=abc123\n")
    with preview_app(sec.preview_vulnerable) as app:
        assert preview(app, secret.as_uri()) == (200, "aws_secret_access_key=abc123\n")
    with preview_app(sec.fetch) as app:
        assert preview(app, secret.as_uri()) == (400, "that URL cannot be previewed")
        assert sec.REFUSALS[-1].endswith("file: URLs are not allowed")


def test_vulnerable_preview_follows_a_redirect_to_the_admin(admin, public_site) -> None:
    bounce = origin_of(public_site) + "/go?to=" + quote(admin.url, safe="")
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
    bounce = origin_of(public_site) + "/go?to=" + quote(target, safe="")
    with pytest.raises(sec.ForbiddenDestination, match=re.escape(reason)):
        sec.fetch(bounce, loopback_is_public(public_site))
    assert loopback_only == []  # refused by the check, not by the test's guard


def test_fixed_fetch_refuses_a_redirect_to_the_admins_port(admin, public_site) -> None:
    bounce = origin_of(public_site) + "/go?to=" + quote(admin.url, safe="")
    with pytest.raises(sec.ForbiddenDestination, match="is not allowed"):
        sec.fetch(bounce, loopback_is_public(public_site))
    assert admin.hits == []


def test_fixed_fetch_follows_a_redirect_to_an_allowed_page(public_site) -> None:
    policy = loopback_is_public(public_site)
    page = origin_of(public_site) + "/hello"
    bounce = origin_of(public_site) + "/go?to=" + quote(page, safe="")
    assert sec.fetch(bounce, policy) == b"hello from a public page\n"
    relative = origin_of(public_site) + "/go?to=/hello"
    assert sec.fetch(relative, policy).startswith(b"hello")


def test_fixed_fetch_stops_after_a_few_redirects(public_site) -> None:
    loop = origin_of(public_site) + "/go?to=/go"
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


def test_a_refused_url_and_a_dead_server_get_the_same_answer() -> None:
    """Mapping the internal network must learn nothing from the answer: a port or an
    address the policy refuses looks exactly like a server that does not answer."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    policy = sec.FetchPolicy(
        ports=frozenset({dead_port}), refuse=loopback_is_public().refuse
    )
    with preview_app(lambda url: sec.fetch(url, policy)) as app:
        refused = preview(app, "http://127.0.0.1:99999/")
        dead = preview(app, f"http://127.0.0.1:{dead_port}/")
    with preview_app(sec.fetch) as app:
        private = preview(app, "http://10.0.0.5/")  # refused, never connected
    assert refused == dead == private == (400, "that URL cannot be previewed")
    assert "is private" in sec.REFUSALS[-1]  # the reason is logged, not answered


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
