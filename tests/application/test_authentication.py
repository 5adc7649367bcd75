"""The authentication page's claims: scrypt hashes, sessions, cookies, and a JWT by hand.

Oracle: PyJWT verifies the tokens we make and we verify the tokens it makes; every token
our decoder refuses, PyJWT refuses too. http.cookiejar, a second cookie parser in the
standard library, reads our Set-Cookie header the way a client does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.cookiejar
import json
import time
import urllib.request
from email.message import Message
from http.cookies import CookieError

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application import authentication as auth
from snippets.application.app_core import Request, Response, serving
from tests.helpers import Reply, http_request

FAST = auth.ScryptParams(log2_n=10, r=8, p=1)  # 1 MiB: keeps the tests quick
KEY = b"k" * 32  # PyJWT warns about HMAC keys shorter than 32 bytes
ISSUER = "https://auth.example"
AUDIENCE = "orders-api"
CHECK = {"audience": AUDIENCE, "issuer": ISSUER}


def claims_at(now: int, **extra: object) -> dict[str, object]:
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ada",
        "iat": now,
        "exp": now + 300,
    } | extra


def pyjwt_decode(token: str, key: bytes = KEY, leeway: float = 0) -> dict:
    return jwt.decode(
        token,
        key,
        algorithms=["HS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=leeway,
        options={"require": ["exp", "iss", "aud"]},
    )


def forge(header: dict, claims: object, key: bytes, digest=hashlib.sha256) -> str:
    """A token built independently of the snippet: any header, any HMAC digest."""

    def part(value: object) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    mac = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


# --- password hashing ---------------------------------------------------------------


def test_a_hash_records_its_parameters_salt_and_key() -> None:
    stored = auth.hash_password("pw", FAST)
    params, salt, key = auth.parse_password_hash(stored)
    assert stored.startswith("$scrypt$ln=10,r=8,p=1$")
    assert (params, len(salt), len(key)) == (FAST, 16, 32)
    assert key == hashlib.scrypt(b"pw", salt=salt, n=1024, r=8, p=1, dklen=32)


def test_the_right_password_verifies_and_a_wrong_one_does_not() -> None:
    stored = auth.hash_password("correct horse", FAST)
    assert auth.verify_password("correct horse", stored)
    assert not auth.verify_password("correct horsE", stored)
    assert not auth.verify_password("", stored)


def test_the_same_password_gets_a_different_salt_and_hash_each_time() -> None:
    hashes = {auth.hash_password("same", FAST) for _ in range(5)}
    assert len(hashes) == 5
    assert all(auth.verify_password("same", h) for h in hashes)


def test_non_ascii_passwords_are_hashed_as_utf8() -> None:
    stored = auth.hash_password("pässwörd 🔑", FAST)
    _, salt, key = auth.parse_password_hash(stored)
    expected = hashlib.scrypt(
        "pässwörd 🔑".encode(), salt=salt, n=1024, r=8, p=1, dklen=32
    )
    assert key == expected
    assert auth.verify_password("pässwörd 🔑", stored)


def test_the_default_parameters_are_owasps_scrypt_minimum() -> None:
    """OWASP Password Storage Cheat Sheet: N=2^17, r=8 (1024-byte blocks), p=1."""
    assert (auth.OWASP_MINIMUM.log2_n, auth.OWASP_MINIMUM.r, auth.OWASP_MINIMUM.p) == (
        17,
        8,
        1,
    )
    assert auth.hash_password.__defaults__ == (auth.OWASP_MINIMUM,)


def test_maxmem_is_exactly_what_openssl_needs() -> None:
    params = auth.ScryptParams(log2_n=11, r=4, p=3)
    hashlib.scrypt(b"x", salt=b"s", n=2048, r=4, p=3, maxmem=params.maxmem)
    with pytest.raises(ValueError, match="memory limit"):
        hashlib.scrypt(b"x", salt=b"s", n=2048, r=4, p=3, maxmem=params.maxmem - 1)


def test_owasp_parameters_need_more_memory_than_the_default_limit() -> None:
    """Without maxmem, OpenSSL's 32 MiB default refuses N=2^17, r=8 (128 MiB)."""
    assert auth.OWASP_MINIMUM.maxmem > 128 * 2**20
    with pytest.raises(ValueError, match="memory limit"):
        hashlib.scrypt(b"x", salt=b"s", n=2**17, r=8, p=1)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text-password",
        "$scrypt$ln=10,r=8,p=1$short$short",
        "$scrypt$ln=0,r=8,p=1$" + "A" * 22 + "$" + "A" * 43,
        "$scrypt$ln=21,r=8,p=1$" + "A" * 22 + "$" + "A" * 43,
        "$scrypt$ln=17,r=99,p=1$" + "A" * 22 + "$" + "A" * 43,
        "$scrypt$ln=١٠,r=8,p=1$" + "A" * 22 + "$" + "A" * 43,  # Arabic-Indic digits
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    ],
)
def test_a_malformed_or_outrageous_stored_hash_is_a_typed_error(stored: str) -> None:
    with pytest.raises(auth.PasswordHashError):
        auth.verify_password("pw", stored)


