"""Errors raised by the LLM-call layer (all are GaussianError, so the CLI prints one sentence)."""

from __future__ import annotations

from trader.errors import GaussianError


class LLMError(GaussianError):
    """Base class of every LLM-layer failure; catch it to fall back to the offline proposer."""


class LLMConfigError(LLMError):
    """The LLM settings are unusable (no API key, a bad value in the configuration)."""


class EnvFileError(LLMConfigError):
    """The home's `.env` file cannot be read (its message names that file, not agent.yaml)."""


class LLMUnavailable(LLMError):
    """The API could not be reached or kept failing after the bounded retries."""

    def __init__(self, message: str, *, attempts: int = 0, request_id: str | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.request_id = request_id


class LLMRequestRejected(LLMError):
    """The API refused the request for a reason retrying cannot fix (400, 401, 403, 404, 413, ...)."""

    def __init__(self, message: str, *, status_code: int | None = None, request_id: str | None = None,
                 attempts: int = 1) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id
        self.attempts = attempts


class LLMBadResponse(LLMError):
    """The API answered, but not with a usable tool call; `raw_text` holds what it said instead."""

    def __init__(self, message: str, *, raw_text: str = "", request_id: str | None = None,
                 stop_reason: str | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.raw_text = raw_text
        self.attempts = attempts
        self.request_id = request_id
        self.stop_reason = stop_reason


class BudgetExceeded(LLMError):
    """Today's LLM spend has reached the configured daily cap, so no call is made."""
