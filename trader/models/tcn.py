"""Temporal convolutional network: stacked residual blocks of dilated causal 1-D convolutions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trader.models.base import RollingWindowMixin, TemporalEncoder, check_dropout, check_positive
from trader.models.receptive import tcn_receptive_field


class CausalConv1d(nn.Conv1d):
    """A 1-D convolution padded on the left only, so output t sees inputs t - (k-1)*d .. t."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__(channels, channels, kernel_size, dilation=dilation)
        self.left_pad = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve [batch, channels, time] causally; the time length is preserved."""
        return super().forward(F.pad(x, (self.left_pad, 0)))


class TCNBlock(nn.Module):
    """Two dilated causal convolutions with GELU and dropout, added to the block's input (residual)."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = CausalConv1d(channels, kernel_size, dilation)
        self.conv2 = CausalConv1d(channels, kernel_size, dilation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map [batch, channels, time] to the same shape."""
        h = self.dropout(F.gelu(self.conv1(x)))
        h = self.dropout(F.gelu(self.conv2(h)))
        return F.gelu(x + h)


class TCNEncoder(RollingWindowMixin, TemporalEncoder):
    """Linear input projection, then `layers` residual blocks with dilations 1, 2, 4, ...

    Receptive field: 1 + 2 * (kernel_size - 1) * (2**layers - 1) bars. Streaming keeps exactly that many
    bars and recomputes, so `step` matches `forward_sequence` exactly.
    """

    name = "tcn"

    def __init__(
        self, n_features: int, hidden: int = 32, layers: int = 2, kernel_size: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__(n_features, hidden)
        check_positive("layers", layers)
        check_positive("kernel_size", kernel_size)
        check_dropout(dropout)
        self.input_proj = nn.Linear(n_features, hidden)
        self.blocks = nn.ModuleList(TCNBlock(hidden, kernel_size, 2**i, dropout) for i in range(layers))
        self._receptive_field = tcn_receptive_field(layers, kernel_size)
        self.stream_window = self._receptive_field

    @property
    def receptive_field(self) -> int:
        """How many bars (the current one included) the output depends on."""
        return self._receptive_field

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Map [batch, time, n_features] to [batch, time, hidden] causally."""
        self._check_sequence(x)
        h = self.input_proj(x).transpose(1, 2)  # [batch, hidden, time]
        for block in self.blocks:
            h = block(h)
        return h.transpose(1, 2)
