"""Tests of the temporal-encoder contract, shared by every encoder in the registry."""

from __future__ import annotations

import pytest
import torch

from trader.errors import GaussianError
from trader.models.base import TemporalEncoder
from trader.models.errors import ModelError
from trader.models.registry import ENCODER_NAMES, ENV_VAR, build_encoder, encoder_from_env
from trader.models.transformer import TransformerEncoder, apply_rope, rope_angles

N_FEATURES = 5


def make(name: str, seed: int = 0, **settings: object) -> TemporalEncoder:
    """Build an encoder under a fixed seed, in eval mode."""
    torch.manual_seed(seed)
    encoder = build_encoder(name, N_FEATURES, **settings)  # type: ignore[arg-type]
    return encoder.eval()


def inputs(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    """Random [batch, length, N_FEATURES] input from a seeded generator."""
    return torch.randn(batch, length, N_FEATURES, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ENCODER_NAMES)
@pytest.mark.parametrize("length", [1, 7, 33])
def test_shapes(name: str, length: int) -> None:
    encoder = make(name, hidden=16)
    x = inputs(3, length)
    assert encoder(x).shape == (3, 16)
    assert encoder.forward_sequence(x).shape == (3, length, 16)
    assert isinstance(encoder, TemporalEncoder) and encoder.name == name


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_forward_is_last_step_of_sequence(name: str) -> None:
    encoder = make(name)
    x = inputs(2, 20)
    torch.testing.assert_close(encoder(x), encoder.forward_sequence(x)[:, -1])


@pytest.mark.parametrize("name", ENCODER_NAMES)
@pytest.mark.parametrize("t", [0, 9, 16, 30])
def test_causality(name: str, t: int) -> None:
    encoder = make(name)
    x = inputs(2, 40)
    changed = x.clone()
    changed[:, t + 1 :] = torch.randn(2, 40 - t - 1, N_FEATURES, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        before, after = encoder.forward_sequence(x), encoder.forward_sequence(changed)
    torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1], rtol=0, atol=1e-6)
    assert not torch.allclose(after[:, t + 1 :], before[:, t + 1 :])  # the future does matter later on


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(name, N_FEATURES).train()
    x = inputs(4, 24)
    weights = torch.randn(4, 24, encoder.hidden, generator=torch.Generator().manual_seed(3))
    loss = (encoder.forward_sequence(x) * weights).sum() + encoder(x).pow(2).sum()
    loss.backward()
    for param_name, param in encoder.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_streaming_steps_match_forward_sequence(name: str) -> None:
    encoder = make(name)
    x = inputs(3, 29)
    with torch.no_grad():
        expected = encoder.forward_sequence(x)
        state = encoder.init_state(3)
        outputs = []
        for t in range(x.shape[1]):
            y_t, state = encoder.step(x[:, t], state)
            outputs.append(y_t)
    torch.testing.assert_close(torch.stack(outputs, dim=1), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_deterministic_under_manual_seed(name: str) -> None:
    first, second = make(name, seed=11, dropout=0.1), make(name, seed=11, dropout=0.1)
    for (key, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), key
    x = inputs(2, 12)
    first.train()
    second.train()
    torch.manual_seed(5)
    out_first = first.forward_sequence(x)
    torch.manual_seed(5)
    out_second = second.forward_sequence(x)
    assert torch.equal(out_first, out_second)
    assert not torch.equal(make(name, seed=12).forward_sequence(x), first.eval().forward_sequence(x))


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_wrong_input_shape_is_a_clear_error(name: str) -> None:
    encoder = make(name)
    with pytest.raises(ModelError, match=rf"\[batch, time >= 1, {N_FEATURES}\]"):
        encoder(torch.zeros(2, 10, N_FEATURES + 1))
    with pytest.raises(ModelError, match="got \\[2, 0, 5\\]"):
        encoder(torch.zeros(2, 0, N_FEATURES))
    with pytest.raises(ModelError, match="step expects"):
        encoder.step(torch.zeros(2, 3, N_FEATURES), encoder.init_state(2))


def test_lstm_is_unidirectional() -> None:
    encoder = make("lstm")
    assert not encoder.lstm.bidirectional  # type: ignore[union-attr]


def test_tcn_receptive_field_is_exact() -> None:
    encoder = make("tcn", layers=2, kernel_size=3)
    field = encoder.receptive_field
    assert field == 1 + 2 * 2 * 3
    x = inputs(2, 40)
    changed = x.clone()
    last = 39
    changed[:, : last - field + 1] += 1.0  # only bars outside the last output's field
    with torch.no_grad():
        torch.testing.assert_close(encoder(changed), encoder(x), rtol=0, atol=1e-6)
        changed[:, last - field + 1] += 1.0  # the oldest bar inside the field
        assert not torch.allclose(encoder(changed), encoder(x))


def test_transformer_stream_window_slides() -> None:
    torch.manual_seed(0)
    encoder = TransformerEncoder(N_FEATURES, stream_window=8).eval()
    x = inputs(1, 20)
    with torch.no_grad():
        state = encoder.init_state(1)
        for t in range(20):
            y_t, state = encoder.step(x[:, t], state)
        assert state.bars.shape == (1, 8, N_FEATURES)
        torch.testing.assert_close(y_t, encoder(x[:, -8:]), rtol=1e-4, atol=1e-5)


def test_unknown_encoder_names_the_allowed_ones() -> None:
    with pytest.raises(ModelError, match="'gru'.*allowed: tcn, lstm, transformer, mamba2") as info:
        build_encoder("gru", N_FEATURES)
    assert isinstance(info.value, GaussianError)


def test_registry_is_case_insensitive_and_passes_settings() -> None:
    encoder = build_encoder(" Mamba2 ", N_FEATURES, hidden=8, layers=1, heads=4, d_state=4, chunk_size=4)
    assert encoder.name == "mamba2" and encoder.hidden == 8
    assert encoder(inputs(2, 9)).shape == (2, 8)
    tcn = build_encoder("tcn", N_FEATURES, layers=3, kernel_size=2)
    assert tcn.receptive_field == 1 + 2 * 1 * 7


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("tcn", {"layers": 0}, "layers must be an integer >= 1, got 0"),
        ("lstm", {"dropout": 1.0}, "dropout must be in"),
        ("transformer", {"heads": 3}, "hidden divisible by heads"),
        ("mamba2", {"heads": 5}, "divisible by heads"),
        ("mamba2", {"chunk_size": 0}, "chunk_size must be an integer >= 1"),
    ],
)
def test_bad_settings_are_clear_errors(name: str, settings: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        build_encoder(name, N_FEATURES, **settings)


def test_bad_feature_count_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="n_features must be an integer >= 1, got 0"):
        build_encoder("lstm", 0)


