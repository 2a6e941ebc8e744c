"""An option quoter answering from Tradier quotes at the current moment (the bar position is the clock's now)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from trader.broker.tradier_client import TradierClient
from trader.market.base import MissingQuoteError, OptionQuote
from trader.options import occ_symbol


class TradierQuoter:
    """Quotes, chains and expiries from a Tradier account's market data, as of now."""

    def __init__(self, client: TradierClient, underlying: str = "SPY") -> None:
        self.client = client
        self.underlying = underlying

    def quote(self, i: int, expiry: dt.date, strike: float, right: str) -> OptionQuote:
        """The current quote of one contract, with greeks."""
        symbol = occ_symbol(self.underlying, expiry, right, strike)
        batch = self.client.quotes([symbol], greeks=True)
        if not batch.quotes:
            raise MissingQuoteError(f"Tradier has no quote for {symbol}")
        q = batch.quotes[0]
        g = q.greeks
        bid, ask = float(q.bid or 0.0), float(q.ask or 0.0)
        nan = float("nan")

        def val(x: float | None) -> float:
            return float(x) if x is not None else nan

        return OptionQuote(bid, ask, (bid + ask) / 2, val(g.mid_iv if g else None), val(g.delta if g else None),
                           val(g.gamma if g else None), val(g.theta if g else None), val(g.vega if g else None))

    def expiries(self, i: int) -> list[dt.date]:
        """Listed expiries now."""
        return list(self.client.option_expirations(self.underlying))

    def strikes(self, i: int) -> np.ndarray:
        """Listed strikes of the nearest expiry."""
        exps = self.expiries(i)
        return np.asarray(self.client.option_strikes(self.underlying, exps[0]) if exps else [], dtype=float)

    def chain(self, i: int, dte_max: int) -> pd.DataFrame:
        """The chains of every expiry within dte_max calendar days."""
        today = pd.Timestamp(self.client.clock().date).date() if hasattr(self.client.clock(), "date") else None
        frames = []
        for e in self.expiries(i):
            if today is not None and (e - today).days > dte_max:
                continue
            frames.append(self.client.option_chain_frame(self.underlying, e))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