def test_needs_rehash_compares_with_the_policy() -> None:
    stored = auth.hash_password("pw", FAST)
    assert not auth.needs_rehash(stored, FAST)
    assert auth.needs_rehash(stored, auth.ScryptParams(log2_n=11))


def test_login_upgrades_an_old_hash_to_the_current_policy() -> None:
    policy = auth.ScryptParams(log2_n=11)
    users = {"ada": auth.hash_password("pw", FAST)}
    assert auth.check_login(users, "ada", "pw", policy)
    assert auth.parse_password_hash(users["ada"])[0] == policy
    assert auth.verify_password("pw", users["ada"])


def test_a_failed_login_leaves_the_hash_alone() -> None:
    users = {"ada": auth.hash_password("pw", FAST)}
    before = users["ada"]
    assert not auth.check_login(users, "ada", "wrong", auth.ScryptParams(log2_n=11))
    assert users["ada"] == before


def test_an_unknown_user_costs_a_scrypt_too(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[auth.ScryptParams] = []
    real = auth.scrypt_key

    def counting(password: str, salt: bytes, params: auth.ScryptParams) -> bytes:
        calls.append(params)
        return real(password, salt, params)

    monkeypatch.setattr(auth, "scrypt_key", counting)
    auth._dummy_hash(FAST)  # made once per policy, outside the timed path
    calls.clear()
    assert not auth.check_login({}, "nobody", "pw", FAST)
    assert calls == [FAST]


def test_scrypt_costs_far_more_than_sha256() -> None:
    """The page prints `cost_ratio() > 10_000`; typically it is several 100,000."""
    assert auth.cost_ratio(auth.OWASP_MINIMUM, rounds=2000) > 10_000


# --- sessions and cookies --------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_session_ids_are_random_256_bit_urlsafe_strings() -> None:
    store = auth.SessionStore()
    ids = {store.login("ada") for _ in range(100)}
    assert len(ids) == 100
    assert all(len(base64.urlsafe_b64decode(i + "=")) == 32 for i in ids)


def test_login_rotates_the_id_and_the_old_one_stops_working() -> None:
    store = auth.SessionStore()
    before = store.login("anonymous")
    after = store.login("ada", old_id=before)
    assert after != before
    assert store.lookup(before) is None
    assert store.lookup(after).user == "ada"


def test_the_store_keeps_only_hashes_of_the_ids() -> None:
    store = auth.SessionStore()
    session_id = store.login("ada")
    assert session_id not in store._sessions
    assert hashlib.sha256(session_id.encode()).hexdigest() in store._sessions


def test_an_idle_session_expires_and_activity_keeps_it_alive() -> None:
    clock = FakeClock()
    store = auth.SessionStore(clock=clock)
    session_id = store.login("ada")
    for _ in range(5):
        clock.now += auth.IDLE_TIMEOUT - 1  # active just often enough
        assert store.lookup(session_id) is not None
    clock.now += auth.IDLE_TIMEOUT + 1
    assert store.lookup(session_id) is None


def test_a_session_ends_at_the_absolute_timeout_however_active() -> None:
    clock = FakeClock()
    store = auth.SessionStore(clock=clock)
    session_id = store.login("ada")
    while clock.now + 600 - 1_000_000.0 <= auth.ABSOLUTE_TIMEOUT:
        clock.now += 600
        assert store.lookup(session_id) is not None
    clock.now += 600
    assert store.lookup(session_id) is None


def test_logout_forgets_the_session() -> None:
    store = auth.SessionStore()
    session_id = store.login("ada")
    store.logout(session_id)
    assert store.lookup(session_id) is None
    store.logout(session_id)  # twice is harmless


def test_set_cookie_carries_every_protective_attribute() -> None:
    header = auth.set_cookie("abc123")
    parts = [p.strip() for p in header.split(";")]
    assert parts[0] == "__Host-session=abc123"
    assert set(parts[1:]) == {
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        f"Max-Age={auth.ABSOLUTE_TIMEOUT}",
    }
    assert "Domain" not in header  # __Host- forbids it


def jar_with(set_cookie: str, url: str) -> http.cookiejar.CookieJar:
    """Let http.cookiejar, a client-side parser, store a Set-Cookie header."""
    headers = Message()
    headers["Set-Cookie"] = set_cookie

    class Response:
        def info(self) -> Message:
            return headers

    jar = http.cookiejar.CookieJar()
    jar.extract_cookies(Response(), urllib.request.Request(url))
    return jar


def test_a_client_cookie_parser_reads_our_attributes() -> None:
    jar = jar_with(auth.set_cookie("abc123"), "https://app.example/login")
    (cookie,) = list(jar)
    assert (cookie.name, cookie.value, cookie.path) == ("__Host-session", "abc123", "/")
    assert cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite") == "Lax"
    assert abs(cookie.expires - (time.time() + auth.ABSOLUTE_TIMEOUT)) < 60


def test_a_secure_cookie_is_sent_over_https_and_not_over_http() -> None:
    jar = jar_with(auth.set_cookie("abc123"), "https://app.example/login")
    for scheme, sent in (("https", True), ("http", False)):
        request = urllib.request.Request(f"{scheme}://app.example/orders")
        jar.add_cookie_header(request)
        assert ("__Host-session=abc123" in request.get_header("Cookie", "")) is sent


def test_max_age_zero_tells_the_client_to_drop_the_cookie() -> None:
    jar = jar_with(auth.set_cookie("abc123"), "https://app.example/login")
    headers = Message()
    headers["Set-Cookie"] = auth.set_cookie("", max_age=0)

    class Response:
        def info(self) -> Message:
            return headers

    jar.extract_cookies(Response(), urllib.request.Request("https://app.example/out"))
    assert list(jar) == []


def test_the_session_id_is_read_from_a_cookie_header_among_others() -> None:
    header = "theme=dark; __Host-session=abc-_123; lang=en"
    assert auth.session_id_from(header) == "abc-_123"
    assert auth.session_id_from("theme=dark") is None
    assert auth.session_id_from("") is None


def test_a_duplicated_session_cookie_is_refused() -> None:
    with pytest.raises(CookieError, match="more than once"):
        auth.session_id_from("__Host-session=planted; __Host-session=real")


def test_an_oversized_cookie_header_is_refused() -> None:
    with pytest.raises(CookieError, match="too large"):
        auth.session_id_from("a=" + "x" * auth.MAX_COOKIE_HEADER)


@settings(max_examples=100)
@given(st.text(max_size=300))
def test_any_cookie_header_gives_an_id_none_or_a_cookie_error(header: str) -> None:
    try:
        result = auth.session_id_from(header)
    except CookieError:
        return
    assert result is None or isinstance(result, str)


def test_a_session_id_round_trips_through_set_cookie_and_cookie() -> None:
    session_id = auth.SessionStore().login("ada")
    pair = auth.set_cookie(session_id).split(";")[0]  # what the browser sends back
    assert auth.session_id_from(pair) == session_id


# --- over HTTP: the login handler and the require_session middleware ----------------

FORM = [("Content-Type", "application/x-www-form-urlencoded")]
PASSWORD = b"name=ada&password=correct+horse"


class Site:
    """A served auth_app with its user table, session store and fake clock."""

    def __init__(self, server, users: dict[str, str], store, clock: FakeClock):
        self.server, self.users, self.store, self.clock = server, users, store, clock

    def login(self, body: bytes = PASSWORD, cookie: str | None = None) -> Reply:
        headers = FORM + ([("Cookie", cookie)] if cookie else [])
        return http_request(self.server, "POST", "/login", body=body, headers=headers)

    def get(self, cookie: str | None = None, target: str = "/orders") -> Reply:
        headers = [("Cookie", cookie)] if cookie else []
        return http_request(self.server, "GET", target, headers=headers)


@pytest.fixture
def site():
    clock = FakeClock()
    users = {"ada": auth.hash_password("correct horse", FAST)}
    store = auth.SessionStore(clock=clock)
    with serving(auth.auth_app(users, store, FAST)) as server:
        yield Site(server, users, store, clock)


def cookie_pair(reply: Reply) -> str:
    """The `name=value` a browser sends back for the reply's one Set-Cookie."""
    (set_cookie,) = reply.header_list("Set-Cookie")
    return set_cookie.split(";")[0]


def test_without_a_session_the_guard_answers_401_with_a_challenge(site: Site) -> None:
    reply = site.get()
    assert reply.status == 401
    assert reply.header("WWW-Authenticate") == auth.CHALLENGE[1]  # RFC 9110, 15.5.2
    assert reply.header("Content-Type") == "application/problem+json"
    assert reply.json()["detail"] == "log in first"


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(site: Site) -> None:
    wrong = site.login(b"name=ada&password=guess")
    unknown = site.login(b"name=nobody&password=guess")
    garbled = site.login(b"\xff\xfe name")  # not even UTF-8: refused, not a crash
    for reply in (wrong, unknown, garbled):
        assert (reply.status, reply.body) == (401, wrong.body)
        assert reply.header_list("Set-Cookie") == []
    assert len(site.store._sessions) == 0


def test_a_login_sets_a_cookie_that_a_client_jar_sends_back(site: Site) -> None:
    """http.cookiejar, the client side, stores our Set-Cookie from a real response and
    builds the Cookie header of the next request; the guard accepts it."""
    reply = site.login()
    assert (reply.status, reply.json()) == (200, {"user": "ada"})
    (set_cookie,) = reply.header_list("Set-Cookie")
    jar = jar_with(set_cookie, "https://app.example/login")
    request = urllib.request.Request("https://app.example/orders")
    jar.add_cookie_header(request)
    orders = site.get(request.get_header("Cookie"))
    assert (orders.status, orders.text) == (200, "orders of ada\n")


def test_the_session_cookie_attributes_survive_the_trip(site: Site) -> None:
    (set_cookie,) = site.login().header_list("Set-Cookie")
    attributes = {part.strip() for part in set_cookie.split(";")[1:]}
    assert attributes == set(auth.set_cookie("x").split("; ")[1:])


def test_a_login_ends_the_session_the_request_came_with(site: Site) -> None:
    planted = site.store.login("anonymous")  # an ID an attacker may know
    reply = site.login(cookie=f"{auth.COOKIE_NAME}={planted}")
    fresh = cookie_pair(reply).split("=", 1)[1]
    assert fresh != planted
    assert site.store.lookup(planted) is None
    assert site.get(f"{auth.COOKIE_NAME}={planted}").status == 401


def test_a_login_upgrades_an_old_hash_over_http(site: Site) -> None:
    site.users["ada"] = auth.hash_password("correct horse", auth.ScryptParams(9))
    assert site.login().status == 200
    assert not auth.needs_rehash(site.users["ada"], FAST)


def test_logout_ends_the_session_and_tells_the_client_to_drop_it(site: Site) -> None:
    cookie = cookie_pair(site.login())
    reply = http_request(site.server, "POST", "/logout", headers=[("Cookie", cookie)])
    assert reply.status == 204
    assert "Max-Age=0" in reply.header("Set-Cookie")
    assert site.get(cookie).status == 401
    anonymous = http_request(site.server, "POST", "/logout")  # harmless without one
    assert anonymous.status == 204


def test_an_idle_session_gets_401_and_activity_keeps_it(site: Site) -> None:
    cookie = cookie_pair(site.login())
    site.clock.now += auth.IDLE_TIMEOUT - 1
    assert site.get(cookie).status == 200
    site.clock.now += auth.IDLE_TIMEOUT + 1
    assert site.get(cookie).status == 401


@pytest.mark.parametrize(
    "make_cookie",
    [
        lambda pair: f"{pair}; {pair}x",  # the session cookie twice: one may be planted
        lambda pair: "a=" + "x" * auth.MAX_COOKIE_HEADER + "; " + pair,  # too large
        lambda pair: pair[:-3],  # a truncated ID: no such session
        lambda pair: f"{auth.COOKIE_NAME}=",  # empty
    ],
    ids=["duplicated", "oversized", "truncated", "empty"],
)
def test_a_doubtful_cookie_header_is_no_session(site: Site, make_cookie) -> None:
    pair = cookie_pair(site.login())
    assert site.get(make_cookie(pair)).status == 401


def test_two_cookie_lines_are_read_as_one_list(site: Site) -> None:
    """RFC 9113, 8.2.3: several Cookie lines join with "; " (a comma would glue the
    session ID to the next cookie)."""
    pair = cookie_pair(site.login())
    for lines in ([pair, "theme=dark"], ["theme=dark", pair]):
        reply = http_request(
            site.server, "GET", "/orders", headers=[("Cookie", line) for line in lines]
        )
        assert reply.status == 200


def test_the_user_is_known_only_during_the_request() -> None:
    store = auth.SessionStore()
    session_id = store.login("ada")
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(auth.current_user.get())
        return Response(204)

    guarded = auth.require_session(store)(handler)
    cookie = ("Cookie", f"{auth.COOKIE_NAME}={session_id}")
    assert guarded(Request("GET", "/", headers=[cookie])).status == 204
    assert seen == ["ada"]
    assert auth.current_user.get(None) is None


def test_routes_answer_405_with_allow_and_404(site: Site) -> None:
    wrong_method = site.get(target="/login")
    assert (wrong_method.status, wrong_method.header("Allow")) == (405, "POST")
    assert site.get(target="/admin").status == 404


# --- base64url and the JWT --------------------------------------------------------


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_base64url_round_trips_without_padding(data: bytes) -> None:
    text = auth.b64url_encode(data)
    assert not set(text) & set("=+/")
    assert auth.b64url_decode(text) == data


@pytest.mark.parametrize("text", ["a", "ab=", "ab+c", "a/bc", "ab c", "AB", "AAB"])
def test_bad_or_non_canonical_base64url_is_refused(text: str) -> None:
    """ "AB" and "AAB" leave unused low bits set in their last character."""
    with pytest.raises(auth.MalformedToken):
        auth.b64url_decode(text)


def test_our_token_is_byte_for_byte_the_token_pyjwt_makes() -> None:
    claims = claims_at(1_700_000_000, name="Zoë", roles=["a", "b"])
    assert auth.encode_jwt(claims, KEY) == jwt.encode(claims, KEY, algorithm="HS256")


def test_pyjwt_verifies_our_token() -> None:
    claims = claims_at(int(time.time()))
    assert pyjwt_decode(auth.encode_jwt(claims, KEY)) == claims


def test_we_verify_pyjwts_token() -> None:
    claims = claims_at(int(time.time()), scope="orders:read")
    token = jwt.encode(claims, KEY, algorithm="HS256")
    assert auth.decode_jwt(token, KEY, **CHECK) == claims


def test_the_audience_may_be_a_list_that_contains_us() -> None:
    claims = claims_at(int(time.time()), aud=["billing", AUDIENCE])
    token = auth.encode_jwt(claims, KEY)
    assert auth.decode_jwt(token, KEY, **CHECK) == pyjwt_decode(token) == claims


def tampered_payload(now: int) -> str:
    header, _, signature = auth.encode_jwt(claims_at(now), KEY).split(".")
    forged = auth.b64url_encode(json.dumps(claims_at(now, sub="admin")).encode())
    return f"{header}.{forged}.{signature}"


def tampered_signature(now: int) -> str:
    token = auth.encode_jwt(claims_at(now), KEY)
    flipped = "B" if token[-10] == "A" else "A"
    return token[:-10] + flipped + token[-9:]


REFUSALS = {
    "tampered payload": (
        tampered_payload,
        auth.BadSignature,
        jwt.InvalidSignatureError,
    ),
    "tampered signature": (
        tampered_signature,
        auth.BadSignature,
        jwt.InvalidSignatureError,
    ),
    "other key": (
        lambda now: auth.encode_jwt(claims_at(now), b"x" * 32),
        auth.BadSignature,
        jwt.InvalidSignatureError,
    ),
    "expired": (
        lambda now: auth.encode_jwt(claims_at(now - 400), KEY),
        auth.TokenExpired,
        jwt.ExpiredSignatureError,
    ),
    "not yet valid": (
        lambda now: auth.encode_jwt(claims_at(now, nbf=now + 120), KEY),
        auth.TokenNotYetValid,
        jwt.ImmatureSignatureError,
    ),
    "issued in the future": (
        lambda now: auth.encode_jwt(claims_at(now + 120), KEY),
        auth.TokenNotYetValid,
        jwt.ImmatureSignatureError,
    ),
    "wrong audience": (
        lambda now: auth.encode_jwt(claims_at(now, aud="billing"), KEY),
        auth.WrongAudience,
        jwt.InvalidAudienceError,
    ),
    "no audience": (
        lambda now: auth.encode_jwt(
            {k: v for k, v in claims_at(now).items() if k != "aud"}, KEY
        ),
        auth.WrongAudience,
        jwt.MissingRequiredClaimError,
    ),
    "wrong issuer": (
        lambda now: auth.encode_jwt(claims_at(now, iss="https://evil.example"), KEY),
        auth.WrongIssuer,
        jwt.InvalidIssuerError,
    ),
    "no exp": (
        lambda now: auth.encode_jwt(
            {k: v for k, v in claims_at(now).items() if k != "exp"}, KEY
        ),
        auth.MalformedToken,
        jwt.MissingRequiredClaimError,
    ),
    "alg none": (
        lambda now: jwt.encode(claims_at(now), None, algorithm="none"),
        auth.AlgorithmNotAllowed,
        jwt.InvalidAlgorithmError,
    ),
    "alg None, capitalised": (
        lambda now: forge({"alg": "None"}, claims_at(now), KEY).rsplit(".", 1)[0] + ".",
        auth.AlgorithmNotAllowed,
        jwt.InvalidAlgorithmError,
    ),
    "header says RS256, HMAC signature": (
        lambda now: forge({"alg": "RS256", "typ": "JWT"}, claims_at(now), KEY),
        auth.AlgorithmNotAllowed,
        jwt.InvalidAlgorithmError,
    ),
    "HS512, correctly signed": (
        lambda now: forge({"alg": "HS512"}, claims_at(now), KEY, hashlib.sha512),
        auth.AlgorithmNotAllowed,
        jwt.InvalidAlgorithmError,
    ),
    "no alg": (
        lambda now: forge({"typ": "JWT"}, claims_at(now), KEY),
        auth.AlgorithmNotAllowed,
        jwt.InvalidAlgorithmError,
    ),
    "two parts": (
        lambda now: ".".join(auth.encode_jwt(claims_at(now), KEY).split(".")[:2]),
        auth.MalformedToken,
        jwt.DecodeError,
    ),
    "padded segments": (
        lambda now: auth.encode_jwt(claims_at(now), KEY).replace(".", "=.", 1),
        auth.MalformedToken,
        jwt.DecodeError,
    ),
}


@pytest.mark.parametrize("case", REFUSALS, ids=str)
def test_bad_tokens_are_refused_by_us_with_a_typed_error_and_by_pyjwt(
    case: str,
) -> None:
    make, ours, theirs = REFUSALS[case]
    token = make(int(time.time()))
    with pytest.raises(ours):
        auth.decode_jwt(token, KEY, leeway=0, **CHECK)
    with pytest.raises(theirs):
        pyjwt_decode(token)


def test_every_refusal_is_a_token_error_and_a_value_error() -> None:
    for _, ours, _ in REFUSALS.values():
        assert issubclass(ours, auth.TokenError)
        assert issubclass(ours, ValueError)


@pytest.mark.parametrize(
    ("seconds_after_exp", "leeway", "accepted"),
    [(-1, 0, True), (0, 0, False), (29, 30, True), (30, 30, False), (31, 30, False)],
)
def test_exp_is_exclusive_and_leeway_extends_it(
    seconds_after_exp: int, leeway: int, accepted: bool
) -> None:
    """RFC 7519, 4.1.4: not accepted "on or after" exp; leeway moves that instant."""
    exp = 2_000_000_000
    token = auth.encode_jwt(claims_at(exp - 300), KEY)
    now = exp + seconds_after_exp
    if accepted:
        auth.decode_jwt(token, KEY, now=now, leeway=leeway, **CHECK)
    else:
        with pytest.raises(auth.TokenExpired):
            auth.decode_jwt(token, KEY, now=now, leeway=leeway, **CHECK)


def test_pyjwt_agrees_about_the_leeway() -> None:
    now = int(time.time())
    token = auth.encode_jwt(claims_at(now - 310), KEY)  # expired 10 s ago
    assert auth.decode_jwt(token, KEY, leeway=30, **CHECK) == pyjwt_decode(
        token, leeway=30
    )
    with pytest.raises(auth.TokenExpired):
        auth.decode_jwt(token, KEY, leeway=0, **CHECK)
    with pytest.raises(jwt.ExpiredSignatureError):
        pyjwt_decode(token, leeway=0)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "...",
        "a.b.c.d.e",  # a JWE has five parts
        "é.b.c",
        "x" * (auth.MAX_TOKEN_LENGTH + 1),
        forge({"alg": "HS256"}, ["not", "an", "object"], KEY),
        auth.b64url_encode(b'{"alg":"HS256","alg":"none"}') + ".e30.sig",
        forge({"alg": "HS256", "crit": ["exp"]}, {"exp": 1}, KEY),
        forge({"alg": "HS256"}, {"exp": "tomorrow"}, KEY),
        forge({"alg": "HS256"}, {"exp": True}, KEY),
        forge({"alg": "HS256"}, {"exp": 1e999}, KEY),
        "e30.e30.",  # {} as header: no alg
        auth.b64url_encode(b"\xff\xfe") + ".e30.sig",
    ],
)
def test_malformed_tokens_are_a_token_error_never_a_crash(token: str) -> None:
    with pytest.raises(auth.TokenError):
        auth.decode_jwt(token, KEY, **CHECK)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