def test_encoder_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert encoder_from_env() == "tcn"
    assert encoder_from_env("lstm") == "lstm"
    monkeypatch.setenv(ENV_VAR, "")
    assert encoder_from_env("transformer") == "transformer"
    monkeypatch.setenv(ENV_VAR, "MAMBA2")
    assert encoder_from_env() == "mamba2"
    assert build_encoder(encoder_from_env(), N_FEATURES).name == "mamba2"
    monkeypatch.setenv(ENV_VAR, "wavenet")
    with pytest.raises(ModelError, match="'wavenet' in environment variable TEMPORAL_ENCODER; allowed"):
        encoder_from_env()


def test_encoder_from_env_explicit_mapping_and_bad_default() -> None:
    assert encoder_from_env("tcn", environ={ENV_VAR: "lstm"}) == "lstm"
    with pytest.raises(ModelError, match="the default encoder"):
        encoder_from_env("nope", environ={})


def test_rope_rotation_is_relative() -> None:
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 10, 8, generator=gen), torch.randn(1, 1, 10, 8, generator=gen)
    cos, sin = rope_angles(10, 8)
    q_rot = apply_rope(q, cos, sin)
    torch.testing.assert_close(q_rot.norm(dim=-1), q.norm(dim=-1))  # a rotation keeps lengths
    # the score between the same two vectors depends only on their distance, not their positions
    same_q, same_k = q[..., :1, :].expand_as(q), k[..., :1, :].expand_as(k)
    qr, kr = apply_rope(same_q, cos, sin), apply_rope(same_k, cos, sin)
    torch.testing.assert_close((qr[..., 5, :] * kr[..., 3, :]).sum(), (qr[..., 7, :] * kr[..., 5, :]).sum())
    assert not torch.allclose((qr[..., 5, :] * kr[..., 3, :]).sum(), (qr[..., 7, :] * kr[..., 3, :]).sum())
