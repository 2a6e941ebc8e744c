"""Performance metrics of a run: trade statistics, risk-adjusted returns and the (deflated) Sharpe ratio.

All functions are pure. Sharpe-type figures come from daily returns (the equity curve's last value per session
date), annualized with sqrt(252). The Probabilistic and Deflated Sharpe Ratios follow Bailey & Lopez de Prado
("The Sharpe Ratio Efficient Frontier", 2012; "The Deflated Sharpe Ratio", 2014) and work on per-period
(daily, not annualized) Sharpe ratios.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from trader.sharpe_stats import (  # noqa: F401  (re-exported: the Sharpe statistics live in a light module)
    EULER_GAMMA,
    PERIODS_PER_YEAR,
    default_trials_variance,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
    trials_variance,
)


def _clean(values: Iterable[float] | pd.Series | np.ndarray) -> np.ndarray:
    """Finite float values only (None, NaN and non-numbers dropped)."""
    if isinstance(values, pd.Series):
        arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    else:
        arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)
    return arr[np.isfinite(arr)]


def _num(value: Any) -> float | None:
    """A finite Python float, or None."""
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion of k successes in n trials; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Exactly, lo <= p <= hi (with equality at k = 0 and k = n); rounding must not push p outside.
    return max(0.0, min(p, center - half)), min(1.0, max(p, center + half))


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> tuple[float | None, float | None, float | None]:
    """Mean and Student-t confidence interval (mean, lo, hi); the interval is None with fewer than 2 values."""
    x = _clean(values)
    if len(x) == 0:
        return None, None, None
    m = float(x.mean())
    if len(x) < 2:
        return m, None, None
    se = float(x.std(ddof=1)) / math.sqrt(len(x))
    from scipy import stats as sps  # scipy costs a second to import; only a few figures need it

    t = float(sps.t.ppf(0.5 + confidence / 2, len(x) - 1))
    return m, m - t * se, m + t * se


def bootstrap_ci(values: Iterable[float], statistic: Callable[[np.ndarray], float] = np.mean,
                 n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of a statistic, resampling with a seeded generator; None with < 2 values."""
    x = _clean(values)
    if len(x) < 2:
        return None, None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    boots = np.apply_along_axis(statistic, 1, x[idx])
    a = (1 - confidence) / 2
    return float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))


def daily_returns(equity: pd.DataFrame | pd.Series, initial: float | None = None) -> pd.Series:
    """Simple returns of the last equity value per session date; the first day is measured from `initial` if given."""
    series = equity["equity"] if isinstance(equity, pd.DataFrame) else equity
    series = series.astype(float)
    if len(series) == 0:
        return pd.Series(dtype=float)
    idx = series.index
    dates = idx.date if isinstance(idx, pd.DatetimeIndex) else np.arange(len(series))
    closes = series.groupby(dates).last()
    if initial is not None:
        base = pd.Series([float(initial)], index=["start"])
        values = pd.concat([base, closes]).to_numpy()
        rets = values[1:] / values[:-1] - 1.0
        return pd.Series(rets, index=closes.index, dtype=float)
    return closes.pct_change().dropna().astype(float)


def sharpe(returns: Iterable[float], periods_per_year: int = PERIODS_PER_YEAR) -> float | None:
    """Annualized Sharpe ratio (mean over sample std, times sqrt(periods)); None with < 2 returns or zero variance."""
    x = _clean(returns)
    if len(x) < 2:
        return None
    sd = float(x.std(ddof=1))
    if not sd > 1e-15:
        return None
    return float(x.mean() / sd * math.sqrt(periods_per_year))


def sortino(returns: Iterable[float], periods_per_year: int = PERIODS_PER_YEAR) -> float | None:
    """Annualized Sortino ratio (mean over downside deviation vs 0); None with < 2 returns or no downside."""
    x = _clean(returns)
    if len(x) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2)))
    if not downside > 1e-15:
        return None
    return float(x.mean() / downside * math.sqrt(periods_per_year))


def _with_start(equity: Iterable[float], initial: float | None) -> np.ndarray:
    x = _clean(equity)
    return np.concatenate([[float(initial)], x]) if initial is not None else x


def max_drawdown(equity: Iterable[float], initial: float | None = None) -> float:
    """Largest peak-to-trough fall of an equity curve as a positive fraction of the peak (0.0 when it never falls)."""
    x = _with_start(equity, initial)
    if len(x) == 0:
        return 0.0
    peaks = np.maximum.accumulate(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peaks > 0, (peaks - x) / peaks, 0.0)
    return float(max(0.0, dd.max()))


