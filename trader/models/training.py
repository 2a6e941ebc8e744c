"""Fitting the predictor: purged labels, subsampled windows, AdamW, early stopping on the end of train.

The train split [train_start, train_end) is cut in time: the first part trains, the last
`early_stop_fraction` scores each epoch for early stopping. Labels of the first part end before the cut and
labels of the early-stopping slice end before train_end, so no label crosses either boundary. The feature
scaler and the target scales are fitted on training rows only. Everything random is seeded from
`PredictorConfig.seed`, inside a forked torch RNG so the caller's global RNG state is left as it was.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from trader.errors import DataError
from trader.features import WARMUP_BARS, FeatureScaler, infer_intraday
from trader.models.labels import VOL_FLOOR, Labels, make_labels
from trader.models.predictor import (
    MIN_STD,
    Predictor,
    PredictorConfig,
    PredictorNet,
    TargetStats,
    gather_windows,
    input_window,
    pad_rows,
)

log = logging.getLogger("gaussian.predictor")


@dataclass
class TrainConfig:
    """Training settings (mirrors the spec's model.training section; CPU-friendly defaults)."""

    epochs: int = 6
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 2
    early_stop_fraction: float = 0.2
    max_samples: int = 6000
    kl_weight: float = 1e-3
    grad_clip: float = 1.0


@dataclass
class Targets:
    """Unit-scale training targets [N, H] and the mask of labels that exist."""

    ret: torch.Tensor
    up: torch.Tensor
    logvol: torch.Tensor
    mask: torch.Tensor


def target_stats(labels: Labels) -> TargetStats:
    """Return RMS and log-vol mean/std per horizon over the existing labels."""
    ret_scale, lv_mean, lv_std = [], [], []
    for k in range(len(labels.horizons)):
        ok = labels.valid[:, k]
        if not ok.any():
            raise DataError(f"no training label fits horizon {labels.horizons[k]} inside the train split")
        r = labels.returns[ok, k]
        lv = np.log(labels.vol[ok, k] + VOL_FLOOR)
        ret_scale.append(float(max(np.sqrt(np.mean(r * r)), 1e-8)))
        lv_mean.append(float(lv.mean()))
        lv_std.append(float(max(lv.std(), 1e-3)))
    return TargetStats(ret_scale, lv_mean, lv_std)


def _f32(a: np.ndarray) -> torch.Tensor:
    """A float32 tensor copy of an array."""
    return torch.as_tensor(np.asarray(a, dtype=np.float32))


def make_targets(labels: Labels, positions: np.ndarray, stats: TargetStats) -> Targets:
    """Unit-scale targets of the given bar positions (missing labels are zero and masked out)."""
    valid = labels.valid[positions]
    ret = np.where(valid, labels.returns[positions], 0.0) / np.asarray(stats.ret_scale)
    lv = (np.log(np.where(valid, labels.vol[positions], 1.0) + VOL_FLOOR) - np.asarray(stats.logvol_mean))
    lv = np.where(valid, lv / np.asarray(stats.logvol_std), 0.0)
    up = (np.where(valid, labels.returns[positions], 0.0) > 0).astype(np.float32)
    return Targets(_f32(ret), _f32(up), _f32(lv), _f32(valid))


def data_loss(raw: torch.Tensor, t: Targets) -> torch.Tensor:
    """Masked mean over labels of Gaussian NLL + direction BCE + half squared log-vol error (unit scale)."""
    mu, s_raw, logit, lv = raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3]
    std = MIN_STD + F.softplus(s_raw)
    nll = 0.5 * math.log(2 * math.pi) + torch.log(std) + 0.5 * ((t.ret - mu) / std).pow(2)
    bce = F.binary_cross_entropy_with_logits(logit, t.up, reduction="none")
    vol = 0.5 * (lv - t.logvol).pow(2)
    return ((nll + bce + vol) * t.mask).sum() / t.mask.sum().clamp(min=1.0)


def predictor_loss(
    net: PredictorNet, x: torch.Tensor, t: Targets, kl_weight: float, n_train: int, sample: bool = True
) -> tuple[torch.Tensor, dict[str, float]]:
    """Training loss = data loss + kl_weight * KL / n_train (kl_weight 1 is the ELBO per sample)."""
    data = data_loss(net(x, sample=sample), t)
    kl = net.kl()
    loss = data + kl_weight * kl / max(n_train, 1)
    return loss, {"data": float(data.detach()), "kl": float(kl.detach())}


def _label_positions(labels: Labels, start: int, end: int) -> np.ndarray:
    """Bar positions in [start, end) with at least one existing label."""
    pos = np.arange(start, end)
    return pos[labels.valid[start:end].any(axis=1)] if end > start else pos


