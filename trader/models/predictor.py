"""The predictor: temporal encoder -> RBF kernels -> Bayesian heads, per-horizon return, risk and direction.

For each horizon h (bars) and each bar t it forecasts, from the window of scaled features ending at t:
the mean and aleatoric std of the future log return log(close[t+h] / close[t]) (Gaussian NLL), the
probability that it is positive (BCE), and the realized volatility over the next h bars (squared error on
its log). Monte Carlo weight samples of the Bayesian heads give the epistemic spread of the mean; total
variance = aleatoric variance + epistemic variance.

Windows: the window of bar t is feature rows t-window+1 .. t; rows before the first bar of the frame are
zeros (the training mean after scaling). Row t of `predict_all` therefore depends on rows <= t only and
equals `predict` on the frame cut at t.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from trader.errors import DataError, StateError
from trader.features import FeatureScaler, build_features
from trader.models.base import TemporalEncoder
from trader.models.errors import ModelError
from trader.models.heads import BayesMLP, RBFLayer
from trader.models.registry import build_encoder, check_encoder_name

OUTPUT_NAMES: tuple[str, ...] = ("mean", "aleatoric_std", "epistemic_std", "total_std", "p_up", "vol")
"""Keys of a prediction dict; each value is an array [rows, horizons]."""

MIN_STD = 0.01
"""Floor of the aleatoric std in units of the horizon's training return scale."""

WEIGHTS_FILE = "predictor.pt"
CONFIG_FILE = "predictor.json"
FORMAT_VERSION = 1


@dataclass
class PredictorConfig:
    """Architecture, horizons and inference settings of the predictor (mirrors the spec's model section)."""

    encoder: str = "tcn"
    window: int = 64
    hidden: int = 32
    layers: int = 2
    heads: int = 2
    d_state: int = 16
    chunk_size: int = 16
    kernel_size: int = 3
    dropout: float = 0.0
    horizons: tuple[int, ...] = (5, 15, 30, 45)
    rbf_centers: int = 16
    rbf_scales: tuple[float, ...] = (0.5, 1.0, 2.0)
    head_hidden: int = 32
    mc_samples: int = 16
    prior_sigma: float = 0.1
    intraday: bool | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.encoder = check_encoder_name(self.encoder, "predictor config field encoder")
        self.horizons = tuple(int(h) for h in self.horizons)
        self.rbf_scales = tuple(float(s) for s in self.rbf_scales)
        if not self.horizons or min(self.horizons) < 1 or list(self.horizons) != sorted(set(self.horizons)):
            raise ModelError(f"predictor horizons must be positive and strictly increasing, got {self.horizons}")
        for name in ("window", "hidden", "layers", "heads", "rbf_centers", "head_hidden", "mc_samples"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"predictor config field {name} must be >= 1, got {getattr(self, name)}")
        if self.prior_sigma <= 0:
            raise ModelError(f"predictor config field prior_sigma must be positive, got {self.prior_sigma}")


@dataclass
class TargetStats:
    """Training-label statistics that put targets on a unit scale: return RMS and log-vol mean/std per horizon."""

    ret_scale: list[float] = field(default_factory=list)
    logvol_mean: list[float] = field(default_factory=list)
    logvol_std: list[float] = field(default_factory=list)


