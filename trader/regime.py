"""The 3x3x3 regime model: three 3-state Gaussian HMMs (trend, volatility, liquidity) over causal features,
fitted on training bars only, states in a fixed order, read by forward filtering only (never Viterbi or smoothing).

State codes (the same as the synthetic market's truth): trend 0 bear 1 neutral 2 bull (ordered by the mean of
the longest-window return feature), volatility 0 low 1 normal 2 high (by the short realized-vol feature),
liquidity 0 high 1 normal 2 low (by an illiquidity score: spread up, quote size and volume down).
Combined label = trend*9 + volatility*3 + liquidity.

Context features (optional): columns of the context feature families handed to `fit` join an axis as extra
emission features, `vol_ctx_<column>` for volatility-like ones (realised or implied vol, VIX ratios, dispersion,
wings), `trend_ctx_<column>` for the rest; `filter` must then get the same columns.
"""
from __future__ import annotations

import json
import warnings
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from trader.errors import DataError, StateError
from trader.market.base import TZ
from trader.regime_features import (
    AXES,
    FeatureConfig,
    Profile,
    axis_of,
    bar_inputs,
    bar_interval_minutes,
    check_bars,
    column_fill,
    compute_features,
    fit_profile,
    optional_columns,
    per_bar,
)
from trader.regime_hmm import AxisHMM, fit_axis

MODEL_FILE = "regime.json"
EM_STARTS = 4
"""EM starts per axis (the tercile start, then random ones); the best log-likelihood wins."""
FORMAT = "gaussian-regime-hmm"
VERSION = 1
STATE_NAMES: dict[str, tuple[str, str, str]] = {
    "trend": ("bear", "neutral", "bull"),
    "volatility": ("low", "normal", "high"),
    "liquidity": ("high", "normal", "low"),
}
_VOL_WORDS = ("rv", "iv", "vix", "dispersion", "rr25", "bf25", "term")


def context_feature_name(column: str) -> str:
    """The regime feature name of a context column: on the volatility axis when vol-like, else on trend."""
    vol_like = any(word in column.split("_") or word in column for word in _VOL_WORDS)
    return f"{'vol' if vol_like else 'trend'}_ctx_{column}"


_MISSING_NOTE = {
    "vix": "no vix column: the volatility axis uses realized volatility and range only",
    "spread": "no spread column: the liquidity axis uses volume and quote size only",
    "quote_size": "no quote_size column: the liquidity axis does without quote size",
}


def order_weights(axis: str, features: list[str]) -> np.ndarray:
    """Weights w of the standardized features whose score means @ w orders the states 0, 1, 2.

    trend: the longest-window return feature; volatility: the shortest realized-vol feature; liquidity:
    spread minus quote size minus volume (an illiquidity score: state 0 is the most liquid).
    """
    w = np.zeros(len(features))

    def col(prefix: str) -> list[int]:
        return [k for k, f in enumerate(features) if f.startswith(prefix)]

    def window(k: int) -> int:
        return int(features[k].rsplit("_", 1)[1])

    if axis == "trend":
        w[max(col("trend_ret_"), key=window)] = 1.0
    elif axis == "volatility":
        w[min(col("vol_rv_"), key=window)] = 1.0
    else:
        w[col("liq_spread_")] = 1.0
        w[col("liq_quote_") + col("liq_volume_")] = -1.0
    return w


def order_score(axis: str, features: list[str], means: np.ndarray) -> np.ndarray:
    """The per-state score whose ascending order gives state codes 0, 1, 2 (means in standardized units)."""
    return means @ order_weights(axis, features)


class _RegimeFile(BaseModel):
    """The on-disk form of a fitted regime model (models/regime.json)."""

    model_config = ConfigDict(extra="forbid")

    format: str
    version: int
    config: dict[str, Any]
    columns: list[str]
    fill: dict[str, float]
    profile: dict[str, list[float]]
    scaler: dict[str, list[Any]]
    axes: dict[str, dict[str, Any]]
    notes: list[str]
    fit: dict[str, Any]
    context_columns: list[str] = []


