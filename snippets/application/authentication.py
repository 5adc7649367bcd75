"""Authentication: password hashes, server-side sessions, cookies and a JWT by hand.

What it teaches: how to store a password so that a stolen database does not hand the
passwords over (scrypt with a random salt per user, in a self-describing string that
records its cost parameters so they can be raised later, checked with a constant-time
comparison); how a server-side session works (a random ID from `secrets` in a cookie
with HttpOnly, Secure, SameSite, Max-Age and Path, idle and absolute expiry, a new ID at
login); how both meet over HTTP (a login handler that checks the hash and sets the
cookie, and a `require_session` middleware that answers 401 with a challenge when no
live session comes with the request); and how a JSON Web Token signed with HS256 is
built and checked by hand (RFC 7519 and RFC 7515): base64url without padding,
`header.payload.signature`, an exact algorithm check, a constant-time signature check,
and the exp, nbf, iat, iss and aud claims with a small leeway for clock skew.

Read first: the app_core page (`docs/application/app_core.md`, "The application
core"): the login handler is one of its handlers and `require_session` one of its
middleware, served with its `serving`, so this module builds on
`snippets.application.app_core`. Then the middleware page (the onion, and request
context in `contextvars`, which is how a handler learns who its user is).

What it leaves out: rate limiting and lockout against online guessing, multi-factor
authentication, password reset, CSRF tokens, key rotation with `kid`, asymmetric JWT
algorithms (RS256, ES256), token revocation, TLS (the demo serves plain HTTP on
loopback), and persistence: the session store lives in one process's memory. The page
names what each of these protects against.

Run it: `python -m snippets.application.authentication`.
"""

# --8<-- [start:hashing]
import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass


class PasswordHashError(ValueError):
    """A stored password hash that is not in the expected format."""


@dataclass(frozen=True)
class ScryptParams:
    """scrypt's cost parameters: N = 2**log2_n, block size r, parallelism p."""

    log2_n: int = 17  # N: CPU and memory cost; must be a power of two
    r: int = 8  # block size: one block is 128 * r bytes
    p: int = 1  # parallelism: independent lanes, each as costly as the first

    @property
    def maxmem(self) -> int:
        """Bytes scrypt needs (OpenSSL's count), passed on so the call is allowed."""
        return 128 * self.r * (2**self.log2_n + self.p + 2)


OWASP_MINIMUM = ScryptParams(log2_n=17, r=8, p=1)  # 128 MiB of memory per guess
SALT_BYTES = 16  # per user, random: equal passwords get different hashes
KEY_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def scrypt_key(password: str, salt: bytes, params: ScryptParams) -> bytes:
    """Derive KEY_BYTES bytes from a password with scrypt."""
    n = 2**params.log2_n
    secret = password.encode("utf-8")
    return hashlib.scrypt(
        secret,
        salt=salt,
        n=n,
        r=params.r,
        p=params.p,
        maxmem=params.maxmem,
        dklen=KEY_BYTES,
    )