def _subsample(positions: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """At most k positions drawn without replacement, in time order."""
    if len(positions) <= k:
        return positions
    return np.sort(rng.choice(positions, size=k, replace=False))


def _evenly(positions: np.ndarray, k: int) -> np.ndarray:
    """At most k positions spread evenly in time."""
    if len(positions) <= k:
        return positions
    return positions[np.unique(np.linspace(0, len(positions) - 1, k).round().astype(int))]


def _epoch_loss(net: PredictorNet, x: torch.Tensor, pos: np.ndarray, t: Targets, window: int, batch: int) -> float:
    """Posterior-mean data loss over the given positions of padded rows x (no gradient), label-weighted."""
    net.eval()
    total, count = 0.0, 0.0
    with torch.no_grad():
        for a in range(0, len(pos), batch):
            sl = slice(a, a + batch)
            tb = Targets(t.ret[sl], t.up[sl], t.logvol[sl], t.mask[sl])
            m = float(tb.mask.sum())
            total += float(data_loss(net(gather_windows(x, pos[sl], window), sample=False), tb)) * m
            count += m
    return total / max(count, 1.0)


def fit_predictor(
    bars: pd.DataFrame, features: pd.DataFrame, train_end: int, config: PredictorConfig, train: TrainConfig,
    train_start: int = 0, on_epoch: Callable[[int, int, float, float | None], None] | None = None,
) -> Predictor:
    """Fit a predictor on bars[train_start:train_end) only; rows at or after train_end are never read.

    `on_epoch(epoch, epochs, train_loss, early_stop_loss)` is called after every epoch (progress displays)."""
    if len(bars) != len(features):
        raise DataError(f"bars ({len(bars)} rows) and features ({len(features)} rows) must be aligned")
    if not 0 <= train_start < train_end <= len(bars):
        raise DataError(f"train range [{train_start}, {train_end}) does not fit {len(bars)} bars")
    t0 = time.perf_counter()
    bars, features = bars.iloc[:train_end], features.iloc[:train_end]
    config = copy.deepcopy(config)
    if config.intraday is None:
        config.intraday = infer_intraday(bars.index)
    span = train_end - train_start
    cut = train_end - round(train.early_stop_fraction * span)
    first = train_start + min(WARMUP_BARS, span // 4)
    rng = np.random.default_rng(config.seed)

    fit_labels = make_labels(bars, config.horizons, end=cut, start=first, within_session=config.intraday)
    es_labels = make_labels(bars, config.horizons, end=train_end, start=cut, within_session=config.intraday)
    fit_pos = _subsample(_label_positions(fit_labels, first, cut), train.max_samples, rng)
    es_pos = _evenly(_label_positions(es_labels, cut, train_end), max(256, train.max_samples // 4))
    if len(fit_pos) < 16:
        raise DataError(
            f"the train split leaves only {len(fit_pos)} labelled windows before the early-stopping cut; "
            "give it more bars or shorter horizons"
        )

    scaler = FeatureScaler().fit(features.iloc[train_start:train_end])
    stats = target_stats(fit_labels.rows(fit_pos))
    fit_t = make_targets(fit_labels, fit_pos, stats)
    es_t = make_targets(es_labels, es_pos, stats)

    history: dict[str, list[float]] = {"train_loss": [], "early_stop_loss": []}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = PredictorNet(len(scaler.columns), config)
        window = input_window(config.window, net.encoder)
        x = pad_rows(torch.from_numpy(scaler.transform_array(features)), window)
        opt = torch.optim.AdamW(net.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        best, best_state, best_epoch, bad = math.inf, copy.deepcopy(net.state_dict()), 0, 0
        for epoch in range(1, train.epochs + 1):
            net.train()
            order = rng.permutation(len(fit_pos))
            losses = []
            for a in range(0, len(order), train.batch_size):
                idx = order[a:a + train.batch_size]
                tb = Targets(fit_t.ret[idx], fit_t.up[idx], fit_t.logvol[idx], fit_t.mask[idx])
                loss, _ = predictor_loss(net, gather_windows(x, fit_pos[idx], window), tb,
                                         train.kl_weight, len(fit_pos))
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), train.grad_clip)
                opt.step()
                losses.append(float(loss.detach()))
            history["train_loss"].append(float(np.mean(losses)))
            if len(es_pos) == 0:
                best_state, best_epoch = copy.deepcopy(net.state_dict()), epoch
                if on_epoch is not None:
                    on_epoch(epoch, train.epochs, history["train_loss"][-1], None)
                continue
            es = _epoch_loss(net, x, es_pos, es_t, window, 1024)
            history["early_stop_loss"].append(es)
            if on_epoch is not None:
                on_epoch(epoch, train.epochs, history["train_loss"][-1], es)
            log.info("predictor epoch %d: train %.4f, early-stop %.4f", epoch, history["train_loss"][-1], es)
            if es < best - 1e-6:
                best, best_state, best_epoch, bad = es, copy.deepcopy(net.state_dict()), epoch, 0
            else:
                bad += 1
                if bad >= train.patience:
                    break
    net.load_state_dict(best_state)
    net.eval()
    report = {
        "epochs_run": len(history["train_loss"]),
        "best_epoch": best_epoch,
        "n_train_windows": len(fit_pos),
        "n_early_stop_windows": len(es_pos),
        "early_stop_cut": int(cut),
        "fit_seconds": round(time.perf_counter() - t0, 3),
        **history,
    }
    return Predictor(config, scaler, stats, net, report)
