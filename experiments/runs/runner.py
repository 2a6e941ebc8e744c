"""Running one experiment: load data, split by time, fit on train, evaluate walk-forward, write the run directory.

The holdout is physically cut off the feed during validation; it is evaluated only by `evaluate_holdout`,
which promotion calls once.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.runs import ledger
from experiments.runs.attempts import withdraw_unrecorded_attempts
from experiments.runs.backtest import buy_and_hold, evaluate
from experiments.runs.market_loader import load_market_for
from experiments.runs.model_cache import ModelCache
from experiments.runs.pipeline import baseline_strategy, build_pipeline, truncated
from experiments.runs.progress import Display, RunProgress
from experiments.runs.store import create_run_dir, environment, read_json, write_frame, write_json, write_text
from experiments.runs.summary import summary_text
from experiments.spec.io import spec_hash, validate_spec
from experiments.spec.model import ExperimentSpec
from experiments.spec.splits import Splits, split_bars
from trader.domain import trades_frame
from trader.errors import GaussianError
from trader.market.base import Market
from trader.metrics import compute_metrics

log = logging.getLogger("gaussian.runner")


@dataclass
class RunResult:
    """Where a run was written and its headline figures."""

    run_id: str
    run_dir: Path
    metrics: dict[str, Any]
    baselines: dict[str, Any]


def _window(spec: ExperimentSpec, splits: Splits, cycles: int | None) -> tuple[int, int]:
    a, b = splits.validation
    limit = cycles if cycles is not None else spec.cycles
    return a, (min(b, a + limit) if limit else b)


def run_experiment(spec: ExperimentSpec, cycles: int | None = None, idea_id: str | None = None,
                   progress: Display | None = None, analyze: bool = True) -> RunResult:
    """Run one experiment end to end into a new run directory and append it to the ledger; every phase is
    reported to `progress` (a display) and to the run's progress.json. An idea's earlier attempts, which never
    recorded a result, are set aside first: one ledger line per completed idea."""
    h = spec_hash(spec)
    if idea_id is not None:
        withdraw_unrecorded_attempts(idea_id)
    run_id, run_dir = create_run_dir(h)
    rp = RunProgress(display=progress)
    rp.bind(run_dir, idea_id)
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("gaussian")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        write_json(run_dir / "spec.json", {"hash": h, "spec": spec.model_dump(mode="json"), "idea_id": idea_id})
        write_json(run_dir / "environment.json", {**environment(), "seed": spec.seed})
        t0 = time.perf_counter()
        result = _execute(spec, run_id, run_dir, cycles, rp)
        log.info("run %s finished in %.1fs", run_id, time.perf_counter() - t0)
        ledger.record(run_id, h, "done", result.metrics, idea_id=idea_id)
    except BaseException as exc:
        log.exception("run %s failed", run_id)
        ledger.record(run_id, h, "failed", idea_id=idea_id, error=f"{type(exc).__name__}: {exc}")
        rp.finish("failed")
        raise
    finally:
        root.removeHandler(handler)
        handler.close()
    if analyze:
        rp("analysis", 0, 1)
        _analyze(run_dir)
        rp("analysis", 1, 1)
    rp.finish()
    return result


def _analyze(run_dir: Path) -> None:
    """Write ANALYSIS.md; a failure is logged and noted in the run directory, the run itself stands."""
    from analysis.report import analyze_run

    try:
        analyze_run(run_dir)
    except Exception as exc:  # noqa: BLE001 - a defect in a report or plot must not cost the evaluated run
        import traceback

        log.error("analysis of %s failed: %s", run_dir.name, exc)
        ours = isinstance(exc, GaussianError)  # our errors say what is wrong; anything else keeps its traceback
        write_text(run_dir / "ANALYSIS_FAILED.txt", f"{exc}\n" if ours else "".join(traceback.format_exception(exc)))


def run_metrics(trades: pd.DataFrame, equity: pd.DataFrame, initial: float, n_trials: int,
                others: list[float]) -> dict[str, Any]:
    """A run's metrics with its DSR defined as the gate defines it: over every trial so far, this one included,
    in the trial count and in the variance of the trials' Sharpe ratios (one definition wherever a DSR is shown)."""
    first = compute_metrics(trades, equity, initial, n_trials=n_trials, sharpe_trials=others)
    own = first.get("sharpe")
    if own is None:
        return first
    return compute_metrics(trades, equity, initial, n_trials=n_trials, sharpe_trials=[*others, float(own)])


def market_meta(market: Market) -> dict[str, Any]:
    """The market's description as metrics.json records it, the same whether it was just generated or read from
    the cache (the cache adds bar and session counts; so does this)."""
    return {**market.meta, "bars": len(market.bars), "sessions": len(set(market.bars.index.date))}


