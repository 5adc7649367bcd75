"""PKCE: a code verifier, and its S256 challenge checked against RFC 7636's
example.

What it teaches: the proof key of RFC 7636 that binds an OAuth 2 authorization
code to the client that asked for it: a fresh code_verifier of 43 to 128
unreserved characters (section 4.1), its S256 code_challenge
`BASE64URL-ENCODE(SHA256(ASCII(verifier)))` (section 4.2), the base64url
encoding without padding (Appendix A), and the worked example of Appendix B
reproduced from its 32 octets.

Read first: `access_policy` in this package, which comes before it on the
authorization page; then that page's diagram of the authorization-code flow with
PKCE, which shows where the verifier and the challenge travel.

What it leaves out: the `plain` method (the challenge is the verifier: it
protects nothing once the request is seen), and the flow itself
(`oauth_code_flow` in this package, which checks the verifier at its token
endpoint).

Run it: `python -m snippets.application.authorization.pkce_challenge`.
"""

# --8<-- [start:pkce]
import base64
import hashlib
import re
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
        raise OAuthError(
            "invalid_request", "code_verifier: 43-128 unreserved chars"
        )
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


# --8<-- [end:pkce]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_pkce]
    rfc_octets = bytes(
        [
            116,
            24,
            223,
            180,
            151,
            153,
            224,
            37,
            79,
            250,
            96,
            125,
            216,
            173,
            187,
            186,
            22,
            212,
            37,
            77,
            105,
            214,
            191,
            240,
            91,
            88,
            5,
            88,
            83,
            132,
            141,
            121,
        ]
    )  # RFC 7636, Appendix B
    verifier = b64url(rfc_octets)
    print(verifier)
    #> dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
    print(code_challenge_s256(verifier))
    #> E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
    fresh = make_code_verifier()
    print(len(fresh), VERIFIER.fullmatch(fresh) is not None)
    #> 43 True
    # --8<-- [end:demo_pkce]
