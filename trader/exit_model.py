"""Exit layer 2: an XGBoost classifier of P(holding does worse than exiting now), consulted after the hard rules.

Trained on hindsight labels from the training bars only (see `trader.exit_data`); it exits a position when that
probability exceeds the threshold (`exits.model.threshold`). Its AUC is measured on samples it was not fitted
on: a purged, time-ordered holdout of the training samples, or samples from the validation bars when given.
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from trader.domain import Position
from trader.engine import EngineConfig
from trader.errors import DataError, StateError
from trader.exit_data import BASE_FEATURES, ExitDataset, FeatureSource, build_exit_dataset
from trader.market.base import Market
from trader.strategies.base import Strategy
from trader.strategies.baselines import RandomStrategy

MODEL_FILE = "exit_model.json"
META_FILE = "exit_model_meta.json"
FORMAT = "gaussian-exit-xgb"
VERSION = 1


@dataclass(frozen=True)
class ExitTraining:
    """How the exit model's data is generated and its booster trained."""

    entry_probability: float = 0.2  # random-entry baseline used to generate positions
    runs: int = 2  # engine passes over the training bars, seeds seed, seed+1, ...
    horizon_bars: int | None = None  # None: compare with the eventual hard-rule exit
    holdout_fraction: float = 0.2  # last share of the samples (by bar) kept out for the AUC
    rounds: int = 150
    max_depth: int = 4
    eta: float = 0.05
    min_child_weight: float = 5.0
    subsample: float = 0.8
    nthread: int = 1


class _MetaFile(BaseModel):
    """The on-disk description of a saved exit model (exit_model_meta.json)."""

    model_config = ConfigDict(extra="forbid")

    format: str
    version: int
    feature_names: list[str]
    threshold: float
    report: dict[str, Any]


def fit_booster(X: np.ndarray, y: np.ndarray, seed: int, settings: ExitTraining) -> Any:
    """A seeded binary:logistic booster fitted to (X, y)."""
    import xgboost as xgb

    params = {
        "objective": "binary:logistic", "max_depth": settings.max_depth, "eta": settings.eta,
        "min_child_weight": settings.min_child_weight, "subsample": settings.subsample,
        "colsample_bytree": 0.8, "nthread": settings.nthread, "seed": int(seed), "tree_method": "hist",
        "verbosity": 0,
    }
    if len(np.unique(y)) < 2:
        raise DataError(f"the exit model's {len(y)} training samples hold a single class: nothing to learn "
                        "(give the training split more bars or more entries)")
    return xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=settings.rounds)


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None


