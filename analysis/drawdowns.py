"""Drawdown periods of an equity curve: from a peak, through the trough, to recovery (or the window's end)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def drawdown_series(equity: pd.Series, initial: float) -> pd.Series:
    """Drawdown below the running peak (the initial balance counts as the first peak) as a positive fraction."""
    values = equity.to_numpy(dtype=float)
    peaks = np.maximum.accumulate(np.concatenate([[initial], values]))[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peaks > 0, (peaks - values) / peaks, 0.0)
    return pd.Series(dd, index=equity.index, name="drawdown")


def drawdown_periods(equity: pd.Series, initial: float, top: int = 3, min_depth: float = 1e-4) -> dict[str, Any]:
    """The deepest `top` drawdown periods (depth >= min_depth) and how many there were."""
    if len(equity) == 0:
        return {"count": 0, "periods": []}
    values = equity.to_numpy(dtype=float)
    stamps = equity.index
    periods = []
    peak, peak_at = float(initial), 0
    start = None  # position of the first bar below the peak
    trough, trough_at = peak, 0
    for i, v in enumerate(values):
        if v >= peak:
            if start is not None:
                periods.append((peak, peak_at, trough, trough_at, i))
                start = None
            peak, peak_at = v, i
            continue
        if start is None:
            start, trough, trough_at = i, v, i
        elif v < trough:
            trough, trough_at = v, i
    if start is not None:
        periods.append((peak, peak_at, trough, trough_at, None))
    rows = []
    for pk, pk_at, tr, tr_at, rec in periods:
        depth = (pk - tr) / pk if pk > 0 else 0.0
        if depth < min_depth:
            continue
        rows.append({
            "peak_time": str(stamps[pk_at]), "trough_time": str(stamps[tr_at]),
            "recovery_time": str(stamps[rec]) if rec is not None else None,
            "depth": float(depth), "depth_usd": float(pk - tr), "peak_equity": float(pk),
            "bars_to_trough": int(tr_at - pk_at), "bars_to_recovery": int(rec - pk_at) if rec is not None else None,
        })
    rows.sort(key=lambda r: (-r["depth"], r["peak_time"]))
    return {"count": len(rows), "periods": rows[:top]}
