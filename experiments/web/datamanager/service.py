"""The mounted Data Manager: its database, admin token, key checks and rate limit, and who may do what.

Writes to a bot need that bot's own key (`X-API-Key`): no key is a 401, a bad or revoked key a 401, another
bot's key a 403, an unknown bot a 404. Registering, disabling and deleting bots need the admin token of
`gaussian serve` (`Authorization: Bearer <token>` or `X-Admin-Token`). Reads are public: nothing they return
holds a key.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy import Engine

from experiments.web.datamanager import store
from experiments.web.datamanager.errors import ApiError
from experiments.web.datamanager.keys import KeyVerifier, key_id_of, same_token
from experiments.web.datamanager.ratelimit import RateLimiter

KEY_HEADER = "X-API-Key"


@dataclass
class DataManager:
    """Everything the routes share."""

    home: Path
    engine: Engine
    admin_token: str
    limiter: RateLimiter
    max_body_bytes: int = 64 * 1024
    verifier: KeyVerifier = field(default_factory=KeyVerifier)
    # key id -> the bot row's auth fields; dropped whenever a bot is disabled or deleted (through this process,
    # the one serving the database), so a revoked key is refused from the next request on
    _keys: dict[str, Any] = field(default_factory=dict)
    _keys_lock: threading.Lock = field(default_factory=threading.Lock)

    def forget_keys(self) -> None:
        """Drop the key cache (after disabling or deleting a bot)."""
        with self._keys_lock:
            self._keys.clear()

    def _key_row(self, key_id: str) -> Any:
        with self._keys_lock:
            row = self._keys.get(key_id)
        if row is None:
            row = store.bot_by_key_id(self.engine, key_id)
            if row is not None:
                with self._keys_lock:
                    if len(self._keys) > 100_000:
                        self._keys.clear()
                    self._keys[key_id] = row
        return row

    def require_admin(self, request: Request) -> None:
        """Pass only with the admin token."""
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-admin-token", "")
        if not given:
            raise ApiError(401, "admin_token_missing", "this needs the admin token (Authorization: Bearer ...)",
                           field="Authorization")
        if not same_token(given, self.admin_token):
            raise ApiError(401, "admin_token_invalid", "the admin token is not valid", field="Authorization")

    def require_bot(self, request: Request, bot_id: int) -> Any:
        """The bot row behind the request's key, which must belong to `bot_id`; rate limited per key."""
        key = request.headers.get(KEY_HEADER, "").strip()
        if not key:
            raise ApiError(401, "api_key_missing", f"this needs the bot's API key in the {KEY_HEADER} header",
                           field=KEY_HEADER)
        key_id = key_id_of(key)
        if key_id is None:
            raise ApiError(401, "api_key_invalid", "the API key is not valid", field=KEY_HEADER)
        wait = self.limiter.take(key_id)
        if wait > 0:
            raise ApiError(429, "rate_limited", f"over {self.limiter.rate:g} requests a second for this key; "
                           f"retry in {wait:.2f} s", field=KEY_HEADER, headers={"Retry-After": str(max(1, round(wait)))})
        row = self._key_row(key_id)
        if row is None or not self.verifier.verify(key, row.key_hash):
            raise ApiError(401, "api_key_invalid", "the API key is not valid", field=KEY_HEADER)
        if row.disabled_at is not None:
            raise ApiError(401, "bot_disabled", "this key's bot is disabled", field=KEY_HEADER)
        if row.id != bot_id:
            if store.bot_exists(self.engine, bot_id):
                raise ApiError(403, "not_your_bot", f"this key belongs to bot {row.id}, not bot {bot_id}",
                               field="bot_id")
            raise ApiError(404, "unknown_bot", f"no bot with id {bot_id}", field="bot_id")
        return row

    def whoami(self, request: Request) -> Any:
        """The bot row behind the request's key (any bot)."""
        key_id = key_id_of(request.headers.get(KEY_HEADER, "").strip()) or ""
        row = self._key_row(key_id) if key_id else None
        return self.require_bot(request, row.id if row is not None else -1)
