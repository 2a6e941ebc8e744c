"""Tradier market data as the project's frames: time & sales and daily history as bars, a chain as a snapshot."""
from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from trader.broker.tradier_models import Quote
from trader.broker.tradier_wire import NY, to_float
from trader.market.base import BAR_COLUMNS, OPTION_COLUMNS


def _empty_bars() -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz=NY, name="timestamp")
    return pd.DataFrame({c: np.zeros(0, dtype=np.float64) for c in BAR_COLUMNS}, index=index)


def _bar_values(row: dict[str, Any]) -> tuple[float, float, float, float, float]:
    """open, high, low, close, volume of a bar row; tick rows ({time, price, volume}) use price for all four."""
    price = to_float(row.get("price"))
    close = to_float(row.get("close"))
    close = close if close is not None else price
    values = [to_float(row.get(k)) for k in ("open", "high", "low")]
    o, h, lo = (v if v is not None else close for v in values)
    vol = to_float(row.get("volume")) or 0.0
    nan = float("nan")
    return (o if o is not None else nan, h if h is not None else nan, lo if lo is not None else nan,
            close if close is not None else nan, vol)


def timesales_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Time & sales rows (`series.data`) as bars: index = bar start in New York (from the naive-ET `time`, else
    the epoch-seconds `timestamp`), columns open, high, low, close, volume (float64), sorted, duplicates dropped."""
    if not rows:
        return _empty_bars()
    stamps = []
    for row in rows:
        if row.get("time"):
            ts = pd.Timestamp(str(row["time"]))
            ts = ts.tz_localize(NY) if ts.tzinfo is None else ts.tz_convert(NY)
        else:
            ts = pd.Timestamp(int(to_float(row.get("timestamp")) or 0), unit="s", tz="UTC").tz_convert(NY)
        stamps.append(ts)
    values = np.array([_bar_values(r) for r in rows], dtype=np.float64)
    index = pd.DatetimeIndex(stamps, name="timestamp").as_unit("ns")
    frame = pd.DataFrame(values, index=index, columns=list(BAR_COLUMNS))
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame


def history_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Daily history rows (`history.day`) as daily bars labelled 09:30 New York of their date (the project's
    daily-bar convention), columns open, high, low, close, volume (float64)."""
    if not rows:
        return _empty_bars()
    stamps = [pd.Timestamp(dt.date.fromisoformat(str(r["date"])[:10])) + pd.Timedelta(hours=9, minutes=30)
              for r in rows]
    values = np.array([_bar_values(r) for r in rows], dtype=np.float64)
    index = pd.DatetimeIndex(stamps, name="timestamp").tz_localize(NY).as_unit("ns")
    frame = pd.DataFrame(values, index=index, columns=list(BAR_COLUMNS))
    return frame[~frame.index.duplicated(keep="last")].sort_index()


def chain_frame(quotes: list[Quote], timestamp: pd.Timestamp) -> pd.DataFrame:
    """Option quotes of a chain as the project's option snapshot (OPTION_COLUMNS plus dte), stamped `timestamp`
    (tz-aware); iv falls back from mid_iv to smv_vol, missing greeks are NaN."""
    ts = pd.Timestamp(timestamp)
    if ts.tzinfo is None:
        raise ValueError(f"chain_frame needs a timezone-aware timestamp, got {ts}")
    ts = ts.tz_convert(NY)
    rows = []
    for q in quotes:
        if q.right is None or q.expiration_date is None or q.strike is None:
            continue
        g = q.greeks

        def greek(name: str, g: Any = g) -> float:
            value = getattr(g, name) if g is not None else None
            return float("nan") if value is None else float(value)

        iv = g.iv if g is not None else None
        nan = float("nan")
        rows.append({
            "timestamp": ts, "symbol": q.symbol, "underlying": q.underlying or q.root_symbol or "",
            "expiry": pd.Timestamp(q.expiration_date), "strike": float(q.strike), "right": q.right,
            "bid": nan if q.bid is None else q.bid, "ask": nan if q.ask is None else q.ask,
            "volume": q.volume or 0.0, "open_interest": q.open_interest or 0.0,
            "iv": nan if iv is None else iv, "delta": greek("delta"), "gamma": greek("gamma"),
            "theta": greek("theta"), "vega": greek("vega"),
            "dte": (q.expiration_date - ts.date()).days,
        })
    frame = pd.DataFrame(rows, columns=[*OPTION_COLUMNS, "dte"])
    if len(frame) == 0:
        return frame
    frame["timestamp"] = pd.DatetimeIndex(frame["timestamp"])
    frame["expiry"] = pd.DatetimeIndex(frame["expiry"]).as_unit("ns")
    for col in ("strike", "bid", "ask", "volume", "open_interest", "iv", "delta", "gamma", "theta", "vega"):
        frame[col] = frame[col].astype(np.float64)
    frame["dte"] = frame["dte"].astype(np.int64)
    return frame
