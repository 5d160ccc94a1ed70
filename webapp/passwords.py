"""Password hashes: salted scrypt at OWASP's current recommendation (N=2**17, r=8, p=1), and the rules that keep
hashes made at an older cost working until their owner's next login upgrades them.

Invariants:
- a stored hash is `scrypt$N$r$p$SALT_HEX$DIGEST_HEX`; it names its own cost, so hashes made at an older cost
  (N=2**14 before this round) still verify, and `needs_rehash` says which to upgrade after a successful login;
- every verification does the same scrypt work whether or not the user exists: an unknown name is checked
  against `dummy_hash()` (made once, at the current cost), so a login's timing does not tell which names exist;
- at most SCRYPT_SLOTS hashes are computed at once (each needs 128 MiB at this cost), so a flood of logins costs
  queueing time, never unbounded memory;
- comparisons are constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import threading

SCRYPT = {"n": 2**17, "r": 8, "p": 1}  # OWASP Password Storage Cheat Sheet: N=2^17 (128 MiB), r=8, p=1
MAX_COST = 2**20  # a stored N above this is refused rather than computed (a hash row cannot demand gigabytes)
SCRYPT_SLOTS = 2  # hashes computed at once; more logins wait for a slot
_slots = threading.BoundedSemaphore(SCRYPT_SLOTS)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    """hashlib.scrypt with room for its memory (128 * n * r bytes; the default maxmem of 32 MiB is too small for
    N=2**17), one of SCRYPT_SLOTS at a time."""
    with _slots:
        return hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=128 * n * r * (p + 1) + (1 << 20)
        )


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = _scrypt(password, salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or not 1 < int(n) <= MAX_COST or int(r) * int(p) > 64:
            return False
        got = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p), dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """True when a (verified) hash was made at another cost than today's: upgrade it at the next login."""
    parts = stored.split("$")
    return len(parts) != 6 or parts[:4] != ["scrypt", str(SCRYPT["n"]), str(SCRYPT["r"]), str(SCRYPT["p"])]


@functools.cache
def dummy_hash() -> str:
    """A hash of a random password at the current cost, what unknown names are checked against (made once)."""
    return hash_password(os.urandom(16).hex())
