"""The Tradier REST client: market data, account state and option orders, typed, for sandbox, live or a local server.

GETs are retried with exponential backoff on transient failures; orders never are (see tradier_orders).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any, Self

import pandas as pd

from trader.broker.tradier_errors import (
    TradierConfigError,
    TradierError,
)
from trader.broker.tradier_frames import chain_frame, history_frame, timesales_frame
from trader.broker.tradier_models import (
    Balances,
    MarketClock,
    Profile,
    Quote,
    QuoteBatch,
    TradierOrder,
    TradierPosition,
)
from trader.broker.tradier_orders import TradierOrdersMixin
from trader.broker.tradier_ratelimit import RateLimiter
from trader.broker.tradier_transport import TradierTransport
from trader.broker.tradier_wire import LIVE_URL, NY, SANDBOX_URL, as_list, form_bool

log = logging.getLogger("gaussian.tradier")

ENVIRONMENTS = {"sandbox": SANDBOX_URL, "live": LIVE_URL}
TIMESALES_INTERVALS = ("tick", "1min", "5min", "15min")


def _minute(value: str | dt.datetime | dt.date | None) -> str | None:
    """A timesales bound as Tradier's `YYYY-MM-DD HH:MM` (New York time)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        ts = pd.Timestamp(value)
        ts = ts.tz_convert(NY) if ts.tzinfo is not None else ts
        return ts.strftime("%Y-%m-%d %H:%M")
    return f"{value:%Y-%m-%d} 00:00"


