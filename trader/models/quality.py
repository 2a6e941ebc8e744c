"""Forecast quality of the predictor on labelled bars: NLL, direction, Brier score, interval coverage.

Per horizon, over bars that have both a prediction and a label:
- nll: mean Gaussian negative log-likelihood of the realized log return under N(mean, total_std^2), in nats
  for returns measured in basis points (so values are comparable across horizons and data sets);
- nll_constant: the same for the best constant Gaussian in hindsight (mean and std of these very labels);
  nll_gain = nll_constant - nll, positive when the predictor beats it;
- direction_accuracy: share of non-zero returns whose sign p_up > 0.5 called right;
- brier: mean (p_up - 1[return > 0])^2 (0.25 is a coin flip); brier_constant uses the labels' up-rate;
- coverage_68 / coverage_95: share of returns inside mean +- 1.0 / 1.96 total_std (well calibrated:
  0.68 / 0.95; lower means overconfident);
- vol_log_rmse: RMS error of log(vol forecast) against log(realized vol);
- epistemic_share: mean epistemic variance / mean total variance;
- n: labelled bars used.
"""

from __future__ import annotations

import math

import numpy as np

from trader.models.labels import VOL_FLOOR, Labels

BP = 1e4


def _gaussian_nll(y: np.ndarray, mean: np.ndarray | float, std: np.ndarray | float) -> float:
    """Mean Gaussian NLL of y under N(mean, std^2)."""
    std = np.maximum(std, 1e-12)
    return float(np.mean(0.5 * math.log(2 * math.pi) + np.log(std) + 0.5 * ((y - mean) / std) ** 2))


def evaluate_quality(pred: dict[str, np.ndarray], labels: Labels) -> dict[str, object]:
    """Quality figures per horizon (keys "h<bars>") plus their averages ("mean"), from aligned [bars, H] arrays."""
    out: dict[str, object] = {}
    per: list[dict[str, float]] = []
    for k, h in enumerate(labels.horizons):
        ok = labels.valid[:, k] & np.isfinite(pred["mean"][:, k]) & np.isfinite(pred["total_std"][:, k])
        n = int(ok.sum())
        if n < 2:
            out[f"h{h}"] = {"n": n}
            continue
        y = labels.returns[ok, k] * BP
        mu = pred["mean"][ok, k] * BP
        sd = pred["total_std"][ok, k] * BP
        p = pred["p_up"][ok, k]
        up = (y > 0).astype(float)
        moved = y != 0
        z = np.abs(y - mu) / np.maximum(sd, 1e-12)
        nll = _gaussian_nll(y, mu, sd)
        nll_const = _gaussian_nll(y, float(y.mean()), float(max(y.std(), 1e-12)))
        total_var = float(np.mean(pred["total_std"][ok, k] ** 2))
        figures = {
            "n": float(n),
            "nll": nll,
            "nll_constant": nll_const,
            "nll_gain": nll_const - nll,
            "direction_accuracy": float(np.mean((p[moved] > 0.5) == (y[moved] > 0))) if moved.any() else math.nan,
            "brier": float(np.mean((p - up) ** 2)),
            "brier_constant": float(np.mean((up.mean() - up) ** 2)),
            "coverage_68": float(np.mean(z <= 1.0)),
            "coverage_95": float(np.mean(z <= 1.96)),
            "vol_log_rmse": float(np.sqrt(np.mean(
                (np.log(pred["vol"][ok, k] + VOL_FLOOR) - np.log(labels.vol[ok, k] + VOL_FLOOR)) ** 2))),
            "epistemic_share": float(np.mean(pred["epistemic_std"][ok, k] ** 2)) / max(total_var, 1e-300),
        }
        out[f"h{h}"] = figures
        per.append(figures)
    if per:
        out["mean"] = {key: float(np.nanmean([f[key] for f in per])) for key in per[0] if key != "n"}
    return out
