"""Authorization: who may do what, decided by one table; OAuth 2 with PKCE and OIDC.

What it teaches: authorization as a policy function `can(user, action, resource)`
driven by a table of roles, actions and scopes (own or any), where everything the table
does not grant is denied (least privilege); how a handler maps the decision to 401, 404
or 403, answering 404 when the user may not even see the resource so that its existence
does not leak (RFC 9110, sections 15.5.4 and 15.5.5); and the OAuth 2
authorization-code flow with PKCE (RFC 6749, section 4.1; RFC 7636) with an OpenID
Connect ID token and its nonce, played out between an in-memory authorization server
and a client, with the S256 code challenge checked against RFC 7636's Appendix B.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): the document handler here is one of its handlers, served with its `serving`,
so this module builds on `snippets.application.app_core`. Then the authentication page
(sessions, and the JWT this module signs ID tokens with, condensed here).

What it leaves out: groups, attribute-based and relationship-based policies, a policy
language, audit logs; in OAuth, scopes and consent screens, refresh tokens, client
authentication methods other than a shared secret, the authorization and token
endpoints as HTTP handlers, redirects through a real browser, and asymmetric ID token
signatures published as a JWKS.

Run it: `python -m snippets.application.authorization`.
"""

# --8<-- [start:policy]
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    """Who is asking: an ID and one role."""

    id: str
    role: str


@dataclass(frozen=True)
class Document:
    """What is asked for: a resource with an owner."""

    id: str
    owner_id: str
    title: str = ""


OWN, ANY = "own", "any"
ACTIONS = ("read", "update", "delete", "transfer")

# role -> action -> scope. A missing entry is a "no": least privilege by default.
POLICY: dict[str, dict[str, str]] = {
    "member": {"read": OWN, "update": OWN, "delete": OWN, "transfer": OWN},
    "support": {"read": ANY},  # reads to help users, changes nothing
    "moderator": {"read": ANY, "update": OWN, "delete": ANY, "transfer": OWN},
    "admin": {"read": ANY, "update": OWN, "delete": ANY, "transfer": ANY},
}


def can(user: User | None, action: str, resource: Document) -> bool:
    """True if the table grants `action` on `resource` to `user`."""
    if user is None:
        return False
    scope = POLICY.get(user.role, {}).get(action)
    if scope == ANY:
        return True
    return scope == OWN and resource.owner_id == user.id


# --8<-- [end:policy]


# --8<-- [start:decide]
def decide(user: User | None, action: str, resource: Document | None) -> int:
    """The HTTP status for this request: 401, 404, 403, or 200 if allowed."""
    if user is None:
        return 401  # we do not know who you are: authenticate first
    if resource is None or not can(user, "read", resource):
        return 404  # you may not see it: as if it did not exist
    if not can(user, action, resource):
        return 403  # you see it, but may not do this
    return 200


# --8<-- [end:decide]


# --8<-- [start:app]
import re
from collections.abc import Callable

from snippets.application.app_core import (
    Handler,
    Request,
    Response,
    json_response,
    problem,
)

ROUTE = re.compile(r"/docs/([A-Za-z0-9_-]{1,64})(/transfer)?")
# (method, what follows the document ID) -> the action the policy is asked about
ROUTES = {("GET", ""): "read", ("HEAD", ""): "read", ("PUT", ""): "update"}
ROUTES |= {("DELETE", ""): "delete", ("POST", "/transfer"): "transfer"}
CHALLENGE = ("WWW-Authenticate", 'Bearer realm="docs"')  # RFC 9110, 15.5.2
Authenticate = Callable[[Request], User | None]


def refusal(status: int, action: str) -> Response:
    """The answer for a refusal from `decide`: nothing in it names the document."""
    if status == 401:  # a 401 carries a challenge: how to authenticate
        return problem(401, "authenticate first", [CHALLENGE])
    if status == 403:
        return problem(403, f"you may not {action} this document")
    return problem(404, "no such document")  # missing or hidden: the same bytes


def make_app(documents: dict[str, Document], authenticate: Authenticate) -> Handler:
    """A handler whose every answer about a document comes from `decide`."""

    def app(request: Request) -> Response:
        found = ROUTE.fullmatch(request.path)
        if found is None:
            return refusal(404, "read")
        suffix = found[2] or ""
        action = ROUTES.get((request.method, suffix))
        if action is None:  # RFC 9110, 15.5.6: a 405 lists the allowed methods
            allow = ", ".join(method for method, end in ROUTES if end == suffix)
            detail = f"{request.method} is not allowed here"
            return problem(405, detail, [("Allow", allow)])
        status = decide(authenticate(request), action, documents.get(found[1]))
        if status != 200:
            return refusal(status, action)
        return json_response({"document": found[1], "action": action})

    return app


