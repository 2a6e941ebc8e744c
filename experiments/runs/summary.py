"""SUMMARY.txt: the run's headline figures in plain text, read against the baselines."""
from __future__ import annotations

from typing import Any

from experiments.spec.model import ExperimentSpec

KEY_METRICS = ("pnl", "pnl_pct", "trades", "win_rate", "sharpe", "max_drawdown", "dsr")


def key_metrics(metrics: dict) -> dict:
    """The headline figures recorded on an idea and in a child run's result."""
    return {k: metrics.get(k) for k in KEY_METRICS}


def _f(value: Any, fmt: str = "{:.2f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def summary_text(run_id: str, spec: ExperimentSpec, doc: dict[str, Any]) -> str:
    """Plain-text summary of a run's validation figures (never holdout figures)."""
    m = doc["metrics"]
    b = doc["baselines"]
    w = doc["window"]
    ci = m.get("win_rate_ci95") or [None, None]
    lines = [
        f"run {run_id}  ({spec.name})",
        f"spec hash {doc['spec_hash']}  seed {spec.seed}",
        f"entry {spec.entry.type}  encoder {spec.model.encoder}  data {spec.data.source} ({spec.data.interval})",
        f"validation window {w['start']} .. {w['end']} ({w['bars']} bars)",
        "",
        f"P&L            {_f(m.get('pnl'), '${:,.2f}')}  ({_f(m.get('pnl_pct'))}%)",
        (f"trades         {m.get('trades', 0)}  win rate {_f(m.get('win_rate'), '{:.1%}')}"
         f"  (95% CI {_f(ci[0], '{:.1%}')} .. {_f(ci[1], '{:.1%}')})"),
        f"profit factor  {_f(m.get('profit_factor'))}  expectancy {_f(m.get('expectancy'), '${:.2f}')}",
        f"Sharpe         {_f(m.get('sharpe'))}  Sortino {_f(m.get('sortino'))}",
        f"max drawdown   {_f(m.get('max_drawdown'), '{:.1%}')}  fees {_f(m.get('fees'), '${:,.2f}')}",
        f"PSR            {_f(m.get('psr'))}  DSR {_f(m.get('dsr'))} over {m.get('n_trials')} trials",
        "",
        "baselines over the same window:",
        f"  buy and hold   {_f(b['buy_and_hold'].get('pnl_pct'))}%",
        f"  random entry   {_f(b['random_entry'].get('pnl_pct'))}%  ({b['random_entry'].get('trades')} trades)",
    ]
    return "\n".join(lines) + "\n"
