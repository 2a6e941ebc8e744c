"""`gaussian check lookahead RUN`, `gaussian check null SPEC` (one verdict each, with its figures) and
`gaussian check pbo` (the Probability of Backtest Overfitting over the runs so far)."""
import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Honesty checks: look-ahead in a run's arrays, profit on null markets.", no_args_is_help=True)


def _print(doc: dict, as_json: bool, ok: bool) -> None:
    if as_json:
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        typer.secho(f"{doc['verdict']}: {doc['detail']}", fg=typer.colors.GREEN if ok else typer.colors.RED)
    if not ok:
        raise typer.Exit(1)


@app.command("lookahead")
def lookahead(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or unique prefix) or run directory.")],
    points: Annotated[int, typer.Option("--points", min=1, max=1000, help="Decision times to truncate at.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Cut the market at each sampled decision time, recompute the run's arrays from its saved models, compare."""
    from experiments.runs.checks import check_lookahead
    from experiments.runs.store import resolve_run

    doc = check_lookahead(resolve_run(run), points=points)
    _print(doc, as_json, doc["verdict"] != "LEAK")


@app.command("null")
def null(
    spec_path: Annotated[Path | None, typer.Argument(metavar="SPEC", help="Spec file (default: the defaults).")] = None,
    seeds: Annotated[int, typer.Option("--seeds", min=2, max=200, help="Null markets to run the spec on.")] = 5,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a field: path=value.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run the spec on K null markets (planted edge 0): P&L after costs with a 95% interval; a profit names a leak."""
    from experiments.runs.checks import check_null
    from experiments.spec.io import load_spec

    doc = check_null(load_spec(spec_path, overrides), seeds=seeds)
    _print(doc, as_json, not doc["leak"])


@app.command("pbo")
def pbo(as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False) -> None:
    """Compute the Probability of Backtest Overfitting over the runs sharing a validation window now, and keep it
    for `gaussian status` and the leaderboard."""
    from experiments.promotion.pbo import refresh_pbo
    from experiments.promotion.pbo_store import pbo_sentence

    doc = refresh_pbo()
    if as_json:
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        typer.echo(pbo_sentence(doc))


def register(cli: typer.Typer) -> None:
    """Attach the `check` command group."""
    cli.add_typer(app, name="check")
