"""The mass assignment and security headers part's claims: a JSON body sets is_admin on
the vulnerable update and is refused by the fixed one; the headers are sent, and they
change what a browser does.

Oracles: json and http.client (the shared test client) talk to the handlers, served by
the application core, over loopback; the CSP is parsed as CSP Level 3 parses it;
Chromium (the browser-marked tests) shows whether an injected script runs and whether a
page can be framed.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from snippets.application.app_core import Request, Response, serving, stack
from snippets.application.app_security import mass_assignment_and_headers as sec
from snippets.application.app_security.csrf import origin_of
from snippets.application.app_security.injection import (
    profile_page,
    profile_page_vulnerable,
)
from tests.application.app_security.security_helpers import (
    BROWSER_IDLE,
    elsewhere,
    page_with,
    said,
)
from tests.helpers import http_request

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


PROFILE = sec.profile_handler(profile_page)


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
    # A first deployment starts short (the page's pitfall): no includeSubDomains yet
    assert response.header("Strict-Transport-Security") == "max-age=300"
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
# A real browser as the oracle: does the script run, does the frame load? (The `tab`
# fixture is in conftest.py.)

BROWSER_XSS = quote('"><img src=x onerror=window.pwned=1>')


@pytest.mark.browser
def test_chromium_runs_the_injected_handler_only_without_escaping_or_csp(tab) -> None:
    vulnerable = sec.profile_handler(profile_page_vulnerable)
    apps = {
        "vulnerable": vulnerable,
        "fixed": stack(PROFILE, sec.with_security_headers),
        "vulnerable-but-csp": stack(vulnerable, sec.with_security_headers),
    }
    ran = {}
    for name, app in apps.items():
        with serving(app, timeout=BROWSER_IDLE) as server:
            tab.goto(origin_of(server) + f"/profile?name={BROWSER_XSS}")
            ran[name] = tab.evaluate("window.pwned === 1")
    assert ran == {"vulnerable": True, "fixed": False, "vulnerable-but-csp": False}


@pytest.mark.browser
def test_chromium_frames_the_page_only_without_the_framing_headers(tab) -> None:
    framed = {}
    for name, app in {
        "vulnerable": PROFILE,
        "fixed": stack(PROFILE, sec.with_security_headers),
    }.items():
        with serving(app, timeout=BROWSER_IDLE) as target:
            frame = f'<iframe src="{origin_of(target)}/profile?name=bob"></iframe>'
            with serving(page_with(frame), timeout=BROWSER_IDLE) as attacker:
                tab.goto(elsewhere(attacker) + "/")
                child = tab.frames[1]
                framed[name] = child.url.startswith(origin_of(target))
                if framed[name]:
                    assert child.locator("h1").text_content() == "bob"
    assert framed == {"vulnerable": True, "fixed": False}
