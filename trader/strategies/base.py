"""The strategy interface and the snapshot a strategy decides from (only what is known at the bar)."""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from trader.domain import Intent, Position
from trader.errors import LookaheadError


class BarSeries:
    """Per-bar arrays computed ahead (predictions, regime probabilities, features) read only up to now.

    Each array must be causal by construction (row t uses data up to t); this wrapper makes sure a
    strategy cannot index past the current bar.
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self._arrays = arrays
        self.now = -1

    def __contains__(self, name: str) -> bool:
        return name in self._arrays

    def at(self, name: str, i: int | None = None) -> Any:
        """Row i (default: now) of a named array; later than now is an error."""
        i = self.now if i is None else i
        if i > self.now:
            raise LookaheadError(f"series '{name}' row {i} asked for at bar {self.now}")
        return self._arrays[name][i]

    def last(self, name: str, n: int) -> np.ndarray:
        """The last n rows up to now."""
        return self._arrays[name][max(0, self.now - n + 1): self.now + 1]

    def names(self) -> list[str]:
        """Names of the available arrays."""
        return list(self._arrays)


class Snapshot:
    """What a strategy sees at one bar: prices up to now, its positions, account and time state.

    The engine builds one per bar, so it holds references, not copies; what few strategies read (the bar's
    timestamp, the log returns) comes from the feed's per-bar arrays when asked for.
    """

    __slots__ = ("_extra", "_feed", "_time", "cash", "closes", "equity", "i", "minutes_to_close", "pending_opens",
                 "positions", "series")

    def __init__(self, i: int, time: pd.Timestamp | None, closes: np.ndarray, positions: tuple[Position, ...],
                 cash: float, equity: float, minutes_to_close: float, series: BarSeries, pending_opens: int = 0,
                 extra: dict[str, Any] | None = None, *, feed: Any = None) -> None:
        self.i = i
        self._time = time
        self.closes = closes  # closes up to and including bar i
        self.positions = positions
        self.cash = cash
        self.equity = equity
        self.minutes_to_close = minutes_to_close
        self.series = series
        self.pending_opens = pending_opens
        self._extra = extra
        self._feed = feed

    @property
    def time(self) -> pd.Timestamp | None:
        """The bar's timestamp."""
        if self._time is None and self._feed is not None:
            self._time = self._feed.stamp(self.i)
        return self._time

    @property
    def extra(self) -> dict[str, Any]:
        """Free-form notes for the strategy."""
        if self._extra is None:
            self._extra = {}
        return self._extra

    @property
    def close(self) -> float:
        """The current close."""
        return float(self.closes[-1])

    def derived(self, key: Any, fn: Any) -> Any:
        """Row i of a causal per-bar array `fn(closes, start)` of the closes (see ReplayFeed.derived): computed once
        for all bars known, not at every bar."""
        if self._feed is not None:
            return self._feed.derived(key, fn, self.i)
        return fn(self.closes, self.i)[0]

    @property
    def log_returns(self) -> np.ndarray:
        """Log returns of the closes up to now (row k: bar k to bar k + 1), from the feed's per-bar arrays."""
        if self._feed is not None:
            return self._feed.log_returns_until(self.i)
        return np.diff(np.log(self.closes))


class Strategy(Protocol):
    """Decides what to do at a bar from a snapshot."""

    name: str

    def decide(self, snap: Snapshot) -> list[Intent]:
        """Intents (open a call/put, or close a position) for this bar."""
        ...

    def on_trade_closed(self, trade: Any) -> None:
        """Told about every closed trade (for controllers that learn online from realised outcomes)."""
        ...
