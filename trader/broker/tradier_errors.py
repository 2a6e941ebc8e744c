"""Tradier error types: one clear sentence with the status, the endpoint (never the token) and Tradier's text."""
from __future__ import annotations

from trader.errors import GaussianError


class TradierError(GaussianError):
    """A Tradier call failed; `status` is the HTTP status (None for a transport failure)."""

    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint
        self.detail = detail


class TradierConfigError(TradierError):
    """The Tradier settings (token, account, environment, base URL) are missing or invalid."""


class TradierAuthError(TradierError):
    """Tradier refused the access token (HTTP 401)."""


class TradierRateLimitError(TradierError):
    """Tradier kept answering "Quota Violation" after the allowed waits."""


class TradierOrderRejected(TradierError):
    """Tradier refused an order (an `errors` body, or a 4xx); the order was not placed and was not retried."""


class TradierOrderUncertain(TradierError):
    """An order's fate is unknown (a timeout or failure, and no order with its tag was found); not resubmitted."""

    def __init__(self, message: str, *, tag: str, status: int | None = None, endpoint: str = "",
                 detail: str = "") -> None:
        super().__init__(message, status=status, endpoint=endpoint, detail=detail)
        self.tag = tag
