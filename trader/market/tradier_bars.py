"""Bars of the running session from Tradier's time & sales, one at a time as each closes.

The open/high/low/close/volume come from `GET /markets/timesales` (the bar that starts at the asked minute).
Optional columns the models may read come from `extras(ts)` when given (a replayed day supplies the recorded
values), else from quotes taken now: `spread` (ask - bid of the underlying), `quote_size` (the smaller of the
inside sizes, in shares) and `vix` (the last of the VIX index quote; NaN when Tradier does not match it).
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from trader.broker.tradier_client import TradierClient
from trader.broker.tradier_wire import NY

Extras = Callable[[pd.Timestamp], dict[str, float]]


class TradierBarSource:
    """Fetches one bar of `symbol` at `interval` (1min, 5min or 15min) by its start time."""

    def __init__(self, client: TradierClient, symbol: str = "SPY", interval: str = "1min",
                 extras: Extras | None = None, columns: tuple[str, ...] = (), vix_symbol: str = "VIX") -> None:
        self.client = client
        self.symbol = symbol.upper()
        self.interval = interval
        self.extras = extras
        self.columns = tuple(columns)
        self.vix_symbol = vix_symbol

    def fetch(self, ts: pd.Timestamp) -> dict[str, float] | None:
        """The bar that starts at `ts` with the extra columns, or None when Tradier does not have it yet."""
        ts = pd.Timestamp(ts).tz_convert(NY)
        frame = self.client.timesales(self.symbol, interval=self.interval, start=ts.to_pydatetime(),
                                      end=ts.to_pydatetime(), session_filter="open")
        if len(frame) == 0 or ts not in frame.index:
            return None
        row = frame.loc[ts]
        bar = {c: float(row[c]) for c in ("open", "high", "low", "close", "volume")}
        if self.extras is not None:
            bar.update(self.extras(ts))
        elif self.columns:
            bar.update(self.quote_extras())
        return bar

    def quote_extras(self) -> dict[str, float]:
        """spread, quote_size and vix from quotes taken now (only the columns asked for)."""
        want = [self.symbol] + ([self.vix_symbol] if "vix" in self.columns else [])
        batch = self.client.quotes(want)
        out: dict[str, float] = {}
        q = batch.get(self.symbol)
        nan = float("nan")
        if "spread" in self.columns:
            ok = q is not None and q.bid is not None and q.ask is not None
            out["spread"] = float(q.ask - q.bid) if ok else nan  # type: ignore[union-attr, operator]
        if "quote_size" in self.columns:
            sizes = [s for s in ((q.bidsize, q.asksize) if q is not None else ()) if s is not None]
            out["quote_size"] = float(min(sizes)) * 100.0 if sizes else nan
        if "vix" in self.columns:
            v = batch.get(self.vix_symbol)
            out["vix"] = float(v.last) if v is not None and v.last is not None else nan
        return out
