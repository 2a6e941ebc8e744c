"""Scripted faults and Tradier-style rate limiting for the local Tradier server."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from trader.errors import GaussianError

FAULT_KINDS = ("500", "502", "503", "404", "429", "quota400", "timeout", "timeout_after_accept", "reject",
               "fail_after_accept", "garbled_after_accept")
"""Fault kinds: an HTTP error status (500/502/503/transient 404); a Quota Violation as 429 or as 400 ("quota400");
"timeout": sleep `delay_s` then answer 504 without doing anything (the request is lost); "timeout_after_accept":
do the work, then sleep before answering; "reject": answer Tradier's errors body (200 on an order POST, else 400)
without doing anything; "fail_after_accept": do the work (an order IS placed) but answer 500;
"garbled_after_accept": do the work but answer 200 with an HTML body instead of JSON."""


@dataclass
class Fault:
    """One scripted fault: applies to the next `remaining` requests whose path starts with `prefix`."""

    prefix: str
    kind: str
    remaining: int
    method: str | None = None
    delay_s: float = 1.0
    expiry_ms: int = 250
    message: str = "Order rejected by the simulated risk system."


def normalize_path(path: str) -> str:
    """A path as the server sees it, always starting with /v1/ (a prefix without /v1 gets it added)."""
    clean = "/" + path.strip().lstrip("/")
    return clean if clean == "/v1" or clean.startswith("/v1/") else "/v1" + clean


class FaultPlan:
    """The queue of scripted faults; the first matching fault is used and counted down."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.applied: list[tuple[str, str, str]] = []

    def add(self, prefix: str, kind: str | int, count: int = 1, *, method: str | None = None, delay_s: float = 1.0,
            expiry_ms: int = 250, message: str | None = None) -> Fault:
        """Script `count` faults of `kind` for requests under `prefix` (optionally only one HTTP method)."""
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise GaussianError(f"Unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}.")
        if count < 1:
            raise GaussianError(f"Fault count must be at least 1, got {count}.")
        fault = Fault(normalize_path(prefix), kind, int(count), method.upper() if method else None, float(delay_s),
                      int(expiry_ms), message or Fault.message)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request, if any (its count is used up by one)."""
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.prefix) and (fault.method is None or fault.method == method):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    self.applied.append((method, path, fault.kind))
                    return fault
        return None

    def pending(self) -> int:
        """How many scripted fault applications are left."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def clear(self) -> None:
        """Drop all scripted faults."""
        with self._lock:
            self._faults.clear()


class SimRateLimiter:
    """Tradier's windows: per bucket, `allowed` requests in a window that starts at the bucket's first request."""

    def __init__(self, allowed: int = 120, window_s: float = 60.0) -> None:
        self.allowed = int(allowed)
        self.window_s = float(window_s)
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self.violations = 0

    def hit(self, category: str) -> tuple[bool, dict[str, str]]:
        """Count one request; (allowed?, the X-Ratelimit-* headers to send)."""
        now = time.time()
        with self._lock:
            start, used = self._windows.get(category, (now, 0))
            if now >= start + self.window_s:
                start, used = now, 0
            ok = used < self.allowed
            used = used + 1 if ok else used
            self._windows[category] = (start, used)
            if not ok:
                self.violations += 1
        expiry = int((start + self.window_s) * 1000)
        return ok, rate_headers(self.allowed, used, expiry)


def rate_headers(allowed: int, used: int, expiry_ms: int) -> dict[str, str]:
    """The X-Ratelimit-* headers (Expiry in epoch milliseconds)."""
    return {"X-Ratelimit-Allowed": str(allowed), "X-Ratelimit-Used": str(used),
            "X-Ratelimit-Available": str(max(allowed - used, 0)), "X-Ratelimit-Expiry": str(expiry_ms)}


def quota_body(expiry_ms: int) -> str:
    """The plain-text Quota Violation body (ends with the reset time in epoch ms)."""
    return f"Quota Violation: rate limit exceeded; the window resets at {expiry_ms}"
