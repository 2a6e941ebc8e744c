"""Historical bars from Tradier (a HistorySource): time & sales for intraday bars, history for daily bars."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from trader.broker.tradier_client import TradierClient
from trader.errors import DataError
from trader.market.resample import resample_bars
from trader.market.validate import interval_minutes, validate_bars

_NATIVE = (15, 5, 1)  # timesales intervals, coarsest first


class TradierHistorySource:
    """Fetches bars through a TradierClient: 1min/5min/15min natively from timesales (regular session, in windows
    of `chunk_days`), coarser intraday intervals resampled from those, 1day from the daily history."""

    def __init__(self, client: TradierClient, chunk_days: int = 7) -> None:
        if chunk_days < 1:
            raise DataError(f"chunk_days must be at least 1, got {chunk_days}.")
        self.client = client
        self.chunk_days = int(chunk_days)

    def fetch(self, symbol: str, start: dt.date, end: dt.date, interval: str) -> pd.DataFrame:
        """Bars for symbol from start to end (inclusive dates) at interval, validated, in the bar schema; a
        DataError when Tradier has none in the window."""
        start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
        if end < start:
            raise DataError(f"History window ends ({end}) before it starts ({start}).")
        minutes = interval_minutes(interval)
        source = f"Tradier {symbol} {interval} bars {start}..{end}"
        if minutes == 0:
            bars = self.client.history(symbol, start=start, end=end, interval="daily")
        else:
            native = next(m for m in _NATIVE if minutes % m == 0)
            bars = self._intraday(symbol, start, end, f"{native}min")
            if native != minutes and len(bars):
                bars = resample_bars(bars, interval)
        if len(bars):
            dates = bars.index.date
            bars = bars[(dates >= start) & (dates <= end)]
        if len(bars) == 0:
            raise DataError(f"{source}: Tradier returned no bars (market closed, too far back, or unknown symbol).")
        out = validate_bars(bars, source=source)
        out.index.name = "timestamp"
        return out

    def _intraday(self, symbol: str, start: dt.date, end: dt.date, interval: str) -> pd.DataFrame:
        frames = []
        day = start
        while day <= end:
            last = min(day + dt.timedelta(days=self.chunk_days - 1), end)
            frame = self.client.timesales(symbol, interval=interval, start=f"{day:%Y-%m-%d} 09:30",
                                          end=f"{last:%Y-%m-%d} 16:00", session_filter="open")
            if len(frame):
                frames.append(frame)
            day = last + dt.timedelta(days=1)
        if not frames:
            return pd.DataFrame(columns=["open", "high", "low", "close", "volume"])
        merged = pd.concat(frames)
        return merged[~merged.index.duplicated(keep="last")].sort_index()
