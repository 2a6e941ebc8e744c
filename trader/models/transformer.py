"""Causal pre-norm transformer with rotary position embeddings (RoPE) on queries and keys per head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trader.models.base import RollingWindowMixin, TemporalEncoder, check_dropout, check_positive
from trader.models.errors import ModelError


def rope_angles(
    length: int,
    head_dim: int,
    base: float = 10000.0,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (cos, sin), each [length, head_dim / 2], of angle position * base**(-2i / head_dim)."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, device=device, dtype=dtype) / head_dim)
    angles = torch.arange(length, device=device, dtype=dtype)[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x[2i], x[2i+1]) of [..., time, head_dim] by its position's angle i."""
    x_even, x_odd = x[..., 0::2], x[..., 1::2]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    rotated = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)
    return rotated.flatten(-2)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with a causal mask and RoPE applied to queries and keys."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.dropout = dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map [batch, time, hidden] to the same shape; position t attends to positions <= t."""
        batch, length, hidden = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        angle_dtype = torch.promote_types(x.dtype, torch.float32)  # never compute angles in half precision
        cos, sin = rope_angles(length, self.head_dim, device=x.device, dtype=angle_dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        p = self.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return self.out(attended.transpose(1, 2).reshape(batch, length, hidden))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x))."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden)
        self.attn = CausalSelfAttention(hidden, heads, dropout)
        self.norm2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map [batch, time, hidden] to the same shape."""
        x = x + self.dropout(self.attn(self.norm1(x)))
        return x + self.dropout(self.mlp(self.norm2(x)))


class TransformerEncoder(RollingWindowMixin, TemporalEncoder):
    """Linear input projection, `layers` causal pre-norm blocks with RoPE, final LayerNorm.

    Streaming recomputes over the last `stream_window` bars (default 256): exact while the history is no
    longer than the window, a sliding-window model after that. Cost per step: O(window^2).
    """

    name = "transformer"

    def __init__(
        self,
        n_features: int,
        hidden: int = 32,
        layers: int = 2,
        heads: int = 2,
        dropout: float = 0.0,
        stream_window: int = 256,
    ) -> None:
        super().__init__(n_features, hidden)
        for setting, value in (("layers", layers), ("heads", heads), ("stream_window", stream_window)):
            check_positive(setting, value)
        check_dropout(dropout)
        if hidden % heads != 0 or (hidden // heads) % 2 != 0:
            raise ModelError(
                f"transformer needs hidden divisible by heads with an even head size (RoPE), "
                f"got hidden={hidden}, heads={heads}"
            )
        self.stream_window = stream_window
        self.input_proj = nn.Linear(n_features, hidden)
        self.blocks = nn.ModuleList(TransformerBlock(hidden, heads, dropout) for _ in range(layers))
        self.final_norm = nn.LayerNorm(hidden)

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Map [batch, time, n_features] to [batch, time, hidden] causally."""
        self._check_sequence(x)
        h = self.input_proj(x)
        for block in self.blocks:
            h = block(h)
        return self.final_norm(h)
