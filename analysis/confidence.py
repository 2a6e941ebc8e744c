"""Is the entry confidence predictive? A reliability table and a rank correlation with P&L, tested."""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from trader.metrics import mean_ci, wilson_interval

ALPHA = 0.05
BIN_WIDTH = 0.1


def reliability_table(conf: np.ndarray, pnl: np.ndarray) -> list[dict[str, Any]]:
    """Trades binned by confidence (width 0.1): count, mean confidence, win rate with Wilson CI, mean P&L."""
    rows = []
    edges = np.round(np.arange(0.0, 1.0 + BIN_WIDTH / 2, BIN_WIDTH), 10)
    for lo, hi in itertools.pairwise(edges):
        last = hi >= 1.0
        sel = (conf >= lo) & ((conf <= hi) if last else (conf < hi))
        n = int(sel.sum())
        if n == 0:
            continue
        wins = int((pnl[sel] > 0).sum())
        wlo, whi = wilson_interval(wins, n)
        mean, plo, phi = mean_ci(pnl[sel])
        rows.append({
            "bin": f"{lo:.1f}-{hi:.1f}", "lo": float(lo), "hi": float(hi), "trades": n,
            "mean_confidence": float(conf[sel].mean()), "win_rate": wins / n, "win_rate_ci95": [wlo, whi],
            "pnl_mean": mean, "pnl_mean_ci95": [plo, phi] if plo is not None else None,
        })
    return rows


def confidence_analysis(trades: pd.DataFrame, min_trades: int) -> dict[str, Any]:
    """Spearman correlation of confidence with P&L, its p-value, a verdict and the reliability table.

    The verdict is 'predictive' or 'inverted' only when the correlation is significant at 5% with at least
    `min_trades` trades; otherwise 'no evidence', 'too few trades' or 'not testable' (constant confidence).
    """
    conf = trades["confidence"].to_numpy(dtype=float)
    pnl = trades["pnl"].to_numpy(dtype=float)
    ok = np.isfinite(conf) & np.isfinite(pnl)
    conf, pnl = conf[ok], pnl[ok]
    out: dict[str, Any] = {"trades": len(conf), "spearman_rho": None, "p_value": None,
                           "reliability": reliability_table(conf, pnl)}
    if len(conf) < 3 or np.ptp(conf) == 0 or np.ptp(pnl) == 0:
        out["verdict"] = "not testable"
        out["reason"] = ("fewer than 3 trades" if len(conf) < 3 else
                         "confidence is the same for every trade" if np.ptp(conf) == 0 else "P&L never varies")
        return out
    res = sps.spearmanr(conf, pnl)
    rho, p = float(res.statistic), float(res.pvalue)
    out["spearman_rho"], out["p_value"] = rho, p
    if len(conf) < min_trades:
        out["verdict"] = "too few trades"
    elif p >= ALPHA:
        out["verdict"] = "no evidence"
    else:
        out["verdict"] = "predictive" if rho > 0 else "inverted"
    return out