def _execute(spec: ExperimentSpec, run_id: str, run_dir: Path, cycles: int | None,
             progress: RunProgress) -> RunResult:
    progress("load market", 0, 1)
    market = load_market_for(spec)
    progress("load market", 1, 1, f"{len(market.bars):,} bars")
    stamps = market.bars.index
    splits = split_bars(stamps, spec.splits)
    log.info("data: %d bars; train %s, validation %s", len(stamps), splits.train, splits.validation)
    start, end = _window(spec, splits, cycles)
    pipe = build_pipeline(spec, truncated(market, end), splits.train, run_dir / "models", window=(start, end),
                          cache=ModelCache.from_home(), progress=progress)
    total = end - start

    def tick(name: str) -> Callable[[int], None]:
        progress(name, 0, total)
        return lambda k: progress(name, k, total)

    res = evaluate(spec, market, start, end, pipe.strategy, pipe.series, pipe.exit_model, tick("evaluate"))
    if hasattr(pipe.strategy, "summary"):
        pipe.report["bandit"] = {"posteriors": pipe.strategy.summary(), "updates": pipe.strategy.updates}
    if pipe.exit_model is not None:
        pipe.report.setdefault("exit_model", {}).update(consulted=pipe.exit_model.consulted,
                                                        fired=pipe.exit_model.fired)
    rnd = evaluate(spec, market, start, end, baseline_strategy("random", spec), progress=tick("random baseline"))
    n_trials = ledger.trial_count() + 1
    initial = spec.trading.initial_balance
    trades = trades_frame(res.trades)
    metrics = run_metrics(trades, res.equity, initial, n_trials, ledger.trial_sharpes())
    rnd_metrics = compute_metrics(trades_frame(rnd.trades), rnd.equity, initial)
    baselines = {
        "buy_and_hold": buy_and_hold(market, start, end, initial),
        "random_entry": {k: rnd_metrics.get(k) for k in ("pnl", "pnl_pct", "trades", "win_rate", "sharpe")},
    }
    window = {"start": str(stamps[start]), "end": str(stamps[end - 1]), "bars": total}
    doc = {
        "run_id": run_id, "spec_hash": spec_hash(spec), "split": "validation", "window": window,
        "splits": splits.as_dict(stamps), "metrics": metrics, "baselines": baselines,
        "rejected_orders": len(res.rejected), "data": market_meta(market), **pipe.report,
    }
    write_frame(run_dir / "trades.parquet", trades)
    write_frame(run_dir / "equity.parquet", _with_baselines(res.equity, rnd.equity, market, start, end, initial))
    write_json(run_dir / "timings.json", split_timings(doc))
    write_json(run_dir / "metrics.json", doc)
    write_text(run_dir / "SUMMARY.txt", summary_text(run_id, spec, doc))
    return RunResult(run_id, run_dir, metrics, baselines)


def _with_baselines(equity: pd.DataFrame, random_equity: pd.DataFrame, market: Any, start: int, end: int,
                    initial: float) -> pd.DataFrame:
    """The strategy's equity with the random-entry and buy-and-hold equity on the same bars (for the plots)."""
    out = equity.copy()
    if len(random_equity) == len(out):
        out["baseline_random"] = random_equity["equity"].to_numpy(dtype=float)
    close = market.bars["close"].iloc[start:end].to_numpy(dtype=float)
    if len(close) == len(out) and len(close):
        out["baseline_buy_hold"] = initial * close / close[0]
    return out


def split_timings(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Take every `*_seconds` figure out of `doc` (nested too) and return them by dotted path.

    Wall-clock times differ from machine to machine; kept out of metrics.json, the same spec and data give the
    same metrics.json byte for byte wherever the run happened.
    """
    out: dict[str, Any] = {}
    for key in list(doc):
        value = doc[key]
        if key.endswith("_seconds"):
            out[prefix + key] = doc.pop(key)
        elif isinstance(value, dict):
            out.update(split_timings(value, f"{prefix}{key}."))
    return out


def evaluate_holdout(run_dir: Path) -> dict[str, Any]:
    """Evaluate a finished run's spec on the sealed holdout, once; the figures go to holdout.json only."""
    path = run_dir / "holdout.json"
    if path.exists():
        return read_json(path)
    stored = read_json(run_dir / "spec.json")
    spec = validate_spec(stored["spec"], str(run_dir / "spec.json"))
    market = load_market_for(spec)
    splits = split_bars(market.bars.index, spec.splits)
    a, b = splits.holdout
    pipe = build_pipeline(spec, truncated(market, b), splits.train, run_dir / "models", window=(a, b), reuse=True)
    res = evaluate(spec, market, a, b, pipe.strategy, pipe.series, pipe.exit_model)
    rnd = evaluate(spec, market, a, b, baseline_strategy("random", spec))
    initial = spec.trading.initial_balance
    doc = {
        "split": "holdout",
        "window": {"start": str(market.bars.index[a]), "end": str(market.bars.index[b - 1]), "bars": b - a},
        "metrics": compute_metrics(trades_frame(res.trades), res.equity, initial),
        "baselines": {
            "buy_and_hold": buy_and_hold(market, a, b, initial),
            "random_entry": compute_metrics(trades_frame(rnd.trades), rnd.equity, initial),
        },
        "evaluated_at": pd.Timestamp.now(tz="UTC").isoformat(),
    }
    write_json(path, doc)
    return doc
