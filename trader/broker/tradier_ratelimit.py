"""Client-side rate limiting from Tradier's X-Ratelimit-* headers: when a bucket is used up, wait for its reset."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger("gaussian.tradier")


@dataclass
class RateLimitState:
    """What the last response said about one bucket: allowed, used, available, and the reset time (epoch ms)."""

    allowed: int | None = None
    used: int | None = None
    available: int | None = None
    expiry_ms: int | None = None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


class RateLimiter:
    """Tracks each bucket's X-Ratelimit-* headers and, before a call, sleeps until the bucket's reset when its
    Available count is 0 (at most `max_wait_s` per wait)."""

    def __init__(self, max_wait_s: float = 60.0, *, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], float] = time.time) -> None:
        self.max_wait_s = float(max_wait_s)
        self._sleep = sleep
        self._now = now
        self._state: dict[str, RateLimitState] = {}
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def state(self, category: str) -> RateLimitState:
        """The last known state of a bucket ("market", "trading" or "standard")."""
        with self._lock:
            return self._state.setdefault(category, RateLimitState())

    def update(self, category: str, headers: Mapping[str, str]) -> None:
        """Record the X-Ratelimit-* headers of a response (missing headers leave the state unchanged)."""
        allowed = _int(headers.get("x-ratelimit-allowed"))
        used = _int(headers.get("x-ratelimit-used"))
        available = _int(headers.get("x-ratelimit-available"))
        expiry = _int(headers.get("x-ratelimit-expiry"))
        if allowed is None and used is None and available is None and expiry is None:
            return
        with self._lock:
            self._state[category] = RateLimitState(allowed, used, available, expiry)

    def exhausted(self, category: str, expiry_ms: int | None) -> None:
        """Mark a bucket used up until `expiry_ms` (from a Quota Violation); unknown expiry means one second."""
        if not expiry_ms:
            expiry_ms = int((self._now() + 1.0) * 1000)
        with self._lock:
            old = self._state.get(category, RateLimitState())
            self._state[category] = RateLimitState(old.allowed, old.allowed, 0, expiry_ms)

    def wait_time(self, category: str) -> float:
        """Seconds to wait before the next call in this bucket (0 when calls are available)."""
        with self._lock:
            st = self._state.get(category)
            if st is None or st.available is None or st.available > 0 or st.expiry_ms is None:
                return 0.0
            left = st.expiry_ms / 1000.0 - self._now()
        return min(max(left, 0.0), self.max_wait_s)

    def before(self, category: str) -> float:
        """Sleep until the bucket resets when it is used up; returns the seconds slept."""
        wait = self.wait_time(category)
        if wait > 0:
            log.info("Tradier %s rate limit used up; waiting %.2f s for the window to reset", category, wait)
            self._sleep(wait)
            self.waited_s += wait
            with self._lock:
                st = self._state.get(category)
                if st is not None:
                    st.available = None
        return wait
