"""OAuth 2 with PKCE and OpenID Connect: an authorization server and a client in
memory.

What it teaches: the OAuth 2 authorization-code flow with PKCE (RFC 6749,
section 4.1; RFC 7636, section 4.6) with an OpenID Connect ID token and its
nonce, played out between an in-memory authorization server and a client: the
client's state, verifier and nonce; the server's exact redirect_uri match,
one-time short-lived codes and the revocation of what a replayed code bought;
and the ID token checks of OIDC Core, section 3.1.3.7.

Read first: `pkce_challenge` in this package, whose verifier and S256 challenge
this module builds on; then the authentication page (the JWT this module signs
ID tokens with, condensed here).

What it leaves out: scopes and consent screens, refresh tokens, client
authentication methods other than a shared secret, the authorization and token
endpoints as HTTP handlers, redirects through a real browser, and asymmetric ID
token signatures published as a JWKS.

Run it: `python -m snippets.application.authorization.oauth_code_flow`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports of the first shown
# section.)
import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from snippets.application.authorization.pkce_challenge import (
    OAuthError,
    b64url,
    code_challenge_s256,
    make_code_verifier,
)

# isort: split
# --8<-- [start:id_token]
import binascii
import hmac
import json
from typing import Any


def sign_id_token(claims: dict[str, object], key: bytes) -> str:
    """An HS256 JWT, as on the authentication page, condensed."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}"


def _unb64url(text: str) -> dict[str, Any]:
    try:
        value = json.loads(
            base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        )
    except (binascii.Error, ValueError) as error:
        raise OAuthError("invalid_token", f"unreadable part: {error}") from None
    if not isinstance(value, dict):
        raise OAuthError("invalid_token", "not a JSON object")
    return value


def verify_id_token(
    token: str,
    *,
    key: bytes,
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
) -> dict[str, Any]:
    """OIDC Core 3.1.3.7: signature, iss, aud, exp, and the nonce we sent."""
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        raise OAuthError("invalid_token", "not a compact JWS")
    if _unb64url(parts[0]).get("alg") != "HS256":
        raise OAuthError("invalid_token", "unexpected alg")
    mac = hmac.new(
        key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(b64url(mac), parts[2]):
        raise OAuthError("invalid_token", "bad signature")
    claims = _unb64url(parts[1])
    aud = claims.get("aud")
    if claims.get("iss") != issuer or client_id not in (
        aud if isinstance(aud, list) else [aud]
    ):
        raise OAuthError("invalid_token", "wrong iss or aud")
    if not isinstance(claims.get("exp"), int | float) or now >= claims["exp"]:
        raise OAuthError("invalid_token", "expired")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise OAuthError("invalid_token", "nonce does not match this login")
    return claims


# --8<-- [end:id_token]


# --8<-- [start:server]
import time
import urllib.parse
from dataclasses import field

# seconds; RFC 6749, 4.1.2: 10 minutes at most is RECOMMENDED
CODE_LIFETIME = 60


@dataclass(frozen=True)
class ClientRegistration:
    """What the server knows about a client before any login."""

    secret: str
    redirect_uri: str


@dataclass(frozen=True)
class Grant:
    """What the server remembers about one authorization code."""

    client_id: str
    redirect_uri: str
    challenge: str
    user: str
    nonce: str
    expires: float


@dataclass
class AuthorizationServer:
    """An OAuth 2 authorization server and OpenID provider, in memory."""

    issuer: str
    clients: dict[str, ClientRegistration]
    clock: Callable[[], float] = time.time
    grants: dict[str, Grant] = field(default_factory=dict)  # code -> grant
    # code -> access token
    redeemed: dict[str, str] = field(default_factory=dict)
    access_tokens: dict[str, str] = field(default_factory=dict)  # token -> user


def authorize(
    server: AuthorizationServer, query: dict[str, str], user: str
) -> str:
    """Steps A-C: check the request, let `user` log in and consent, redirect
    back."""
    client = server.clients.get(query.get("client_id", ""))
    if client is None or query.get("redirect_uri") != client.redirect_uri:
        raise OAuthError("invalid_request", "unknown client or redirect_uri")
    if query.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "only code")
    if query.get("code_challenge_method") != "S256":
        raise OAuthError("invalid_request", "PKCE with S256 is required")
    code = secrets.token_urlsafe(32)
    expires = server.clock() + CODE_LIFETIME
    challenge, nonce = query.get("code_challenge", ""), query.get("nonce", "")
    grant = Grant(
        query["client_id"], client.redirect_uri, challenge, user, nonce, expires
    )
    server.grants[code] = grant
    answer = {"code": code, "state": query.get("state", "")}
    return f"{client.redirect_uri}?{urllib.parse.urlencode(answer)}"


# --8<-- [end:server]


