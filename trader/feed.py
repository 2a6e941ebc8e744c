"""The market feed port: hands out bars and option quotes only as of the clock's current bar."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import numpy as np
import pandas as pd

from trader.clock import Clock
from trader.errors import DataError, LookaheadError
from trader.market.base import Market, OptionQuote


class MarketFeed(Protocol):
    """What a strategy and the engine may know about the market at the clock's now."""

    def close(self, n: int) -> np.ndarray:
        """The last n closes up to and including the current bar."""
        ...

    def quote(self, expiry: dt.date, strike: float, right: str) -> OptionQuote:
        """An option quote at the current bar."""
        ...

    def chain(self, dte_max: int) -> pd.DataFrame:
        """The listed option chain at the current bar."""
        ...


class Stamps:
    """The timestamps of a DatetimeIndex boxed one at a time, about twice as fast as indexing it (the same
    value, unit and zone), the latest one kept: a bar's orders, fills and log lines share one box."""

    def __init__(self, index: pd.DatetimeIndex) -> None:
        self._ns: list[int] = index.as_unit("ns").asi8.tolist()
        self._tz = index.tz
        self._unit = index.unit
        self._at, self._ts = -1, None

    def __getitem__(self, i: int) -> pd.Timestamp:
        if i != self._at or self._ts is None:
            ts = pd.Timestamp(self._ns[i], tz=self._tz)
            self._ts = ts if self._unit == "ns" else ts.as_unit(self._unit)
            self._at = i
        return self._ts


class ReplayFeed:
    """A feed over a recorded market that refuses any read past the clock (no silent future reads).

    `source_index` maps each bar of this feed to the market bar whose quotes apply (identity unless the
    bars were aggregated to a coarser interval).
    """

    def __init__(self, market: Market, clock: Clock, source_index: np.ndarray | None = None) -> None:
        self.market = market
        self.clock = clock
        bars = market.bars
        self.timestamps: pd.DatetimeIndex = bars.index
        self._close = bars["close"].to_numpy(dtype=float)
        self._high = bars["high"].to_numpy(dtype=float)
        self._low = bars["low"].to_numpy(dtype=float)
        self._volume = bars["volume"].to_numpy(dtype=float)
        self._src = source_index if source_index is not None else np.arange(len(bars))
        self.n = len(bars)
        self._log_close = np.empty(self.n)
        self._log_returns = np.empty(max(self.n - 1, 0))
        self._logs_known = 0  # bars whose log close is computed
        self._stamps = Stamps(self.timestamps)
        self._derived: dict[Any, list[float]] = {}

    def known_bars(self) -> int:
        """How many bars from the start hold their final values (a recorded market: all of them)."""
        return self.n

    def _check(self, i: int) -> None:
        now = self.clock.index()
        if i > now:
            raise LookaheadError(f"bar {i} ({self.timestamps[i]}) asked for at bar {now} ({self.timestamps[now]})")

    def stamp(self, i: int) -> pd.Timestamp:
        """Bar i's timestamp (`timestamps[i]`, boxed faster and once per bar)."""
        return self._stamps[i]

    def bar(self, i: int) -> pd.Series:
        """One bar by position; later than now is an error."""
        self._check(i)
        return self.market.bars.iloc[i]

    def close(self, n: int) -> np.ndarray:
        """The last n closes up to now (fewer at the start of the data)."""
        i = self.clock.index()
        return self._close[max(0, i - n + 1): i + 1]

    def closes_until(self, i: int) -> np.ndarray:
        """All closes up to bar i (must not be after now)."""
        self._check(i)
        return self._close[: i + 1]

    def log_returns_until(self, i: int) -> np.ndarray:
        """Log returns of the closes up to bar i (row k: bar k to k + 1), computed once per bar: in one numpy
        call for a recorded market, as they arrive for a live one."""
        self._check(i)
        if i >= self._logs_known:
            lo, hi = self._logs_known, self.known_bars()
            self._log_close[lo:hi] = np.log(self._close[lo:hi])
            if hi > 1:
                start = max(lo, 1)
                np.subtract(self._log_close[start:hi], self._log_close[start - 1:hi - 1],
                            out=self._log_returns[start - 1:hi - 1])
            self._logs_known = hi
            if i >= hi:
                raise DataError(f"bar {i} has no final close yet (known up to bar {hi - 1})")
        return self._log_returns[:i]

    def derived(self, key: Any, fn: Callable[[np.ndarray, int], np.ndarray], i: int) -> Any:
        """Row i of a per-bar array derived from the closes, computed in one numpy pass over the bars known so far
        and extended as more arrive. `fn(closes, start)` returns rows start.. of the array for `closes` (all
        closes known); row t must use closes up to t only (causal by construction, as BarSeries arrays are)."""
        self._check(i)
        rows = self._derived.get(key)
        if rows is None or i >= len(rows):
            if rows is None:
                rows = self._derived[key] = []
            rows += np.asarray(fn(self._close[: self.known_bars()], len(rows)), dtype=float).tolist()
            if i >= len(rows):
                raise DataError(f"bar {i} has no final close yet (known up to bar {len(rows) - 1})")
        return rows[i]

    def last_close(self) -> float:
        """The current bar's close."""
        return float(self._close[self.clock.index()])

    def quote(self, expiry: dt.date, strike: float, right: str) -> OptionQuote:
        """Quote a contract at the current bar."""
        return self.quoter().quote(int(self._src[self.clock.index()]), expiry, strike, right)

    def mark(self, expiry: dt.date, strike: float, right: str) -> float:
        """A contract's mid at the current bar (what positions are marked at)."""
        return self.marker()(expiry, strike, right)

    def marker(self) -> Callable[[dt.date, float, str], float]:
        """`mark` bound to the current bar, for marking every held position: the quoter's cheaper `mid` when it
        has one, else its quote's mid."""
        quoter = self.quoter()
        i = int(self._src[self.clock.index()])
        mid = getattr(quoter, "mid", None)
        if mid is not None:
            return partial(mid, i)
        return lambda expiry, strike, right: quoter.quote(i, expiry, strike, right).mid

    def quoter(self):
        """The market's option quoter (callers pass it bar positions from `source_bar`)."""
        if self.market.quoter is None:
            raise DataError("this market has no option quotes (no quoter): it cannot trade options")
        return self.market.quoter

    def source_bar(self, i: int) -> int:
        """The market bar whose quotes apply at feed bar i (not after now)."""
        self._check(i)
        return int(self._src[i])

    def chain(self, dte_max: int) -> pd.DataFrame:
        """The listed chain at the current bar."""
        return self.quoter().chain(int(self._src[self.clock.index()]), dte_max)
