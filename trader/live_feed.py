"""A market feed whose bars arrive one at a time (paper and live trading).

The bar start times of the session are known in advance from the exchange calendar, so the feed holds the
history plus one empty row per scheduled bar of the session; `put_bar` fills the next row when that bar has
closed. The engine precomputes its per-bar clock figures (minutes to the close, session dates) from those
timestamps, exactly as in a backtest. Nothing past the clock can be read, as with ReplayFeed; rows not yet
received hold NaN and `view(i)` cuts the market at bar i.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from trader.clock import BarClock
from trader.errors import DataError
from trader.feed import ReplayFeed
from trader.market.base import Market


class LiveFeed(ReplayFeed):
    """History bars plus the scheduled bars of one session, filled in order by `put_bar`."""

    def __init__(self, history: pd.DataFrame, session: pd.DatetimeIndex, quoter: Any, meta: dict[str, Any],
                 chains: pd.DataFrame | None = None) -> None:
        if len(session) == 0:
            raise DataError("a live feed needs at least one scheduled bar in its session")
        if len(history) and session[0] <= history.index[-1]:
            raise DataError(f"the session's first bar {session[0]} is not after the last history bar "
                            f"{history.index[-1]}")
        columns = list(history.columns) if len(history.columns) else ["open", "high", "low", "close", "volume"]
        empty = pd.DataFrame(np.nan, index=session, columns=columns)
        frame = pd.concat([history.astype(float), empty]) if len(history) else empty
        frame.index.name = "timestamp"
        self.columns = columns
        self.first_session_bar = len(history)
        self.received = len(history)
        market = Market(bars=frame, chains=chains, truth=None, meta=dict(meta), quoter=quoter)
        super().__init__(market, BarClock(frame.index, max(0, len(history) - 1)))
        for name in ("close", "high", "low", "volume"):  # arrays of our own, filled as bars arrive
            setattr(self, f"_{name}", frame[name].to_numpy(dtype=float, copy=True))

    def known_bars(self) -> int:
        """Bars received so far (the rows after them are still empty)."""
        return self.received

    @property
    def session_bars(self) -> range:
        """Bar positions of the session (history bars come before)."""
        return range(self.first_session_bar, self.n)

    def put_bar(self, i: int, bar: Mapping[str, float]) -> None:
        """Record bar i (the next one expected): open, high, low, close, volume and any extra columns."""
        if i != self.received:
            raise DataError(f"bar {i} arrived but bar {self.received} is the next one expected")
        missing = [c for c in ("open", "high", "low", "close", "volume") if c not in bar]
        if missing:
            raise DataError(f"bar {i} ({self.timestamps[i]}) lacks {', '.join(missing)}")
        row = np.array([float(bar.get(c, np.nan)) for c in self.columns])
        self.market.bars.iloc[i] = row
        self._close[i] = row[self.columns.index("close")]
        self._high[i] = row[self.columns.index("high")]
        self._low[i] = row[self.columns.index("low")]
        self._volume[i] = row[self.columns.index("volume")]
        self.received += 1

    def add_chains(self, snapshot: pd.DataFrame) -> None:
        """Append an option-chain snapshot (taken now) to the market's chains."""
        if snapshot is None or len(snapshot) == 0:
            return
        old = self.market.chains
        self.market.chains = snapshot.copy() if old is None or len(old) == 0 else pd.concat(
            [old, snapshot[old.columns.intersection(snapshot.columns)]], ignore_index=True)

    def view(self, i: int | None = None) -> Market:
        """The market as known at bar i (default: the last bar received): bars and chain snapshots up to it."""
        i = self.received - 1 if i is None else i
        if i >= self.received:
            raise DataError(f"bar {i} has not arrived yet (received up to {self.received - 1})")
        bars = self.market.bars.iloc[: i + 1]
        chains = self.market.chains
        if chains is not None and len(chains) and len(bars):
            chains = chains[chains["timestamp"] <= bars.index[-1]]
        return Market(bars=bars, chains=chains, truth=None, meta=dict(self.market.meta), quoter=self.market.quoter)
