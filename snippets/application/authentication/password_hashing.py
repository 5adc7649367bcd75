"""Password hashes: scrypt with a random salt, in a string that records its
cost.

What it teaches: how to store a password so that a stolen database does not hand
the passwords over: scrypt with a random salt per user, in a self-describing
string that records its cost parameters (OWASP's minimum, N = 2**17, r = 8, p =
1, and the `maxmem` that OpenSSL needs for it), checked with a constant-time
comparison by a strict parser that bounds the cost it accepts; how a hash is
raised to a new policy at the next login, the only moment the password is at
hand, while an unknown user name costs one scrypt too; and how much more one
scrypt guess costs than one SHA-256 guess, measured.

Read first: nothing in this package; this is its first part and uses the
standard library only (`hashlib.scrypt`, `secrets`, `hmac`).

What it leaves out: rate limiting and lockout against online guessing, and
multi-factor authentication (the page's warnings and "What real systems do" name
them); password reset; and Argon2id, OWASP's first choice, not in the standard
library.

Run it: `python -m snippets.application.authentication.password_hashing`.
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
        """Bytes scrypt needs (OpenSSL's count), passed on so the call is
        allowed."""
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
    """A storable hash: `$scrypt$ln=17,r=8,p=1$<salt>$<key>` (base64, no
    padding)."""
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
    """Split a stored hash into its parameters, salt and key; refuse anything
    else."""
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
    """Recompute with the stored salt and parameters; compare in constant
    time."""
    params, salt, expected = parse_password_hash(stored)
    actual = scrypt_key(password, salt, params)
    # time does not depend on where
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str, policy: ScryptParams = OWASP_MINIMUM) -> bool:
    """True if the hash was made with other parameters than the current
    policy."""
    params, _, _ = parse_password_hash(stored)
    return params != policy


# --8<-- [end:verify]


# --8<-- [start:login]
def check_login(
    users: dict[str, str], name: str, password: str, policy: ScryptParams
) -> bool:
    """Check a password; upgrade its hash to `policy` while the password is at
    hand.

    Every attempt costs at least one scrypt at `policy`: an unknown name is
    checked against a dummy hash, and an old, cheaper hash is followed by one
    scrypt at the policy's cost (the upgrade, or a dummy if the password was
    wrong). Otherwise a fast answer would tell an attacker that the name exists.
    """
    stored = users.get(name)
    if stored is None:
        verify_password(password, _dummy_hash(policy))
        return False
    right = verify_password(password, stored)
    if not needs_rehash(stored, policy):
        return right
    if right:
        users[name] = hash_password(password, policy)  # the only moment we can
    else:
        verify_password(password, _dummy_hash(policy))  # as long as an upgrade
    return right


_DUMMIES: dict[ScryptParams, str] = {}


def _dummy_hash(policy: ScryptParams) -> str:
    if policy not in _DUMMIES:
        _DUMMIES[policy] = hash_password(secrets.token_urlsafe(16), policy)
    return _DUMMIES[policy]


# --8<-- [end:login]


# --8<-- [start:cost]
import time


def cost_ratio(
    params: ScryptParams = OWASP_MINIMUM, rounds: int = 2000
) -> float:
    """How many SHA-256 hashes fit in the time of one scrypt hash, measured
    here."""
    salt, password = (
        secrets.token_bytes(SALT_BYTES),
        b"correct horse battery staple",
    )
    start = time.perf_counter()
    for _ in range(rounds):
        hashlib.sha256(salt + password).digest()
    sha256_seconds = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    scrypt_key(password.decode(), salt, params)
    scrypt_seconds = time.perf_counter() - start
    return scrypt_seconds / sha256_seconds


# --8<-- [end:cost]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
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
    # one scrypt guess costs that many SHA-256 guesses
    print(cost_ratio() > 10_000)
    #> True
    # --8<-- [end:demo_cost]
