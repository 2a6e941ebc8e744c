"""Winners against losers: numeric features by rank test, categorical ones by chi-square, Holm-adjusted."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.groups import UNKNOWN

ALPHA = 0.05
NUMERIC_FEATURES = (
    ("confidence", "confidence at entry"),
    ("hold_minutes", "hold time (minutes)"),
    ("entry_dte", "days to expiry at entry"),
    ("moneyness", "moneyness ln(K/S), + = out of the money"),
    ("entry_iv", "implied volatility at entry"),
)
CATEGORICAL_FEATURES = ("regime_trend", "regime_volatility", "regime_liquidity", "regime_label", "hour", "weekday",
                        "dte", "signal_set")


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None entries are skipped and stay None)."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda j: pvalues[j])):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        out[i] = running
    return out


def _rank_test(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or len(b) < 3 or np.ptp(np.concatenate([a, b])) == 0:
        return None
    return float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _stat(x: np.ndarray, fn: Any) -> float | None:
    return float(fn(x)) if len(x) else None


def numeric_comparison(trades: pd.DataFrame, min_trades: int) -> list[dict[str, Any]]:
    """Mean and median of each numeric feature among winners and losers, with a Mann-Whitney p-value."""
    win = trades["pnl"] > 0
    rows = []
    for col, label in NUMERIC_FEATURES:
        values = trades[col].to_numpy(dtype=float)
        ok = np.isfinite(values)
        a, b = values[ok & win.to_numpy()], values[ok & ~win.to_numpy()]
        rows.append({
            "feature": col, "label": label, "n_win": len(a), "n_loss": len(b),
            "mean_win": _stat(a, np.mean), "mean_loss": _stat(b, np.mean),
            "median_win": _stat(a, np.median), "median_loss": _stat(b, np.median), "p_value": _rank_test(a, b),
        })
    for row, adj in zip(rows, holm([r["p_value"] for r in rows])):
        row["p_holm"] = adj
        row["significant"] = bool(adj is not None and adj < ALPHA and row["n_win"] + row["n_loss"] >= min_trades)
    return rows


def _chi_square(groups: list[dict[str, Any]]) -> tuple[float | None, str]:
    rows = [g for g in groups if g["group"] != UNKNOWN]
    if len(rows) < 2:
        return None, "one category only"
    table = np.array([[g["wins"], g["trades"] - g["wins"]] for g in rows], dtype=float)
    if table[:, 0].sum() == 0 or table[:, 1].sum() == 0:
        return None, "all trades won or all lost"
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if expected.min() < 5:
        return None, "too few trades per category for a chi-square test"
    return float(sps.chi2_contingency(table, correction=False).pvalue), "chi-square test of independence"


def categorical_comparison(breakdowns: dict[str, dict[str, Any]], min_trades: int) -> list[dict[str, Any]]:
    """Whether the win rate depends on each categorical attribute (chi-square on wins/losses per category)."""
    rows = []
    for name in CATEGORICAL_FEATURES:
        b = breakdowns[name]
        p, method = _chi_square(b["groups"])
        rows.append({"feature": name, "label": b["title"], "categories": len(b["groups"]), "p_value": p,
                     "method": method})
    for row, adj in zip(rows, holm([r["p_value"] for r in rows])):
        row["p_holm"] = adj
        row["significant"] = bool(adj is not None and adj < ALPHA)
    return rows
