"""Small causal helpers shared by the feature families (all on arrays aligned to the underlying's bars)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def log_change(logp: np.ndarray, k: int) -> np.ndarray:
    """log p[t] - log p[t-k] along the first axis (NaN where t < k)."""
    out = np.full_like(logp, np.nan, dtype=float)
    if k < len(logp):
        out[k:] = logp[k:] - logp[:-k]
    return out


def session_reference(logp: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The log price at the previous session's last bar, held for the whole session (NaN in the first session)."""
    n = len(logp)
    last_prev = np.full(logp.shape, np.nan)
    starts = np.flatnonzero(first)
    for a, b in zip(starts, np.r_[starts[1:], n], strict=True):
        if a > 0:
            last_prev[a:b] = logp[a - 1]
    return last_prev


def session_starts(index: pd.DatetimeIndex, intraday: bool) -> np.ndarray:
    """True at each session's first bar (every bar for daily bars)."""
    from trader.features import session_keys

    n = len(index)
    if not intraday:
        return np.ones(n, dtype=bool)
    keys = session_keys(index)
    first = np.ones(n, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def finish(columns: dict[str, np.ndarray], index: pd.DatetimeIndex) -> pd.DataFrame:
    """A float64 frame with infinities and NaN (warm-up, series not yet started) set to 0, the neutral value."""
    frame = pd.DataFrame(columns, index=index, dtype=float)
    return frame.replace([np.inf, -np.inf], np.nan).fillna(0.0)
