"""The OAuth flow's claims: codes, verifiers, state and ID tokens follow the RFCs.

Oracles: PyJWT verifies the ID tokens the authorization server signs, and we verify the
ones PyJWT signs; each rule of RFC 6749, RFC 7636 and OIDC Core that the flow claims to
keep is broken once, and must be refused with the RFC's error code.
"""

from __future__ import annotations

import time
import urllib.parse

import jwt
import pytest

from snippets.application.authorization import oauth_code_flow as flow
from snippets.application.authorization import pkce_challenge as pkce
from tests.helpers import run_demo

ISSUER = "https://id.example"
REDIRECT = "https://app.example/cb"
SECRET = "s" * 43  # a client secret long enough for HS256 (32 bytes and more)


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> flow.AuthorizationServer:
    clients = {"app": flow.ClientRegistration(SECRET, REDIRECT)}
    return flow.AuthorizationServer(ISSUER, clients, clock=clock)


def login(server: flow.AuthorizationServer) -> tuple[flow.PendingLogin, dict]:
    """Steps A-C; returns what the client kept and the token request it would send."""
    url, pending = flow.start_login(f"{ISSUER}/authorize", "app", REDIRECT)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    callback = flow.authorize(server, query, user="ada")
    form = {
        "grant_type": "authorization_code",
        "code": flow.callback_code(callback, pending),
        "client_id": "app",
        "client_secret": SECRET,
        "redirect_uri": REDIRECT,
        "code_verifier": pending.verifier,
    }
    return pending, form


def test_the_authorization_request_carries_every_parameter() -> None:
    url, pending = flow.start_login(f"{ISSUER}/authorize", "app", REDIRECT)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query == {
        "response_type": "code",
        "client_id": "app",
        "scope": "openid",
        "redirect_uri": REDIRECT,
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge_method": "S256",
        "code_challenge": pkce.code_challenge_s256(pending.verifier),
    }
    assert pending.verifier not in url


def test_the_whole_flow_gives_an_access_token_and_an_id_token(server, clock) -> None:
    pending, form = login(server)
    answer = flow.exchange_code(server, form)
    assert answer["token_type"] == "Bearer"
    assert server.access_tokens == {answer["access_token"]: "ada"}
    claims = flow.verify_id_token(
        answer["id_token"], key=SECRET.encode(), issuer=ISSUER, client_id="app",
        nonce=pending.nonce, now=clock.now,
    )  # fmt: skip
    assert (claims["sub"], claims["aud"], claims["nonce"]) == (
        "ada",
        "app",
        pending.nonce,
    )


def test_pyjwt_verifies_the_id_token_the_server_signs(server) -> None:
    pending, form = login(server)
    id_token = flow.exchange_code(server, form)["id_token"]
    claims = jwt.decode(
        id_token, SECRET.encode(), algorithms=["HS256"], audience="app", issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "nonce"]},
    )  # fmt: skip
    assert claims["nonce"] == pending.nonce


def test_we_verify_an_id_token_pyjwt_signs(clock) -> None:
    now = int(clock.now)
    claims = {"iss": ISSUER, "sub": "ada", "aud": ["app", "other"], "iat": now,
              "exp": now + 300, "nonce": "n-123"}  # fmt: skip
    token = jwt.encode(claims, SECRET.encode(), algorithm="HS256")
    verified = flow.verify_id_token(
        token,
        key=SECRET.encode(),
        issuer=ISSUER,
        client_id="app",
        nonce="n-123",
        now=now,
    )
    assert verified == claims


def id_token_with(**changes: object) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "ada", "aud": "app", "iat": now, "exp": now + 300}
    claims |= {"nonce": "n-123"} | changes
    return flow.sign_id_token(claims, SECRET.encode())


BAD_ID_TOKENS = {
    "other nonce": (id_token_with(nonce="n-999"), "nonce"),
    "no nonce": (
        flow.sign_id_token(
            {"iss": ISSUER, "aud": "app", "exp": 2**40}, SECRET.encode()
        ),
        "nonce",
    ),
    "expired": (id_token_with(exp=int(time.time()) - 1), "expired"),
    "no exp": (id_token_with(exp=None), "expired"),
    "other issuer": (id_token_with(iss="https://evil.example"), "iss"),
    "other audience": (id_token_with(aud="other-app"), "aud"),
    "other key": (
        flow.sign_id_token({"nonce": "n-123"}, b"k" * 32),
        "signature",
    ),
    "alg none": (
        jwt.encode(
            {"iss": ISSUER, "aud": "app", "nonce": "n-123"}, None, algorithm="none"
        ),
        "alg",
    ),
    "two parts": ("e30.e30", "compact"),
    "not base64": ("!!!.e30.sig", "unreadable"),
    "header not an object": ("W10.e30.sig", "object"),
    "non-ASCII": ("é.e30.sig", "compact"),
}


