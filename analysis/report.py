"""Post-run analysis: compute the facts, write analysis.json, plots/*.png and ANALYSIS.md into the run directory.

Only validation figures are used (metrics.json, trades.parquet, equity.parquet); holdout.json is never read.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from analysis.compare import categorical_comparison, numeric_comparison
from analysis.confidence import confidence_analysis
from analysis.drawdowns import drawdown_periods
from analysis.families import family_findings, family_summary
from analysis.findings import (
    breakdown_findings,
    comparison_findings,
    confidence_finding,
    drawdown_finding,
    exit_reason_finding,
    headline_findings,
)
from analysis.groups import all_breakdowns
from analysis.inputs import RunInputs, load_run
from analysis.plots import write_plots
from analysis.recommend import Context, recommend
from analysis.render import render_report

ANALYSIS_VERSION = 1
DEFAULT_MIN_TRADES = 20
METRIC_KEYS = ("pnl", "pnl_pct", "realized_pnl", "trades", "wins", "losses", "win_rate", "win_rate_ci95", "avg_win",
               "avg_loss", "profit_factor", "expectancy", "sharpe", "sortino", "max_drawdown", "max_drawdown_usd",
               "exposure", "fees", "avg_hold_minutes", "days", "psr", "dsr", "n_trials")
BASELINE_KEYS = {"buy_and_hold": ("pnl", "pnl_pct", "sharpe"),
                 "random_entry": ("pnl", "pnl_pct", "trades", "win_rate", "sharpe")}
MODEL_SECTIONS = ("predictor", "regime")
MAX_MODEL_FIGURES = 30


def jsonable(x: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return f if math.isfinite(f) else None
    if x is None or isinstance(x, str):
        return x
    return str(x)


def _flat_scalars(data: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(data, dict):
        for k in sorted(data, key=str):
            _flat_scalars(data[k], f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(data, (bool, int, float, str)) and len(out) < MAX_MODEL_FIGURES:
        out[prefix] = data


def _spec_summary(spec: dict[str, Any]) -> dict[str, Any]:
    def get(path: str) -> Any:
        node: Any = spec
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    return {"entry_type": get("entry.type"), "encoder": get("model.encoder"), "data_source": get("data.source"),
            "interval": get("data.interval"), "seed": get("seed"), "initial_balance": get("trading.initial_balance")}


def initial_balance(run: RunInputs) -> float:
    """The run's starting balance from its spec (the first equity value if the spec lacks it)."""
    value = _spec_summary(run.spec)["initial_balance"]
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    return float(run.equity["equity"].iloc[0]) if len(run.equity) else 0.0


def build_analysis(run: RunInputs, min_trades: int = DEFAULT_MIN_TRADES) -> dict[str, Any]:
    """Every fact of the report as a JSON-able dict (no files written)."""
    metrics = {k: run.metrics.get(k) for k in METRIC_KEYS}
    metrics["trades"] = int(metrics["trades"] or len(run.trades))
    baselines = {name: {k: (run.baselines.get(name) or {}).get(k) for k in keys}
                 for name, keys in BASELINE_KEYS.items()}
    window = {k: (run.doc.get("window") or {}).get(k) for k in ("start", "end", "bars")}
    trades = run.trades
    initial = initial_balance(run)
    has_trades = len(trades) > 0
    breakdowns = all_breakdowns(trades, min_trades) if has_trades else {}
    conf = confidence_analysis(trades, min_trades)
    numeric = numeric_comparison(trades, min_trades) if has_trades else []
    categorical = categorical_comparison(breakdowns, min_trades) if has_trades else []
    dd = drawdown_periods(run.equity["equity"], initial)
    ctx = Context(spec=run.spec, trades=trades, metrics=metrics, window=window, breakdowns=breakdowns,
                  confidence=conf, min_trades=min_trades)
    recs, held = recommend(ctx)
    findings = headline_findings(metrics, baselines, min_trades)
    if has_trades:
        findings.append(confidence_finding(conf, min_trades))
        findings += comparison_findings(numeric, categorical)
        findings += exit_reason_finding(breakdowns)
        findings += breakdown_findings(breakdowns, min_trades)
    findings += drawdown_finding(dd, metrics)
    families = family_summary(run.doc)
    findings += family_findings(families)
    models: dict[str, Any] = {}
    for section in MODEL_SECTIONS:
        _flat_scalars(run.doc.get(section), section, models)
    wins = int((trades["pnl"] > 0).sum()) if has_trades else 0
    extra = {"feature_families": families} if families is not None else {}
    return jsonable({
        **extra,
        "analysis_version": ANALYSIS_VERSION, "run_id": run.run_id, "spec_hash": run.spec_hash,
        "split": run.doc.get("split", "validation"), "window": window, "min_trades": min_trades,
        "spec_summary": _spec_summary(run.spec),
        "metrics": metrics, "baselines": baselines, "confidence": conf,
        "winners_vs_losers": {"wins": wins, "losses": len(trades) - wins, "numeric": numeric,
                              "categorical": categorical},
        "breakdowns": breakdowns, "drawdowns": dd, "findings": findings, "notes": ctx.notes,
        "recommendations": recs, "insufficient": held, "models": models, "plots": {},
    })


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def analyze_run(run_dir: Path, min_trades: int = DEFAULT_MIN_TRADES) -> dict[str, Any]:
    """Analyze one finished run: write analysis.json, plots/*.png and ANALYSIS.md; return the analysis dict."""
    run = load_run(Path(run_dir))
    analysis = build_analysis(run, min_trades)
    analysis["plots"] = write_plots(run.run_dir, run.equity, initial_balance(run), analysis["breakdowns"],
                                    analysis["confidence"], str(run.doc.get("split", "validation")))
    _write_atomic(run.run_dir / "analysis.json", json.dumps(analysis, indent=2, sort_keys=True) + "\n")
    _write_atomic(run.run_dir / "ANALYSIS.md", render_report(analysis))
    return analysis


def needs_analysis(run_dir: Path) -> bool:
    """True for a finished run (metrics.json present) whose ANALYSIS.md or analysis.json is missing or outdated."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").is_file():
        return False
    out = run_dir / "analysis.json"
    if not (run_dir / "ANALYSIS.md").is_file() or not out.is_file():
        return True
    try:
        version = json.loads(out.read_text(encoding="utf-8")).get("analysis_version")
    except (json.JSONDecodeError, AttributeError):
        return True
    return version != ANALYSIS_VERSION
