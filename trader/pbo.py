"""The Probability of Backtest Overfitting by combinatorially symmetric cross-validation (CSCV).

After Bailey, Borwein, Lopez de Prado and Zhu (2015), "The probability of backtest overfitting": split the T x N
matrix of per-period returns (T periods, N trials) into S contiguous blocks of rows; for every way of choosing
S/2 blocks as in-sample (the rest out-of-sample), take the trial with the best in-sample Sharpe ratio and its
relative rank w among all trials out-of-sample; the logit l = log(w / (1 - w)). PBO is the share of splits where
l <= 0: how often the in-sample winner does no better than the median out-of-sample. 0 means selection
generalises, 0.5 is what pure noise gives, near 1 means choosing the best overfits.

skfolio's CombinatorialPurgedCV enumerates train/test paths for cross-validating one estimator; it has no
in-sample-winner rank statistic, so the few lines of CSCV live here.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

MAX_SPLITS = 5000
"""C(16, 8) = 12,870 splits; beyond this many a seeded subset is drawn."""


@dataclass(frozen=True)
class PBOResult:
    """PBO with what it was computed from."""

    pbo: float
    n_trials: int
    n_periods: int
    n_blocks: int
    n_splits: int
    logit_median: float


def _sharpe(block: np.ndarray) -> np.ndarray:
    sd = block.std(axis=0, ddof=1)
    mean = block.mean(axis=0)
    return np.where(sd > 1e-12, mean / np.where(sd > 1e-12, sd, 1.0), np.sign(mean) * 1e6)


def cscv_pbo(returns: np.ndarray, n_blocks: int = 16, seed: int = 0) -> PBOResult | None:
    """PBO of selecting the best of N trials by Sharpe, from a T x N matrix of per-period returns.

    `n_blocks` is lowered to the largest even number with at least two periods per block; None when there are
    fewer than two trials or four periods (no split is possible)."""
    m = np.asarray(returns, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"returns must be a T x N matrix, got shape {m.shape}")
    t, n = m.shape
    if n < 2 or t < 4 or not np.isfinite(m).all():
        return None
    s = min(n_blocks, t // 2)
    s -= s % 2
    if s < 2:
        return None
    bounds = np.linspace(0, t, s + 1).astype(int)
    blocks = [np.arange(bounds[k], bounds[k + 1]) for k in range(s)]
    combos = list(itertools.combinations(range(s), s // 2))
    if len(combos) > MAX_SPLITS:
        pick = np.random.default_rng(seed).choice(len(combos), MAX_SPLITS, replace=False)
        combos = [combos[i] for i in sorted(pick)]
    logits = []
    for chosen in combos:
        ins = np.concatenate([blocks[k] for k in chosen])
        oos = np.concatenate([blocks[k] for k in range(s) if k not in chosen])
        best = int(np.argmax(_sharpe(m[ins])))
        oos_sr = _sharpe(m[oos])
        rank = 1 + int(np.sum(oos_sr < oos_sr[best])) + 0.5 * int(np.sum(oos_sr == oos_sr[best]) - 1)
        w = rank / (n + 1)
        logits.append(math.log(w / (1.0 - w)))
    arr = np.asarray(logits)
    return PBOResult(pbo=float(np.mean(arr <= 0.0)), n_trials=n, n_periods=t, n_blocks=s, n_splits=len(arr),
                     logit_median=float(np.median(arr)))
