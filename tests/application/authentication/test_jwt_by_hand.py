"""The JWT part's claims: base64url, HS256 tokens, and every refusal, checked by PyJWT.

Oracle: PyJWT verifies the tokens we make and we verify the tokens it makes; every token
our decoder refuses, PyJWT refuses too. `forge` builds tokens independently of the snippet.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application.authentication import jwt_by_hand as tokens
from tests.helpers import JSON_VALUES

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


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_base64url_round_trips_without_padding(data: bytes) -> None:
    text = tokens.b64url_encode(data)
    assert not set(text) & set("=+/")
    assert tokens.b64url_decode(text) == data


@pytest.mark.parametrize("text", ["a", "ab=", "ab+c", "a/bc", "ab c", "AB", "AAB"])
def test_bad_or_non_canonical_base64url_is_refused(text: str) -> None:
    """ "AB" and "AAB" leave unused low bits set in their last character."""
    with pytest.raises(tokens.MalformedToken):
        tokens.b64url_decode(text)


def test_our_token_is_byte_for_byte_the_token_pyjwt_makes() -> None:
    claims = claims_at(1_700_000_000, name="Zoë", roles=["a", "b"])
    assert tokens.encode_jwt(claims, KEY) == jwt.encode(claims, KEY, algorithm="HS256")


def test_pyjwt_verifies_our_token() -> None:
    claims = claims_at(int(time.time()))
    assert pyjwt_decode(tokens.encode_jwt(claims, KEY)) == claims


def test_we_verify_pyjwts_token() -> None:
    claims = claims_at(int(time.time()), scope="orders:read")
    token = jwt.encode(claims, KEY, algorithm="HS256")
    assert tokens.decode_jwt(token, KEY, **CHECK) == claims


def test_the_audience_may_be_a_list_that_contains_us() -> None:
    claims = claims_at(int(time.time()), aud=["billing", AUDIENCE])
    token = tokens.encode_jwt(claims, KEY)
    assert tokens.decode_jwt(token, KEY, **CHECK) == pyjwt_decode(token) == claims


def tampered_payload(now: int) -> str:
    header, _, signature = tokens.encode_jwt(claims_at(now), KEY).split(".")
    forged = tokens.b64url_encode(json.dumps(claims_at(now, sub="admin")).encode())
    return f"{header}.{forged}.{signature}"


def tampered_signature(now: int) -> str:
    token = tokens.encode_jwt(claims_at(now), KEY)
    flipped = "B" if token[-10] == "A" else "A"
    return token[:-10] + flipped + token[-9:]


REFUSALS = {
    "tampered payload": (
        tampered_payload,
        tokens.BadSignature,
        jwt.InvalidSignatureError,
    ),
    "tampered signature": (
        tampered_signature,
        tokens.BadSignature,
        jwt.InvalidSignatureError,
    ),
    "other key": (
        lambda now: tokens.encode_jwt(claims_at(now), b"x" * 32),
        tokens.BadSignature,
        jwt.InvalidSignatureError,
    ),
    "expired": (
        lambda now: tokens.encode_jwt(claims_at(now - 400), KEY),
        tokens.TokenExpired,
        jwt.ExpiredSignatureError,
    ),
    "not yet valid": (
        lambda now: tokens.encode_jwt(claims_at(now, nbf=now + 120), KEY),
        tokens.TokenNotYetValid,
        jwt.ImmatureSignatureError,
    ),
    "issued in the future": (
        lambda now: tokens.encode_jwt(claims_at(now + 120), KEY),
        tokens.TokenNotYetValid,
        jwt.ImmatureSignatureError,
    ),
    "wrong audience": (
        lambda now: tokens.encode_jwt(claims_at(now, aud="billing"), KEY),
        tokens.WrongAudience,
        jwt.InvalidAudienceError,
    ),
    "no audience": (
        lambda now: tokens.encode_jwt(
            {k: v for k, v in claims_at(now).items() if k != "aud"}, KEY
        ),
        tokens.WrongAudience,
        jwt.MissingRequiredClaimError,
    ),
    "wrong issuer": (
        lambda now: tokens.encode_jwt(claims_at(now, iss="https://evil.example"), KEY),
        tokens.WrongIssuer,
        jwt.InvalidIssuerError,
    ),
    "no exp": (
        lambda now: tokens.encode_jwt(
            {k: v for k, v in claims_at(now).items() if k != "exp"}, KEY
        ),
        tokens.MalformedToken,
        jwt.MissingRequiredClaimError,
    ),
    "alg none": (
        lambda now: jwt.encode(claims_at(now), None, algorithm="none"),
        tokens.AlgorithmNotAllowed,
        jwt.InvalidAlgorithmError,
    ),
    "alg None, capitalised": (
        lambda now: forge({"alg": "None"}, claims_at(now), KEY).rsplit(".", 1)[0] + ".",
        tokens.AlgorithmNotAllowed,
        jwt.InvalidAlgorithmError,
    ),
    "header says RS256, HMAC signature": (
        lambda now: forge({"alg": "RS256", "typ": "JWT"}, claims_at(now), KEY),
        tokens.AlgorithmNotAllowed,
        jwt.InvalidAlgorithmError,
    ),
    "HS512, correctly signed": (
        lambda now: forge({"alg": "HS512"}, claims_at(now), KEY, hashlib.sha512),
        tokens.AlgorithmNotAllowed,
        jwt.InvalidAlgorithmError,
    ),
    "no alg": (
        lambda now: forge({"typ": "JWT"}, claims_at(now), KEY),
        tokens.AlgorithmNotAllowed,
        jwt.InvalidAlgorithmError,
    ),
    "two parts": (
        lambda now: ".".join(tokens.encode_jwt(claims_at(now), KEY).split(".")[:2]),
        tokens.MalformedToken,
        jwt.DecodeError,
    ),
    "padded segments": (
        lambda now: tokens.encode_jwt(claims_at(now), KEY).replace(".", "=.", 1),
        tokens.MalformedToken,
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
        tokens.decode_jwt(token, KEY, leeway=0, **CHECK)
    with pytest.raises(theirs):
        pyjwt_decode(token)


def test_every_refusal_is_a_token_error_and_a_value_error() -> None:
    for _, ours, _ in REFUSALS.values():
        assert issubclass(ours, tokens.TokenError)
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
    token = tokens.encode_jwt(claims_at(exp - 300), KEY)
    now = exp + seconds_after_exp
    if accepted:
        tokens.decode_jwt(token, KEY, now=now, leeway=leeway, **CHECK)
    else:
        with pytest.raises(tokens.TokenExpired):
            tokens.decode_jwt(token, KEY, now=now, leeway=leeway, **CHECK)


def test_pyjwt_agrees_about_the_leeway() -> None:
    now = int(time.time())
    token = tokens.encode_jwt(claims_at(now - 310), KEY)  # expired 10 s ago
    assert tokens.decode_jwt(token, KEY, leeway=30, **CHECK) == pyjwt_decode(
        token, leeway=30
    )
    with pytest.raises(tokens.TokenExpired):
        tokens.decode_jwt(token, KEY, leeway=0, **CHECK)
    with pytest.raises(jwt.ExpiredSignatureError):
        pyjwt_decode(token, leeway=0)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "...",
        "a.b.c.d.e",  # a JWE has five parts
        "é.b.c",
        "x" * (tokens.MAX_TOKEN_LENGTH + 1),
        forge({"alg": "HS256"}, ["not", "an", "object"], KEY),
        tokens.b64url_encode(b'{"alg":"HS256","alg":"none"}') + ".e30.sig",
        forge({"alg": "HS256", "crit": ["exp"]}, {"exp": 1}, KEY),
        forge({"alg": "HS256"}, {"exp": "tomorrow"}, KEY),
        forge({"alg": "HS256"}, {"exp": True}, KEY),
        forge({"alg": "HS256"}, {"exp": 1e999}, KEY),
        "e30.e30.",  # {} as header: no alg
        tokens.b64url_encode(b"\xff\xfe") + ".e30.sig",
    ],
)
def test_malformed_tokens_are_a_token_error_never_a_crash(token: str) -> None:
    with pytest.raises(tokens.TokenError):
        tokens.decode_jwt(token, KEY, **CHECK)


REGISTERED = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}
EXTRA_CLAIMS = st.dictionaries(
    st.text(max_size=12).filter(lambda k: k not in REGISTERED), JSON_VALUES, max_size=6
)


@settings(max_examples=50)
@given(EXTRA_CLAIMS)
def test_any_claims_round_trip_through_us_and_pyjwt(extra: dict) -> None:
    claims = claims_at(int(time.time())) | extra
    token = tokens.encode_jwt(claims, KEY)
    assert tokens.decode_jwt(token, KEY, **CHECK) == claims
    assert pyjwt_decode(token) == claims
    assert (
        tokens.decode_jwt(jwt.encode(claims, KEY, algorithm="HS256"), KEY, **CHECK)
        == claims
    )


TOKEN = tokens.encode_jwt(claims_at(2_000_000_000, sub="ada", role="member"), KEY)


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
    with pytest.raises(tokens.TokenError):
        tokens.decode_jwt(changed, KEY, now=2_000_000_000, **CHECK)
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
    with pytest.raises(tokens.TokenError):
        tokens.decode_jwt(twin, KEY, now=2_000_000_000, **CHECK)


def test_the_signature_is_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    with pytest.raises(tokens.BadSignature):
        tokens.decode_jwt(tampered_signature(int(time.time())), KEY, **CHECK)
    assert len(compared) == 1


def test_the_payload_is_not_parsed_before_the_signature_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[bytes] = []
    real = tokens._object

    def spy(data: bytes) -> dict:
        parsed.append(data)
        return real(data)

    monkeypatch.setattr(tokens, "_object", spy)
    with pytest.raises(tokens.BadSignature):
        tokens.decode_jwt(tampered_payload(int(time.time())), KEY, **CHECK)
    assert len(parsed) == 1  # the header only