def hash_password(password: str, params: ScryptParams = OWASP_MINIMUM) -> str:
    """A storable hash: `$scrypt$ln=17,r=8,p=1$<salt>$<key>` (base64, no padding)."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = scrypt_key(password, salt, params)
    settings = f"ln={params.log2_n},r={params.r},p={params.p}"
    return f"$scrypt${settings}${_b64(salt)}${_b64(key)}"


# --8<-- [end:hashing]


# --8<-- [start:verify]
STORED = re.compile(
    r"\$scrypt\$ln=([0-9]{1,2}),r=([0-9]{1,2}),p=([0-9]{1,2})"
    r"\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})"  # 16-byte salt, 32-byte key
)


def parse_password_hash(stored: str) -> tuple[ScryptParams, bytes, bytes]:
    """Split a stored hash into its parameters, salt and key; refuse anything else."""
    found = STORED.fullmatch(stored)
    if found is None:
        raise PasswordHashError("not a $scrypt$ hash of this format")
    params = ScryptParams(*(int(found[i]) for i in (1, 2, 3)))
    if min(params.log2_n, params.r, params.p) < 1 or params.maxmem > 2**30:
        raise PasswordHashError(f"cost out of range: {params}")  # 1 GiB at most
    salt, key = (
        base64.b64decode(found[i] + "=" * (-len(found[i]) % 4)) for i in (4, 5)
    )
    return params, salt, key


def verify_password(password: str, stored: str) -> bool:
    """Recompute with the stored salt and parameters; compare in constant time."""
    params, salt, expected = parse_password_hash(stored)
    actual = scrypt_key(password, salt, params)
    return hmac.compare_digest(actual, expected)  # time does not depend on where


def needs_rehash(stored: str, policy: ScryptParams = OWASP_MINIMUM) -> bool:
    """True if the hash was made with other parameters than the current policy."""
    params, _, _ = parse_password_hash(stored)
    return params != policy


# --8<-- [end:verify]


# --8<-- [start:login]
def check_login(
    users: dict[str, str], name: str, password: str, policy: ScryptParams
) -> bool:
    """Check a password; upgrade its hash to `policy` while the password is at hand.

    An unknown user name costs one scrypt as well (against a dummy hash), so the
    answer time does not tell an attacker which names exist.
    """
    stored = users.get(name)
    if stored is None:
        verify_password(password, _dummy_hash(policy))
        return False
    if not verify_password(password, stored):
        return False
    if needs_rehash(stored, policy):
        users[name] = hash_password(password, policy)  # the only moment we can
    return True


_DUMMIES: dict[ScryptParams, str] = {}


def _dummy_hash(policy: ScryptParams) -> str:
    if policy not in _DUMMIES:
        _DUMMIES[policy] = hash_password(secrets.token_urlsafe(16), policy)
    return _DUMMIES[policy]


# --8<-- [end:login]


# --8<-- [start:cost]
import time


def cost_ratio(params: ScryptParams = OWASP_MINIMUM, rounds: int = 2000) -> float:
    """How many SHA-256 hashes fit in the time of one scrypt hash, measured here."""
    salt, password = secrets.token_bytes(SALT_BYTES), b"correct horse battery staple"
    start = time.perf_counter()
    for _ in range(rounds):
        hashlib.sha256(salt + password).digest()
    sha256_seconds = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    scrypt_key(password.decode(), salt, params)
    scrypt_seconds = time.perf_counter() - start
    return scrypt_seconds / sha256_seconds


# --8<-- [end:cost]


# --8<-- [start:sessions]
from collections.abc import Callable

IDLE_TIMEOUT = 30 * 60  # seconds without a request before a session ends
ABSOLUTE_TIMEOUT = 8 * 60 * 60  # seconds after login, however active the user is


@dataclass
class Session:
    """What the server remembers about one logged-in browser."""

    user: str
    created: float
    last_seen: float


def _key(session_id: str) -> str:
    """Store a hash of the ID: a leaked store holds no usable cookie values."""
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


class SessionStore:
    """Server-side sessions: the cookie carries a random ID, the server the rest."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._sessions: dict[str, Session] = {}  # sha256(ID) -> session
        self._clock = clock

    def login(self, user: str, old_id: str | None = None) -> str:
        """Start a session with a fresh ID; the pre-login ID stops working."""
        if old_id is not None:
            self.logout(old_id)  # no session fixation: never keep an ID across login
        session_id = secrets.token_urlsafe(32)  # 256 random bits
        now = self._clock()
        self._sessions[_key(session_id)] = Session(user, now, now)
        return session_id

    def lookup(self, session_id: str) -> Session | None:
        """The live session for this ID, or None if unknown, idle or too old."""
        session = self._sessions.get(_key(session_id))
        if session is None:
            return None
        now = self._clock()
        idle, age = now - session.last_seen, now - session.created
        if idle > IDLE_TIMEOUT or age > ABSOLUTE_TIMEOUT:
            self.logout(session_id)
            return None
        session.last_seen = now
        return session

    def logout(self, session_id: str) -> None:
        """Forget the session; its cookie is now worthless."""
        self._sessions.pop(_key(session_id), None)