# --8<-- [end:app]


# --8<-- [start:bearer]
def bearer_users(tokens: dict[str, User]) -> Authenticate:
    """Authentication stand-in: `Authorization: Bearer <token>` looked up in a dict."""

    def authenticate(request: Request) -> User | None:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        return tokens.get(token) if scheme.lower() == "bearer" else None

    return authenticate


# --8<-- [end:bearer]


# --8<-- [start:pkce]
import base64
import hashlib
import hmac
import secrets

VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636, 4.1: unreserved


class OAuthError(Exception):
    """An OAuth error response; `code` is the RFC 6749 error code."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7636, Appendix A)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_code_verifier(n_bytes: int = 32) -> str:
    """A fresh code_verifier: n random octets, base64url-encoded (4.1)."""
    if not 32 <= n_bytes <= 96:  # 43 to 128 characters once encoded
        raise ValueError("n_bytes must be between 32 and 96")
    return b64url(secrets.token_bytes(n_bytes))


def code_challenge_s256(verifier: str) -> str:
    """RFC 7636, 4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))."""
    if not VERIFIER.fullmatch(verifier):
        raise OAuthError("invalid_request", "code_verifier: 43-128 unreserved chars")
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


# --8<-- [end:pkce]


# --8<-- [start:id_token]
import binascii
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
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError) as error:
        raise OAuthError("invalid_token", f"unreadable part: {error}") from None
    if not isinstance(value, dict):
        raise OAuthError("invalid_token", "not a JSON object")
    return value


def verify_id_token(
    token: str, *, key: bytes, issuer: str, client_id: str, nonce: str, now: float
) -> dict[str, Any]:
    """OIDC Core 3.1.3.7: signature, iss, aud, exp, and the nonce we sent."""
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        raise OAuthError("invalid_token", "not a compact JWS")
    if _unb64url(parts[0]).get("alg") != "HS256":
        raise OAuthError("invalid_token", "unexpected alg")
    mac = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
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

CODE_LIFETIME = 60  # seconds; RFC 6749, 4.1.2: 10 minutes at most is RECOMMENDED


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
    redeemed: dict[str, str] = field(default_factory=dict)  # code -> access token
    access_tokens: dict[str, str] = field(default_factory=dict)  # token -> user


def authorize(server: AuthorizationServer, query: dict[str, str], user: str) -> str:
    """Steps A-C: check the request, let `user` log in and consent, redirect back."""
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
def exchange_code(server: AuthorizationServer, form: dict[str, str]) -> dict[str, str]:
    """Steps D-E: trade a code, once, for an access token and an ID token."""
    client = server.clients.get(form.get("client_id", ""))
    secret = form.get("client_secret", "")
    if client is None or not hmac.compare_digest(secret, client.secret):
        raise OAuthError("invalid_client", "client authentication failed")
    code = form.get("code", "")
    if code in server.redeemed:  # 4.1.2: used twice: deny, revoke what it bought
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
    server: AuthorizationServer, code: str, grant: Grant, client: ClientRegistration
) -> dict[str, str]:
    access_token = secrets.token_urlsafe(32)
    server.redeemed[code] = access_token
    server.access_tokens[access_token] = grant.user
    now = int(server.clock())
    claims = {"iss": server.issuer, "sub": grant.user, "aud": grant.client_id}
    claims |= {"iat": now, "exp": now + 300, "nonce": grant.nonce}
    id_token = sign_id_token(claims, client.secret.encode())  # OIDC Core, 10.1
    return {"access_token": access_token, "token_type": "Bearer", "id_token": id_token}


# --8<-- [end:token]


# --8<-- [start:client]
@dataclass(frozen=True)
class PendingLogin:
    """What the client keeps (in the user's session) between redirect and callback."""

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
        nonce=secrets.token_urlsafe(16),  # OIDC: binds the ID token to this login
    )
    query = {"response_type": "code", "client_id": client_id, "scope": "openid"}
    query |= {"redirect_uri": redirect_uri, "state": pending.state}
    query |= {"nonce": pending.nonce, "code_challenge_method": "S256"}
    query["code_challenge"] = code_challenge_s256(pending.verifier)
    return f"{authorize_url}?{urllib.parse.urlencode(query)}", pending