REGISTERED = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}
EXTRA_CLAIMS = st.dictionaries(
    st.text(max_size=12).filter(lambda k: k not in REGISTERED), JSON_VALUES, max_size=6
)


@settings(max_examples=50)
@given(EXTRA_CLAIMS)
def test_any_claims_round_trip_through_us_and_pyjwt(extra: dict) -> None:
    claims = claims_at(int(time.time())) | extra
    token = auth.encode_jwt(claims, KEY)
    assert auth.decode_jwt(token, KEY, **CHECK) == claims
    assert pyjwt_decode(token) == claims
    assert (
        auth.decode_jwt(jwt.encode(claims, KEY, algorithm="HS256"), KEY, **CHECK)
        == claims
    )


TOKEN = auth.encode_jwt(claims_at(2_000_000_000, sub="ada", role="member"), KEY)


@settings(max_examples=200)
@given(
    st.integers(0, len(TOKEN) - 1),
    st.characters(codec="utf-8", exclude_categories=["Cs"]),
)
def test_any_single_character_change_is_refused_by_us_and_pyjwt(
    index: int, replacement: str
) -> None:
    if TOKEN[index] == replacement:
        return
    changed = TOKEN[:index] + replacement + TOKEN[index + 1 :]
    with pytest.raises(auth.TokenError):
        auth.decode_jwt(changed, KEY, now=2_000_000_000, **CHECK)
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(
            changed,
            KEY,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "verify_iat": False},
        )