# --8<-- [end:sessions]


# --8<-- [start:cookies]
from http.cookies import CookieError, SimpleCookie

COOKIE_NAME = "__Host-session"  # the browser insists on Secure, Path=/ and no Domain
MAX_COOKIE_HEADER = 4096


def set_cookie(session_id: str, max_age: int = ABSOLUTE_TIMEOUT) -> str:
    """The Set-Cookie value that hands the session ID to the browser."""
    cookie = SimpleCookie()
    cookie[COOKIE_NAME] = session_id
    morsel = cookie[COOKIE_NAME]
    morsel["path"] = "/"  # RFC 6265, 4.1.2.4: sent with requests for every path
    morsel["secure"] = True  # 4.1.2.5: only over HTTPS
    morsel["httponly"] = True  # 4.1.2.6: invisible to JavaScript's document.cookie
    morsel["samesite"] = "Lax"  # RFC 6265bis: not sent on cross-site subrequests
    morsel["max-age"] = max_age  # 4.1.2.2: seconds; it wins over Expires
    return morsel.OutputString()


def session_id_from(cookie_header: str) -> str | None:
    """Read the session ID from a request's Cookie header, or None if absent."""
    if len(cookie_header) > MAX_COOKIE_HEADER:
        raise CookieError("Cookie header too large")
    names = [pair.split("=", 1)[0].strip() for pair in cookie_header.split(";")]
    if names.count(COOKIE_NAME) > 1:  # two values: one may be planted, refuse both
        raise CookieError(f"{COOKIE_NAME} sent more than once")
    cookie = SimpleCookie()
    cookie.load(cookie_header)
    morsel = cookie.get(COOKIE_NAME)
    return None if morsel is None else morsel.value


# --8<-- [end:cookies]


# --8<-- [start:http]
import contextvars
from urllib.parse import parse_qs

from snippets.application.app_core import (
    Handler,
    Middleware,
    Request,
    Response,
    call,
    json_response,
    problem,
    serving,
    text,
)

# RFC 9110, 15.5.2: a 401 MUST carry a challenge. No registered scheme fits a
# cookie session, so this one is made up; it tells a client where to log in.
CHALLENGE = ("WWW-Authenticate", 'Session realm="orders", login="/login"')
current_user: contextvars.ContextVar[str] = contextvars.ContextVar("current_user")


def session_id_of(request: Request) -> str | None:
    """The session ID in the request's cookies; None if absent or unreadable."""
    lines = [value for name, value in request.headers if name.lower() == "cookie"]
    try:  # several Cookie lines join with "; " (RFC 9113, 8.2.3), not ", "
        return session_id_from("; ".join(lines))
    except CookieError:
        return None  # fail closed: a cookie we cannot read is no session


def login_handler(
    users: dict[str, str], store: SessionStore, policy: ScryptParams = OWASP_MINIMUM
) -> Handler:
    """POST name=...&password=... (a form); a new session in a cookie on success."""

    def login(request: Request) -> Response:
        form = parse_qs(request.body.decode("utf-8", "replace"))
        name, password = form.get("name", [""])[-1], form.get("password", [""])[-1]
        if not check_login(users, name, password, policy):
            # the same answer for an unknown name and a wrong password
            return problem(401, "wrong name or password", [CHALLENGE])
        session_id = store.login(name, old_id=session_id_of(request))
        cookie = ("Set-Cookie", set_cookie(session_id))
        return json_response({"user": name}, headers=[cookie])

    return login


def logout_handler(store: SessionStore) -> Handler:
    """POST /logout: forget the session; ask the browser to drop the cookie."""

    def logout(request: Request) -> Response:
        if (session_id := session_id_of(request)) is not None:
            store.logout(session_id)
        return Response(204, headers=[("Set-Cookie", set_cookie("", max_age=0))])

    return logout


