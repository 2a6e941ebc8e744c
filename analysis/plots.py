"""Report plots as PNG files (matplotlib's Agg canvas directly: no display, no pyplot global state)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.drawdowns import drawdown_series
from analysis.groups import UNKNOWN

MIN_GROUP_TRADES = 5
PLOT_FILES = {
    "equity": "equity_drawdown.png",
    "signal": "pnl_by_signal.png",
    "regime": "pnl_by_regime.png",
    "hour": "pnl_by_hour.png",
    "reliability": "confidence_reliability.png",
}


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})


def plot_equity(equity: pd.DataFrame, initial: float, path: Path, split: str = "validation") -> None:
    """Equity curve beside the random-entry and buy-and-hold baselines when the run recorded them (top) and
    drawdown below the running peak in percent (bottom); the title names the split (validation or paper)."""
    fig = Figure(figsize=(9, 5))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    x = np.arange(len(equity))
    top.plot(x, equity["equity"].to_numpy(), color="tab:blue", lw=1.2, label="strategy")
    for col, label, color in (("baseline_random", "random entry", "tab:orange"),
                              ("baseline_buy_hold", "buy & hold", "tab:green")):
        if col in equity.columns:
            top.plot(x, equity[col].to_numpy(), color=color, lw=0.9, alpha=0.8, label=label)
    top.axhline(initial, color="grey", lw=0.8, ls="--", label="initial balance")
    top.set_ylabel("equity ($)")
    top.legend(loc="best", fontsize=8)
    dd = drawdown_series(equity["equity"], initial).to_numpy() * -100.0
    bottom.fill_between(x, dd, 0.0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown (%)")
    bottom.set_xlabel(f"bar of the {split} window")
    if len(equity):
        ticks = np.linspace(0, len(equity) - 1, num=min(6, len(equity))).astype(int)
        bottom.set_xticks(ticks)
        bottom.set_xticklabels([equity.index[i].strftime("%m-%d %H:%M") for i in ticks], fontsize=7)
    top.set_title("Equity and drawdown (paper-trading session)" if split == "paper"
                  else f"Equity and drawdown ({split} split)")
    _save(fig, path)


def plot_groups(groups: list[dict[str, Any]], title: str, path: Path, min_n: int = MIN_GROUP_TRADES) -> bool:
    """Mean P&L per group with its 95% interval and the trade count; groups with fewer than `min_n` trades are
    greyed out and the axis is fitted to the others, so one lucky trade cannot dominate the chart. False (nothing
    written) without groups."""
    groups = [g for g in groups if g["group"] != UNKNOWN]
    if not groups:
        return False
    small = [g["trades"] < min_n for g in groups]
    names = [g["group"] for g in groups]
    means = np.array([g["pnl_mean"] for g in groups], dtype=float)
    err = np.array([[g["pnl_mean"] - g["pnl_mean_ci95"][0], g["pnl_mean_ci95"][1] - g["pnl_mean"]]
                    if g["pnl_mean_ci95"] else [0.0, 0.0] for g in groups]).T
    fig = Figure(figsize=(9, max(2.5, 0.45 * len(groups) + 1.2)))
    ax = fig.subplots()
    y = np.arange(len(groups))
    colors = ["lightgrey" if s else "tab:green" if m > 0 else "tab:red" for m, s in zip(means, small)]
    ax.barh(y, means, xerr=err, color=colors, alpha=0.7, capsize=3, ecolor="black")
    ax.axvline(0.0, color="black", lw=0.8)
    big = [i for i, s in enumerate(small) if not s]
    if big and len(big) < len(groups):
        lo = min(0.0, *(means[i] - err[0][i] for i in big))
        hi = max(0.0, *(means[i] + err[1][i] for i in big))
        pad = 0.1 * (hi - lo or 1.0)
        ax.set_xlim(lo - pad, hi + pad)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{n} (n={g['trades']})" for n, g in zip(names, groups)], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean P&L per trade ($), 95% CI" + (f"; grey: fewer than {min_n} trades, axis fitted to the rest"
                                                      if any(small) else ""))
    ax.set_title(title)
    _save(fig, path)
    return True


def plot_reliability(rows: list[dict[str, Any]], path: Path) -> bool:
    """Win rate per confidence bin with Wilson intervals against the diagonal; False without trades."""
    if not rows:
        return False
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    x = np.array([r["mean_confidence"] for r in rows])
    y = np.array([r["win_rate"] for r in rows])
    err = np.array([[r["win_rate"] - r["win_rate_ci95"][0], r["win_rate_ci95"][1] - r["win_rate"]] for r in rows]).T
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.8, label="perfect calibration")
    ax.errorbar(x, y, yerr=err, fmt="o", color="tab:blue", capsize=3, label="win rate after costs (95% CI)")
    for k, (xi, yi, r) in enumerate(zip(x, y, rows)):  # staggered above/below so neighbours' labels never touch
        ax.annotate(f"n={r['trades']}", (xi, yi), textcoords="offset points", xytext=(6, 8 if k % 2 == 0 else -14),
                    fontsize=7, ha="left")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean confidence in bin")
    ax.set_ylabel("win rate")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Confidence reliability")
    _save(fig, path)
    return True


def write_plots(run_dir: Path, equity: pd.DataFrame, initial: float, breakdowns: dict[str, Any],
                confidence: dict[str, Any], split: str = "validation") -> dict[str, str]:
    """Write every plot that has data under run_dir/plots; returns {name: relative path}; stale ones are removed."""
    folder = run_dir / "plots"
    folder.mkdir(exist_ok=True)
    written: dict[str, str] = {}
    if len(equity):
        plot_equity(equity, initial, folder / PLOT_FILES["equity"], split)
        written["equity"] = PLOT_FILES["equity"]
    if breakdowns:
        for key, bname, title in (("signal", "signal", "Mean P&L by signal"),
                                  ("regime", "regime_label", "Mean P&L by regime label at entry"),
                                  ("hour", "hour", "Mean P&L by entry hour (New York)")):
            if plot_groups(breakdowns[bname]["groups"], title, folder / PLOT_FILES[key]):
                written[key] = PLOT_FILES[key]
    if plot_reliability(confidence.get("reliability") or [], folder / PLOT_FILES["reliability"]):
        written["reliability"] = PLOT_FILES["reliability"]
    for key, name in PLOT_FILES.items():
        if key not in written:
            (folder / name).unlink(missing_ok=True)
    return {k: f"plots/{v}" for k, v in written.items()}


def plot_equity_curves(curves: dict[str, pd.Series], initial: dict[str, float], path: Path) -> None:
    """Several runs' equity on one chart, each as % of its initial balance against bars into its own window (so
    windows of different dates and lengths compare)."""
    fig = Figure(figsize=(9, 4.5))
    ax = fig.subplots()
    for label, eq in curves.items():
        values = eq.to_numpy(dtype=float)
        ax.plot(np.arange(len(values)), (values / initial[label] - 1.0) * 100.0, lw=1.1, label=label)
    ax.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("bar of each run's validation window")
    ax.set_ylabel("P&L (% of initial balance)")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Equity curves compared (validation split)")
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(fig, path)
