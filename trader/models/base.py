"""The temporal-encoder contract: [batch, time, features] -> [batch, hidden], plus streaming steps.

Every encoder maps a window of bars to one vector per sample (`forward`, the representation of the last
time step) and to one vector per time step (`forward_sequence`, for training on every step). The output at
time t depends on inputs at times <= t only, so `forward_sequence(x)[:, t]` is what the model would have
said at bar t.

Streaming (`init_state` / `step`) feeds one bar at a time, for paper or live trading. The state is opaque:
pass back exactly what the previous `step` returned; steps never modify a state in place.
`step` output at bar t equals `forward_sequence(all bars so far)[:, -1]`; encoders without a cheap
recurrent form (TCN, transformer) recompute over a rolling window of recent bars (`RollingWindowMixin`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trader.models.errors import ModelError


def check_positive(name: str, value: int) -> None:
    """Raise ModelError unless value is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelError(f"encoder setting {name} must be an integer >= 1, got {value!r}")


def check_dropout(value: float) -> None:
    """Raise ModelError unless 0 <= value < 1."""
    if not 0.0 <= float(value) < 1.0:
        raise ModelError(f"encoder setting dropout must be in [0, 1), got {value!r}")


class TemporalEncoder(nn.Module, ABC):
    """Base class of all temporal encoders: causal sequence model over [batch, time, n_features]."""

    name: str = "base"

    def __init__(self, n_features: int, hidden: int) -> None:
        super().__init__()
        check_positive("n_features", n_features)
        check_positive("hidden", hidden)
        self.n_features = n_features
        self.hidden = hidden

    @property
    def receptive_field(self) -> int | None:
        """How many bars (the current one included) the output can depend on; None means unbounded."""
        return None

    @abstractmethod
    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Map [batch, time, n_features] to [batch, time, hidden]; row t sees inputs up to t only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map [batch, time, n_features] to [batch, hidden], the representation of the last time step."""
        return self.forward_sequence(x)[:, -1]

    @abstractmethod
    def init_state(
        self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> Any:
        """Return the streaming state before the first bar."""

    @abstractmethod
    def step(self, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Consume one bar [batch, n_features]; return ([batch, hidden], the new state)."""

    def _check_sequence(self, x: torch.Tensor) -> None:
        """Raise ModelError unless x is [batch, time >= 1, n_features]."""
        if x.dim() != 3 or x.shape[-1] != self.n_features or x.shape[1] < 1:
            raise ModelError(
                f"{self.name} encoder expects input of shape [batch, time >= 1, {self.n_features}], "
                f"got {list(x.shape)}"
            )

    def _check_step(self, x_t: torch.Tensor) -> None:
        """Raise ModelError unless x_t is [batch, n_features]."""
        if x_t.dim() != 2 or x_t.shape[-1] != self.n_features:
            raise ModelError(
                f"{self.name} encoder step expects input of shape [batch, {self.n_features}], "
                f"got {list(x_t.shape)}"
            )

    def _param_like(self, device: torch.device | None, dtype: torch.dtype | None) -> dict[str, Any]:
        """Device and dtype for a new state: the given ones, else those of the parameters."""
        p = next(self.parameters())
        return {"device": device or p.device, "dtype": dtype or p.dtype}


@dataclass(frozen=True)
class WindowState:
    """Streaming state of a rolling-window encoder: the most recent bars, [batch, <= window, n_features]."""

    bars: torch.Tensor


class RollingWindowMixin:
    """Streaming by recomputation: keep the last `stream_window` bars and rerun `forward_sequence` on them.

    Each step costs one forward pass over the window (not O(1)). The result equals the full-history output
    exactly when the encoder's receptive field fits in the window (TCN: the window is set to it), and for a
    transformer as long as the history is no longer than the window; after that it is the output of a
    model that sees the last `stream_window` bars only.
    """

    stream_window: int

    def init_state(
        self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> WindowState:
        """Return an empty window."""
        like = self._param_like(device, dtype)  # type: ignore[attr-defined]
        return WindowState(bars=torch.zeros(batch, 0, self.n_features, **like))  # type: ignore[attr-defined]

    def step(self, x_t: torch.Tensor, state: WindowState) -> tuple[torch.Tensor, WindowState]:
        """Append one bar, drop bars older than the window, and return the last step's output."""
        self._check_step(x_t)  # type: ignore[attr-defined]
        bars = torch.cat([state.bars, x_t[:, None, :]], dim=1)[:, -self.stream_window :]
        y_t = self.forward_sequence(bars)[:, -1]  # type: ignore[attr-defined]
        return y_t, WindowState(bars=bars)