def require_session(store: SessionStore) -> Middleware:
    """Pass a request on only with a live session, its user in `current_user`."""

    def middleware(handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            session_id = session_id_of(request)
            session = None if session_id is None else store.lookup(session_id)
            if session is None:
                return problem(401, "log in first", [CHALLENGE])
            token = current_user.set(session.user)
            try:
                return handler(request)
            finally:
                current_user.reset(token)

        return guarded

    return middleware


# --8<-- [end:http]


# --8<-- [start:http_app]
def orders(request: Request) -> Response:
    """A protected resource: it trusts `current_user`, set by the middleware."""
    return text(f"orders of {current_user.get()}\n")


def auth_app(
    users: dict[str, str], store: SessionStore, policy: ScryptParams = OWASP_MINIMUM
) -> Handler:
    """Three routes: log in, log out, and one page behind `require_session`."""
    routes = {
        ("POST", "/login"): login_handler(users, store, policy),
        ("POST", "/logout"): logout_handler(store),
        ("GET", "/orders"): require_session(store)(orders),
    }

    def app(request: Request) -> Response:
        handler = routes.get((request.method, request.path))
        allowed = [method for method, path in routes if path == request.path]
        if handler is None and allowed:  # RFC 9110, 15.5.6: a 405 MUST send Allow
            allow = [("Allow", ", ".join(allowed))]
            return problem(405, "method not allowed", allow)
        if handler is None:
            return problem(404, f"no route for {request.path}")
        return handler(request)

    return app


# --8<-- [end:http_app]


# --8<-- [start:b64url]
import json


class TokenError(ValueError):
    """A token we refuse; the subclass and the message say why."""


class MalformedToken(TokenError):
    """Not a compact JWS of three base64url parts holding JSON objects."""


B64URL = re.compile(r"[A-Za-z0-9_-]*")
MAX_TOKEN_LENGTH = 8192


def b64url_encode(data: bytes) -> str:
    """RFC 7515, section 2: base64url with the trailing '=' padding removed."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The strict inverse: URL-safe alphabet, no padding, one spelling per value."""
    if not B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise MalformedToken(f"not base64url: {text[:20]!r}")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:  # unused low bits set in the last character
        raise MalformedToken("non-canonical base64url")
    return data


# --8<-- [end:b64url]


# --8<-- [start:encode]
HEADER = {"alg": "HS256", "typ": "JWT"}


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")


def hs256(signing_input: str, key: bytes) -> str:
    """The JWS signature for HS256 (RFC 7518, 3.2): HMAC-SHA256, base64url."""
    mac = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256)
    return b64url_encode(mac.digest())


def encode_jwt(claims: dict[str, object], key: bytes) -> str:
    """A JWT in compact form: BASE64URL(header).BASE64URL(claims).signature."""
    signing_input = f"{b64url_encode(_json(HEADER))}.{b64url_encode(_json(claims))}"
    return f"{signing_input}.{hs256(signing_input, key)}"


# --8<-- [end:encode]


# --8<-- [start:decode]
class AlgorithmNotAllowed(TokenError):
    """The header names another algorithm than the one this verifier uses."""


class BadSignature(TokenError):
    """The signature does not match the header and payload under our key."""


def _object(data: bytes) -> dict[str, object]:
    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        if len({name for name, _ in pairs}) != len(pairs):
            raise MalformedToken("duplicate member name")
        return dict(pairs)

    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedToken(f"not UTF-8 JSON: {error}") from None
    if not isinstance(value, dict):
        raise MalformedToken("not a JSON object")
    return value


