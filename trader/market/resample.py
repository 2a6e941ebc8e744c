"""Aggregate bars to a coarser interval (5min, 15min, 30min, 1h, 1day) within sessions, anchored at 09:30."""
from __future__ import annotations

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.market.base import BAR_COLUMNS, OPTIONAL_BAR_COLUMNS
from trader.market.validate import interval_minutes

_OPEN_OFFSET = pd.Timedelta(hours=9, minutes=30)


def _labels(index: pd.DatetimeIndex, interval: str) -> np.ndarray:
    """Bucket start (local wall-clock ns) of each bar: 09:30 + k * interval of the bar's own date (09:30 for 1day)."""
    try:
        minutes = interval_minutes(interval)
    except ValueError as exc:
        raise DataError(f"Unsupported bar interval {interval!r}; use e.g. 5min, 15min, 30min, 1h or 1day.") from exc
    local = index.tz_localize(None) if index.tz is not None else index
    local = local.as_unit("ns")
    anchor = (local.normalize() + _OPEN_OFFSET).asi8
    if minutes == 0:
        return anchor
    step = minutes * 60 * 1_000_000_000
    return anchor + ((local.asi8 - anchor) // step) * step


def resample_positions(bars: pd.DataFrame, interval: str) -> np.ndarray:
    """For each resampled bar, the position of the last source bar in it (where its close is known)."""
    labels = _labels(pd.DatetimeIndex(bars.index), interval)
    if len(labels) == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.flatnonzero(np.r_[labels[1:] != labels[:-1], True])
    return ends.astype(np.int64)


def resample_bars(bars: pd.DataFrame, interval: str) -> pd.DataFrame:
    """OHLCV bars aggregated per session into interval buckets labelled by their start (09:30-anchored).

    open = first, high = max, low = min, close = last, volume = sum; vix, spread and quote_size take the last
    value (what is known at the bucket's close). A bucket never spans two sessions; the last bucket of a
    session may be shorter (e.g. 15:30-16:00 for 1h).
    """
    idx = pd.DatetimeIndex(bars.index)
    if len(idx) == 0:
        return bars.copy()
    labels = _labels(idx, interval)
    first = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    last = np.r_[first[1:] - 1, len(labels) - 1]
    out = {
        "open": bars["open"].to_numpy(dtype=float)[first],
        "high": np.maximum.reduceat(bars["high"].to_numpy(dtype=float), first),
        "low": np.minimum.reduceat(bars["low"].to_numpy(dtype=float), first),
        "close": bars["close"].to_numpy(dtype=float)[last],
        "volume": np.add.reduceat(bars["volume"].to_numpy(dtype=float), first),
    }
    for col in OPTIONAL_BAR_COLUMNS:
        if col in bars.columns:
            out[col] = bars[col].to_numpy(dtype=float)[last]
    new_index = pd.DatetimeIndex(labels[first].astype("datetime64[ns]"))
    if idx.tz is not None:
        new_index = new_index.tz_localize(idx.tz)
    new_index = new_index.rename("timestamp")
    frame = pd.DataFrame(out, index=new_index)
    return frame[[c for c in (*BAR_COLUMNS, *OPTIONAL_BAR_COLUMNS) if c in frame.columns]]
