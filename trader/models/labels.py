"""Training and evaluation labels from future underlying prices, purged at a split end.

For bar t and horizon h: the future log return log(close[t+h] / close[t]), the realized volatility
sqrt(sum of squared one-bar log returns over bars t+1 .. t+h), and the direction (return > 0). A label
exists only when t+h < end (its horizon ends inside the split: no label peeks across the split end) and,
for intraday bars with `within_session`, when t and t+h are in the same session (no overnight gap inside a
label, since positions are flat by the close).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.features import infer_intraday, session_keys

VOL_FLOOR = 1e-6
"""Added to realized vol before taking its log (a flat stretch of bars has zero realized vol)."""


@dataclass(frozen=True)
class Labels:
    """Per-bar, per-horizon labels: arrays [bars, horizons]; NaN (and valid False) where a label does not exist."""

    horizons: tuple[int, ...]
    returns: np.ndarray
    vol: np.ndarray
    valid: np.ndarray

    def rows(self, positions: np.ndarray) -> Labels:
        """The labels of the given bar positions only."""
        return Labels(self.horizons, self.returns[positions], self.vol[positions], self.valid[positions])


def make_labels(
    bars: pd.DataFrame,
    horizons: tuple[int, ...] | list[int],
    end: int | None = None,
    start: int = 0,
    within_session: bool | None = None,
) -> Labels:
    """Labels for bars[start:end) whose horizons end before `end` (exclusive); None within_session = intraday."""
    if "close" not in bars.columns:
        raise DataError("labels need a 'close' column in the bars")
    horizons = tuple(int(h) for h in horizons)
    if not horizons or min(horizons) < 1:
        raise DataError(f"label horizons must be positive bar counts, got {horizons}")
    n = len(bars)
    end = n if end is None else int(end)
    if not 0 <= start <= end <= n:
        raise DataError(f"label range [{start}, {end}) does not fit {n} bars")
    if within_session is None:
        within_session = infer_intraday(bars.index)
    logc = np.log(bars["close"].to_numpy(dtype=float))
    r1 = np.r_[0.0, np.diff(logc)]
    cum_sq = np.cumsum(r1 * r1)
    sess = session_keys(bars.index) if within_session else None
    t = np.arange(n)
    returns = np.full((n, len(horizons)), np.nan)
    vol = np.full((n, len(horizons)), np.nan)
    valid = np.zeros((n, len(horizons)), dtype=bool)
    for k, h in enumerate(horizons):
        ok = (t >= start) & (t + h < end)
        idx = t[ok]
        if sess is not None:
            idx = idx[sess[idx] == sess[idx + h]]
        returns[idx, k] = logc[idx + h] - logc[idx]
        vol[idx, k] = np.sqrt(np.maximum(cum_sq[idx + h] - cum_sq[idx], 0.0))
        valid[idx, k] = True
    return Labels(horizons, returns, vol, valid)
