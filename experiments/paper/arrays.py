"""The causal per-bar arrays (predictions, regime probabilities, signals) of a growing live series, bar by bar.

Two modes give the same rows as `FittedModels.arrays` over the backtest window:
- "recompute": `FittedModels.arrays(market so far, start=i)` each bar, row i kept. Exact by construction (the
  arrays are causal); cost grows with the history (the regime filter and chain statistics rerun every bar).
- "stream" (default): the HMM forward filter `RegimeFilter.update` (exactly `RegimeModel.filter`), the predictor
  through `PredictorStream` in window mode (the batch computation on one window; equal to float32 rounding,
  ~1e-11 here), the features and the eight signals recomputed on the bars so far (row i kept), the chain
  statistics recomputed only when a new snapshot arrives.
Rows before the session are the batch arrays of the history (predictions from bar `first` on, as the backtest
computes them from its window start minus the encoder window).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from experiments.runs.pipeline import FittedModels
from trader.chain_features import chain_arrays
from trader.errors import SpecError
from trader.features import build_features
from trader.live_feed import LiveFeed
from trader.models.stream import PredictorStream
from trader.regime import AXES, regime_arrays
from trader.signals import compute_signals
from trader.strategies.base import BarSeries

MODES = ("stream", "recompute")


class LiveArrays:
    """Keeps a BarSeries over a LiveFeed up to date, one row per received bar."""

    def __init__(self, fitted: FittedModels | None, feed: LiveFeed, first: int, mode: str = "stream") -> None:
        if mode not in MODES:
            raise SpecError(f"arrays mode {mode!r} is not one of {', '.join(MODES)}")
        self.fitted = fitted
        self.feed = feed
        self.first = int(first)
        self.mode = mode
        self.arrays: dict[str, np.ndarray] = {}
        self.series = BarSeries(self.arrays)
        self._regime = None
        self._stream = None
        self._chain_key: int | None = None
        self._chain: dict[str, np.ndarray] = {}
        self.primed = False

    @property
    def active(self) -> bool:
        """Whether there are arrays to compute (a model-free strategy without an exit model has none)."""
        return self.fitted is not None

    def _store(self, rows: dict[str, np.ndarray], lo: int, hi: int) -> None:
        """Copy rows [lo, hi) of `rows` into the full-length arrays (allocated on first sight)."""
        n = self.feed.n
        for key, values in rows.items():
            values = np.asarray(values)
            if key not in self.arrays:
                dtype = float if values.dtype.kind in "fc" else values.dtype
                shape = (n, *values.shape[1:])
                self.arrays[key] = np.full(shape, np.nan) if dtype is float else np.zeros(shape, dtype=dtype)
            self.arrays[key][lo:hi] = values[lo:hi]

    def prime(self, upto: int) -> None:
        """Rows [0, upto) from the batch computation over the bars received so far; streaming state primed."""
        if not self.active:
            self.primed = True
            return
        assert self.fitted is not None
        view = self.feed.view(upto - 1)
        batch = self.fitted.arrays(view, start=min(self.first, upto))
        self._store(batch, 0, upto)
        if self.mode == "stream":
            predictor, regime = self.fitted.predictor, self.fitted.regime
            if regime is not None:
                self._regime = regime.streaming()
                cols = ["open", "high", "low", "close", "volume", *regime.columns]
                bars = view.bars
                values = bars[cols].to_numpy(dtype=float)
                for t, row in zip(bars.index, values, strict=True):
                    self._regime.update(t, dict(zip(cols, row, strict=True)))
            if predictor is not None:
                self._stream = PredictorStream(predictor, mode="window")
                self._stream.prime(predictor.features(view.bars))
        self.primed = True

    def update(self, i: int) -> None:
        """Compute row i (bar i must have been received; rows before it are already there)."""
        if not self.active:
            return
        if not self.primed:
            self.prime(i)
        assert self.fitted is not None
        view = self.feed.view(i)
        if self.mode == "recompute":
            self._store(self.fitted.arrays(view, start=i), i, i + 1)
            return
        rows = self._stream_row(view, i)
        self._store(rows, i, i + 1)

    def _stream_row(self, view: Any, i: int) -> dict[str, np.ndarray]:
        fitted = self.fitted
        assert fitted is not None
        bars = view.bars
        n = i + 1
        predictor = fitted.predictor
        features = build_features(bars) if predictor is None else predictor.features(bars)
        out: dict[str, np.ndarray] = {}
        pred_arrays: dict[str, np.ndarray] | None = None
        horizons: tuple[int, ...] = ()
        if predictor is not None and self._stream is not None:
            horizons = predictor.horizons
            row = self._stream.update(features.iloc[[i]])
            for k, v in row.items():
                for j, h in enumerate(horizons):
                    key = f"pred_{k}_{h}"
                    col = self.arrays[key][:n].copy()
                    col[i] = v[j]
                    out[key] = col
            pred_arrays = out.copy()
        probs = None
        if fitted.regime is not None and self._regime is not None:
            ts = bars.index[i]
            cols = ["open", "high", "low", "close", "volume", *fitted.regime.columns]
            now = self._regime.update(ts, {c: float(bars[c].iloc[i]) for c in cols})
            probs = {}
            for axis in AXES:
                p = self.arrays[f"regime_p_{axis}"][:n].copy()
                p[i] = now[axis]
                probs[axis] = p
            out.update(regime_arrays(probs))
        chain = self._chain_rows(view)
        closes = bars["close"].to_numpy(dtype=float)
        out.update(compute_signals(closes, features, pred_arrays, horizons, probs, {k: v[:n] for k, v in chain.items()},
                                   fitted.predictor_min_strength))
        return out

    def _chain_rows(self, view: Any) -> dict[str, np.ndarray]:
        """Chain statistics per bar over the whole feed, recomputed when the snapshots change."""
        chains = self.feed.market.chains
        key = 0 if chains is None else len(chains)
        if key != self._chain_key:
            self._chain = chain_arrays(chains, self.feed.timestamps)
            self._chain_key = key
        return self._chain
