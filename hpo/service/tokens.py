"""Comparing secrets: lease tokens, bearer tokens, hashes of client tokens.

One comparison for all of them, on bytes: `hmac.compare_digest` refuses a `str` with any
non-ASCII character (a TypeError, i.e. a 500 for whoever sent one), and a comparison on bytes
stays constant-time whatever the input. A string that cannot be encoded (a lone surrogate,
which JSON can spell) is encoded with `surrogatepass`, so it compares unequal rather than
failing.
"""

from __future__ import annotations

import hashlib
import hmac


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def same_secret(expected: str | None, given: str | None) -> bool:
    """True when `given` is `expected`; constant-time; False when either is missing."""
    if expected is None or given is None:
        return False
    return hmac.compare_digest(_bytes(expected), _bytes(given))


def secret_digest(secret: str) -> str:
    """sha256 hex of a secret, to store instead of the secret (random tokens need no salt)."""
    return hashlib.sha256(_bytes(secret)).hexdigest()