# --8<-- [start:token]
def exchange_code(
    server: AuthorizationServer, form: dict[str, str]
) -> dict[str, str]:
    """Steps D-E: trade a code, once, for an access token and an ID token."""
    client = server.clients.get(form.get("client_id", ""))
    secret = form.get("client_secret", "")
    if client is None or not hmac.compare_digest(secret, client.secret):
        raise OAuthError("invalid_client", "client authentication failed")
    code = form.get("code", "")
    # 4.1.2: used twice: deny, revoke what it bought
    if code in server.redeemed:
        server.access_tokens.pop(server.redeemed[code], None)
        raise OAuthError("invalid_grant", "code already used")
    grant = server.grants.get(code)
    if grant is None or grant.expires <= server.clock():
        raise OAuthError("invalid_grant", "unknown or expired code")
    sent = (form["client_id"], form.get("redirect_uri"))
    if sent != (grant.client_id, grant.redirect_uri):  # 4.1.3
        raise OAuthError("invalid_grant", "client or redirect_uri mismatch")
    challenge = code_challenge_s256(form.get("code_verifier", ""))
    if not hmac.compare_digest(challenge, grant.challenge):  # RFC 7636, 4.6
        raise OAuthError("invalid_grant", "code_verifier does not match")
    del server.grants[code]
    return _issue_tokens(server, code, grant, client)


def _issue_tokens(
    server: AuthorizationServer,
    code: str,
    grant: Grant,
    client: ClientRegistration,
) -> dict[str, str]:
    access_token = secrets.token_urlsafe(32)
    server.redeemed[code] = access_token
    server.access_tokens[access_token] = grant.user
    now = int(server.clock())
    claims = {"iss": server.issuer, "sub": grant.user, "aud": grant.client_id}
    claims |= {"iat": now, "exp": now + 300, "nonce": grant.nonce}
    id_token = sign_id_token(claims, client.secret.encode())  # OIDC Core, 10.1
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "id_token": id_token,
    }


# --8<-- [end:token]


# --8<-- [start:client]
@dataclass(frozen=True)
class PendingLogin:
    """What the client keeps (in the user's session) between redirect and
    callback."""

    state: str
    verifier: str
    nonce: str


def start_login(
    authorize_url: str, client_id: str, redirect_uri: str
) -> tuple[str, PendingLogin]:
    """Step A: the URL to send the browser to, and the secrets to keep."""
    pending = PendingLogin(
        state=secrets.token_urlsafe(16),  # RFC 6749, 10.12: CSRF protection
        verifier=make_code_verifier(),
        # OIDC: binds the ID token to this login
        nonce=secrets.token_urlsafe(16),
    )
    query = {"response_type": "code", "client_id": client_id, "scope": "openid"}
    query |= {"redirect_uri": redirect_uri, "state": pending.state}
    query |= {"nonce": pending.nonce, "code_challenge_method": "S256"}
    query["code_challenge"] = code_challenge_s256(pending.verifier)
    return f"{authorize_url}?{urllib.parse.urlencode(query)}", pending


def callback_code(callback_url: str, pending: PendingLogin) -> str:
    """Step C, client side: the code from the redirect, if `state` is ours."""
    query = dict(
        urllib.parse.parse_qsl(urllib.parse.urlsplit(callback_url).query)
    )
    if not hmac.compare_digest(query.get("state", ""), pending.state):
        raise OAuthError(
            "invalid_request", "state does not match: not our login"
        )
    return query["code"]


# --8<-- [end:client]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_flow]
    registration = ClientRegistration(
        secrets.token_urlsafe(32), "https://app.example/cb"
    )
    server = AuthorizationServer("https://id.example", {"app": registration})
    redirect_uri = registration.redirect_uri
    url, pending = start_login(
        "https://id.example/authorize", "app", redirect_uri
    )
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    callback = authorize(server, query, user="ada")  # ada logs in and consents
    code = callback_code(callback, pending)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "app",
        "client_secret": registration.secret,
        "redirect_uri": redirect_uri,
    }
    # no verifier to steal
    stolen = {**form, "code_verifier": make_code_verifier()}
    try:
        exchange_code(server, stolen)
    except OAuthError as error:
        print(error)
        #> invalid_grant: code_verifier does not match
    answer = exchange_code(server, {**form, "code_verifier": pending.verifier})
    claims = verify_id_token(
        answer["id_token"],
        key=registration.secret.encode(),
        issuer="https://id.example",
        client_id="app",
        nonce=pending.nonce,
        now=time.time(),
    )
    print(claims["sub"], answer["token_type"], len(server.access_tokens))
    #> ada Bearer 1
    try:
        exchange_code(server, {**form, "code_verifier": pending.verifier})
    except OAuthError as error:
        print(error)
        #> invalid_grant: code already used
    # the replay revoked the token it had bought
    print(len(server.access_tokens))
    #> 0
    # --8<-- [end:demo_flow]