def _day(value: str | dt.date | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return f"{value:%Y-%m-%d}"


class TradierClient(TradierOrdersMixin):
    """A synchronous Tradier client for one account (see the module docstring for the order-safety rules)."""

    def __init__(self, token: str, account_id: str, base_url: str | None = None, env: str = "sandbox", *,
                 timeout: float = 10.0, max_retries: int = 3, backoff_s: float = 0.5, max_backoff_s: float = 8.0,
                 max_rate_wait_s: float = 60.0, lookup_attempts: int = 3, lookup_delay_s: float = 0.5) -> None:
        if not isinstance(token, str) or not token.strip() or any(c in token for c in "\r\n"):
            raise TradierConfigError("The Tradier token is empty or malformed; set TRADIER_TOKEN.")
        if not isinstance(account_id, str) or not account_id.strip() or not account_id.strip().isalnum():
            raise TradierConfigError(f"The Tradier account id {account_id!r} is not a letters-and-digits account "
                                     "number; set TRADIER_ACCOUNT_ID.")
        if env not in ENVIRONMENTS:
            raise TradierConfigError(f"TRADIER_ENV {env!r} is not one of sandbox, live.")
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise TradierConfigError(f"The Tradier base URL {base_url!r} must start with http:// or https://.")
        if timeout <= 0 or max_retries < 0:
            raise TradierConfigError(f"timeout must be positive and max_retries >= 0 (got {timeout}, {max_retries}).")
        self.account_id = account_id.strip()
        self.env = env
        self.base_url = (base_url or ENVIRONMENTS[env]).rstrip("/")
        self.max_retries = int(max_retries)
        self.lookup_attempts = max(int(lookup_attempts), 1)
        self.lookup_delay_s = float(lookup_delay_s)
        self._t = TradierTransport(token.strip(), self.base_url, timeout=timeout, max_retries=max_retries,
                                   backoff_s=backoff_s, max_backoff_s=max_backoff_s,
                                   max_rate_wait_s=max_rate_wait_s)

    @classmethod
    def from_env(cls, **kwargs: Any) -> TradierClient:
        """A client from TRADIER_TOKEN, TRADIER_ACCOUNT_ID, TRADIER_ENV (sandbox|live, default sandbox) and the
        optional TRADIER_BASE_URL (e.g. a local Tradier server); keyword arguments override."""
        token = os.environ.get("TRADIER_TOKEN", "")
        account = os.environ.get("TRADIER_ACCOUNT_ID", "")
        if not token:
            raise TradierConfigError("TRADIER_TOKEN is not set; export your Tradier access token (sandbox and live "
                                     "tokens differ).")
        if not account:
            raise TradierConfigError("TRADIER_ACCOUNT_ID is not set; export your Tradier account number.")
        env = os.environ.get("TRADIER_ENV", "sandbox").strip().lower() or "sandbox"
        base_url = os.environ.get("TRADIER_BASE_URL") or None
        params: dict[str, Any] = {"base_url": base_url, "env": env, **kwargs}
        return cls(token, account, **params)

    def __repr__(self) -> str:
        return f"TradierClient(account_id={self.account_id!r}, base_url={self.base_url!r}, token=***)"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._t.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def rate_limiter(self) -> RateLimiter:
        """The client's rate limiter (per-bucket X-Ratelimit state and the seconds waited so far)."""
        return self._t.limiter

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._t.request_json("GET", path, params=clean or None)

    @property
    def _acct(self) -> str:
        return f"/accounts/{self.account_id}"

    # ------------------------------------------------------------------------------------------ markets
    def clock(self) -> MarketClock:
        """The market clock (state premarket/open/postmarket/closed, timestamp, next change)."""
        return MarketClock.model_validate(self._get("/markets/clock")["clock"])

    def quotes(self, symbols: list[str] | str, greeks: bool = False) -> QuoteBatch:
        """Quotes for stock and OCC option symbols (POSTed when the list is long); unknown symbols are listed in
        `unmatched`, not raised."""
        items = [symbols] if isinstance(symbols, str) else list(symbols)
        if not items:
            return QuoteBatch()
        joined = ",".join(s.strip() for s in items)
        params = {"symbols": joined, "greeks": form_bool(greeks)}
        if len(joined) > 1500:
            body = self._t.request_json("POST", "/markets/quotes", data=params)
        else:
            body = self._t.request_json("GET", "/markets/quotes", params=params)
        envelope = body.get("quotes")
        quotes = [Quote.model_validate(q) for q in as_list(envelope, "quote")]
        unmatched: list[str] = []
        if isinstance(envelope, dict):
            unmatched = [str(s) for s in as_list(envelope.get("unmatched_symbols"), "symbol")]
        return QuoteBatch(quotes=quotes, unmatched=unmatched)

    def quote(self, symbol: str, greeks: bool = False) -> Quote:
        """One symbol's quote; TradierError when Tradier does not know the symbol."""
        found = self.quotes([symbol], greeks=greeks).get(symbol)
        if found is None:
            raise TradierError(f"Tradier has no quote for symbol {symbol!r} (unmatched symbol).",
                               endpoint="GET /markets/quotes", detail="unmatched symbol")
        return found

    def option_expirations(self, symbol: str, include_all_roots: bool = False) -> list[dt.date]:
        """Listed option expiration dates of an underlying, ascending ([] when it has no options)."""
        body = self._get("/markets/options/expirations", symbol=symbol,
                         includeAllRoots=form_bool(include_all_roots))
        envelope = body.get("expirations")
        items = as_list(envelope, "date")
        if not items and isinstance(envelope, dict) and "expiration" in envelope:
            items = [e.get("date") for e in as_list(envelope, "expiration") if isinstance(e, dict)]
        return sorted(dt.date.fromisoformat(str(x)[:10]) for x in items if x)

    def option_strikes(self, symbol: str, expiration: dt.date | str) -> list[float]:
        """Listed strikes of one expiration, ascending."""
        body = self._get("/markets/options/strikes", symbol=symbol, expiration=_day(expiration))
        return sorted(float(x) for x in as_list(body.get("strikes"), "strike"))

    def option_chain(self, symbol: str, expiration: dt.date | str, greeks: bool = True) -> list[Quote]:
        """All option quotes of one expiration (with greeks by default); [] when there is no chain."""
        body = self._get("/markets/options/chains", symbol=symbol, expiration=_day(expiration),
                         greeks=form_bool(greeks))
        return [Quote.model_validate(q) for q in as_list(body.get("options"), "option")]

    def option_chain_frame(self, symbol: str, expiration: dt.date | str,
                           timestamp: pd.Timestamp | None = None) -> pd.DataFrame:
        """One expiration's chain as the project's option snapshot (OPTION_COLUMNS + dte), stamped `timestamp`
        (default: the market clock's time)."""
        stamp = timestamp if timestamp is not None else pd.Timestamp(self.clock().timestamp or pd.Timestamp.now(NY))
        return chain_frame(self.option_chain(symbol, expiration, greeks=True), stamp)

    def timesales(self, symbol: str, interval: str = "1min", start: str | dt.datetime | dt.date | None = None,
                  end: str | dt.datetime | dt.date | None = None, session_filter: str = "open") -> pd.DataFrame:
        """Intraday bars (1min/5min/15min) in the project's bar schema (index = bar start, New York)."""
        if interval not in TIMESALES_INTERVALS:
            raise TradierError(f"Timesales interval {interval!r} is not one of {', '.join(TIMESALES_INTERVALS)}.")
        if session_filter not in ("all", "open"):
            raise TradierError(f"Timesales session_filter {session_filter!r} is not 'all' or 'open'.")
        body = self._get("/markets/timesales", symbol=symbol, interval=interval, start=_minute(start),
                         end=_minute(end), session_filter=session_filter)
        return timesales_frame([r for r in as_list(body.get("series"), "data") if isinstance(r, dict)])

    def history(self, symbol: str, start: str | dt.date | None = None, end: str | dt.date | None = None,
                interval: str = "daily") -> pd.DataFrame:
        """Daily (or weekly/monthly) bars labelled 09:30 New York of their date, in the project's bar schema."""
        if interval not in ("daily", "weekly", "monthly"):
            raise TradierError(f"History interval {interval!r} is not one of daily, weekly, monthly.")
        body = self._get("/markets/history", symbol=symbol, interval=interval, start=_day(start), end=_day(end))
        return history_frame([r for r in as_list(body.get("history"), "day") if isinstance(r, dict)])

    # ------------------------------------------------------------------------------------------ account
    def profile(self) -> Profile:
        """The user profile and its accounts."""
        raw = self._get("/user/profile").get("profile") or {}
        accounts = as_list(raw, "account") if isinstance(raw, dict) else []
        return Profile(id=raw.get("id"), name=raw.get("name"),
                       accounts=[a for a in accounts if isinstance(a, dict)])

    def balances(self) -> Balances:
        """The account's balances (option buying power via `.option_buying_power`)."""
        return Balances.model_validate(self._get(f"{self._acct}/balances")["balances"])

    def positions(self) -> list[TradierPosition]:
        """Open positions ([] when none; Tradier sends the string "null" then)."""
        body = self._get(f"{self._acct}/positions")
        return [TradierPosition.model_validate(p) for p in as_list(body.get("positions"), "position")]

    def orders(self, include_tags: bool = True, page: int | None = None, limit: int | None = None,
               filter: str | None = None) -> list[TradierOrder]:
        """The account's orders (today's session by default; [] when none)."""
        body = self._get(f"{self._acct}/orders", includeTags=form_bool(include_tags), page=page, limit=limit,
                         filter=filter)
        return [TradierOrder.model_validate(o) for o in as_list(body.get("orders"), "order")]

    def order(self, order_id: int) -> TradierOrder:
        """One order's current state."""
        body = self._get(f"{self._acct}/orders/{int(order_id)}", includeTags="true")
        raw = body.get("order")
        if not isinstance(raw, dict):
            raise TradierError(f"Tradier has no order {order_id} in account {self.account_id}.",
                               endpoint="GET /accounts/{account}/orders/{id}")
        return TradierOrder.model_validate(raw)
