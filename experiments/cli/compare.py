"""`gaussian runs compare A B [C...]`: validation figures side by side and the equity curves on one plot."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from experiments.cli.tables import fmt_cell
from trader.errors import StateError

ROWS = [("entry", "entry", False), ("encoder", "encoder", False), ("bars", "validation bars", False),
        ("trades", "trades", False), ("pnl", "P&L $", False), ("pnl_pct", "P&L %", False),
        ("win_rate", "win rate", True), ("profit_factor", "profit factor", False), ("sharpe", "Sharpe", False),
        ("sortino", "Sortino", False), ("max_drawdown", "max drawdown", True), ("dsr", "DSR (at run time)", False),
        ("random_pnl_pct", "random entry P&L %", False), ("buy_hold_pnl_pct", "buy & hold P&L %", False)]


def compare_runs(refs: list[str], out: Path | None = None) -> dict[str, Any]:
    """Resolve two or more runs, collect their validation figures and write one plot of their equity curves."""
    import pandas as pd

    from analysis.plots import plot_equity_curves
    from experiments.home import runs_dir
    from experiments.runs.store import read_json, resolve_run

    if len(refs) < 2:
        raise StateError("runs compare needs at least two runs")
    dirs = [resolve_run(r) for r in refs]
    if len({d.name for d in dirs}) < len(dirs):
        raise StateError("runs compare: the same run is named twice")
    runs, curves, initial = [], {}, {}
    for d in dirs:
        if not (d / "metrics.json").exists():
            raise StateError(f"run {d.name} has no metrics.json (not finished)")
        doc = read_json(d / "metrics.json")
        spec = read_json(d / "spec.json").get("spec") or {}
        m, b = doc.get("metrics") or {}, doc.get("baselines") or {}
        entry = (spec.get("entry") or {}).get("type")
        runs.append({"run_id": d.name, "entry": entry,
                     "encoder": (spec.get("model") or {}).get("encoder") if entry not in ("momentum", "random")
                     else None,
                     "bars": (doc.get("window") or {}).get("bars"), **{k: m.get(k) for k, _, _ in ROWS if k in m},
                     "random_pnl_pct": (b.get("random_entry") or {}).get("pnl_pct"),
                     "buy_hold_pnl_pct": (b.get("buy_and_hold") or {}).get("pnl_pct")})
        if (d / "equity.parquet").exists():
            curves[d.name] = pd.read_parquet(d / "equity.parquet")["equity"]
            initial[d.name] = float((spec.get("trading") or {}).get("initial_balance") or curves[d.name].iloc[0])
    plot = out or runs_dir() / f"compare-{'-'.join(d.name[-4:] for d in dirs)}.png"
    plot_equity_curves(curves, initial, plot)
    return {"runs": runs, "plot": str(plot)}


def compare_table(doc: dict[str, Any]) -> Table:
    """One column per run, one row per figure."""
    t = Table(title="runs compared (validation)")
    t.add_column("")
    for r in doc["runs"]:
        t.add_column(r["run_id"], justify="right", no_wrap=True)
    for key, label, pct in ROWS:
        t.add_row(label, *(fmt_cell(r.get(key), pct=pct) for r in doc["runs"]))
    return t
