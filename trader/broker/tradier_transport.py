"""Tradier HTTP transport: bearer auth, JSON accept, form bodies, rate-limit waits, GET retries with backoff.

The token lives only in the request header; it never enters a message, a log line or a repr (any text that
could echo it back is scrubbed).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from trader.broker.tradier_errors import TradierAuthError, TradierError, TradierRateLimitError
from trader.broker.tradier_ratelimit import RateLimiter
from trader.broker.tradier_wire import error_text, quota_expiry_ms, rate_category

log = logging.getLogger("gaussian.tradier")

RETRY_STATUSES = frozenset({404, 408, 409, 429, 500, 502, 503, 504, 520, 530})
"""Statuses a GET is retried on (Tradier sometimes answers a transient 404 or 5xx); 401 is never retried."""
ORDER_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 520, 530})
"""Statuses after which an order may be resubmitted, and only once its tag was not found among the orders."""


@dataclass
class Attempt:
    """One request's outcome: a response, or a transport failure described in `error`.

    `maybe_sent` is False only when the request surely never reached the server (connection refused), so a
    resubmission cannot duplicate it; `timed_out` marks a timeout after sending.
    """

    response: httpx.Response | None
    error: str = ""
    maybe_sent: bool = True
    timed_out: bool = False
    quota_expiry_ms: int | None = None

    @property
    def quota(self) -> bool:
        """True when the server answered a Quota Violation."""
        return self.quota_expiry_ms is not None


class TradierTransport:
    """Sends requests to one Tradier base URL with one token; see the module docstring."""

    def __init__(self, token: str, base_url: str, *, timeout: float = 10.0, max_retries: int = 3,
                 backoff_s: float = 0.5, max_backoff_s: float = 8.0, max_rate_wait_s: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.limiter = RateLimiter(max_wait_s=max_rate_wait_s)
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"TradierTransport(base_url={self.base_url!r}, token=***)"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def scrub(self, text: str) -> str:
        """The text with the token masked (a server could echo it back)."""
        return text.replace(self._token, "***") if self._token else text

    # ------------------------------------------------------------------------------------- one request
    def send_once(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                  data: dict[str, Any] | None = None) -> Attempt:
        """Send one request after any rate-limit wait; never raises for HTTP statuses or transport failures."""
        category = rate_category(method, path)
        self.limiter.before(category)
        try:
            response = self._http.request(method, path.lstrip("/"), params=params, data=data)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return Attempt(None, self.scrub(f"could not connect to {self.base_url} ({type(exc).__name__})"),
                           maybe_sent=False)
        except httpx.TimeoutException as exc:
            return Attempt(None, f"timed out after {self.timeout:g} s ({type(exc).__name__})", timed_out=True)
        except httpx.TransportError as exc:
            return Attempt(None, self.scrub(f"connection failed ({type(exc).__name__}: {exc})"))
        self.limiter.update(category, response.headers)
        attempt = Attempt(response)
        if response.status_code >= 400:
            expiry = quota_expiry_ms(response.text)
            if expiry is not None:
                header = response.headers.get("x-ratelimit-expiry", "")
                expiry = int(header) if header.isdigit() else expiry
                self.limiter.exhausted(category, expiry or None)
                attempt.quota_expiry_ms = expiry
        return attempt

    # ------------------------------------------------------------------------------------------ errors
    def error_for(self, method: str, path: str, response: httpx.Response) -> TradierError:
        """The TradierError of a failed response: status, endpoint and Tradier's own error text."""
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        detail = self.scrub(error_text(body))
        endpoint = f"{method} {path}"
        status = response.status_code
        if status == 401:
            return TradierAuthError(
                f"Tradier refused the access token (HTTP 401) on {endpoint}: {detail}; check TRADIER_TOKEN and "
                "TRADIER_ENV (sandbox and live use different tokens).",
                status=status, endpoint=endpoint, detail=detail)
        if quota_expiry_ms(response.text) is not None:
            return TradierRateLimitError(f"Tradier rate limit hit (HTTP {status}) on {endpoint}: {detail}",
                                         status=status, endpoint=endpoint, detail=detail)
        return TradierError(f"Tradier {endpoint} failed with HTTP {status}: {detail}",
                            status=status, endpoint=endpoint, detail=detail)

    def decode(self, method: str, path: str, response: httpx.Response) -> dict[str, Any]:
        """The JSON object of a 2xx response; raises TradierError for an error status, a non-JSON body, or a
        200 body carrying Tradier's `errors` key."""
        if response.status_code >= 300:
            raise self.error_for(method, path, response)
        endpoint = f"{method} {path}"
        try:
            body = response.json()
        except ValueError:
            snippet = self.scrub(error_text(response.text, limit=120))
            raise TradierError(f"Tradier {endpoint} answered a body that is not JSON (HTTP {response.status_code}, "
                               f"{response.headers.get('content-type', 'no content type')}): {snippet}",
                               status=response.status_code, endpoint=endpoint, detail=snippet) from None
        if not isinstance(body, dict):
            raise TradierError(f"Tradier {endpoint} answered JSON that is not an object: {str(body)[:120]}",
                               status=response.status_code, endpoint=endpoint)
        if "errors" in body:
            detail = self.scrub(error_text(body))
            raise TradierError(f"Tradier {endpoint} answered an error (HTTP {response.status_code}): {detail}",
                               status=response.status_code, endpoint=endpoint, detail=detail)
        return body

    def backoff(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds before retry number attempt+1: Retry-After when the server gave one, else exponential."""
        if response is not None:
            after = response.headers.get("retry-after", "")
            try:
                return min(max(float(after), 0.0), self.max_backoff_s)
            except ValueError:
                pass
        return min(self.backoff_s * (2 ** attempt), self.max_backoff_s)

    # ------------------------------------------------------------------------------------- retried calls
    def request_json(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                     data: dict[str, Any] | None = None, retry: bool = True) -> dict[str, Any]:
        """Send and decode; with retry, transient statuses, quota violations and transport failures are retried
        up to max_retries times with exponential backoff (use only for calls that are safe to repeat)."""
        endpoint = f"{method} {path}"
        tries = self.max_retries + 1 if retry else 1
        last: TradierError | None = None
        for attempt in range(tries):
            result = self.send_once(method, path, params=params, data=data)
            response = result.response
            if response is None:
                last = TradierError(f"Tradier {endpoint} failed: {result.error}", endpoint=endpoint,
                                    detail=result.error)
            elif result.quota:
                last = self.error_for(method, path, response)
                if attempt + 1 < tries:
                    log.warning("Tradier %s: quota violation, retry %d/%d after the window resets",
                                endpoint, attempt + 1, tries - 1)
                    continue  # send_once waits for the window on the next call
            elif response.status_code in RETRY_STATUSES:
                last = self.error_for(method, path, response)
            else:
                return self.decode(method, path, response)
            if attempt + 1 < tries:
                delay = self.backoff(attempt, response)
                log.warning("Tradier %s: %s; retry %d/%d in %.2f s", endpoint,
                            f"HTTP {response.status_code}" if response is not None else result.error,
                            attempt + 1, tries - 1, delay)
                time.sleep(delay)
        assert last is not None
        if tries > 1:
            raise type(last)(f"{last} (gave up after {tries} attempts)", status=last.status, endpoint=endpoint,
                             detail=last.detail)
        raise last
