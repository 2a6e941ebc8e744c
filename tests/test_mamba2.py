"""Tests of the pure-PyTorch Mamba2: SSD chunked == sequential scan == one-step recurrence, and its set-up."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trader.models.errors import ModelError
from trader.models.mamba2 import Mamba2Encoder, Mamba2Mixer, inverse_softplus
from trader.models.ssd import heads_from_groups, segsum, ssd_chunked, ssd_naive, ssd_step

RTOL, ATOL = 1e-4, 1e-5
# Chunk multiples and not, a single step, and lengths shorter than one chunk.
LENGTHS = [1, 3, 8, 16, 17, 31, 45, 64]


def ssd_inputs(
    length: int, batch: int = 2, heads: int = 4, head_dim: int = 3, groups: int = 2, state: int = 5,
    seed: int = 0, dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, ...]:
    """Random SSD inputs (x, dt, A, B, C) with dt > 0 and A < 0, from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, heads, head_dim, generator=g, dtype=dtype)
    dt = F.softplus(torch.randn(batch, length, heads, generator=g, dtype=dtype) - 1.0)
    A = -torch.exp(torch.randn(heads, generator=g, dtype=dtype))
    B = torch.randn(batch, length, groups, state, generator=g, dtype=dtype)
    C = torch.randn(batch, length, groups, state, generator=g, dtype=dtype)
    return x, dt, A, B, C


def test_segsum_matches_its_definition() -> None:
    a = torch.randn(2, 6, generator=torch.Generator().manual_seed(0))
    out = segsum(a)
    assert out.shape == (2, 6, 6)
    for i in range(6):
        for j in range(6):
            if j > i:
                assert out[0, i, j] == float("-inf")
            else:
                torch.testing.assert_close(out[:, i, j], a[:, j + 1 : i + 1].sum(dim=-1))
    torch.testing.assert_close(torch.exp(segsum(torch.zeros(4))), torch.tril(torch.ones(4, 4)))


def test_segsum_is_stable_for_long_strong_decay() -> None:
    a = torch.full((64,), -50.0)
    decays = torch.exp(segsum(a))
    assert torch.isfinite(decays).all()
    torch.testing.assert_close(torch.diagonal(decays), torch.ones(64))
    torch.testing.assert_close(decays[1, 0], torch.tensor(math.exp(-50.0)))


def test_heads_map_to_groups_with_repeat_interleave() -> None:
    groups = torch.arange(2.0)[:, None].expand(2, 3)  # group k filled with k
    per_head = heads_from_groups(groups, heads=6)
    assert per_head[:, 0].tolist() == [0, 0, 0, 1, 1, 1]  # head i takes group i // (heads / groups)
    with pytest.raises(ModelError, match="multiple of groups"):
        heads_from_groups(groups, heads=5)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("chunk_size", [4, 16])
def test_chunked_equals_naive(length: int, chunk_size: int) -> None:
    x, dt, A, B, C = ssd_inputs(length, seed=length)
    y_chunked, state_chunked = ssd_chunked(x, dt, A, B, C, chunk_size)
    y_naive, state_naive = ssd_naive(x, dt, A, B, C)
    torch.testing.assert_close(y_chunked, y_naive, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(state_chunked, state_naive, rtol=RTOL, atol=ATOL)


def test_chunked_equals_naive_on_random_lengths_and_shapes() -> None:
    rng = torch.Generator().manual_seed(42)
    for trial in range(6):
        length = int(torch.randint(1, 80, (1,), generator=rng))
        groups = int(torch.randint(1, 3, (1,), generator=rng))
        heads = groups * int(torch.randint(1, 4, (1,), generator=rng))
        chunk = int(torch.randint(1, 20, (1,), generator=rng))
        x, dt, A, B, C = ssd_inputs(length, heads=heads, groups=groups, seed=trial)
        initial = torch.randn(2, heads, 3, 5, generator=rng)
        y_chunked, s_chunked = ssd_chunked(x, dt, A, B, C, chunk, initial_state=initial)
        y_naive, s_naive = ssd_naive(x, dt, A, B, C, initial_state=initial)
        torch.testing.assert_close(y_chunked, y_naive, rtol=RTOL, atol=ATOL)
        torch.testing.assert_close(s_chunked, s_naive, rtol=RTOL, atol=ATOL)


def test_chunked_continues_from_a_state() -> None:
    x, dt, A, B, C = ssd_inputs(40)
    y_full, s_full = ssd_chunked(x, dt, A, B, C, 16)
    y_head, s_head = ssd_chunked(x[:, :13], dt[:, :13], A, B[:, :13], C[:, :13], 16)
    y_tail, s_tail = ssd_chunked(x[:, 13:], dt[:, 13:], A, B[:, 13:], C[:, 13:], 16, initial_state=s_head)
    torch.testing.assert_close(torch.cat([y_head, y_tail], dim=1), y_full, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(s_tail, s_full, rtol=RTOL, atol=ATOL)


def test_ssd_step_is_the_recurrence() -> None:
    x, dt, A, B, C = ssd_inputs(1, groups=1)
    state = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(1))
    y, new_state = ssd_step(state, x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0])
    for b in range(2):
        for h in range(4):
            decay = torch.exp(dt[b, 0, h] * A[h])
            expected = decay * state[b, h] + dt[b, 0, h] * torch.outer(x[b, 0, h], B[b, 0, 0])
            torch.testing.assert_close(new_state[b, h], expected)
            torch.testing.assert_close(y[b, h], expected @ C[b, 0, 0])


