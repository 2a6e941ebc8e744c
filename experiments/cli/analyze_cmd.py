"""`gaussian analyze`: (re)write one run's ANALYSIS.md, analysis.json and plots, or backfill every run."""
import json

import typer

from trader.errors import GaussianError


def register(cli: typer.Typer) -> None:
    """Attach the `analyze` command."""

    @cli.command("analyze")
    def analyze(
        run: str | None = typer.Argument(None, metavar="RUN", help="Run id (or unique prefix) or run directory."),
        backfill_: bool = typer.Option(False, "--backfill", help="Analyze every finished run that lacks a report."),
        force: bool = typer.Option(False, "--force", help="With --backfill: re-analyze runs that have a report."),
        min_trades: int = typer.Option(20, "--min-trades", min=1, help="Trades a finding needs to count."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Write ANALYSIS.md, analysis.json and plots/ for a run (validation figures only)."""
        from analysis.backfill import backfill
        from analysis.report import analyze_run
        from experiments.home import runs_dir
        from experiments.runs.store import resolve_run

        if (run is None) == (not backfill_):
            raise GaussianError("give either a RUN to analyze or --backfill, not both and not neither")
        if force and not backfill_:
            raise GaussianError("--force only applies to --backfill (analyzing one RUN always rewrites it)")
        if run is not None:
            run_dir = resolve_run(run)
            result = analyze_run(run_dir, min_trades=min_trades)
            summary = {"run_id": run_dir.name, "report": str(run_dir / "ANALYSIS.md"),
                       "findings": len(result["findings"]), "recommendations": len(result["recommendations"]),
                       "plots": sorted(result["plots"].values())}
            if as_json:
                typer.echo(json.dumps(summary, indent=2))
            else:
                typer.echo(f"wrote {summary['report']} ({summary['findings']} findings, "
                           f"{summary['recommendations']} recommendations, {len(summary['plots'])} plots)")
            return
        failures: dict[str, str] = {}
        done = backfill(runs_dir(), force=force, min_trades=min_trades, failures=failures,
                        progress=None if as_json else (lambda name: typer.echo(f"analyzing {name}")))
        if as_json:
            typer.echo(json.dumps({"analyzed": done, "failed": failures}, indent=2))
        else:
            typer.echo(f"analyzed {len(done)} run(s) under {runs_dir()}")
            for name, err in failures.items():
                typer.secho(f"skipped {name}: {err}", fg=typer.colors.YELLOW, err=True)
