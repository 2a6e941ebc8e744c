"""Baseline strategies that every result is read against: a momentum rule and seeded random entry."""
from __future__ import annotations

import math

import numpy as np

from trader.domain import EntryContext, Intent
from trader.strategies.base import Snapshot


class MomentumStrategy:
    """Buy calls after a move up (puts after a move down) larger than `threshold_sigma` recent sigmas."""

    name = "momentum"

    def __init__(self, lookback_bars: int = 15, threshold_sigma: float = 1.0, vol_window: int = 120) -> None:
        self.lookback = lookback_bars
        self.threshold = threshold_sigma
        self.vol_window = max(vol_window, lookback_bars + 2)

    def decide(self, snap: Snapshot) -> list[Intent]:
        """Open in the direction of the recent move when it is large relative to recent volatility."""
        if snap.derived(("momentum_bound", self.lookback, self.vol_window), self._z_bound) < self.threshold:
            return []  # the exact |z| is below the threshold too: nothing to compute at this bar
        closes = snap.closes  # read only past the bound (NaN before a full window, or where no bound is safe)
        if len(closes) <= self.vol_window:
            return []
        rets = snap.log_returns[-self.vol_window:]  # the feed's per-bar array: no logs recomputed per bar
        sigma = math.sqrt(float(np.dot(rets, rets)) / len(rets) * self.lookback)
        if not sigma > 0:
            return []
        move = math.log(closes[-1] / closes[-1 - self.lookback])
        z = move / sigma
        if abs(z) < self.threshold:
            return []
        direction = 1 if z > 0 else -1
        confidence = min(0.99, 0.5 + 0.5 * math.tanh(abs(z) - self.threshold))
        ctx = EntryContext(strategy=self.name, direction=direction, confidence=confidence, signals=("momentum",))
        return [Intent("open", direction=direction, context=ctx)]

    def _z_bound(self, closes: np.ndarray, start: int) -> np.ndarray:
        """An upper bound of |z| at bars start.. in one numpy pass (NaN where none is safe): the same figure
        with window sums instead of a dot product per bar, padded by far more than their rounding can differ."""
        lb, vw = self.lookback, self.vol_window
        lo = max(0, start - vw - 1)
        logc = np.log(closes[lo:])
        rets = np.diff(logc)
        out = np.full(len(closes) - start, np.nan)
        first = max(start, vw)  # rows before have no full window
        if len(closes) <= first:
            return out
        sq = rets * rets
        sums = np.lib.stride_tricks.sliding_window_view(sq, vw).sum(axis=1)  # sums[k]: returns k..k+vw-1
        rows = np.arange(first, len(closes))
        var = sums[rows - vw - lo] / vw * lb
        move = np.abs(logc[rows - lo] - logc[rows - lb - lo])
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = (move * (1 + 1e-9) + 1e-12) / (np.sqrt(var) * (1 - 1e-9))
        out[first - start:] = np.where(var > 1e-14, bound, np.nan)
        return out

    def on_trade_closed(self, trade: object) -> None:
        """Momentum does not learn."""


class RandomStrategy:
    """Enter a random direction with a fixed probability each bar, from a seeded generator."""

    name = "random"

    BLOCK = 4096
    """Draws taken from the generator at once: the same stream as two per bar, without a call per bar."""

    def __init__(self, entry_probability: float = 0.02, seed: int = 0) -> None:
        self.p = entry_probability
        self.rng = np.random.default_rng(seed)
        self._draws: list[float] = []
        self._next = 0

    def decide(self, snap: Snapshot) -> list[Intent]:
        """One draw pair per bar: the draw at bar t depends only on how many bars came before."""
        k = self._next
        if k >= len(self._draws):
            self._draws, k = self.rng.random(self.BLOCK).tolist(), 0
        u, d = self._draws[k], self._draws[k + 1]
        self._next = k + 2
        if u >= self.p:
            return []
        direction = 1 if d < 0.5 else -1
        ctx = EntryContext(strategy=self.name, direction=direction, confidence=0.5, signals=())
        return [Intent("open", direction=direction, context=ctx)]

    def on_trade_closed(self, trade: object) -> None:
        """Random entry does not learn."""
