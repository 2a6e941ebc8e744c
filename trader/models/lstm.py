"""Unidirectional LSTM encoder (never bidirectional: that would see later bars inside the window)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trader.models.base import TemporalEncoder, check_dropout, check_positive


@dataclass(frozen=True)
class LSTMState:
    """Streaming state of the LSTM: hidden and cell states, each [layers, batch, hidden]."""

    h: torch.Tensor
    c: torch.Tensor


class LSTMEncoder(TemporalEncoder):
    """A stacked unidirectional LSTM; dropout applies between layers; streaming is its native recurrence."""

    name = "lstm"

    def __init__(self, n_features: int, hidden: int = 32, layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__(n_features, hidden)
        check_positive("layers", layers)
        check_dropout(dropout)
        self.layers = layers
        self.lstm = nn.LSTM(
            n_features,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
            bidirectional=False,
        )

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Map [batch, time, n_features] to [batch, time, hidden] causally."""
        self._check_sequence(x)
        out, _ = self.lstm(x)
        return out

    def init_state(
        self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> LSTMState:
        """Return zero hidden and cell states."""
        zeros = torch.zeros(self.layers, batch, self.hidden, **self._param_like(device, dtype))
        return LSTMState(h=zeros, c=zeros.clone())

    def step(self, x_t: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """Consume one bar [batch, n_features] in O(1); return ([batch, hidden], the new state)."""
        self._check_step(x_t)
        out, (h, c) = self.lstm(x_t[:, None, :], (state.h, state.c))
        return out[:, 0], LSTMState(h=h, c=c)