class RegimeModel:
    """Fitted trend, volatility and liquidity HMMs with their feature settings, scaler and time-of-day profile."""

    def __init__(self, config: FeatureConfig, columns: list[str], fill: dict[str, float], profile: Profile,
                 scaler_names: list[str], scaler_mean: np.ndarray, scaler_std: np.ndarray,
                 axes: dict[str, AxisHMM], notes: list[str], fit_info: dict[str, Any],
                 context_columns: list[str] | None = None) -> None:
        self.config = config
        self.columns = list(columns)
        self.fill = dict(fill)
        self.profile = profile
        self.scaler_names = list(scaler_names)
        self.scaler_mean = np.asarray(scaler_mean, dtype=float)
        self.scaler_std = np.asarray(scaler_std, dtype=float)
        self.axes = axes
        self.notes = list(notes)
        self.fit_info = dict(fit_info)
        self._col = {name: k for k, name in enumerate(self.scaler_names)}
        self.context_columns = list(context_columns or [])

    # --------------------------------------------------------------------------------------------- fit
    @classmethod
    def fit(cls, bars: pd.DataFrame, *, seed: int = 0, n_iter: int = 50, covariance_type: str = "diag",
            fit_max_bars: int = 20_000, config: FeatureConfig | None = None,
            context: pd.DataFrame | None = None, restarts: int = EM_STARTS) -> RegimeModel:
        """Fit the three axes on these (training) bars: features causal, the most recent `fit_max_bars` rows.

        `context`: optional causal context feature columns, one row per bar (see the module notes)."""
        check_bars(bars)
        if covariance_type not in ("diag", "full"):
            raise DataError(f"covariance_type must be 'diag' or 'full', got '{covariance_type}'")
        n = len(bars)
        if n < 30:
            raise DataError(f"the regime model needs at least 30 training bars, got {n}")
        cfg = config or FeatureConfig.for_interval(bar_interval_minutes(pd.DatetimeIndex(bars.index)))
        columns = optional_columns(bars)
        notes = [_MISSING_NOTE[c] for c in ("vix", "spread", "quote_size") if c not in columns]
        fill = column_fill(bars, columns)
        raw = per_bar(bar_inputs(bars, columns, fill), cfg)
        first = max(0, n - int(fit_max_bars))
        profile = fit_profile(raw, slice(first, n), cfg.intraday)
        feats = compute_features(raw, cfg, profile)
        context_columns = _add_context(feats, context, n)
        warm = cfg.lookback()
        start = first if n - max(first, warm) < 500 else max(first, warm)
        if start < warm:
            notes.append(f"only {n} training bars: the fit includes {min(warm, n) - start} warm-up rows "
                         "(computed from shorter windows)")
        names = list(feats)
        x_all = np.column_stack([feats[k][start:] for k in names])
        mean = x_all.mean(axis=0)
        std = x_all.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        x_all = (x_all - mean) / std
        axes: dict[str, AxisHMM] = {}
        for axis in AXES:
            idx = [k for k, f in enumerate(names) if axis_of(f) == axis]
            feats_axis = [names[k] for k in idx]
            x_axis = x_all[:, idx]
            row_score = x_axis @ order_weights(axis, feats_axis)
            fitted = fit_axis(axis, feats_axis, x_axis, row_score, seed=seed, n_iter=n_iter,
                              covariance_type=covariance_type, restarts=restarts)
            order = np.argsort(order_score(axis, fitted.features, fitted.means), kind="stable")
            axes[axis] = fitted.permuted(order)
        stamps = pd.DatetimeIndex(bars.index)
        info = {"seed": int(seed), "n_iter": int(n_iter), "covariance_type": covariance_type,
                "fit_max_bars": int(fit_max_bars), "train_bars": n, "fit_bars": n - start,
                "fit_start": str(stamps[start]) if n else None, "fit_end": str(stamps[-1]) if n else None}
        return cls(cfg, columns, fill, profile, names, mean, std, axes, notes, info, context_columns)

    # ------------------------------------------------------------------------------------------ filter
    def features(self, bars: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.DataFrame:
        """The unscaled regime features of these bars (row t from bars up to t) and context columns."""
        if self.context_columns and context is None:
            raise DataError("this regime model reads the context features "
                            f"{', '.join(self.context_columns)}; pass them to filter")
        ctx = context[self.context_columns] if self.context_columns and context is not None else None
        return pd.DataFrame(self._feature_matrix(bar_inputs(bars, self.columns, self.fill), ctx),
                            columns=self.scaler_names, index=bars.index)

    def _feature_matrix(self, inputs: dict[str, np.ndarray], context: pd.DataFrame | None = None) -> np.ndarray:
        feats = compute_features(per_bar(inputs, self.config), self.config, self.profile)
        if context is not None:
            _add_context(feats, context, len(next(iter(inputs.values()))))
        return np.column_stack([feats[k] for k in self.scaler_names])

    def _scaled(self, frame: np.ndarray) -> np.ndarray:
        return (frame - self.scaler_mean) / self.scaler_std

    def _axis_x(self, x: np.ndarray, axis: str) -> np.ndarray:
        return x[:, [self._col[f] for f in self.axes[axis].features]]

    def filter(self, bars: pd.DataFrame, context: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
        """Forward-filtered state probabilities per axis, each (n, 3): row t uses bars (and context) up to t."""
        x = self._scaled(self.features(bars, context).to_numpy(dtype=float))
        return {axis: self.axes[axis].forward(self._axis_x(x, axis)) for axis in AXES}

    def streaming(self) -> RegimeFilter:
        """A filter that takes one bar at a time (paper and live) and matches `filter` exactly."""
        return RegimeFilter(self)

    # ------------------------------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the whole model."""
        return {
            "format": FORMAT, "version": VERSION, "config": self.config.to_dict(), "columns": self.columns,
            "fill": self.fill,
            "profile": {"r2": self.profile.r2, "range": self.profile.range, "log_volume": self.profile.log_volume},
            "scaler": {"names": self.scaler_names, "mean": self.scaler_mean.tolist(),
                       "std": self.scaler_std.tolist()},
            "axes": {a: m.to_dict() for a, m in self.axes.items()}, "notes": self.notes, "fit": self.fit_info,
            "context_columns": self.context_columns,
        }

    def save(self, directory: str | Path) -> Path:
        """Write `regime.json` into `directory` (created if needed), atomically; returns its path."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        path = d / MODEL_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> RegimeModel:
        """Read a model written by `save` (a directory holding regime.json, or the file itself)."""
        path = Path(directory)
        if path.is_dir():
            path = path / MODEL_FILE
        if not path.is_file():
            raise StateError(f"no regime model at {path}")
        try:
            doc = _RegimeFile.model_validate(json.loads(path.read_text()))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise StateError(f"regime model {path} is unreadable: {str(exc).splitlines()[0]}") from exc
        if doc.format != FORMAT or doc.version != VERSION:
            raise StateError(f"regime model {path} has format {doc.format!r} version {doc.version}, "
                             f"expected {FORMAT!r} version {VERSION}")
        axes = {a: AxisHMM.from_dict(doc.axes[a]) for a in AXES}
        prof = Profile(r2=doc.profile["r2"], range=doc.profile["range"], log_volume=doc.profile["log_volume"])
        return cls(FeatureConfig.from_dict(doc.config), doc.columns, doc.fill, prof, doc.scaler["names"],
                   np.asarray(doc.scaler["mean"]), np.asarray(doc.scaler["std"]), axes, doc.notes, doc.fit,
                   doc.context_columns)

    # --------------------------------------------------------------------------------------- reporting
    def summary(self) -> dict[str, Any]:
        """Figures for metrics.json: per axis the state names, ordering feature means (unscaled) and durations."""
        out: dict[str, Any] = {"columns": self.columns, "notes": self.notes, "fit": self.fit_info, "axes": {}}
        if self.context_columns:
            out["context_columns"] = self.context_columns
        for axis, m in self.axes.items():
            means = m.means * self.scaler_std[[self._col[f] for f in m.features]] + \
                self.scaler_mean[[self._col[f] for f in m.features]]
            stay = np.clip(np.diag(m.transmat), 0.0, 1.0 - 1e-12)
            out["axes"][axis] = {
                "states": list(STATE_NAMES[axis]), "features": m.features,
                "state_means": {f: means[:, k].round(6).tolist() for k, f in enumerate(m.features)},
                "expected_duration_bars": (1.0 / (1.0 - stay)).round(1).tolist(),
                "log_likelihood": m.log_likelihood, "converged": m.converged, "iterations": m.iterations,
            }
        return out


class RegimeFilter:
    """Streaming forward filter: `update` one bar at a time; the result equals `RegimeModel.filter` at that bar."""

    def __init__(self, model: RegimeModel) -> None:
        if model.context_columns:
            raise DataError("the streaming regime filter does not take context features; this model reads "
                            f"{', '.join(model.context_columns)} (fit it without features.regime for paper trading)")
        self.model = model
        size = model.config.lookback()
        self._cols = ["open", "high", "low", "close", "volume", *model.columns]
        self._buf: dict[str, deque[float]] = {c: deque(maxlen=size) for c in [*self._cols, "day", "minute"]}
        self._last_valid: dict[str, float] = {}
        self._alpha: dict[str, np.ndarray | None] = {a: None for a in AXES}
        self.bars_seen = 0

    def update(self, time: pd.Timestamp, bar: Mapping[str, float]) -> dict[str, np.ndarray]:
        """Add the bar that started at `time` (open, high, low, close, volume and the model's optional columns)."""
        for c in self._cols:
            if c not in bar:
                raise DataError(f"bar at {time} lacks '{c}', which the regime model needs")
        for c in self._cols:
            v = float(bar[c])
            if c in self.model.columns:  # forward-filled exactly as the batch computation does
                if np.isfinite(v):
                    self._last_valid[c] = v
                else:
                    v = self._last_valid.get(c, self.model.fill[c])
            self._buf[c].append(v)
        ts = pd.Timestamp(time)
        if ts.tzinfo is not None:
            ts = ts.tz_convert(TZ)
        self._buf["day"].append(ts.year * 10000 + ts.month * 100 + ts.day)
        self._buf["minute"].append(ts.hour * 60 + ts.minute)
        inputs = {c: np.fromiter(q, dtype=np.int64 if c in ("day", "minute") else float, count=len(q))
                  for c, q in self._buf.items()}
        x = self.model._scaled(self.model._feature_matrix(inputs)[-1:])
        out = {}
        for axis in AXES:
            m = self.model.axes[axis]
            self._alpha[axis] = m.step(self._alpha[axis], m.log_emission(self.model._axis_x(x, axis))[0])
            out[axis] = self._alpha[axis].copy()
        self.bars_seen += 1
        return out


def _add_context(feats: dict[str, np.ndarray], context: pd.DataFrame | None, n: int) -> list[str]:
    """Add context columns to a regime feature dict under their axis names; returns the context column names."""
    if context is None or not len(context.columns):
        return []
    if len(context) != n:
        raise DataError(f"regime context features have {len(context)} rows for {n} bars")
    values = context.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise DataError("regime context features contain missing or infinite values")
    for k, col in enumerate(context.columns):
        feats[context_feature_name(str(col))] = values[:, k]
    return [str(c) for c in context.columns]


def states(probs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The most probable filtered state per axis and bar."""
    return {axis: np.asarray(p).argmax(axis=1) for axis, p in probs.items()}


def combined_label(probs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The 27-state label trend*9 + volatility*3 + liquidity of the most probable filtered states."""
    s = states(probs)
    return s["trend"] * 9 + s["volatility"] * 3 + s["liquidity"]


def regime_arrays(probs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-bar arrays for a BarSeries: regime_label, regime_<axis> (state) and regime_p_<axis> (n, 3)."""
    s = states(probs)
    out: dict[str, np.ndarray] = {"regime_label": combined_label(probs)}
    for axis in AXES:
        out[f"regime_{axis}"] = s[axis]
        out[f"regime_p_{axis}"] = np.asarray(probs[axis])
    return out


def recovery(truth: pd.DataFrame, probs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """How well argmax filtered states match the true regimes: balanced accuracy and adjusted Rand per axis."""
    from sklearn.metrics import adjusted_rand_score, balanced_accuracy_score

    out: dict[str, Any] = {}
    n = len(truth)
    for axis in AXES:
        p = np.asarray(probs[axis])
        if len(p) != n:
            raise DataError(f"recovery: {len(p)} rows of '{axis}' probabilities for {n} rows of truth")
        y = truth[axis].to_numpy()
        pred = p.argmax(axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a state absent from the truth slice is fine
            bacc = float(balanced_accuracy_score(y, pred)) if n else float("nan")
        out[axis] = {"balanced_accuracy": bacc, "adjusted_rand": float(adjusted_rand_score(y, pred)) if n else
                     float("nan"), "accuracy": float(np.mean(y == pred)) if n else float("nan"), "bars": n}
    if "label" in truth.columns and n:
        out["label_accuracy"] = float(np.mean(truth["label"].to_numpy() == combined_label(probs)))
    return out
