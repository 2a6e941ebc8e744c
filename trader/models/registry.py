"""Temporal encoders by name: `build_encoder("mamba2", n_features=16)`, or chosen by TEMPORAL_ENCODER."""

from __future__ import annotations

import os
from collections.abc import Mapping

from trader.models.base import TemporalEncoder
from trader.models.errors import ModelError
from trader.models.lstm import LSTMEncoder
from trader.models.mamba2 import Mamba2Encoder
from trader.models.tcn import TCNEncoder
from trader.models.transformer import TransformerEncoder

ENCODER_NAMES: tuple[str, ...] = ("tcn", "lstm", "transformer", "mamba2")
ENV_VAR = "TEMPORAL_ENCODER"


def check_encoder_name(name: str, source: str = "encoder name") -> str:
    """Return the canonical (stripped, lower-case) name, or raise ModelError naming the allowed names."""
    canonical = str(name).strip().lower()
    if canonical not in ENCODER_NAMES:
        raise ModelError(f"unknown temporal encoder {name!r} in {source}; allowed: {', '.join(ENCODER_NAMES)}")
    return canonical


def build_encoder(
    name: str,
    n_features: int,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    d_state: int = 16,
    chunk_size: int = 16,
    dropout: float = 0.0,
    kernel_size: int = 3,
) -> TemporalEncoder:
    """Build the named encoder; settings an encoder does not use are ignored (heads: transformer and mamba2,
    d_state and chunk_size: mamba2, kernel_size: tcn)."""
    canonical = check_encoder_name(name)
    if canonical == "tcn":
        return TCNEncoder(n_features, hidden=hidden, layers=layers, kernel_size=kernel_size, dropout=dropout)
    if canonical == "lstm":
        return LSTMEncoder(n_features, hidden=hidden, layers=layers, dropout=dropout)
    if canonical == "transformer":
        return TransformerEncoder(n_features, hidden=hidden, layers=layers, heads=heads, dropout=dropout)
    return Mamba2Encoder(
        n_features, hidden=hidden, layers=layers, heads=heads, d_state=d_state, chunk_size=chunk_size,
        dropout=dropout,
    )


def encoder_from_env(default: str = "tcn", environ: Mapping[str, str] | None = None) -> str:
    """Return the encoder name from TEMPORAL_ENCODER (unset or empty: `default`), checked against the registry."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_VAR, "").strip()
    if not value:
        return check_encoder_name(default, "the default encoder")
    return check_encoder_name(value, f"environment variable {ENV_VAR}")