def verify_jws(token: str, key: bytes) -> dict[str, object]:
    """Check the structure, the algorithm and the signature; return the claims."""
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise MalformedToken("too long, or not ASCII")
    parts = token.split(".")
    if len(parts) != 3:  # RFC 7515, 7.1: header.payload.signature
        raise MalformedToken(f"expected 3 parts, found {len(parts)}")
    header_b64, payload_b64, signature = parts
    header = _object(b64url_decode(header_b64))
    if header.get("alg") != "HS256":  # RFC 8725, 3.1: the verifier picks the alg
        raise AlgorithmNotAllowed(f"alg {header.get('alg')!r} is not HS256")
    if "crit" in header:  # RFC 7515, 4.1.11: extensions we do not understand
        raise MalformedToken("crit header parameters are not supported")
    expected = hs256(f"{header_b64}.{payload_b64}", key)
    if not hmac.compare_digest(expected, signature):
        raise BadSignature("signature does not match")
    return _object(b64url_decode(payload_b64))  # parsed only once authentic


# --8<-- [end:decode]


# --8<-- [start:claims]
import math


class TokenExpired(TokenError):
    """Now is at or after exp (plus leeway)."""


class TokenNotYetValid(TokenError):
    """Now is before nbf or iat (minus leeway)."""


class WrongAudience(TokenError):
    """The token was issued for someone else: our name is not in aud."""


class WrongIssuer(TokenError):
    """The token was not issued by the issuer we trust."""


