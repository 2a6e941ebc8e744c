"""`gaussian run` (one experiment by hand) and `gaussian runs list|show`."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from experiments.cli.progress_display import phase_display
from experiments.cli.tables import fmt_cell, results_table
from experiments.runs.store import list_runs, read_json, resolve_run

console = Console()
runs_app = typer.Typer(help="List and inspect runs.", no_args_is_help=True)


def register(cli: typer.Typer) -> None:
    """Attach `run` and `runs`."""

    @cli.command("run")
    def run(
        spec_path: Path | None = typer.Argument(None, metavar="[SPEC]", help="Spec file (default: base spec)."),
        set_: list[str] = typer.Option([], "--set", help="Override a field: path.to.field=value."),
        cycles: int | None = typer.Option(None, "--cycles", min=10, help="Bound the evaluation bars."),
        idea: str | None = typer.Option(None, "--idea", help="Run one queued (approved) idea by hand."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Run one experiment: fit on train, evaluate on validation, write runs/<run_id>/."""
        from experiments.runs.runner import run_experiment
        from experiments.spec.io import load_spec

        if idea:
            from experiments.ideas.run_idea import run_idea

            result = run_idea(idea, set_, cycles)
        else:
            spec = load_spec(spec_path, set_) if spec_path or not _has_base() else _base_with(set_)
            with phase_display(console, enabled=not as_json) as display:
                result = run_experiment(spec, cycles=cycles, progress=display)
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
            t.add_row(r["run_id"], str(r["name"]), r["status"], fmt_cell(m.get("trades")), fmt_cell(m.get("pnl_pct")),
                      fmt_cell(m.get("sharpe")), fmt_cell(m.get("win_rate"), True))
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


def _base_with(overrides: list[str]):
    from experiments.home import home_dir
    from experiments.spec.io import load_spec

    return load_spec(home_dir() / "base_spec.yaml", overrides)