def test_chunked_gradients_equal_naive_gradients() -> None:
    inputs = [t.requires_grad_() for t in ssd_inputs(21, dtype=torch.float64)]
    weights = torch.randn(2, 21, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    grads = []
    for run in (lambda: ssd_chunked(*inputs, 8), lambda: ssd_naive(*inputs)):
        y, state = run()
        loss = (y * weights).sum() + state.pow(2).sum()
        grads.append(torch.autograd.grad(loss, inputs))
    for chunked, naive in zip(*grads, strict=True):
        torch.testing.assert_close(chunked, naive, rtol=1e-8, atol=1e-10)


def test_bad_ssd_shapes_are_clear_errors() -> None:
    x, dt, A, B, C = ssd_inputs(5)
    with pytest.raises(ModelError, match="inconsistent shapes"):
        ssd_chunked(x, dt[:, :4], A, B, C, 4)
    with pytest.raises(ModelError, match="chunk_size must be >= 1"):
        ssd_chunked(x, dt, A, B, C, 0)


def make_encoder(scan: str = "chunked", seed: int = 0) -> Mamba2Encoder:
    """A small Mamba2 encoder with several heads per group, so the group mapping is exercised."""
    torch.manual_seed(seed)
    return Mamba2Encoder(
        6, hidden=16, layers=2, heads=4, groups=2, d_state=8, chunk_size=8, scan=scan  # type: ignore[arg-type]
    ).eval()


@pytest.mark.parametrize("length", [1, 5, 8, 19, 40])
def test_encoder_chunked_equals_naive_equals_steps(length: int) -> None:
    chunked = make_encoder()
    naive = make_encoder(scan="naive")
    naive.load_state_dict(chunked.state_dict())
    x = torch.randn(3, length, 6, generator=torch.Generator().manual_seed(length))
    with torch.no_grad():
        y_chunked = chunked.forward_sequence(x)
        y_naive = naive.forward_sequence(x)
        state = chunked.init_state(3)
        steps = []
        for t in range(length):
            y_t, state = chunked.step(x[:, t], state)
            steps.append(y_t)
    torch.testing.assert_close(y_chunked, y_naive, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(torch.stack(steps, dim=1), y_chunked, rtol=RTOL, atol=ATOL)


def test_prefill_then_steps_equals_full_pass() -> None:
    encoder = make_encoder()
    x = torch.randn(2, 37, 6, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full = encoder.forward_sequence(x)
        head, state = encoder.prefill(x[:, :22])
        torch.testing.assert_close(head, full[:, :22], rtol=RTOL, atol=ATOL)
        # a second prefill continues the first (conv history and SSM state both carried)
        middle, state = encoder.prefill(x[:, 22:30], state)
        torch.testing.assert_close(middle, full[:, 22:30], rtol=RTOL, atol=ATOL)
        for t in range(30, 37):
            y_t, state = encoder.step(x[:, t], state)
            torch.testing.assert_close(y_t, full[:, t], rtol=RTOL, atol=ATOL)


def test_streaming_state_has_constant_size() -> None:
    encoder = make_encoder()
    state = encoder.init_state(2)
    shapes = [(s.conv.shape, s.ssm.shape) for s in state.layers]
    with torch.no_grad():
        for t in range(12):
            _, state = encoder.step(torch.randn(2, 6), state)
    assert [(s.conv.shape, s.ssm.shape) for s in state.layers] == shapes
    assert shapes[0] == ((2, 32 + 2 * 2 * 8, 3), (2, 4, 8, 8))


def test_initialisation_follows_the_reference() -> None:
    torch.manual_seed(0)
    mixer = Mamba2Mixer(32, heads=64, dt_min=0.001, dt_max=0.1)
    dt = F.softplus(mixer.dt_bias)
    assert dt.min() >= 0.001 - 1e-7 and dt.max() <= 0.1 + 1e-7
    assert dt.log().std() > 0.5  # spread log-uniformly, not clustered
    A = torch.exp(mixer.A_log)
    assert A.min() >= 1.0 and A.max() <= 16.0
    assert torch.equal(mixer.D, torch.ones(64))
    assert mixer.conv1d.groups == mixer.conv_dim  # depthwise
    y = torch.tensor([1e-4, 0.01, 0.5, 3.0])
    torch.testing.assert_close(F.softplus(inverse_softplus(y)), y)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"heads": 3}, "divisible by heads"),
        ({"heads": 4, "groups": 3}, "heads divisible by groups"),
        ({"scan": "fast"}, "scan must be 'chunked' or 'naive'"),
        ({"dt_min": 0.5, "dt_max": 0.1}, "0 < dt_min <= dt_max"),
        ({"d_state": 0}, "d_state must be an integer >= 1"),
    ],
)
def test_bad_mixer_settings_are_clear_errors(settings: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        Mamba2Mixer(16, **settings)