def _numeric_date(claims: dict[str, object], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedToken(f"{name} is not a NumericDate")
    if not math.isfinite(value):
        raise MalformedToken(f"{name} is not finite")
    return value


def check_claims(
    claims: dict[str, object], *, audience: str, issuer: str, now: float, leeway: float
) -> None:
    """RFC 7519, 4.1: exp, nbf, iat, iss and aud; exp, iss and aud are required."""
    exp, nbf = _numeric_date(claims, "exp"), _numeric_date(claims, "nbf")
    iat = _numeric_date(claims, "iat")
    if exp is None:
        raise MalformedToken("no exp: a token that never expires is refused")
    if now >= exp + leeway:  # 4.1.4: "MUST NOT be accepted" on or after exp
        raise TokenExpired(f"expired {now - exp:.0f} s ago")
    if nbf is not None and now + leeway < nbf:  # 4.1.5
        raise TokenNotYetValid(f"not valid for another {nbf - now:.0f} s")
    if iat is not None and now + leeway < iat:
        raise TokenNotYetValid("issued in the future")
    if claims.get("iss") != issuer:
        raise WrongIssuer(f"iss {claims.get('iss')!r} is not {issuer!r}")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or audience not in audiences:  # 4.1.3
        raise WrongAudience(f"{audience!r} is not in aud {aud!r}")


def decode_jwt(
    token: str,
    key: bytes,
    *,
    audience: str,
    issuer: str,
    now: float | None = None,
    leeway: float = 30.0,
) -> dict[str, object]:
    """Verify a JWT and its claims; raise a TokenError subclass if anything is off."""
    claims = verify_jws(token, key)
    at = time.time() if now is None else now
    check_claims(claims, audience=audience, issuer=issuer, now=at, leeway=leeway)
    return claims


# --8<-- [end:claims]


# The demo's `#>` lines are the output that the docs test checks; ruff format would
# rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_hash]
    print(OWASP_MINIMUM.maxmem // 2**20, "MiB of memory for each hash")
    #> 128 MiB of memory for each hash
    stored = hash_password("correct horse battery staple")
    print(stored[:22], len(stored))
    #> $scrypt$ln=17,r=8,p=1$ 88
    cheap = ScryptParams(log2_n=14)  # only to show the salt at work, quickly
    print(hash_password("hunter2", cheap) == hash_password("hunter2", cheap))
    #> False
    # --8<-- [end:demo_hash]
    # --8<-- [start:demo_verify]
    print(verify_password("correct horse battery staple", stored))
    #> True
    print(verify_password("Correct horse battery staple", stored))
    #> False
    # --8<-- [end:demo_verify]
    # --8<-- [start:demo_upgrade]
    old = ScryptParams(log2_n=14, r=8, p=1)  # what the site used years ago
    users = {"ada": hash_password("s3cret-passphrase", old)}
    print(needs_rehash(users["ada"]))
    #> True
    print(check_login(users, "ada", "s3cret-passphrase", OWASP_MINIMUM))
    #> True
    print(users["ada"][:22], needs_rehash(users["ada"]))
    #> $scrypt$ln=17,r=8,p=1$ False
    # --8<-- [end:demo_upgrade]
    # --8<-- [start:demo_cost]
    print(cost_ratio() > 10_000)  # one scrypt guess costs that many SHA-256 guesses
    #> True
    # --8<-- [end:demo_cost]
    # --8<-- [start:demo_session]
    clock = [1_000_000.0]  # a fake clock, in seconds, that the demo moves by hand
    store = SessionStore(clock=lambda: clock[0])
    anonymous = store.login("anonymous")  # a session from before the login
    session_id = store.login("ada", old_id=anonymous)  # rotated at login
    print(store.lookup(anonymous), store.lookup(session_id).user)
    #> None ada
    print(set_cookie(session_id).replace(session_id, "<id>"))
    #> __Host-session=<id>; HttpOnly; Max-Age=28800; Path=/; SameSite=Lax; Secure
    request_cookie = f"theme=dark; {COOKIE_NAME}={session_id}"
    print(session_id_from(request_cookie) == session_id)
    #> True
    clock[0] += IDLE_TIMEOUT + 1  # the user walks away for half an hour
    print(store.lookup(session_id))
    #> None
    # --8<-- [end:demo_session]
    # --8<-- [start:demo_http]
    accounts = {"ada": hash_password("s3cret-passphrase")}
    sessions = SessionStore()
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    with serving(auth_app(accounts, sessions)) as server:
        reply = call(server, "GET", "/orders")  # no cookie yet
        print(reply.status, reply.header("WWW-Authenticate"))
        #> 401 Session realm="orders", login="/login"
        wrong = b"name=ada&password=guess"
        print(call(server, "POST", "/login", wrong, form).json()["detail"])
        #> wrong name or password
        right = b"name=ada&password=s3cret-passphrase"
        reply = call(server, "POST", "/login", right, form)
        cookie = reply.header("Set-Cookie")
        print(reply.status, reply.json(), "HttpOnly; Max-Age=28800" in cookie)
        #> 200 {'user': 'ada'} True
        sent_back = [("Cookie", cookie.split(";")[0])]  # what a browser returns
        print(call(server, "GET", "/orders", headers=sent_back).body)
        #> b'orders of ada\n'
        print(call(server, "POST", "/logout", headers=sent_back).status)
        #> 204
        print(call(server, "GET", "/orders", headers=sent_back).status)
        #> 401
    # --8<-- [end:demo_http]
    # --8<-- [start:demo_jwt]
    key = secrets.token_bytes(32)  # RFC 7518, 3.2: at least 256 bits for HS256
    now = 1_700_000_000
    claims = {"iss": "https://auth.example", "aud": "orders-api", "sub": "ada",
              "iat": now, "exp": now + 300}
    token = encode_jwt(claims, key)
    print(token.count("."), token.split(".")[0])
    #> 2 eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9
    check = {"audience": "orders-api", "issuer": "https://auth.example"}
    print(decode_jwt(token, key, now=now + 60, **check)["sub"])
    #> ada
    for when in (now + 400, now - 100):
        try:
            decode_jwt(token, key, now=when, **check)
        except TokenError as error:
            print(type(error).__name__, error)
            #> TokenExpired expired 100 s ago
            #> TokenNotYetValid issued in the future
    header, payload, signature = token.split(".")
    forged = b64url_encode(_json({**claims, "sub": "admin"}))
    for bad in (f"{header}.{forged}.{signature}", f"{header}.{payload}.{signature}x"):
        try:
            decode_jwt(bad, key, now=now, **check)
        except TokenError as error:
            print(type(error).__name__, error)
            #> BadSignature signature does not match
            #> BadSignature signature does not match
    # --8<-- [end:demo_jwt]