@pytest.mark.parametrize("case", BAD_ID_TOKENS, ids=str)
def test_bad_id_tokens_are_refused(case: str) -> None:
    token, reason = BAD_ID_TOKENS[case]
    with pytest.raises(pkce.OAuthError, match=reason) as refused:
        flow.verify_id_token(
            token, key=SECRET.encode(), issuer=ISSUER, client_id="app",
            nonce="n-123", now=time.time(),
        )  # fmt: skip
    assert refused.value.code == "invalid_token"


def test_a_callback_with_another_state_is_refused(server) -> None:
    url, pending = flow.start_login(f"{ISSUER}/authorize", "app", REDIRECT)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    attacker_query = {**query, "state": "attackers-state"}
    callback = flow.authorize(server, attacker_query, user="mallory")
    with pytest.raises(pkce.OAuthError, match="state does not match"):
        flow.callback_code(callback, pending)


def test_a_stolen_code_without_the_verifier_is_useless(server) -> None:
    _, form = login(server)
    for guess in (pkce.make_code_verifier(), pkce.make_code_verifier(96)):
        with pytest.raises(pkce.OAuthError, match="code_verifier") as refused:
            flow.exchange_code(server, {**form, "code_verifier": guess})
        assert refused.value.code == "invalid_grant"
    assert "access_token" in flow.exchange_code(server, form)  # the real client


def test_a_missing_verifier_is_refused(server) -> None:
    _, form = login(server)
    del form["code_verifier"]
    with pytest.raises(pkce.OAuthError, match="code_verifier"):
        flow.exchange_code(server, form)


def test_a_code_works_once_and_its_replay_revokes_the_token(server) -> None:
    _, form = login(server)
    answer = flow.exchange_code(server, form)
    with pytest.raises(pkce.OAuthError, match="already used") as refused:
        flow.exchange_code(server, form)
    assert refused.value.code == "invalid_grant"
    assert answer["access_token"] not in server.access_tokens


def test_an_expired_code_is_refused(server, clock) -> None:
    _, form = login(server)
    clock.now += flow.CODE_LIFETIME
    with pytest.raises(pkce.OAuthError, match="expired"):
        flow.exchange_code(server, form)


def test_the_code_lifetime_is_within_rfc6749s_ten_minutes() -> None:
    assert 0 < flow.CODE_LIFETIME <= 600


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "stranger"}, "invalid_client"),
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_grant"),
        ({"code": "made-up"}, "invalid_grant"),
    ],
)
def test_token_requests_that_do_not_match_the_grant_are_refused(
    server, change: dict, code: str
) -> None:
    _, form = login(server)
    with pytest.raises(pkce.OAuthError) as refused:
        flow.exchange_code(server, {**form, **change})
    assert refused.value.code == code


def test_a_code_for_one_client_cannot_be_redeemed_by_another(server) -> None:
    server.clients["other"] = flow.ClientRegistration("o" * 43, REDIRECT)
    _, form = login(server)
    stolen = {**form, "client_id": "other", "client_secret": "o" * 43}
    with pytest.raises(pkce.OAuthError, match="mismatch"):
        flow.exchange_code(server, stolen)


def authorization_query() -> dict[str, str]:
    url, _ = flow.start_login(f"{ISSUER}/authorize", "app", REDIRECT)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"client_id": "stranger"}, "invalid_request"),
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
    ],
)
def test_authorization_requests_that_break_the_rules_are_refused(
    server, change: dict, code: str
) -> None:
    with pytest.raises(pkce.OAuthError) as refused:
        flow.authorize(server, {**authorization_query(), **change}, user="ada")
    assert refused.value.code == code
    assert server.grants == {}


def test_the_demo_runs_clean_under_dev_mode() -> None:
    done = run_demo("snippets.application.authorization.oauth_code_flow", check=True)
    assert done.stderr == ""
