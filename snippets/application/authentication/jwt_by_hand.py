"""A JSON Web Token by hand: base64url, an HS256 signature, and the claims
checked.

What it teaches: how a JSON Web Token signed with HS256 is built and checked by
hand (RFC 7519 and RFC 7515): base64url without padding, with a strict decoder
that accepts one spelling per value; `header.payload.signature`, signed with
HMAC-SHA256 over the exact ASCII of the first two parts; an exact algorithm
check chosen by the verifier, never by the token (RFC 8725, 3.1); a
constant-time signature check before the payload is parsed; and the exp, nbf,
iat, iss and aud claims with a small leeway for clock skew. Every failure is a
typed `TokenError`.

Read first: `session_cookies` in this package (a session needs a lookup on every
request; a signed token carries its facts and needs none). The tests check the
tokens against PyJWT.

What it leaves out: key rotation with `kid`, asymmetric algorithms (RS256,
ES256), refresh tokens, and token revocation: the page's "What real systems do"
and its warnings name them.

Run it: `python -m snippets.application.authentication.jwt_by_hand`.
"""

# --8<-- [start:b64url]
import base64
import json
import re


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
    """The strict inverse: URL-safe alphabet, no padding, one spelling per
    value."""
    if not B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise MalformedToken(f"not base64url: {text[:20]!r}")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:  # unused low bits set in the last character
        raise MalformedToken("non-canonical base64url")
    return data


# --8<-- [end:b64url]


# --8<-- [start:encode]
import hashlib
import hmac

HEADER = {"alg": "HS256", "typ": "JWT"}


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def hs256(signing_input: str, key: bytes) -> str:
    """The JWS signature for HS256 (RFC 7518, 3.2): HMAC-SHA256, base64url."""
    mac = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256)
    return b64url_encode(mac.digest())


def encode_jwt(claims: dict[str, object], key: bytes) -> str:
    """A JWT in compact form: BASE64URL(header).BASE64URL(claims).signature."""
    signing_input = (
        f"{b64url_encode(_json(HEADER))}.{b64url_encode(_json(claims))}"
    )
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
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=no_duplicates
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedToken(f"not UTF-8 JSON: {error}") from None
    if not isinstance(value, dict):
        raise MalformedToken("not a JSON object")
    return value


def verify_jws(token: str, key: bytes) -> dict[str, object]:
    """Check the structure, the algorithm and the signature; return the
    claims."""
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise MalformedToken("too long, or not ASCII")
    parts = token.split(".")
    if len(parts) != 3:  # RFC 7515, 7.1: header.payload.signature
        raise MalformedToken(f"expected 3 parts, found {len(parts)}")
    header_b64, payload_b64, signature = parts
    header = _object(b64url_decode(header_b64))
    # RFC 8725, 3.1: the verifier picks the alg
    if header.get("alg") != "HS256":
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
import time


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
    claims: dict[str, object],
    *,
    audience: str,
    issuer: str,
    now: float,
    leeway: float,
) -> None:
    """RFC 7519, 4.1: exp, nbf, iat, iss and aud; exp, iss and aud are
    required."""
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
    """Verify a JWT and its claims; raise a TokenError subclass if anything is
    off."""
    claims = verify_jws(token, key)
    at = time.time() if now is None else now
    check_claims(
        claims, audience=audience, issuer=issuer, now=at, leeway=leeway
    )
    return claims


# --8<-- [end:claims]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_jwt]
    import secrets

    key = secrets.token_bytes(32)  # RFC 7518, 3.2: at least 256 bits for HS256
    now = 1_700_000_000
    claims = {
        "iss": "https://auth.example",
        "aud": "orders-api",
        "sub": "ada",
        "iat": now,
        "exp": now + 300,
    }
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
    for bad in (
        f"{header}.{forged}.{signature}",
        f"{header}.{payload}.{signature}x",
    ):
        try:
            decode_jwt(bad, key, now=now, **check)
        except TokenError as error:
            print(type(error).__name__, error)
            #> BadSignature signature does not match
            #> BadSignature signature does not match
    # --8<-- [end:demo_jwt]
