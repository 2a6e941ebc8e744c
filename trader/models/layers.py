"""Small building blocks shared by the encoders: RMSNorm and the gated RMSNorm of Mamba2."""

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square normalisation over the last dimension with a learned per-feature scale."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x / rms(x) * weight."""
        inv_rms = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return x * inv_rms * self.weight


class GatedRMSNorm(RMSNorm):
    """Mamba2's output norm: RMSNorm(y * silu(z)), the gate applied before normalising."""

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Return RMSNorm(x * silu(gate))."""
        return super().forward(x * F.silu(gate))