def max_drawdown_usd(equity: Iterable[float], initial: float | None = None) -> float:
    """Largest peak-to-trough fall of an equity curve in dollars (positive)."""
    x = _with_start(equity, initial)
    if len(x) == 0:
        return 0.0
    return float(max(0.0, (np.maximum.accumulate(x) - x).max()))


def _return_moments(rets: np.ndarray) -> tuple[float, float]:
    """Sample skewness and raw (non-excess) kurtosis; normal values when undefined."""
    if len(rets) < 3 or not rets.std() > 1e-15:
        return 0.0, 3.0
    from scipy import stats as sps

    return float(sps.skew(rets, bias=True)), float(sps.kurtosis(rets, fisher=False, bias=True))


def compute_metrics(trades: pd.DataFrame, equity: pd.DataFrame, initial_balance: float, n_trials: int = 1,
                    sharpe_trials: list[float] | None = None) -> dict[str, Any]:
    """Headline figures of a run from its closed trades and per-bar equity curve (JSON-able; None where undefined).

    `sharpe_trials` are the other trials' `sharpe` figures as this function reports them (annualized, e.g. the
    ledger's values); they are converted to per-period for the DSR's trial variance. Without at least two of them
    the variance defaults to `default_trials_variance`. P&L is the equity curve's end minus the initial balance
    (closed trades plus any mark of positions still open); `realized_pnl` is the closed trades' sum.
    """
    initial = float(initial_balance)
    pnl_t = _clean(trades["pnl"]) if len(trades) else np.zeros(0)
    n = len(pnl_t)
    win_mask = pnl_t > 0
    wins = int(win_mask.sum())
    losses = int((pnl_t < 0).sum())  # a break-even trade is neither a win nor a loss
    gross_win = float(pnl_t[win_mask].sum())
    gross_loss = float(-pnl_t[pnl_t < 0].sum())
    realized = float(pnl_t.sum())

    eq = equity["equity"].astype(float) if len(equity) else pd.Series(dtype=float)
    pnl = float(eq.iloc[-1]) - initial if len(eq) else realized
    rets = daily_returns(eq, initial).to_numpy() if len(eq) else np.zeros(0)
    rets = rets[np.isfinite(rets)]
    sr_ann = sharpe(rets)
    sr = sr_ann / math.sqrt(PERIODS_PER_YEAR) if sr_ann is not None else None
    skew, kurt = _return_moments(rets)
    psr = probabilistic_sharpe(sr, len(rets), skew, kurt) if sr is not None else None
    dsr = (deflated_sharpe(sr, len(rets), skew, kurt, max(1, n_trials), trials_variance(sharpe_trials))
           if sr is not None else None)
    n_open = equity["n_open"].to_numpy() if len(equity) and "n_open" in equity else np.zeros(0)
    hold = _clean(trades["hold_minutes"]) if n else np.zeros(0)
    fees = _clean(trades["fees"]) if n else np.zeros(0)
    ci = wilson_interval(wins, n) if n else None

    return {
        "pnl": pnl,
        "pnl_pct": pnl / initial * 100.0 if initial else None,
        "realized_pnl": realized,
        "trades": n,
        "wins": wins,
        "losses": losses,
        "breakeven": n - wins - losses,
        "win_rate": wins / n if n else None,
        "win_rate_ci95": [ci[0], ci[1]] if ci else None,
        "avg_win": float(pnl_t[win_mask].mean()) if wins else None,
        "avg_loss": float(pnl_t[pnl_t < 0].mean()) if losses else None,
        "profit_factor": gross_win / gross_loss if gross_loss > 0 else None,
        "expectancy": realized / n if n else None,
        "sharpe": _num(sr_ann),
        "sortino": _num(sortino(rets)),
        "max_drawdown": max_drawdown(eq, initial),
        "max_drawdown_usd": max_drawdown_usd(eq, initial),
        "exposure": float(np.mean(n_open > 0)) if len(n_open) else 0.0,
        "fees": float(fees.sum()),
        "avg_hold_minutes": float(hold.mean()) if len(hold) else None,
        "days": len(rets),
        "return_skew": skew,
        "return_kurtosis": kurt,
        "psr": _num(psr),
        "dsr": _num(dsr),
        "n_trials": int(max(1, n_trials)),
    }
