"""An OptionQuoter answering from Tradier's quotes (with greeks) as of now: the bar position is the clock's.

Tradier only ever quotes the present, so `i` must be the bar the paper loop stands on; answers are cached per
bar (a new `i` starts a fresh cache), which keeps a contract search to a handful of requests per entry.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

from trader.broker.tradier_client import TradierClient
from trader.broker.tradier_models import Quote
from trader.broker.tradier_wire import NY
from trader.market.base import MissingQuoteError, OptionQuote
from trader.options import occ_symbol


def _f(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def option_quote(q: Quote) -> OptionQuote:
    """A Tradier option quote as the project's OptionQuote (missing bid/ask read 0, missing greeks NaN)."""
    bid, ask = float(q.bid or 0.0), float(q.ask or 0.0)
    g = q.greeks
    iv = None
    if g is not None:
        iv = g.mid_iv if g.mid_iv else g.smv_vol
    return OptionQuote(bid, ask, (bid + ask) / 2.0, _f(iv), _f(g.delta if g else None), _f(g.gamma if g else None),
                       _f(g.theta if g else None), _f(g.vega if g else None))


class TradierQuoter:
    """Quotes, chains, expiries and strikes of one underlying from a Tradier account's market data, now.

    `time_of(i)` gives the time of bar i (tz-aware; its date counts days to expiry and it stamps chain
    snapshots); by default the wall time in New York.
    """

    def __init__(self, client: TradierClient, underlying: str = "SPY",
                 time_of: Callable[[int], pd.Timestamp] | None = None) -> None:
        self.client = client
        self.underlying = underlying.upper()
        self.time_of = time_of or (lambda i: pd.Timestamp.now(tz=NY))
        self.requests = 0
        self._bar = None
        self._quotes: dict[str, OptionQuote] = {}
        self._expiries: list[dt.date] | None = None
        self._strikes: np.ndarray | None = None

    def _at(self, i: int) -> None:
        if i != self._bar:
            self._bar = i
            self._quotes = {}
            self._expiries = None
            self._strikes = None

    def quote(self, i: int, expiry: dt.date, strike: float, right: str) -> OptionQuote:
        """The current quote of one contract, with greeks; MissingQuoteError when Tradier does not list it."""
        self._at(i)
        symbol = occ_symbol(self.underlying, expiry, right, strike)
        hit = self._quotes.get(symbol)
        if hit is None:
            self.requests += 1
            found = self.client.quotes([symbol], greeks=True).get(symbol)
            if found is None:
                raise MissingQuoteError(f"Tradier has no quote for {symbol}")
            hit = self._quotes[symbol] = option_quote(found)
        return hit

    def prefetch(self, i: int, symbols: list[str]) -> None:
        """Quote several contracts in one request (e.g. every held position at the start of a bar)."""
        self._at(i)
        want = [s for s in symbols if s not in self._quotes]
        if not want:
            return
        self.requests += 1
        for q in self.client.quotes(want, greeks=True).quotes:
            self._quotes[q.symbol] = option_quote(q)

    def expiries(self, i: int) -> list[dt.date]:
        """Listed expiries on or after bar i's date."""
        self._at(i)
        if self._expiries is None:
            self.requests += 1
            day = self.time_of(i).date()
            self._expiries = [e for e in self.client.option_expirations(self.underlying) if e >= day]
        return list(self._expiries)

    def strikes(self, i: int) -> np.ndarray:
        """Listed strikes of the nearest expiry (the contract search walks these)."""
        self._at(i)
        if self._strikes is None:
            exps = self.expiries(i)
            self.requests += 1
            ks = self.client.option_strikes(self.underlying, exps[0]) if exps else []
            self._strikes = np.asarray(ks, dtype=float)
        return self._strikes

    def chain(self, i: int, dte_max: int) -> pd.DataFrame:
        """Every listed contract with at most `dte_max` days to expiry, quoted now (snapshot columns + dte)."""
        self._at(i)
        stamp = self.time_of(i)
        day = stamp.date()
        frames = []
        for e in self.expiries(i):
            if (e - day).days > dte_max:
                continue
            self.requests += 1
            frame = self.client.option_chain_frame(self.underlying, e, timestamp=stamp)
            if len(frame):
                frame["dte"] = [(d - day).days for d in pd.DatetimeIndex(frame["expiry"]).date]
                frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