def callback_code(callback_url: str, pending: PendingLogin) -> str:
    """Step C, client side: the code from the redirect, if `state` is ours."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback_url).query))
    if not hmac.compare_digest(query.get("state", ""), pending.state):
        raise OAuthError("invalid_request", "state does not match: not our login")
    return query["code"]


# --8<-- [end:client]


# The demo's `#>` lines are the output that the docs test checks; ruff format would
# rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_policy]
    ada, bob = User("ada", "member"), User("bob", "moderator")
    essay = Document("essay", owner_id="ada")
    print([can(ada, action, essay) for action in ACTIONS])
    #> [True, True, True, True]
    print([can(bob, action, essay) for action in ACTIONS])
    #> [True, False, True, False]
    print(can(User("eve", "intern"), "read", essay))  # a role the table does not know
    #> False
    # --8<-- [end:demo_policy]
    # --8<-- [start:demo_decide]
    eve = User("eve", "member")
    print(decide(None, "read", essay), decide(eve, "read", essay))
    #> 401 404
    print(decide(eve, "read", None), decide(bob, "update", essay))
    #> 404 403
    print(decide(bob, "delete", essay))
    #> 200
    # --8<-- [end:demo_decide]
    # --8<-- [start:demo_app]
    from snippets.application.app_core import call, serving

    tokens = {"t-ada": ada, "t-bob": bob, "t-eve": eve}
    app = make_app({"essay": essay}, bearer_users(tokens))

    def ask(server, method: str, target: str, token: str = "") -> Response:
        auth = [("Authorization", f"Bearer {token}")] if token else []
        return call(server, method, target, headers=auth)

    with serving(app) as server:
        anonymous = ask(server, "GET", "/docs/essay")
        print(anonymous.status, anonymous.header("WWW-Authenticate"))
        #> 401 Bearer realm="docs"
        hidden = ask(server, "GET", "/docs/essay", "t-eve")
        missing = ask(server, "GET", "/docs/nothing", "t-eve")
        print(hidden.status, hidden.json()["detail"], hidden == missing)
        #> 404 no such document True
        print(ask(server, "PUT", "/docs/essay", "t-bob").status)
        #> 403
        wrong = ask(server, "PATCH", "/docs/essay", "t-bob")
        print(wrong.status, wrong.header("Allow"))
        #> 405 GET, HEAD, PUT, DELETE
        print(ask(server, "POST", "/docs/essay/transfer", "t-ada").json())
        #> {'document': 'essay', 'action': 'transfer'}
    # --8<-- [end:demo_app]
    # --8<-- [start:demo_pkce]
    rfc_octets = bytes([116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216,
                        173, 187, 186, 22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5,
                        88, 83, 132, 141, 121])  # RFC 7636, Appendix B
    verifier = b64url(rfc_octets)
    print(verifier)
    #> dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
    print(code_challenge_s256(verifier))
    #> E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
    fresh = make_code_verifier()
    print(len(fresh), VERIFIER.fullmatch(fresh) is not None)
    #> 43 True
    # --8<-- [end:demo_pkce]
    # --8<-- [start:demo_flow]
    registration = ClientRegistration(secrets.token_urlsafe(32), "https://app.example/cb")
    server = AuthorizationServer("https://id.example", {"app": registration})
    redirect_uri = registration.redirect_uri
    url, pending = start_login("https://id.example/authorize", "app", redirect_uri)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    callback = authorize(server, query, user="ada")  # ada logs in and consents
    code = callback_code(callback, pending)
    form = {"grant_type": "authorization_code", "code": code, "client_id": "app",
            "client_secret": registration.secret, "redirect_uri": redirect_uri}
    stolen = {**form, "code_verifier": make_code_verifier()}  # no verifier to steal
    try:
        exchange_code(server, stolen)
    except OAuthError as error:
        print(error)
        #> invalid_grant: code_verifier does not match
    answer = exchange_code(server, {**form, "code_verifier": pending.verifier})
    claims = verify_id_token(answer["id_token"], key=registration.secret.encode(),
                             issuer="https://id.example", client_id="app",
                             nonce=pending.nonce, now=time.time())
    print(claims["sub"], answer["token_type"], len(server.access_tokens))
    #> ada Bearer 1
    try:
        exchange_code(server, {**form, "code_verifier": pending.verifier})
    except OAuthError as error:
        print(error)
        #> invalid_grant: code already used
    print(len(server.access_tokens))  # the replay revoked the token it had bought
    #> 0
    # --8<-- [end:demo_flow]
