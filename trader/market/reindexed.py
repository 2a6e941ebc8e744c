"""Aggregated bars keep pricing options from the underlying market: a quoter re-indexed onto coarser bars."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from trader.market.base import Market, OptionQuote, OptionQuoter


class ReindexedQuoter:
    """Answers for coarse bar j with the source quoter at the source bar where bar j closes."""

    def __init__(self, source: OptionQuoter, source_index: np.ndarray) -> None:
        self.source = source
        self.source_index = np.asarray(source_index, dtype=np.int64)

    def quote(self, i: int, expiry: dt.date, strike: float, right: str) -> OptionQuote:
        """Quote at the source bar that closes coarse bar i."""
        return self.source.quote(int(self.source_index[i]), expiry, strike, right)

    def mid(self, i: int, expiry: dt.date, strike: float, right: str) -> float:
        """A quote's mid at the source bar that closes coarse bar i."""
        j = int(self.source_index[i])
        mid = getattr(self.source, "mid", None)
        return mid(j, expiry, strike, right) if mid is not None else self.source.quote(j, expiry, strike, right).mid

    def chain(self, i: int, dte_max: int) -> pd.DataFrame:
        """Chain at the source bar that closes coarse bar i."""
        return self.source.chain(int(self.source_index[i]), dte_max)

    def expiries(self, i: int) -> list[dt.date]:
        """Expiries listed at coarse bar i."""
        return self.source.expiries(int(self.source_index[i]))


def aggregate_market(market: Market, interval: str) -> Market:
    """Aggregate a 1-minute market to `interval` within sessions, keeping option quotes consistent."""
    from trader.market.resample import resample_bars, resample_positions

    coarse = resample_bars(market.bars, interval)
    src = resample_positions(market.bars, interval)
    truth = None
    if market.truth is not None:
        truth = market.truth.iloc[src].set_axis(coarse.index)
    quoter = ReindexedQuoter(market.quoter, src) if market.quoter is not None else None
    return Market(bars=coarse, chains=market.chains, truth=truth, meta={**market.meta, "interval": interval},
                  quoter=quoter, context=market.context)
