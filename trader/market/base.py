"""The market data types: the Market bundle, option quotes, and the quoter and history-source protocols."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from trader.errors import DataError

TZ = "America/New_York"

BAR_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
"""Required bar columns (float64); the index is a tz-aware DatetimeIndex named "timestamp" (bar start)."""

OPTIONAL_BAR_COLUMNS: tuple[str, ...] = ("vix", "spread", "quote_size")
"""Optional bar columns: VIX-like index (percent points), underlying bid/ask spread ($), shares at the inside."""

OPTION_COLUMNS: tuple[str, ...] = (
    "timestamp", "symbol", "underlying", "expiry", "strike", "right", "bid", "ask",
    "volume", "open_interest", "iv", "delta", "gamma", "theta", "vega",
)
"""Option snapshot columns, in order (a quoter's chain adds "dte")."""

TRUTH_COLUMNS: tuple[str, ...] = ("trend", "volatility", "liquidity", "label")
"""Hidden regime columns of a synthetic market (never shown to strategies)."""


class MissingQuoteError(DataError):
    """A quoter has no quote for the asked contract at the asked bar."""


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """One option's quote at one bar: prices in $ per share, greeks per share (theta per calendar day)."""

    bid: float
    ask: float
    mid: float
    iv: float
    delta: float
    gamma: float
    theta: float
    vega: float


@runtime_checkable
class OptionQuoter(Protocol):
    """Answers option quotes for bar positions of one market, using only what is known at that bar."""

    def quote(self, i: int, expiry: dt.date, strike: float, right: str) -> OptionQuote:
        """Quote one contract at bar position i."""
        ...

    def chain(self, i: int, dte_max: int) -> pd.DataFrame:
        """All listed contracts at bar i with quotes (option snapshot columns plus dte)."""
        ...

    def expiries(self, i: int) -> list[dt.date]:
        """Listed expiries at bar i (on or after the bar's date)."""
        ...


@runtime_checkable
class HistorySource(Protocol):
    """A provider of historical bars (a broker's history API, a vendor, a file tree)."""

    def fetch(self, symbol: str, start: dt.date, end: dt.date, interval: str) -> pd.DataFrame:
        """Bars for symbol between start and end (inclusive) at interval, in the bar schema."""
        ...


@dataclass
class Market:
    """A market: bars, optional daily option snapshots, optional hidden truth, metadata and an option quoter.

    `context` holds the universe around the underlying: other symbols' bars by symbol (see
    `trader.market.universe`); empty unless a feature family asked for them.
    """

    bars: pd.DataFrame
    chains: pd.DataFrame | None
    truth: pd.DataFrame | None
    meta: dict[str, Any] = field(default_factory=dict)
    quoter: OptionQuoter | None = None
    context: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def interval(self) -> str:
        """The bar interval, e.g. "1min" or "1day"."""
        return str(self.meta.get("interval", "1min"))

    def sessions(self) -> list[dt.date]:
        """The distinct session dates of the bars, in order."""
        return sorted(set(self.bars.index.date))

    def public_view(self) -> Market:
        """The same market without its hidden truth (what a strategy may be handed)."""
        return Market(bars=self.bars, chains=self.chains, truth=None, meta=dict(self.meta), quoter=self.quoter,
                      context=self.context)
