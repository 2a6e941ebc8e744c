"""Streaming predictions for paper and live trading: one feature row in, one prediction out.

Two modes:
- "window" (default): keep the last `window` scaled rows (zeros before the first row, like the batch path)
  and run the encoder over them. Its output equals `Predictor.predict_all` row for row, so paper/live
  decisions match the backtest exactly. Cost: one encoder pass over the window per bar.
- "step": the encoder's own streaming form (`init_state`/`step`: O(1) recurrences for LSTM and Mamba2,
  rolling recomputation for TCN and transformer), primed with `window - 1` zero rows. For a TCN whose
  receptive field fits the window this equals "window" mode; for LSTM and Mamba2 the state carries all
  history since the stream started, not the last `window` bars the model was trained on, so their outputs
  drift from the batch path (use it only where per-bar latency matters more than backtest parity).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from trader.models.errors import ModelError

if TYPE_CHECKING:
    from trader.models.predictor import Predictor

MODES = ("window", "step")


class PredictorStream:
    """Keeps the rolling window (or encoder state) of one predictor and predicts after each new bar."""

    def __init__(self, predictor: Predictor, mode: str = "window") -> None:
        if mode not in MODES:
            raise ModelError(f"unknown stream mode {mode!r}; allowed: {', '.join(MODES)}")
        self.predictor = predictor
        self.mode = mode
        self.bars_seen = 0
        n_features = len(predictor.feature_columns)
        window = predictor.input_window if mode == "window" else predictor.config.window
        self._buffer = torch.zeros(window, n_features)
        self._state: Any = None
        if mode == "step":
            encoder = predictor.net.encoder
            self._state = encoder.init_state(1)
            with torch.no_grad():
                for _ in range(window - 1):
                    _, self._state = encoder.step(torch.zeros(1, n_features), self._state)

    def _scale(self, row: pd.Series | pd.DataFrame | dict[str, float]) -> torch.Tensor:
        """One raw feature row (Series, one-row DataFrame or dict) scaled to a [1, features] tensor."""
        frame = row if isinstance(row, pd.DataFrame) else pd.DataFrame([dict(row)])
        if len(frame) != 1:
            raise ModelError(f"a stream update takes one feature row, got {len(frame)}")
        return torch.from_numpy(self.predictor.scaler.transform_array(frame))

    def update(self, row: pd.Series | pd.DataFrame | dict[str, float]) -> dict[str, np.ndarray]:
        """Consume the newest bar's feature row; return the prediction dict with arrays of shape [horizons]."""
        x_t = self._scale(row)
        self.bars_seen += 1
        with torch.no_grad():
            if self.mode == "window":
                self._buffer = torch.cat([self._buffer[1:], x_t], dim=0)
                h = self.predictor.net.encoder(self._buffer[None])
            else:
                h, self._state = self.predictor.net.encoder.step(x_t, self._state)
        out = self.predictor.predict_encoded(h)
        return {k: v[0] for k, v in out.items()}

    def prime(self, features: pd.DataFrame) -> dict[str, np.ndarray] | None:
        """Feed past feature rows in order (e.g. the session so far); return the last prediction, if any."""
        if len(features) == 0:
            return None
        if self.mode == "window":
            rows = torch.from_numpy(self.predictor.scaler.transform_array(features.iloc[:-1]))
            window = self._buffer.shape[0]
            self._buffer = torch.cat([self._buffer, rows], dim=0)[-window:]
            self.bars_seen += len(features) - 1
            return self.update(features.iloc[[-1]])
        last = None
        for i in range(len(features)):
            last = self.update(features.iloc[[i]])
        return last
