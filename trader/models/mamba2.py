"""Mamba2 in pure PyTorch: the SSD mixer (chunked for training, O(1) steps for streaming) and its encoder.

One mixer, for input u [b, T, d_model] (d_inner = expand * d_model, heads of size p = d_inner / heads):
    z, xBC, dt_raw = in_proj(u)                 gate, conv input (x, B, C), one dt per head
    xBC = silu(depthwise causal conv1d(xBC))    local context over the last d_conv steps
    x, B, C = split(xBC)                        x per head [h, p]; B, C per group [g, n]
    dt = softplus(dt_raw + dt_bias); A = -exp(A_log)
    y = SSD(x, dt, A, B, C) + D * x             the selective state space (trader.models.ssd)
    out = out_proj(RMSNorm(y * silu(z)))        gated RMSNorm, then back to d_model
Initialisation as in the reference: dt sampled log-uniformly in [dt_min, dt_max] (floored at
dt_init_floor) and stored as its inverse softplus in dt_bias; A uniform in a_init_range stored as A_log;
D = 1. The encoder stacks `layers` pre-norm residual mixers between an input projection and a final RMSNorm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from trader.models.base import TemporalEncoder, check_dropout, check_positive
from trader.models.errors import ModelError
from trader.models.layers import GatedRMSNorm, RMSNorm
from trader.models.ssd import ssd_chunked, ssd_naive, ssd_step

Scan = Literal["chunked", "naive"]


@dataclass(frozen=True)
class Mamba2LayerState:
    """Streaming state of one mixer: the last d_conv - 1 conv inputs [b, conv_dim, d_conv - 1] and the SSM
    state [b, heads, head_dim, d_state]."""

    conv: torch.Tensor
    ssm: torch.Tensor


@dataclass(frozen=True)
class Mamba2State:
    """Streaming state of the Mamba2 encoder: one Mamba2LayerState per layer."""

    layers: tuple[Mamba2LayerState, ...]


def inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """Return x with softplus(x) = y, i.e. x = y + log(1 - exp(-y)), for y > 0."""
    return y + torch.log(-torch.expm1(-y))


class Mamba2Mixer(nn.Module):
    """The Mamba2 sequence mixer: [b, T, d_model] -> [b, T, d_model], causal, with an optional carried state."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        heads: int = 2,
        groups: int = 1,
        chunk_size: int = 16,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        a_init_range: tuple[float, float] = (1.0, 16.0),
        scan: Scan = "chunked",
    ) -> None:
        super().__init__()
        for setting, value in (
            ("d_model", d_model), ("d_state", d_state), ("d_conv", d_conv), ("expand", expand),
            ("heads", heads), ("groups", groups), ("chunk_size", chunk_size),
        ):
            check_positive(setting, value)
        d_inner = expand * d_model
        if d_inner % heads != 0 or heads % groups != 0:
            raise ModelError(
                f"mamba2 needs expand*hidden divisible by heads and heads divisible by groups, "
                f"got expand*hidden={d_inner}, heads={heads}, groups={groups}"
            )
        if scan not in ("chunked", "naive"):
            raise ModelError(f"mamba2 scan must be 'chunked' or 'naive', got {scan!r}")
        if not 0.0 < dt_min <= dt_max:
            raise ModelError(f"mamba2 needs 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}")
        self.d_inner, self.d_state, self.d_conv = d_inner, d_state, d_conv
        self.heads, self.groups, self.head_dim = heads, groups, d_inner // heads
        self.chunk_size, self.scan = chunk_size, scan
        self.conv_dim = d_inner + 2 * groups * d_state

        # One projection gives z (gate), x, B, C and dt: 2 * d_inner + 2 * groups * d_state + heads outputs.
        self.in_proj = nn.Linear(d_model, 2 * d_inner + 2 * groups * d_state + heads, bias=False)
        # Depthwise (one filter per channel) conv over x, B and C; left padding is done by hand (causal).
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, bias=True)

        # dt ~ log-uniform in [dt_min, dt_max], floored; dt_bias = softplus^{-1}(dt) so softplus(dt_bias) = dt.
        log_dt = torch.rand(heads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        dt = torch.exp(log_dt).clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(inverse_softplus(dt))
        # A ~ uniform in a_init_range, stored as log so that A = -exp(A_log) stays negative.
        self.A_log = nn.Parameter(torch.log(torch.empty(heads).uniform_(*a_init_range)))
        # Skip connection y += D * x, one D per head.
        self.D = nn.Parameter(torch.ones(heads))

        self.norm = GatedRMSNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def init_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> Mamba2LayerState:
        """Return zero conv history and zero SSM state."""
        return Mamba2LayerState(
            conv=torch.zeros(batch, self.conv_dim, self.d_conv - 1, device=device, dtype=dtype),
            ssm=torch.zeros(batch, self.heads, self.head_dim, self.d_state, device=device, dtype=dtype),
        )

    def _split_projection(self, zxbcdt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Split in_proj's output into z [.., d_inner], xBC [.., conv_dim], dt_raw [.., heads]."""
        return torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.heads], dim=-1)

    def _split_xbc(self, xbc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Split conv output into x [.., heads, head_dim] and B, C [.., groups, d_state]."""
        x, B, C = torch.split(xbc, [self.d_inner, self.groups * self.d_state, self.groups * self.d_state], dim=-1)
        lead = xbc.shape[:-1]
        return (
            x.reshape(*lead, self.heads, self.head_dim),
            B.reshape(*lead, self.groups, self.d_state),
            C.reshape(*lead, self.groups, self.d_state),
        )

    def forward(
        self, u: torch.Tensor, state: Mamba2LayerState | None = None
    ) -> tuple[torch.Tensor, Mamba2LayerState]:
        """Map u [b, T, d_model] to ([b, T, d_model], the state after the last step), continuing `state`."""
        batch, length, _ = u.shape
        if state is None:
            state = self.init_state(batch, u.device, u.dtype)
        z, xbc, dt_raw = self._split_projection(self.in_proj(u))

        # Causal depthwise conv: prepend the previous d_conv - 1 inputs (zeros at the start), no right padding.
        conv_in = torch.cat([state.conv, xbc.transpose(1, 2)], dim=-1)  # [b, conv_dim, d_conv - 1 + T]
        new_conv = conv_in[..., conv_in.shape[-1] - (self.d_conv - 1) :]
        xbc = F.silu(self.conv1d(conv_in)).transpose(1, 2)  # [b, T, conv_dim]
        x, B, C = self._split_xbc(xbc)

        dt = F.softplus(dt_raw + self.dt_bias)  # [b, T, heads]
        A = -torch.exp(self.A_log)  # [heads]
        if self.scan == "chunked":
            y, ssm = ssd_chunked(x, dt, A, B, C, self.chunk_size, initial_state=state.ssm)
        else:
            y, ssm = ssd_naive(x, dt, A, B, C, initial_state=state.ssm)
        y = y + x * self.D[:, None]
        y = self.norm(y.reshape(batch, length, self.d_inner), z)
        return self.out_proj(y), Mamba2LayerState(conv=new_conv, ssm=ssm)

    def step(self, u_t: torch.Tensor, state: Mamba2LayerState) -> tuple[torch.Tensor, Mamba2LayerState]:
        """One step in O(1): u_t [b, d_model] -> ([b, d_model], the new state)."""
        z, xbc, dt_raw = self._split_projection(self.in_proj(u_t))
        window = torch.cat([state.conv, xbc[..., None]], dim=-1)  # [b, conv_dim, d_conv]
        xbc = F.silu((window * self.conv1d.weight[:, 0, :]).sum(dim=-1) + self.conv1d.bias)
        x, B, C = self._split_xbc(xbc)

        dt = F.softplus(dt_raw + self.dt_bias)  # [b, heads]
        A = -torch.exp(self.A_log)
        y, ssm = ssd_step(state.ssm, x, dt, A, B, C)
        y = y + x * self.D[:, None]
        y = self.norm(y.reshape(u_t.shape[0], self.d_inner), z)
        return self.out_proj(y), Mamba2LayerState(conv=window[..., 1:], ssm=ssm)


class Mamba2Encoder(TemporalEncoder):
    """Input projection, `layers` x (h + dropout(Mamba2Mixer(RMSNorm(h)))), final RMSNorm.

    Training uses the chunked SSD (scan="chunked"); scan="naive" runs the same model with the per-step loop
    (reference, slow). Streaming (`init_state` / `step`) is the exact O(1)-per-bar recurrence, and
    `prefill` runs a history in one chunked pass and returns the state to continue from.
    """

    name = "mamba2"

    def __init__(
        self,
        n_features: int,
        hidden: int = 32,
        layers: int = 2,
        heads: int = 2,
        groups: int = 1,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        chunk_size: int = 16,
        dropout: float = 0.0,
        scan: Scan = "chunked",
    ) -> None:
        super().__init__(n_features, hidden)
        check_positive("layers", layers)
        check_dropout(dropout)
        self.input_proj = nn.Linear(n_features, hidden)
        self.norms = nn.ModuleList(RMSNorm(hidden) for _ in range(layers))
        self.mixers = nn.ModuleList(
            Mamba2Mixer(
                hidden, d_state=d_state, d_conv=d_conv, expand=expand, heads=heads, groups=groups,
                chunk_size=chunk_size, scan=scan,
            )
            for _ in range(layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.final_norm = RMSNorm(hidden)

    def prefill(
        self, x: torch.Tensor, state: Mamba2State | None = None
    ) -> tuple[torch.Tensor, Mamba2State]:
        """Run [batch, time, n_features] from `state` (zeros if None); return ([batch, time, hidden], state)."""
        self._check_sequence(x)
        layer_states: list[Mamba2LayerState | None] = list(state.layers) if state else [None] * len(self.mixers)
        h = self.input_proj(x)
        new_states = []
        for norm, mixer, layer_state in zip(self.norms, self.mixers, layer_states, strict=True):
            out, new_state = mixer(norm(h), layer_state)
            h = h + self.dropout(out)
            new_states.append(new_state)
        return self.final_norm(h), Mamba2State(layers=tuple(new_states))

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Map [batch, time, n_features] to [batch, time, hidden] causally."""
        return self.prefill(x)[0]

    def init_state(
        self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> Mamba2State:
        """Return the all-zero state (empty conv history, zero SSM state) for every layer."""
        like = self._param_like(device, dtype)
        return Mamba2State(layers=tuple(m.init_state(batch, like["device"], like["dtype"]) for m in self.mixers))

    def step(self, x_t: torch.Tensor, state: Mamba2State) -> tuple[torch.Tensor, Mamba2State]:
        """Consume one bar [batch, n_features] in O(1); return ([batch, hidden], the new state)."""
        self._check_step(x_t)
        h = self.input_proj(x_t)
        new_states = []
        for norm, mixer, layer_state in zip(self.norms, self.mixers, state.layers, strict=True):
            out, new_state = mixer.step(norm(h), layer_state)
            h = h + self.dropout(out)
            new_states.append(new_state)
        return self.final_norm(h), Mamba2State(layers=tuple(new_states))
