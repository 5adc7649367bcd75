"""The PKCE part's claims: verifiers follow RFC 7636's rule, challenges its S256.

Oracles: RFC 7636's Appendix B example (the verifier, the challenge and the challenge's
octets) checks the S256 challenge; hashlib and base64 recompute it for generated
verifiers, and the RFC's character rule is written out independently of the snippet's.
"""

from __future__ import annotations

import base64
import hashlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.application.authorization import pkce_challenge as pkce
from tests.helpers import run_demo

RFC_OCTETS = bytes(
    [116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
     22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121]
)  # fmt: skip


def test_rfc7636_appendix_b_example() -> None:
    verifier = pkce.b64url(RFC_OCTETS)
    assert verifier == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = pkce.code_challenge_s256(verifier)
    assert challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert base64.urlsafe_b64decode(challenge + "=") == bytes(
        [19, 211, 30, 150, 26, 26, 216, 236, 47, 22, 177, 12, 76, 152, 46, 8,
         118, 168, 120, 173, 109, 241, 68, 86, 110, 225, 137, 74, 203, 112, 249, 195]
    )  # fmt: skip


@settings(max_examples=100)
@given(st.integers(32, 96))
def test_generated_verifiers_meet_the_43_to_128_unreserved_rule(n_bytes: int) -> None:
    verifier = pkce.make_code_verifier(n_bytes)
    assert 43 <= len(verifier) <= 128
    assert len(verifier) == math.ceil(n_bytes * 4 / 3)
    assert set(verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )
    challenge = pkce.code_challenge_s256(verifier)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert len(challenge) == 43


def test_verifiers_are_fresh_each_time() -> None:
    assert len({pkce.make_code_verifier() for _ in range(200)}) == 200


@pytest.mark.parametrize("n_bytes", [0, 31, 97, 1000])
def test_a_verifier_size_outside_the_rule_is_refused(n_bytes: int) -> None:
    with pytest.raises(ValueError, match="between 32 and 96"):
        pkce.make_code_verifier(n_bytes)


@settings(max_examples=200)
@given(st.text(max_size=140))
def test_any_string_is_either_a_valid_verifier_or_an_oauth_error(text: str) -> None:
    valid = 43 <= len(text) <= 128 and all(
        c.isascii() and (c.isalnum() or c in "-._~") for c in text
    )
    if valid:
        assert len(pkce.code_challenge_s256(text)) == 43
    else:
        with pytest.raises(pkce.OAuthError) as refused:
            pkce.code_challenge_s256(text)
        assert refused.value.code == "invalid_request"


def test_the_demo_runs_clean_under_dev_mode() -> None:
    done = run_demo("snippets.application.authorization.pkce_challenge", check=True)
    assert done.stderr == ""
