"""Bot API keys: issued once, stored only as an argon2 hash, checked per request with a small verified-key cache.

A key reads `dm_<key id>_<secret>`; the key id (not secret) finds the bot row, the argon2 hash proves the rest.
Hashing is slow on purpose, so a key that verified once is remembered by its SHA-256 together with the stored
hash it matched: a disabled, deleted or re-keyed bot no longer matches its row and is refused at once.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_KEY = re.compile(r"^dm_([0-9a-f]{16})_([A-Za-z0-9_-]{32,64})$")
# OWASP's minimum argon2id setting: about 20 ms and 19 MiB per hash, so a burst of new keys stays affordable.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def new_key() -> tuple[str, str, str]:
    """A fresh key: (key, key id, argon2 hash of the key)."""
    key_id = secrets.token_hex(8)
    key = f"dm_{key_id}_{secrets.token_urlsafe(32)}"
    return key, key_id, _HASHER.hash(key)


def key_id_of(key: str) -> str | None:
    """The key id of a well-formed key, else None."""
    m = _KEY.match(key)
    return m.group(1) if m else None


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(given.encode(), expected.encode())


class KeyVerifier:
    """Checks a key against its stored hash, remembering keys that verified (bounded, thread-safe)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._ok: dict[str, str] = {}
        self._lock = threading.Lock()

    def verify(self, key: str, stored_hash: str) -> bool:
        """True when `key` hashes to `stored_hash`."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        with self._lock:
            known = self._ok.get(digest)
        if known is not None and hmac.compare_digest(known, stored_hash):
            return True
        try:
            _HASHER.verify(stored_hash, key)
        except (VerificationError, InvalidHashError):
            return False
        with self._lock:
            if len(self._ok) >= self.capacity:
                self._ok.clear()
            self._ok[digest] = stored_hash
        return True