def test_the_last_signature_character_has_unused_bits_we_still_refuse() -> None:
    """32 bytes need 42⅔ characters: the 43rd carries 2 unused bits. Setting them gives a
    different string that a lenient decoder maps to the same signature bytes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = TOKEN[-1]
    twin = TOKEN[:-1] + alphabet[alphabet.index(last) ^ 1]
    signature = twin.split(".")[2]
    lenient = base64.urlsafe_b64decode(signature + "=")
    assert lenient == base64.urlsafe_b64decode(TOKEN.split(".")[2] + "=")
    with pytest.raises(auth.TokenError):
        auth.decode_jwt(twin, KEY, now=2_000_000_000, **CHECK)


def test_the_signature_is_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    with pytest.raises(auth.BadSignature):
        auth.decode_jwt(tampered_signature(int(time.time())), KEY, **CHECK)
    assert len(compared) == 1


def test_the_payload_is_not_parsed_before_the_signature_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[bytes] = []
    real = auth._object

    def spy(data: bytes) -> dict:
        parsed.append(data)
        return real(data)

    monkeypatch.setattr(auth, "_object", spy)
    with pytest.raises(auth.BadSignature):
        auth.decode_jwt(tampered_payload(int(time.time())), KEY, **CHECK)
    assert len(parsed) == 1  # the header only


def test_hash_salts_come_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth.secrets, "token_bytes", lambda n: b"\x00" * n)
    stored = auth.hash_password("pw", FAST)
    assert stored.split("$")[3] == "A" * 22
