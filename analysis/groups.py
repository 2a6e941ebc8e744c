"""P&L broken down by a trade attribute: counts, win rates and mean P&L with 95% intervals, and a verdict."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from trader.domain import ExitReason
from trader.metrics import mean_ci, wilson_interval

TREND = {0: "bear", 1: "neutral", 2: "bull"}
VOLATILITY = {0: "low", 1: "normal", 2: "high"}
LIQUIDITY = {0: "high", 1: "normal", 2: "low"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NONE = "(none)"
UNKNOWN = "(unknown)"


def regime_name(label: int) -> str:
    """Readable name of a combined regime label 0..26 (trend*9 + volatility*3 + liquidity)."""
    t, rest = divmod(int(label), 9)
    v, q = divmod(rest, 3)
    return f"{int(label):02d} {TREND[t]} / {VOLATILITY[v]} vol / {LIQUIDITY[q]} liq"


def verdict(n: int, lo: float | None, hi: float | None, min_trades: int) -> str:
    """What a group's mean-P&L interval says: too few trades, loses, wins, or not distinguishable from zero."""
    if n < min_trades:
        return "too few trades"
    if hi is not None and hi < 0:
        return "loses (95% CI below 0)"
    if lo is not None and lo > 0:
        return "wins (95% CI above 0)"
    return "not distinguishable from 0"


def welch_p(a: np.ndarray, b: np.ndarray) -> float | None:
    """Two-sided Welch t-test p-value of two samples' means; None with fewer than 2 values or no variance."""
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return None
    va, vb = float(np.var(a, ddof=1)) / na, float(np.var(b, ddof=1)) / nb
    if va + vb <= 0:
        return None
    t = (float(np.mean(a)) - float(np.mean(b))) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return float(2 * sps.t.sf(abs(t), df))


def group_row(name: str, pnl: np.ndarray, min_trades: int, rest: np.ndarray | None = None) -> dict[str, Any]:
    """Statistics of one group of trades' P&L, and a Welch test against the other trades (`rest`) when given."""
    n = len(pnl)
    wins = int((pnl > 0).sum())
    lo_w, hi_w = wilson_interval(wins, n)
    mean, lo, hi = mean_ci(pnl)
    return {
        "group": name, "trades": n, "wins": wins, "win_rate": wins / n if n else None,
        "win_rate_ci95": [lo_w, hi_w], "pnl_total": float(pnl.sum()), "pnl_mean": mean,
        "pnl_mean_ci95": [lo, hi] if lo is not None else None, "enough": n >= min_trades,
        "verdict": verdict(n, lo, hi, min_trades),
        "rest_trades": len(rest) if rest is not None else 0,
        "rest_pnl_mean": float(rest.mean()) if rest is not None and len(rest) else None,
        "vs_rest_p": welch_p(pnl, rest) if rest is not None else None,
    }


def breakdown(keys: pd.Series, pnl: pd.Series, min_trades: int, order: Sequence[str] | None = None) -> dict[str, Any]:
    """Group P&L by a key per trade (a trade may appear in several groups when keys repeat its index)."""
    key_arr = keys.astype(str).to_numpy()
    trade_arr = keys.index.to_numpy()
    pnl_by_trade = pnl.to_numpy(dtype=float)
    position = {t: i for i, t in enumerate(pnl.index)}
    pos_arr = np.array([position[t] for t in trade_arr], dtype=int)
    present = list(dict.fromkeys(key_arr))
    if order is not None:
        names = [k for k in order if k in present] + sorted(k for k in present if k not in order)
    else:
        names = sorted(present, key=lambda k: (k in (UNKNOWN, NONE), k))
    rows = []
    for k in names:
        inside = np.zeros(len(pnl_by_trade), dtype=bool)
        inside[pos_arr[key_arr == k]] = True
        rows.append(group_row(k, pnl_by_trade[inside], min_trades, pnl_by_trade[~inside]))
    return {"groups": rows, "tested": sum(1 for r in rows if r["enough"])}


def _int_or(value: float, names: dict[int, str] | None = None) -> str:
    if value is None or not np.isfinite(value):
        return UNKNOWN
    return names.get(int(value), UNKNOWN) if names is not None else str(int(value))


def moneyness_bucket(m: float) -> str:
    """ITM / near the money / OTM by ln(strike/spot) signed so positive is out of the money (0.5% band)."""
    if m is None or not np.isfinite(m):
        return UNKNOWN
    if m < -0.005:
        return "ITM (< -0.5%)"
    if m > 0.005:
        return "OTM (> +0.5%)"
    return "near the money"


MONEYNESS_ORDER = ("ITM (< -0.5%)", "near the money", "OTM (> +0.5%)", UNKNOWN)


def signal_keys(signals: pd.Series) -> pd.Series:
    """One row per (trade, signal that passed) with the trade's index; trades without signals get '(none)'."""
    lists = signals.map(lambda s: [x for x in str(s).split(",") if x] or [NONE])
    return lists.explode()


def signal_set(signals: pd.Series) -> pd.Series:
    """The sorted set of signals that passed, as one label per trade."""
    return signals.map(lambda s: "+".join(sorted(x for x in str(s).split(",") if x)) or NONE)


def all_breakdowns(trades: pd.DataFrame, min_trades: int) -> dict[str, dict[str, Any]]:
    """Every P&L breakdown the report shows, keyed by a stable name, each with a title."""
    pnl = trades["pnl"]
    label_keys = trades["regime"].map(lambda v: regime_name(v) if np.isfinite(v) else UNKNOWN)
    entry = trades["entry_time"]
    specs: list[tuple[str, str, pd.Series, Iterable[str] | None]] = [
        ("strategy", "entry strategy", trades["strategy"].replace("", UNKNOWN), None),
        ("signal", "signal that passed (a trade counts once per signal)", signal_keys(trades["signals"]), None),
        ("signal_set", "signal set", signal_set(trades["signals"]), None),
        ("exit_reason", "exit reason", trades["exit_reason"], [r.value for r in ExitReason]),
        ("direction", "direction", trades["direction"].map(lambda d: "call" if d > 0 else "put"), ["call", "put"]),
        ("regime_trend", "regime trend axis (estimated at entry)", trades["regime_trend"].map(
            lambda v: _int_or(v, TREND)), [*TREND.values(), UNKNOWN]),
        ("regime_volatility", "regime volatility axis", trades["regime_volatility"].map(
            lambda v: _int_or(v, VOLATILITY)), [*VOLATILITY.values(), UNKNOWN]),
        ("regime_liquidity", "regime liquidity axis", trades["regime_liquidity"].map(
            lambda v: _int_or(v, LIQUIDITY)), [*LIQUIDITY.values(), UNKNOWN]),
        ("regime_label", "regime label (27 states)", label_keys, None),
        ("hour", "entry hour (New York)", entry.map(lambda t: f"{t.hour:02d}:00"), None),
        ("weekday", "entry weekday", entry.map(lambda t: WEEKDAYS[t.weekday()]), list(WEEKDAYS)),
        ("dte", "days to expiry at entry", trades["entry_dte"].map(lambda v: _int_or(v)), None),
        ("moneyness", "moneyness at entry", trades["moneyness"].map(moneyness_bucket), list(MONEYNESS_ORDER)),
    ]
    out = {}
    for name, title, keys, order in specs:
        b = breakdown(keys, pnl, min_trades, list(order) if order is not None else None)
        if name == "dte":
            b["groups"].sort(key=lambda r: (r["group"] == UNKNOWN, int(r["group"]) if r["group"].isdigit() else 0))
        out[name] = {"title": title, **b}
    return out
