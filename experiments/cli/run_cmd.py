"""`gaussian run` (one experiment by hand) and `gaussian runs list|show`."""
import json
from pathlib import Path

import typer

from experiments.cli.tables import make_console, print_table, results_table, runs_table
from experiments.runs.store import list_runs, read_json, resolve_run

console = make_console()
runs_app = typer.Typer(help="List and inspect runs.", no_args_is_help=True)


def register(cli: typer.Typer) -> None:
    """Attach `run` and `runs`."""

    @cli.command("run")
    def run(
        spec_path: Path | None = typer.Argument(None, metavar="SPEC", help="Spec file (default: base spec)."),
        set_: list[str] = typer.Option([], "--set", metavar="FIELD=VALUE", help="Override a field: path.to.field=value (repeatable)."),
        cycles: int | None = typer.Option(None, "--cycles", min=10, help="Bound the evaluation bars."),
        idea: str | None = typer.Option(None, "--idea", help="Run one queued (approved) idea by hand."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        threads: int = typer.Option(1, "--threads", min=0, help="Threads for torch, BLAS and XGBoost (0: their "
                                                                "defaults)."),
    ) -> None:
        """Run one experiment: fit on train, evaluate on validation, write runs/<run_id>/."""
        from experiments.cli.progress_display import phase_display
        from experiments.runs.threads import limit_threads

        limit_threads(threads)
        from experiments.runs.runner import run_experiment
        from experiments.spec.io import check_data_inputs, load_spec

        if idea:
            from experiments.ideas.run_idea import run_idea

            result = run_idea(idea, set_, cycles)
        else:
            spec = load_spec(spec_path, set_) if spec_path or not _has_base() else _base_with(set_)
            check_data_inputs(spec, "run")
            with phase_display(console, enabled=not as_json) as display:
                result = run_experiment(spec, cycles=cycles, progress=display)
        if as_json:
            typer.echo(json.dumps({"run_id": result.run_id, "metrics": result.metrics,
                                   "baselines": result.baselines}, default=str, indent=2))
            return
        console.print(results_table(result.metrics, result.baselines, f"run {result.run_id} (validation)"))
        console.print(f"run directory: {result.run_dir}")

    @runs_app.command("list")
    def runs_list(
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        wide: bool = typer.Option(False, "--wide", help="Every column at full width, past the terminal's edge."),
    ) -> None:
        """All runs, newest first: what each ran (entry, encoder, window, exit model), validation bars and figures."""
        rows = list_runs()
        titles = _idea_titles()
        for r in rows:
            r["label"] = titles.get(r.get("idea_id") or "") or (r["name"] if r["name"] != "experiment" else "by hand")
        if as_json:
            typer.echo(json.dumps(rows, default=str, indent=2))
            return
        if not rows:
            console.print("no runs yet (gaussian run, or gaussian optimize)")
            return
        term = make_console()  # sized now: the terminal (or COLUMNS) as it is when the command runs
        print_table(runs_table(rows, "runs (validation)", term.width, wide), wide, term)

    @runs_app.command("compare")
    def runs_compare(
        runs: list[str] = typer.Argument(..., metavar="RUN RUN [RUN...]", help="Two or more run ids (or prefixes)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Equity plot file (default: "
                                                                   "runs/compare-<ids>.png)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Validation metrics side by side and the equity curves on one plot."""
        from experiments.cli.compare import compare_runs, compare_table

        doc = compare_runs(runs, out)
        if as_json:
            typer.echo(json.dumps(doc, default=str, indent=2))
            return
        console.print(compare_table(doc))
        console.print(f"equity curves: {doc['plot']}", highlight=False)

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


def _idea_titles() -> dict[str, str]:
    """idea id -> title, for naming the runs of queued ideas (empty without a queue)."""
    from experiments.home import queue_path

    if not queue_path().exists():
        return {}
    from experiments.ideas.store import QueueStore

    return {i.id: i.title for i in QueueStore(queue_path()).ideas()}


def _has_base() -> bool:
    from experiments.home import home_dir

    return (home_dir() / "base_spec.yaml").exists()


def _base_with(overrides: list[str]):
    from experiments.home import home_dir
    from experiments.spec.io import load_spec

    return load_spec(home_dir() / "base_spec.yaml", overrides)
