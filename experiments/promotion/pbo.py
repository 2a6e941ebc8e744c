"""The trial matrix and its Probability of Backtest Overfitting: every finished run's daily validation returns.

Runs are comparable only over the same validation window, so the matrix holds the runs whose window matches the
chosen run's (by default the window most runs share); days are the columns of that window, one row per run.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from experiments.home import runs_dir
from experiments.promotion.pbo_store import MIN_DAYS, MIN_RUNS, write_pbo
from experiments.runs.attempts import is_abandoned
from experiments.runs.store import list_runs, read_json
from trader.errors import StateError
from trader.metrics import daily_returns
from trader.pbo import cscv_pbo


def _window_key(doc: dict[str, Any]) -> tuple[str, str] | None:
    w = doc.get("window") or {}
    return (str(w.get("start")), str(w.get("end"))) if w.get("start") else None


def trial_matrix(run_id: str | None = None) -> tuple[pd.DataFrame, tuple[str, str] | None]:
    """Daily validation returns (days x runs) of the finished runs sharing `run_id`'s window (or the commonest)."""
    series: dict[tuple[str, str], dict[str, pd.Series]] = {}
    for r in list_runs():
        d = runs_dir() / r["run_id"]
        if r["status"] != "done" or is_abandoned(d) or not (d / "equity.parquet").exists():
            continue
        try:
            doc = read_json(d / "metrics.json")
        except StateError:
            continue
        key = _window_key(doc)
        if key is None:
            continue
        initial = ((read_json(d / "spec.json").get("spec") or {}).get("trading") or {}).get("initial_balance")
        equity = pd.read_parquet(d / "equity.parquet")
        series.setdefault(key, {})[r["run_id"]] = daily_returns(equity, initial)
    if not series:
        return pd.DataFrame(), None
    if run_id is not None:
        key = next((k for k, v in series.items() if run_id in v), None)
        if key is None:
            return pd.DataFrame(), None
    else:
        key = max(series, key=lambda k: (len(series[k]), k))
    return pd.DataFrame(series[key]).dropna(), key


def current_pbo(run_id: str | None = None) -> dict[str, Any]:
    """PBO over the trial matrix with its size; `pbo` is None when fewer than MIN_RUNS runs or MIN_DAYS days share
    it."""
    matrix, key = trial_matrix(run_id)
    enough = matrix.shape[1] >= MIN_RUNS and matrix.shape[0] >= MIN_DAYS
    res = cscv_pbo(matrix.to_numpy()) if enough else None
    out: dict[str, Any] = {"pbo": None if res is None else res.pbo, "runs": int(matrix.shape[1]),
                           "days": int(matrix.shape[0]), "window": list(key) if key else None}
    if res is not None:
        out.update(blocks=res.n_blocks, splits=res.n_splits, logit_median=res.logit_median)
    return out


def refresh_pbo() -> dict[str, Any]:
    """Compute the PBO over the current trial matrix and keep it in runs/pbo.json for the read-only commands."""
    return write_pbo(current_pbo())
