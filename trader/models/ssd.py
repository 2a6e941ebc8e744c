"""State-space duality (SSD), the core of Mamba2, in pure PyTorch: chunked, sequential and one-step forms.

The scalar-decay selective SSM, per head h with state S_t in R^{P x N}:

    S_t = exp(dt_t * A) * S_{t-1} + (dt_t * x_t) B_t^T        (x_t in R^P, B_t in R^N)
    y_t = S_t C_t                                             (C_t in R^N, y_t in R^P)

Writing a_t = dt_t * A (<= 0, the log decay) and xbar_t = dt_t * x_t, unrolling gives the "dual",
attention-like form  y_t = sum_{s<=t} (C_t . B_s) * exp(a_{s+1} + ... + a_t) * xbar_s.
`ssd_chunked` splits time into chunks of Q steps: inside a chunk it uses the quadratic dual form
(a Q x Q masked matrix), between chunks it passes the state along with a linear recurrence, so the cost
is O(T * Q) instead of O(T^2) and the work is batched matrix products instead of a T-step loop.
`ssd_naive` is the per-step loop of the recurrence above, the reference for tests and the benchmark.

Shapes (b batch, T time, h heads, p head dim, g groups, n state size; h is a multiple of g):
    x [b, T, h, p], dt [b, T, h] (> 0), A [h] (< 0), B and C [b, T, g, n], state [b, h, p, n].
Heads share B and C within a group: head i uses group i // (h / g).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trader.models.errors import ModelError


def heads_from_groups(bc: torch.Tensor, heads: int) -> torch.Tensor:
    """Map B or C from groups to heads, [..., g, n] -> [..., h, n], head i taking group i // (h / g)."""
    groups = bc.shape[-2]
    if heads % groups != 0:
        raise ModelError(f"SSD needs heads to be a multiple of groups, got heads={heads}, groups={groups}")
    return bc.repeat_interleave(heads // groups, dim=-2)


def segsum(a: torch.Tensor) -> torch.Tensor:
    """Segment sums of the last axis: out[..., i, j] = a[j+1] + ... + a[i] for j <= i, -inf above.

    Computed stably as a masked cumulative sum (never as cumsum[i] - cumsum[j], which loses precision),
    so exp(segsum(a)) is the lower-triangular matrix of decays from step j to step i.
    """
    length = a.shape[-1]
    # a_rows[..., i, j] = a[i], kept only where j < i: the terms a_i belongs to
    a_rows = a[..., :, None].expand(*a.shape, length)
    strictly_lower = torch.tril(torch.ones(length, length, dtype=torch.bool, device=a.device), diagonal=-1)
    a_rows = a_rows.masked_fill(~strictly_lower, 0.0)
    # summing down the rows: out[..., i, j] = sum over j < k <= i of a[k]
    sums = a_rows.cumsum(dim=-2)
    lower = torch.tril(torch.ones(length, length, dtype=torch.bool, device=a.device), diagonal=0)
    return sums.masked_fill(~lower, float("-inf"))


def _check_shapes(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor) -> None:
    """Raise ModelError unless the SSD inputs have consistent shapes."""
    b, length, h, _ = x.shape
    if dt.shape != (b, length, h) or A.shape != (h,) or B.shape != C.shape or B.shape[:2] != (b, length):
        raise ModelError(
            f"SSD inputs have inconsistent shapes: x {list(x.shape)}, dt {list(dt.shape)}, A {list(A.shape)}, "
            f"B {list(B.shape)}, C {list(C.shape)}"
        )


def ssd_chunked(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk_size: int,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the SSM over the whole sequence chunk by chunk; return (y [b, T, h, p], final state [b, h, p, n]).

    A length that is not a multiple of chunk_size is padded at the end only, with dt = 0 there: a zero step
    neither decays nor feeds the state, so padding changes neither the outputs kept nor the final state.
    """
    _check_shapes(x, dt, A, B, C)
    if chunk_size < 1:
        raise ModelError(f"SSD chunk_size must be >= 1, got {chunk_size}")
    b, length, h, p = x.shape
    n = B.shape[-1]
    B, C = heads_from_groups(B, h), heads_from_groups(C, h)

    # Discretise: xbar_t = dt_t * x_t, a_t = dt_t * A (log decay, <= 0).
    xbar = x * dt[..., None]
    a = dt * A

    # Pad the end to a whole number of chunks, then cut time into [chunks, Q].
    pad = (-length) % chunk_size
    if pad:
        xbar = F.pad(xbar, (0, 0, 0, 0, 0, pad))
        a = F.pad(a, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, 0, 0, pad))
    chunks = (length + pad) // chunk_size
    q = chunk_size
    xbar = xbar.reshape(b, chunks, q, h, p)
    B = B.reshape(b, chunks, q, h, n)
    C = C.reshape(b, chunks, q, h, n)
    a = a.reshape(b, chunks, q, h).permute(0, 3, 1, 2)  # [b, h, chunks, q]
    a_cum = a.cumsum(dim=-1)  # a_1 + ... + a_l inside each chunk

    # 1. Inside each chunk (quadratic, dual form): y_l = sum_{s<=l} (C_l . B_s) exp(a_{s+1..l}) xbar_s.
    decay_within = torch.exp(segsum(a))  # [b, h, chunks, l, s]
    scores = torch.einsum("bclhn,bcshn->bhcls", C, B) * decay_within
    y_diag = torch.einsum("bhcls,bcshp->bclhp", scores, xbar)

    # 2. Each chunk's own contribution to the state at its end: sum_s exp(a_{s+1..Q}) xbar_s B_s^T.
    decay_to_end = torch.exp(a_cum[..., -1:] - a_cum)  # [b, h, chunks, q]
    chunk_states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, decay_to_end, xbar)

    # 3. Between chunks (linear recurrence): S_in[c+1] = exp(a over chunk c) * S_in[c] + chunk_states[c].
    chunk_decay = torch.exp(a_cum[..., -1])  # [b, h, chunks]
    state = initial_state if initial_state is not None else x.new_zeros(b, h, p, n)
    entering = []
    for decay_c, own_c in zip(chunk_decay.unbind(dim=2), chunk_states.unbind(dim=1), strict=True):
        entering.append(state)
        state = decay_c[..., None, None] * state + own_c
    states_in = torch.stack(entering, dim=1)  # [b, chunks, h, p, n], the state before each chunk

    # 4. The state entering a chunk, decayed to position l and read out: exp(a_{1..l}) S_in C_l.
    y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", C, states_in, torch.exp(a_cum))

    y = (y_diag + y_off).reshape(b, chunks * q, h, p)[:, :length]
    return y, state


def ssd_step(
    state: torch.Tensor, x_t: torch.Tensor, dt_t: torch.Tensor, A: torch.Tensor, B_t: torch.Tensor, C_t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One recurrence step in O(1): x_t [b, h, p], dt_t [b, h], B_t, C_t [b, g, n]; return (y_t, new state)."""
    heads = x_t.shape[1]
    B_t, C_t = heads_from_groups(B_t, heads), heads_from_groups(C_t, heads)
    decay = torch.exp(dt_t * A)[..., None, None]  # exp(dt_t * A), [b, h, 1, 1]
    new_state = decay * state + (dt_t[..., None] * x_t)[..., :, None] * B_t[..., None, :]
    y_t = torch.einsum("bhpn,bhn->bhp", new_state, C_t)
    return y_t, new_state


def ssd_naive(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference sequential scan, one `ssd_step` per time step; same inputs and outputs as `ssd_chunked`."""
    _check_shapes(x, dt, A, B, C)
    b, length, h, p = x.shape
    state = initial_state if initial_state is not None else x.new_zeros(b, h, p, B.shape[-1])
    ys = []
    for t in range(length):
        y_t, state = ssd_step(state, x[:, t], dt[:, t], A, B[:, t], C[:, t])
        ys.append(y_t)
    return torch.stack(ys, dim=1), state