class PredictorNet(nn.Module):
    """Encoder -> LayerNorm -> [embedding, RBF(embedding)] -> Bayesian MLP with 4 outputs per horizon."""

    def __init__(self, n_features: int, config: PredictorConfig) -> None:
        super().__init__()
        c = config
        self.horizons = len(c.horizons)
        self.encoder = build_encoder(
            c.encoder, n_features, hidden=c.hidden, layers=c.layers, heads=c.heads, d_state=c.d_state,
            chunk_size=c.chunk_size, dropout=c.dropout, kernel_size=c.kernel_size,
        )
        self.norm = nn.LayerNorm(c.hidden, elementwise_affine=False)
        self.rbf = RBFLayer(c.hidden, c.rbf_centers, c.rbf_scales)
        self.head = BayesMLP(c.hidden + self.rbf.out_features, c.head_hidden, 4 * self.horizons, c.prior_sigma)

    def embed_from_encoding(self, h: torch.Tensor) -> torch.Tensor:
        """Head input from an encoder output [B, hidden]: normalised embedding and its RBF activations."""
        z = self.norm(h)
        return torch.cat([z, self.rbf(z)], dim=-1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Head input for windows x [B, time, features]."""
        return self.embed_from_encoding(self.encoder(x))

    def forward(self, x: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """Raw outputs [B, 4, horizons] (mean, std pre-activation, direction logit, log-vol), one pass."""
        return self.head(self.embed(x), sample).view(-1, 4, self.horizons)

    def kl(self) -> torch.Tensor:
        """KL term of the Bayesian heads."""
        return self.head.kl()


def pad_rows(x: torch.Tensor, window: int) -> torch.Tensor:
    """x [rows, features] with window-1 zero rows in front (the rows before the first bar)."""
    return torch.cat([x.new_zeros(window - 1, x.shape[1]), x], dim=0)


def input_window(window: int, encoder: TemporalEncoder) -> int:
    """Bars a window must hold: `window`, cropped to the encoder's receptive field where it has one.

    The last output cannot depend on older bars, so cropping changes nothing but the work (a TCN with a 13-bar
    field reads 13 bars, not 64): `model.window` is the history any encoder may use, and one that sees less
    is not fed more."""
    field = encoder.receptive_field
    return window if field is None else min(window, field)


def gather_windows(padded: torch.Tensor, positions: np.ndarray, window: int) -> torch.Tensor:
    """Windows [len(positions), window, features] ending at each position of a `pad_rows` tensor."""
    idx = torch.as_tensor(np.asarray(positions, dtype=np.int64))[:, None] + torch.arange(window)
    return padded[idx]


def windows(x: torch.Tensor, positions: np.ndarray, window: int) -> torch.Tensor:
    """Windows [len(positions), window, features] of rows p-window+1 .. p of x [rows, features], zeros before row 0."""
    return gather_windows(pad_rows(x, window), positions, window)


def decode(raw: torch.Tensor, stats: TargetStats) -> dict[str, torch.Tensor]:
    """Turn raw outputs [..., 4, H] into return mean, aleatoric std, p_up and vol in log-return units."""
    scale = raw.new_tensor(stats.ret_scale)
    lv_mean, lv_std = raw.new_tensor(stats.logvol_mean), raw.new_tensor(stats.logvol_std)
    return {
        "mean": raw[..., 0, :] * scale,
        "std": (MIN_STD + F.softplus(raw[..., 1, :])) * scale,
        "p_up": torch.sigmoid(raw[..., 2, :]),
        "vol": torch.exp(raw[..., 3, :] * lv_std + lv_mean),
    }


def summarise_samples(raw: torch.Tensor, stats: TargetStats) -> dict[str, np.ndarray]:
    """Aggregate Monte Carlo raw outputs [S, B, 4, H] into the prediction dict (variances add)."""
    d = decode(raw, stats)
    mean = d["mean"].mean(dim=0)
    epistemic_var = d["mean"].var(dim=0, unbiased=False)
    aleatoric_var = d["std"].pow(2).mean(dim=0)
    out = {
        "mean": mean,
        "aleatoric_std": aleatoric_var.sqrt(),
        "epistemic_std": epistemic_var.sqrt(),
        "total_std": (aleatoric_var + epistemic_var).sqrt(),
        "p_up": d["p_up"].mean(dim=0),
        "vol": d["vol"].mean(dim=0),
    }
    return {k: v.double().numpy() for k, v in out.items()}


class Predictor:
    """A fitted predictor: config, feature scaler (fitted on train), target scales and the network."""

    def __init__(
        self, config: PredictorConfig, scaler: FeatureScaler, stats: TargetStats, net: PredictorNet,
        report: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.scaler = scaler
        self.stats = stats
        self.net = net.eval()
        self.report = report or {}
        self.batch_size = 1024
        self._mc_weights: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    @property
    def horizons(self) -> tuple[int, ...]:
        """Forecast horizons in bars."""
        return self.config.horizons

    @property
    def input_window(self) -> int:
        """Bars each prediction reads: model.window cropped to the encoder's receptive field."""
        return input_window(self.config.window, self.net.encoder)

    @property
    def feature_columns(self) -> list[str]:
        """The feature columns the predictor reads, in order."""
        return list(self.scaler.columns)

    def features(self, bars: pd.DataFrame) -> pd.DataFrame:
        """The causal feature frame of bars, built in the same session mode as at training time."""
        return build_features(bars, intraday=self.config.intraday)

    def mc_weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The Monte Carlo weight sets of the heads, drawn once from the config seed."""
        if self._mc_weights is None:
            gen = torch.Generator().manual_seed(int(self.config.seed) + 7919)
            with torch.no_grad():
                self._mc_weights = self.net.head.sample_weights(self.config.mc_samples, gen)
        return self._mc_weights

    def scaled(self, features: pd.DataFrame) -> torch.Tensor:
        """The feature frame scaled by the training scaler, as a float32 tensor [rows, features]."""
        return torch.from_numpy(self.scaler.transform_array(features))

    def predict_encoded(self, h: torch.Tensor) -> dict[str, np.ndarray]:
        """Predictions from encoder outputs [B, hidden] (used by the streaming path)."""
        with torch.no_grad():
            raw = self.net.head.forward_samples(self.net.embed_from_encoding(h), self.mc_weights())
        return summarise_samples(raw.view(raw.shape[0], raw.shape[1], 4, -1), self.stats)

    def predict_scaled(self, x: torch.Tensor, positions: np.ndarray) -> dict[str, np.ndarray]:
        """Predictions for windows of scaled rows x ending at each position, in batches."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= len(x)):
            raise DataError(f"predict positions must lie in [0, {len(x)}), got {positions.min()}..{positions.max()}")
        self.net.eval()
        parts: list[dict[str, np.ndarray]] = []
        window = self.input_window
        padded = pad_rows(x, window)
        with torch.no_grad():
            for a in range(0, len(positions), self.batch_size):
                xb = gather_windows(padded, positions[a:a + self.batch_size], window)
                parts.append(self.predict_encoded(self.net.encoder(xb)))
        if not parts:
            return {k: np.zeros((0, len(self.horizons))) for k in OUTPUT_NAMES}
        return {k: np.concatenate([p[k] for p in parts]) for k in OUTPUT_NAMES}

    def predict(self, features: pd.DataFrame, end_positions: np.ndarray) -> dict[str, np.ndarray]:
        """Predictions [len(end_positions), horizons] from windows ending at each bar position."""
        return self.predict_scaled(self.scaled(features), end_positions)

    def predict_all(self, features: pd.DataFrame, start: int = 0, end: int | None = None) -> dict[str, np.ndarray]:
        """Predictions for every bar in [start, end), as arrays [len(features), horizons] with NaN elsewhere."""
        n = len(features)
        end = n if end is None else int(end)
        if not 0 <= start <= end <= n:
            raise DataError(f"predict_all range [{start}, {end}) does not fit {n} feature rows")
        # Only rows before `end` can enter any window, so only those are scaled.
        x = self.scaled(features.iloc[:end])
        got = self.predict_scaled(x, np.arange(start, end))
        out = {}
        for k, v in got.items():
            full = np.full((n, len(self.horizons)), np.nan)
            full[start:end] = v
            out[k] = full
        return out

    def save(self, directory: str | Path) -> Path:
        """Write predictor.pt (state_dict) and predictor.json (config, scaler, target stats, report) into directory."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), d / WEIGHTS_FILE)
        meta = {
            "format": FORMAT_VERSION,
            "config": asdict(self.config),
            "scaler": self.scaler.to_dict(),
            "stats": asdict(self.stats),
            "report": self.report,
        }
        tmp = d / (CONFIG_FILE + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2, default=float))
        tmp.replace(d / CONFIG_FILE)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> Predictor:
        """Read a predictor written by `save`."""
        d = Path(directory)
        meta_path, weights_path = d / CONFIG_FILE, d / WEIGHTS_FILE
        if not meta_path.is_file() or not weights_path.is_file():
            raise StateError(f"no saved predictor in {d}: expected {CONFIG_FILE} and {WEIGHTS_FILE}")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise StateError(f"{meta_path} is not valid JSON: {exc}") from exc
        if meta.get("format") != FORMAT_VERSION:
            raise StateError(f"{meta_path} has format {meta.get('format')!r}, expected {FORMAT_VERSION}")
        config = PredictorConfig(**meta["config"])
        scaler = FeatureScaler.from_dict(meta["scaler"])
        net = PredictorNet(len(scaler.columns), config)
        net.load_state_dict(torch.load(weights_path, weights_only=True))
        return cls(config, scaler, TargetStats(**meta["stats"]), net, meta.get("report"))


def series_arrays(pred: dict[str, np.ndarray], horizons: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Flatten a prediction dict into 1-D arrays named pred_<output>_<h> (e.g. pred_mean_15) for a BarSeries."""
    return {f"pred_{k}_{h}": np.ascontiguousarray(v[:, j]) for k, v in pred.items() for j, h in enumerate(horizons)}
