"""The password hashing part's claims: scrypt hashes that record their parameters.

Oracle: `hashlib.scrypt` called directly, with the salt and parameters the stored string
names, and OpenSSL's own memory limit, which refuses one byte less than `maxmem`.
"""

from __future__ import annotations

import hashlib

import pytest

from snippets.application.authentication import password_hashing as hashing

FAST = hashing.ScryptParams(log2_n=10, r=8, p=1)  # 1 MiB: keeps the tests quick


def test_a_hash_records_its_parameters_salt_and_key() -> None:
    stored = hashing.hash_password("pw", FAST)
    params, salt, key = hashing.parse_password_hash(stored)
    assert stored.startswith("$scrypt$ln=10,r=8,p=1$")
    assert (params, len(salt), len(key)) == (FAST, 16, 32)
    assert key == hashlib.scrypt(b"pw", salt=salt, n=1024, r=8, p=1, dklen=32)


def test_the_right_password_verifies_and_a_wrong_one_does_not() -> None:
    stored = hashing.hash_password("correct horse", FAST)
    assert hashing.verify_password("correct horse", stored)
    assert not hashing.verify_password("correct horsE", stored)
    assert not hashing.verify_password("", stored)


def test_the_same_password_gets_a_different_salt_and_hash_each_time() -> None:
    hashes = {hashing.hash_password("same", FAST) for _ in range(5)}
    assert len(hashes) == 5
    assert all(hashing.verify_password("same", h) for h in hashes)


def test_non_ascii_passwords_are_hashed_as_utf8() -> None:
    stored = hashing.hash_password("pässwörd 🔑", FAST)
    _, salt, key = hashing.parse_password_hash(stored)
    expected = hashlib.scrypt(
        "pässwörd 🔑".encode(), salt=salt, n=1024, r=8, p=1, dklen=32
    )
    assert key == expected
    assert hashing.verify_password("pässwörd 🔑", stored)


def test_the_default_parameters_are_owasps_scrypt_minimum() -> None:
    """OWASP Password Storage Cheat Sheet: N=2^17, r=8 (1024-byte blocks), p=1."""
    assert (
        hashing.OWASP_MINIMUM.log2_n,
        hashing.OWASP_MINIMUM.r,
        hashing.OWASP_MINIMUM.p,
    ) == (
        17,
        8,
        1,
    )
    assert hashing.hash_password.__defaults__ == (hashing.OWASP_MINIMUM,)


def test_maxmem_is_exactly_what_openssl_needs() -> None:
    params = hashing.ScryptParams(log2_n=11, r=4, p=3)
    hashlib.scrypt(b"x", salt=b"s", n=2048, r=4, p=3, maxmem=params.maxmem)
    with pytest.raises(ValueError, match="memory limit"):
        hashlib.scrypt(b"x", salt=b"s", n=2048, r=4, p=3, maxmem=params.maxmem - 1)


def test_owasp_parameters_need_more_memory_than_the_default_limit() -> None:
    """Without maxmem, OpenSSL's 32 MiB default refuses N=2^17, r=8 (128 MiB)."""
    assert hashing.OWASP_MINIMUM.maxmem > 128 * 2**20
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
    with pytest.raises(hashing.PasswordHashError):
        hashing.verify_password("pw", stored)


def test_needs_rehash_compares_with_the_policy() -> None:
    stored = hashing.hash_password("pw", FAST)
    assert not hashing.needs_rehash(stored, FAST)
    assert hashing.needs_rehash(stored, hashing.ScryptParams(log2_n=11))


def test_login_upgrades_an_old_hash_to_the_current_policy() -> None:
    policy = hashing.ScryptParams(log2_n=11)
    users = {"ada": hashing.hash_password("pw", FAST)}
    assert hashing.check_login(users, "ada", "pw", policy)
    assert hashing.parse_password_hash(users["ada"])[0] == policy
    assert hashing.verify_password("pw", users["ada"])


def test_a_failed_login_leaves_the_hash_alone() -> None:
    users = {"ada": hashing.hash_password("pw", FAST)}
    before = users["ada"]
    assert not hashing.check_login(
        users, "ada", "wrong", hashing.ScryptParams(log2_n=11)
    )
    assert users["ada"] == before


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[hashing.ScryptParams]:
    """The parameters of every scrypt run, in order: the work a login does."""
    calls: list[hashing.ScryptParams] = []
    real = hashing.scrypt_key

    def counting(password: str, salt: bytes, params: hashing.ScryptParams) -> bytes:
        calls.append(params)
        return real(password, salt, params)

    monkeypatch.setattr(hashing, "scrypt_key", counting)
    return calls


def test_an_unknown_user_costs_a_scrypt_too(scrypt_calls) -> None:
    hashing._dummy_hash(FAST)  # made once per policy, outside the timed path
    scrypt_calls.clear()
    assert not hashing.check_login({}, "nobody", "pw", FAST)
    assert scrypt_calls == [FAST]


@pytest.mark.parametrize("password", ["pw", "wrong"])
def test_every_login_attempt_costs_a_scrypt_at_the_policy(
    scrypt_calls, password: str
) -> None:
    """A user whose hash is older and cheaper than the policy, right or wrong password:
    the check also runs one scrypt at the policy's cost, as an unknown name does, so
    answering fast does not reveal that the name exists (the old hash's own cost is the
    difference left, which the page states)."""
    policy = hashing.ScryptParams(log2_n=11)
    hashing._dummy_hash(policy)
    users = {"ada": hashing.hash_password("pw", FAST)}
    scrypt_calls.clear()
    hashing.check_login(users, "ada", password, policy)
    assert scrypt_calls == [FAST, policy]
    scrypt_calls.clear()
    hashing.check_login(users, "nobody", password, policy)
    assert scrypt_calls == [policy]


def test_scrypt_costs_far_more_than_sha256() -> None:
    """The page prints `cost_ratio() > 10_000`; typically it is several 100,000."""
    assert hashing.cost_ratio(hashing.OWASP_MINIMUM, rounds=2000) > 10_000


def test_hash_salts_come_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing.secrets, "token_bytes", lambda n: b"\x00" * n)
    stored = hashing.hash_password("pw", FAST)
    assert stored.split("$")[3] == "A" * 22
