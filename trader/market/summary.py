"""A plain summary of a market (sizes, dates, VIX range, regime occupancy, chain rows, gaps) for tables and JSON."""
from __future__ import annotations

from typing import Any

import numpy as np

from trader.market.base import Market

REGIME_NAMES: dict[str, tuple[str, str, str]] = {
    "trend": ("bear", "neutral", "bull"),
    "volatility": ("low", "normal", "high"),
    "liquidity": ("high", "normal", "low"),
}


def summarize(market: Market) -> dict[str, Any]:
    """Key facts about a market as JSON-friendly values."""
    bars = market.bars
    dates = bars.index.date
    out: dict[str, Any] = {
        "source": market.meta.get("source"),
        "symbol": market.meta.get("symbol"),
        "interval": market.interval,
        "sessions": len(set(dates)),
        "bars": len(bars),
        "start": str(bars.index[0]) if len(bars) else None,
        "end": str(bars.index[-1]) if len(bars) else None,
        "first_close": float(bars["close"].iloc[0]) if len(bars) else None,
        "last_close": float(bars["close"].iloc[-1]) if len(bars) else None,
        "options_modeled": market.meta.get("options_modeled"),
        "chain_rows": 0 if market.chains is None else len(market.chains),
        "gaps": len(market.meta.get("gaps") or []),
    }
    if market.context:
        out["context_series"] = len(market.context)
        out["context_symbols"] = sorted(market.context)
    for key in ("seed", "edge"):
        if key in market.meta:
            out[key] = market.meta[key]
    if "vix" in bars.columns and len(bars):
        vix = bars["vix"].to_numpy(dtype=float)
        out["vix_min"], out["vix_mean"], out["vix_max"] = (float(np.min(vix)), float(np.mean(vix)),
                                                           float(np.max(vix)))
    if market.truth is not None:
        occ: dict[str, dict[str, float]] = {}
        for axis, names in REGIME_NAMES.items():
            counts = np.bincount(market.truth[axis].to_numpy(dtype=np.int64), minlength=3)[:3]
            occ[axis] = {name: float(c) / max(len(market.truth), 1) for name, c in zip(names, counts, strict=True)}
        out["regime_occupancy"] = occ
    return out
