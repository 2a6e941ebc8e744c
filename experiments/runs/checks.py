"""Two honesty checks with one verdict each: look-ahead (truncate and recompute) and the null market (no profit).

Look-ahead, after freqtrade's lookahead-analysis: a run's per-bar arrays (predictions, regime probabilities, the
eight signals) are computed once over the whole validation window; then, at each of a sample of decision times t
(the run's entry bars first), the market is cut at t and the arrays recomputed from the saved models. Any value at
row t that differs names a leak: it depended on a bar after t.

Null: the spec on K synthetic null markets (planted edge 0, seeds 1..K, the spec's size); every price is a
martingale there, so the P&L after costs must not be significantly positive. A 95% confidence interval of the
mean P&L % above zero names a leak (or a bug in costs).
"""
from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.runs.backtest import evaluate
from experiments.runs.market_loader import load_market_for
from experiments.runs.pipeline import build_pipeline, load_models, truncated
from experiments.runs.store import read_json
from experiments.spec.io import validate_spec
from experiments.spec.model import ExperimentSpec
from experiments.spec.splits import split_bars
from trader.domain import trades_frame
from trader.errors import StateError
from trader.market.base import Market

LOOKAHEAD_TOL = 1e-6


def _decision_bars(run_dir: Path, index: pd.DatetimeIndex, start: int, end: int, n: int, seed: int) -> list[int]:
    """Up to n bars in [start, end): the run's entry bars first, then evenly spread ones."""
    picks: list[int] = []
    trades_path = run_dir / "trades.parquet"
    if trades_path.exists():
        trades = pd.read_parquet(trades_path)
        if len(trades) and "entry_time" in trades.columns:
            pos = index.get_indexer(pd.DatetimeIndex(trades["entry_time"]))
            picks += [int(p) for p in pos if start <= p < end]
    rng = np.random.default_rng(seed)
    rest = np.setdiff1d(np.arange(start, end), picks)
    if len(picks) > n // 2:
        picks = sorted(rng.choice(picks, n // 2, replace=False).tolist())
    if len(rest):
        picks += np.sort(rng.choice(rest, min(len(rest), n - len(picks)), replace=False)).tolist()
    return sorted(set(picks))


def truncation_leaks(arrays_of: Callable[[Market], dict[str, np.ndarray]], market: Market,
                     full: dict[str, np.ndarray], bars: list[int]) -> list[dict[str, Any]]:
    """Every (array, bar t) whose value at t changes when `arrays_of` sees the market cut just after t."""
    leaks: list[dict[str, Any]] = []
    for t in bars:
        cut = arrays_of(truncated(market, t + 1))
        for name, values in full.items():
            a, b = np.asarray(values[t], dtype=float), np.asarray(cut[name][t], dtype=float)
            if not np.allclose(a, b, atol=LOOKAHEAD_TOL, equal_nan=True):
                leaks.append({"array": name, "bar": int(t), "time": str(market.bars.index[t]),
                              "full": np.ravel(a).tolist()[:3], "truncated": np.ravel(b).tolist()[:3]})
    return leaks


def check_lookahead(run_dir: Path, points: int = 20) -> dict[str, Any]:
    """Recompute the run's arrays on the market cut at each sampled decision time; report every differing array."""
    stored = read_json(run_dir / "spec.json")
    spec = validate_spec(stored["spec"], str(run_dir / "spec.json"))
    doc = read_json(run_dir / "metrics.json")
    market = load_market_for(spec)
    splits = split_bars(market.bars.index, spec.splits)
    start = int(market.bars.index.get_indexer([pd.Timestamp(doc["window"]["start"])])[0])
    end = start + int(doc["window"]["bars"])
    if start < 0:
        raise StateError(f"run {run_dir.name}: its validation window no longer matches its market's bars")
    models = run_dir / "models"
    fitted = load_models(spec, truncated(market, end), splits.train, models)
    first = max(0, start - spec.model.window)
    full = fitted.arrays(truncated(market, end), start=first)
    if not full:
        return {"run_id": run_dir.name, "verdict": "nothing to check", "points": 0, "arrays": 0, "leaks": [],
                "detail": "this run's entry controller computes no per-bar arrays (a model-free baseline)"}
    bars = _decision_bars(run_dir, market.bars.index, start, end, points, spec.seed)
    leaks = truncation_leaks(lambda view: fitted.arrays(view, start=min(first, len(view.bars) - 1)), market, full,
                             bars)
    names = sorted({leak["array"] for leak in leaks})
    verdict = "LEAK" if leaks else "no look-ahead"
    detail = (f"{len(names)} array(s) change when the future is cut off: {', '.join(names[:8])}" if leaks else
              f"all {len(full)} arrays identical at {len(bars)} decision times with the future cut off")
    return {"run_id": run_dir.name, "verdict": verdict, "points": len(bars), "arrays": len(full), "leaks": leaks,
            "detail": detail}


def null_spec(spec: ExperimentSpec, seed: int) -> ExperimentSpec:
    """The spec on a synthetic null market (edge 0) of the spec's size, generator seed `seed`."""
    data = spec.data.model_copy(update={"source": "synthetic", "name": None, "path": None, "options_path": None,
                                        "edge": 0.0, "seed": seed})
    return validate_spec({**spec.model_dump(mode="json"), "data": data.model_dump(mode="json")}, "null check")


def _evaluate_once(spec: ExperimentSpec) -> dict[str, Any]:
    market = load_market_for(spec)
    splits = split_bars(market.bars.index, spec.splits)
    a, b = splits.validation
    if spec.cycles:
        b = min(b, a + spec.cycles)
    with tempfile.TemporaryDirectory(prefix="gaussian-null-") as tmp:
        pipe = build_pipeline(spec, truncated(market, b), splits.train, Path(tmp), window=(a, b))
        res = evaluate(spec, market, a, b, pipe.strategy, pipe.series, pipe.exit_model)
    trades = trades_frame(res.trades)
    pnl = float(trades["pnl"].sum()) if len(trades) else 0.0
    return {"trades": len(trades), "pnl": pnl, "pnl_pct": 100.0 * pnl / spec.trading.initial_balance}


def check_null(spec: ExperimentSpec, seeds: int = 5) -> dict[str, Any]:
    """The spec's validation P&L after costs on `seeds` null markets, with a 95% t interval of the mean P&L %."""
    from scipy import stats

    rows = []
    for k in range(1, seeds + 1):
        rows.append({"seed": k, **_evaluate_once(null_spec(spec, k))})
    pct = np.array([r["pnl_pct"] for r in rows])
    mean = float(pct.mean())
    if len(pct) > 1 and pct.std(ddof=1) > 0:
        half = float(stats.t.ppf(0.975, len(pct) - 1) * pct.std(ddof=1) / math.sqrt(len(pct)))
    else:
        half = math.inf if len(pct) == 1 else 0.0
    low, high = mean - half, mean + half
    leak = low > 0
    verdict = "LEAK" if leak else "no profit on null markets"
    detail = (f"mean P&L after costs {mean:+.2f}% over {len(pct)} null markets, 95% CI [{low:+.2f}%, {high:+.2f}%]"
              + ("; a profit where nothing is predictable names a leak" if leak else ""))
    return {"verdict": verdict, "leak": leak, "seeds": len(pct), "mean_pnl_pct": mean, "ci95": [low, high],
            "markets": rows, "detail": detail}
