"""`gaussian run` (one experiment by hand) and `gaussian runs list|show`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from experiments.run_store import list_runs, read_json, resolve_run
from experiments.spec_io import load_spec

console = Console()
runs_app = typer.Typer(help="List and inspect runs.", no_args_is_help=True)


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1%}" if pct else f"{v:,.2f}"
    return str(v)


def results_table(metrics: dict[str, Any], baselines: dict[str, Any], title: str) -> Table:
    """The headline figures of a run beside its baselines."""
    t = Table(title=title)
    t.add_column("")
    t.add_column("strategy", justify="right")
    t.add_column("random entry", justify="right")
    t.add_column("buy & hold", justify="right")
    r, bh = baselines.get("random_entry", {}), baselines.get("buy_and_hold", {})
    t.add_row("P&L $", _fmt(metrics.get("pnl")), _fmt(r.get("pnl")), _fmt(bh.get("pnl")))
    t.add_row("P&L %", _fmt(metrics.get("pnl_pct")), _fmt(r.get("pnl_pct")), _fmt(bh.get("pnl_pct")))
    t.add_row("trades", _fmt(metrics.get("trades")), _fmt(r.get("trades")), "-")
    t.add_row("win rate", _fmt(metrics.get("win_rate"), True), _fmt(r.get("win_rate"), True), "-")
    t.add_row("Sharpe", _fmt(metrics.get("sharpe")), _fmt(r.get("sharpe")), _fmt(bh.get("sharpe")))
    t.add_row("max drawdown", _fmt(metrics.get("max_drawdown"), True), "-", "-")
    t.add_row("DSR", _fmt(metrics.get("dsr")), "-", "-")
    return t


def register(cli: typer.Typer) -> None:
    """Attach `run` and `runs`."""

    @cli.command("run")
    def run(
        spec_path: Optional[Path] = typer.Argument(None, metavar="[SPEC]", help="Spec file (default: base spec)."),
        set_: list[str] = typer.Option([], "--set", help="Override a field: path.to.field=value."),
        cycles: Optional[int] = typer.Option(None, "--cycles", min=10, help="Bound the evaluation bars."),
        idea: Optional[str] = typer.Option(None, "--idea", help="Run one queued (approved) idea by hand."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Run one experiment: fit on train, evaluate on validation, write runs/<run_id>/."""
        from experiments.runner import run_experiment

        if idea:
            from experiments.idea_runs import run_idea

            result = run_idea(idea, set_, cycles)
        else:
            spec = load_spec(spec_path, set_) if spec_path or not _has_base() else _base_with(set_)
            with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                          TimeElapsedColumn(), console=console, transient=True, disable=as_json) as bar:
                tasks: dict[str, int] = {}

                def progress(name: str, done: int, total: int) -> None:
                    if name not in tasks:
                        tasks[name] = bar.add_task(name, total=total)
                    bar.update(tasks[name], completed=done)

                result = run_experiment(spec, cycles=cycles, progress=progress)
        if as_json:
            typer.echo(json.dumps({"run_id": result.run_id, "metrics": result.metrics,
                                   "baselines": result.baselines}, default=str, indent=2))
            return
        console.print(results_table(result.metrics, result.baselines, f"run {result.run_id} (validation)"))
        console.print(f"run directory: {result.run_dir}")

    @runs_app.command("list")
    def runs_list(as_json: bool = typer.Option(False, "--json")) -> None:
        """All runs, newest first, with validation figures."""
        rows = list_runs()
        if as_json:
            typer.echo(json.dumps(rows, default=str, indent=2))
            return
        t = Table(title="runs")
        for col in ("run", "name", "status", "trades", "P&L %", "Sharpe", "win rate"):
            t.add_column(col)
        for r in rows:
            m = r["metrics"]
            t.add_row(r["run_id"], str(r["name"]), r["status"], _fmt(m.get("trades")), _fmt(m.get("pnl_pct")),
                      _fmt(m.get("sharpe")), _fmt(m.get("win_rate"), True))
        console.print(t)

    @runs_app.command("show")
    def runs_show(run: str, as_json: bool = typer.Option(False, "--json")) -> None:
        """One run's summary (validation figures only)."""
        d = resolve_run(run)
        doc = read_json(d / "metrics.json")
        if as_json:
            typer.echo(json.dumps(doc, default=str, indent=2))
            return
        summary = d / "SUMMARY.txt"
        if summary.exists():
            console.print(summary.read_text(), markup=False, highlight=False)
        console.print(results_table(doc["metrics"], doc["baselines"], f"run {d.name} (validation)"))
        console.print(f"files: {d}")

    cli.add_typer(runs_app, name="runs")


def _has_base() -> bool:
    from experiments.home import home_dir

    return (home_dir() / "base_spec.yaml").exists()


def _base_with(overrides: list[str]):  # noqa: ANN202 - returns ExperimentSpec
    from experiments.home import home_dir

    return load_spec(home_dir() / "base_spec.yaml", overrides)
