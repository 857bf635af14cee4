"""Password hashes with the standard library's KDFs: scrypt by default, PBKDF2-SHA256 too.

    python -c "from aaf.middleware.passwords import hash_password; print(hash_password('s3cret'))"

A hash is one string that carries its algorithm, cost parameters and salt, so the cost can be
raised later without breaking stored hashes:

- ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash in unpadded base64url)
- ``pbkdf2_sha256$<iterations>$<salt>$<hash>``

The default cost (scrypt n=2**14, r=8, p=5: 16 MiB, one of OWASP's equivalent settings) takes
tens to hundreds of milliseconds by design; that is what makes a stolen hash slow to crack.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

__all__ = ["hash_password", "is_password_hash", "verify_password"]

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 5
PBKDF2_ITERATIONS = 600_000  # OWASP's figure for PBKDF2-HMAC-SHA256
_SALT_BYTES = 16
_HASH_BYTES = 32
_MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024  # what a stored hash may ask for, at most


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(
    password: str,
    *,
    algorithm: str = "scrypt",
    n: int = SCRYPT_N,
    r: int = SCRYPT_R,
    p: int = SCRYPT_P,
    iterations: int = PBKDF2_ITERATIONS,
) -> str:
    """A salted hash of ``password`` to store instead of it (``algorithm``: scrypt or pbkdf2).

    Lower costs than the defaults are for tests only (e.g. ``n=16, p=1``): a cheap hash is a
    cheap guess for whoever steals it.
    """
    salt = secrets.token_bytes(_SALT_BYTES)
    secret = password.encode("utf-8")
    if algorithm == "scrypt":
        derived = _scrypt(secret, salt, n, r, p)
        return f"scrypt${n}${r}${p}${_encode(salt)}${_encode(derived)}"
    if algorithm == "pbkdf2":
        derived = hashlib.pbkdf2_hmac("sha256", secret, salt, iterations, _HASH_BYTES)
        return f"pbkdf2_sha256${iterations}${_encode(salt)}${_encode(derived)}"
    raise ValueError(f"unknown password hash algorithm {algorithm!r}; use 'scrypt' or 'pbkdf2'")


def _scrypt(secret: bytes, salt: bytes, n: int, r: int, p: int, length: int = _HASH_BYTES) -> bytes:
    memory = 128 * r * (n + p + 2)
    if memory > _MAX_SCRYPT_MEMORY:
        raise ValueError("scrypt parameters asking for more than 1 GiB of memory")
    return hashlib.scrypt(
        secret, salt=salt, n=n, r=r, p=p, maxmem=memory + 1024 * 1024, dklen=length
    )


def _parse(stored: str) -> tuple[str, tuple[int, ...], bytes, bytes]:
    """(algorithm, cost parameters, salt, hash) of a stored hash, or a ValueError."""
    parts = stored.split("$")
    try:
        if len(parts[-1]) < 22:  # 16 bytes in base64url
            raise ValueError("the hash part is missing or short")
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(part) for part in parts[1:4])
            if n < 2 or n & (n - 1) or r < 1 or p < 1:
                raise ValueError("bad scrypt parameters")
            return "scrypt", (n, r, p), _decode(parts[4]), _decode(parts[5])
        if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations = int(parts[1])
            if iterations < 1:
                raise ValueError("bad iteration count")
            return "pbkdf2", (iterations,), _decode(parts[2]), _decode(parts[3])
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"not a password hash from hash_password(): {exc}") from None
    raise ValueError(
        "not a password hash from hash_password() (store hashes, never passwords: "
        'python -c "from aaf.middleware.passwords import hash_password; '
        "print(hash_password('...'))\")"
    )


def is_password_hash(stored: str) -> bool:
    try:
        _parse(stored)
    except ValueError:
        return False
    return True


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` (from :func:`hash_password`) was made from.

    The KDF always runs in full and the result is compared in constant time.
    """
    algorithm, cost, salt, expected = _parse(stored)
    secret = password.encode("utf-8", "surrogateescape")
    if algorithm == "scrypt":
        n, r, p = cost
        derived = _scrypt(secret, salt, n, r, p, len(expected))
    else:
        derived = hashlib.pbkdf2_hmac("sha256", secret, salt, cost[0], len(expected))
    return hmac.compare_digest(derived, expected)
