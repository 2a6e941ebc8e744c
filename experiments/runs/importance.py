"""Which feature families a run used and how much each helped, measured on the validation window.

* predictor: permutation importance per family of the direction signal, scored as minus the Brier score of
  ``p_up`` at the horizon the strategy trades (`predictor_horizon`) over up to `SAMPLE_POSITIONS` evenly spaced
  validation bars; a family's columns are shuffled across the rows the windows of those bars read;
* exit model (when a context family feeds it): permutation importance per family of its AUC on exit samples
  generated on the validation bars the same way as its training samples (one random-entry pass); the
  position and underlying features it always reads count as the `price` family.
The `chain` family feeds the signals, not the models, so it has no model importance.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from analysis.importance import permutation_importance, ranked
from experiments.spec.model import ExperimentSpec
from trader.engine import EngineConfig
from trader.families.registry import CONTEXT_FAMILIES, column_groups, context_arrays, family_of
from trader.market.base import Market

SAMPLE_POSITIONS = 256
REPEATS = 3


def features_report(fitted: Any, market: Market, start: int, end: int, horizon: int,
                    config: EngineConfig) -> dict[str, Any]:
    """The run's feature families (requested, used, dropped with why) and per-family importance on validation;
    `horizon` is the predictor horizon the strategy trades, `config` the engine settings of the exit samples."""
    spec: ExperimentSpec = fitted.spec
    out: dict[str, Any] = dict(fitted.report.get("features") or {"requested": list(spec.features.families),
                                                                   "used": list(fitted.families), "warnings": []})
    if fitted.predictor is not None:
        out["columns"] = {k: len(v) for k, v in column_groups(fitted.predictor.feature_columns).items()}
        out["predictor_importance"] = _predictor_importance(fitted, market, start, end, horizon)
    if fitted.exit_model is not None and any(f in CONTEXT_FAMILIES for f in fitted.families):
        out["exit_importance"] = _exit_importance(fitted, market, start, end, config)
    return out


def _predictor_importance(fitted: Any, market: Market, start: int, end: int, horizon: int) -> dict[str, Any]:
    import torch

    from trader.models.labels import make_labels

    predictor = fitted.predictor
    k = list(predictor.horizons).index(horizon)
    labels = make_labels(market.bars.iloc[:end], predictor.horizons, end=end, start=start)
    valid = np.flatnonzero(labels.valid[start:end, k]) + start
    if len(valid) < 20:
        return {"note": f"only {len(valid)} labelled validation bars: importance not measured"}
    positions = valid[np.linspace(0, len(valid) - 1, num=min(SAMPLE_POSITIONS, len(valid))).astype(int)]
    up = (labels.returns[positions, k] > 0).astype(float)
    X = predictor.scaler.transform_array(fitted.features(market).iloc[:end]).astype(np.float64)
    first = max(0, int(positions[0]) - predictor.config.window + 1)
    groups = {name: [predictor.feature_columns.index(c) for c in cols]
              for name, cols in column_groups(predictor.feature_columns).items()}

    def score(x: np.ndarray) -> float:
        p = predictor.predict_scaled(torch.from_numpy(x.astype(np.float32)), positions)["p_up"][:, k]
        return -float(np.mean((p - up) ** 2))

    result = permutation_importance(score, X, groups, rows=np.arange(first, end), repeats=REPEATS,
                                    seed=fitted.spec.seed)
    return {"target": f"direction at {horizon} bars", "score": "minus Brier score", "samples": len(positions),
            **result, "ranking": [name for name, _ in ranked(result)]}


def _exit_importance(fitted: Any, market: Market, start: int, end: int, config: EngineConfig) -> dict[str, Any]:
    from trader.exit_model import ExitTraining, _auc, exit_dataset

    model = fitted.exit_model
    ds = exit_dataset(market, (start, end), config, seed=fitted.spec.seed + 2000, settings=ExitTraining(runs=1),
                      extras=context_arrays(market, fitted.families))
    if len(ds) < 20 or len(set(ds.y.tolist())) < 2:
        return {"note": f"{len(ds)} validation exit samples with one outcome only: importance not measured"}
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(model.feature_names):
        groups.setdefault(family_of(name), []).append(j)

    def score(x: np.ndarray) -> float:
        auc = _auc(ds.y, model.predict_proba(x))
        return float(auc) if auc is not None else 0.5

    result = permutation_importance(score, ds.X, groups, repeats=REPEATS, seed=fitted.spec.seed)
    return {"target": "exit now vs hold", "score": "AUC", "samples": len(ds), **result,
            "ranking": [name for name, _ in ranked(result)]}