def holdout_split(ds: ExitDataset, fraction: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Masks (fit, held out) by time: held-out positions start at or after the cut bar, fitted ones end before it."""
    if len(ds) == 0:
        raise DataError("the exit-model training run produced no samples (no position was held past the rules)")
    cut = int(np.quantile(ds.bar, 1.0 - fraction))
    return ds.last_bar < cut, ds.entry_bar >= cut, cut


class XGBExitModel:
    """The exit model in the engine's ExitModel slot; `consulted` and `fired` count its calls and its exits."""

    name = "xgb_exit"

    def __init__(self, booster: Any, feature_names: list[str], threshold: float,
                 report: dict[str, Any] | None = None) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise DataError(f"exit-model threshold must be within [0, 1], got {threshold}")
        self.booster = booster
        self.feature_names = list(feature_names)
        self.threshold = float(threshold)
        self.report: dict[str, Any] = dict(report or {})
        self.consulted = 0
        self.fired = 0
        self._source: FeatureSource | None = None
        self.booster.set_param({"nthread": 1})

    # ---------------------------------------------------------------------------------------- in use
    def bind(self, bars: pd.DataFrame, extras: Mapping[str, np.ndarray] | None = None) -> XGBExitModel:
        """Attach the bars and per-bar arrays it reads at bar i (the extras must be those it was trained with)."""
        source = FeatureSource(bars, extras)
        if source.names != self.feature_names:
            raise DataError(f"exit model was trained on the per-bar inputs {_extra(self.feature_names)}, "
                            f"but was bound to {_extra(source.names)}")
        self._source = source
        return self

    def with_threshold(self, threshold: float) -> XGBExitModel:
        """The same fitted model (and bound inputs) deciding at another threshold, with fresh counts."""
        other = XGBExitModel(self.booster, self.feature_names, threshold, {**self.report, "threshold": threshold})
        other._source = self._source
        return other

    def reset_counts(self) -> None:
        """Zero `consulted` and `fired` (e.g. between evaluation windows)."""
        self.consulted = 0
        self.fired = 0

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(holding does worse than exiting now) for feature rows X."""
        return np.asarray(self.booster.inplace_predict(np.atleast_2d(np.asarray(X, dtype=float))), dtype=float)

    def probability(self, pos: Position, quote: Any, i: int, held_minutes: float, minutes_to_expiry: float) -> float:
        """The model's exit probability for one held position at bar i."""
        if self._source is None:
            raise StateError("the exit model is not bound to market data: call bind(bars, extras) first")
        row = self._source.row(pos, quote, i, held_minutes, minutes_to_expiry)
        return float(self.predict_proba(row[None, :])[0])

    def should_exit(self, pos: Position, quote: Any, i: int, held_minutes: float, minutes_to_expiry: float) -> bool:
        """True when P(holding does worse) exceeds the threshold (never at threshold 1.0)."""
        self.consulted += 1
        fire = self.probability(pos, quote, i, held_minutes, minutes_to_expiry) > self.threshold
        if fire:
            self.fired += 1
        return fire

    # -------------------------------------------------------------------------------------- evaluation
    def evaluate(self, ds: ExitDataset) -> dict[str, Any]:
        """AUC and what firing at the threshold would have done on a labelled set the model was not fitted on."""
        if ds.feature_names != self.feature_names:
            raise DataError("exit-model evaluation set has different features from the model")
        if len(ds) == 0:
            return {"auc": None, "samples": 0}
        p = self.predict_proba(ds.X)
        fire = p > self.threshold
        return {
            "auc": _auc(ds.y, p), "samples": len(ds), "positive_rate": float(ds.y.mean()),
            "fire_rate": float(fire.mean()),
            "precision_at_threshold": float(ds.y[fire].mean()) if fire.any() else None,
            "mean_advantage_pct_when_fired": float(ds.advantage_pct[fire].mean()) if fire.any() else None,
        }

    # ------------------------------------------------------------------------------------- persistence
    def save(self, directory: str | Path) -> Path:
        """Write exit_model.json (XGBoost JSON model) and exit_model_meta.json into `directory`."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(d / MODEL_FILE))
        meta = {"format": FORMAT, "version": VERSION, "feature_names": self.feature_names,
                "threshold": self.threshold, "report": self.report}
        tmp = d / (META_FILE + ".tmp")
        tmp.write_text(json.dumps(meta, indent=1, default=_json_default))
        tmp.replace(d / META_FILE)
        return d / MODEL_FILE

    @classmethod
    def load(cls, directory: str | Path, threshold: float | None = None) -> XGBExitModel:
        """Read a model written by `save` (optionally with another threshold); bind it before use."""
        import xgboost as xgb

        d = Path(directory)
        model_path, meta_path = d / MODEL_FILE, d / META_FILE
        for path in (model_path, meta_path):
            if not path.is_file():
                raise StateError(f"no exit model at {path}")
        try:
            meta = _MetaFile.model_validate(json.loads(meta_path.read_text()))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise StateError(f"exit model {meta_path} is unreadable: {str(exc).splitlines()[0]}") from exc
        if meta.format != FORMAT or meta.version != VERSION:
            raise StateError(f"exit model {meta_path} has format {meta.format!r} version {meta.version}, "
                             f"expected {FORMAT!r} version {VERSION}")
        booster = xgb.Booster()
        try:
            booster.load_model(str(model_path))
        except xgb.core.XGBoostError as exc:
            raise StateError(f"exit model {model_path} is unreadable: {str(exc).splitlines()[0]}") from exc
        return cls(booster, meta.feature_names, meta.threshold if threshold is None else threshold, meta.report)


def _extra(names: list[str]) -> list[str]:
    """The feature names beyond the base features (the per-bar extras)."""
    return [n for n in names if n not in BASE_FEATURES]


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def exit_dataset(market: Market, bars: tuple[int, int], config: EngineConfig, *, seed: int,
                 settings: ExitTraining, extras: Mapping[str, np.ndarray] | None = None,
                 strategy: Strategy | None = None) -> ExitDataset:
    """Samples from `settings.runs` seeded random-entry passes (or one pass of `strategy`) over bars [a, b)."""
    a, b = bars
    if strategy is not None:
        return build_exit_dataset(market, a, b, config, strategy, horizon_bars=settings.horizon_bars, extras=extras)
    parts = [
        build_exit_dataset(market, a, b, config, RandomStrategy(settings.entry_probability, seed=seed + k),
                           horizon_bars=settings.horizon_bars, extras=extras)
        for k in range(max(1, settings.runs))
    ]
    return ExitDataset.concat(parts)


def train_exit_model(market: Market, train: tuple[int, int], config: EngineConfig, *, threshold: float = 0.5,
                     seed: int = 0, validation: tuple[int, int] | None = None,
                     extras: Mapping[str, np.ndarray] | None = None, settings: ExitTraining | None = None,
                     strategy: Strategy | None = None) -> XGBExitModel:
    """Generate labelled samples on the training bars, fit the booster and measure its AUC out of sample.

    Without `validation` the booster is fitted on the earlier samples and scored on a purged, later holdout of
    the training samples (the model returned is the one scored). With `validation` (bar range) it is fitted on
    all training samples and scored on samples generated the same way from the validation bars.
    The returned model is bound to the market's closes and `extras`.
    """
    s = settings or ExitTraining()
    t0 = time.perf_counter()
    ds = exit_dataset(market, train, config, seed=seed, settings=s, extras=extras, strategy=strategy)
    report: dict[str, Any] = {"threshold": threshold, "training": asdict(s), "data": ds.info,
                              "features": ds.feature_names}
    if validation is None:
        fit_mask, held_mask, cut = holdout_split(ds, s.holdout_fraction)
        booster = fit_booster(ds.X[fit_mask], ds.y[fit_mask], seed, s)
        model = XGBExitModel(booster, ds.feature_names, threshold)
        scored = model.evaluate(ds.subset(held_mask))
        report.update({"auc_source": "holdout", "holdout_cut_bar": cut, "fit_samples": int(fit_mask.sum()),
                       "purged_samples": int(len(ds) - fit_mask.sum() - held_mask.sum())})
    else:
        booster = fit_booster(ds.X, ds.y, seed, s)
        model = XGBExitModel(booster, ds.feature_names, threshold)
        val = exit_dataset(market, validation, config, seed=seed + 1000, settings=s, extras=extras)
        scored = model.evaluate(val)
        report.update({"auc_source": "validation", "fit_samples": len(ds), "validation_data": val.info})
    report["auc"] = scored.pop("auc")
    report["evaluation"] = scored
    gain = booster.get_score(importance_type="gain")
    named = {ds.feature_names[int(k[1:])] if k.startswith("f") and k[1:].isdigit() else k: float(v)
             for k, v in gain.items()}
    report["importance_gain"] = [[k, round(v, 4)] for k, v in sorted(named.items(), key=lambda kv: -kv[1])[:8]]
    report["train_seconds"] = round(time.perf_counter() - t0, 3)
    model.report = report
    return model.bind(market.bars, extras)


XGBoostExitModel = XGBExitModel
"""Alias of XGBExitModel."""
