"""Retry policy of the call layer: which failures are retried, and how long to wait before the next attempt.

The SDK's own retries are switched off (max_retries=0) and this bounded loop replaces them, because SDK 2.x obeys
any retry-after however long (an unattended optimizer would hang for an hour on `retry-after: 3600`), retries a
spend-limit 429 that cannot succeed, and has a fixed 0.5 s..8 s backoff that the settings cannot shorten.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass

import anthropic

from agents.settings import LLMSettings

NO_RETRY_ERROR_CODES = frozenset({"enforced_spend_limit_reached"})
"""Error codes (error.details.error_code) that no retry can fix, even on a retryable status."""


@dataclass(frozen=True)
class RetryDecision:
    """Whether to try again, after how many seconds, and a short reason for the log and the error."""

    retry: bool
    wait_s: float
    reason: str


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks us to wait (`retry-after-ms`, then `retry-after` as seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else float(email.utils.mktime_tz(parsed) - time.time())


def backoff_s(retry_index: int, settings: LLMSettings) -> float:
    """Exponential backoff for the `retry_index`-th retry (0-based), capped at `backoff_max_s`, no jitter."""
    return min(settings.backoff_initial_s * (2.0 ** min(retry_index, 30)), settings.backoff_max_s)


def retryable_status(status: int) -> bool:
    """Statuses worth retrying by default: 408, 409, 429 and every 5xx (529 overloaded included)."""
    return status in (408, 409, 429) or status >= 500


def _status_retryable(err: anthropic.APIStatusError) -> bool:
    override = err.response.headers.get("x-should-retry")
    if override == "true":
        return True
    if override == "false":
        return False
    return retryable_status(err.status_code)


def decide(err: anthropic.APIError, retry_index: int, settings: LLMSettings) -> RetryDecision:
    """Decide what to do after a failed attempt; `retry_index` counts the retries already made."""
    if isinstance(err, anthropic.APIStatusError):
        reason = f"HTTP {err.status_code} {err.type or 'error'}"
        if getattr(err, "error_code", None) in NO_RETRY_ERROR_CODES:
            return RetryDecision(False, 0.0, f"{reason} ({err.error_code})")
        if not _status_retryable(err):
            return RetryDecision(False, 0.0, reason)
        asked = parse_retry_after(err.response.headers)
        wait = asked if asked is not None and asked > 0 else backoff_s(retry_index, settings)
        if asked is not None and asked > settings.max_retry_wait_s:
            return RetryDecision(
                False, asked, f"{reason}; the server asks to wait {asked:.0f} s, more than max_retry_wait_s"
            )
    elif isinstance(err, anthropic.APITimeoutError):
        reason, wait = f"timed out after {settings.timeout_s:g} s", backoff_s(retry_index, settings)
    elif isinstance(err, anthropic.APIConnectionError):
        reason, wait = "connection failed", backoff_s(retry_index, settings)
    else:
        return RetryDecision(False, 0.0, type(err).__name__)
    if retry_index >= settings.max_retries:
        return RetryDecision(False, wait, f"{reason}; gave up after {retry_index + 1} attempts")
    return RetryDecision(True, wait, reason)
