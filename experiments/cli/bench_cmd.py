"""`gaussian bench discovery`: the known-answer benchmark (planted edges found, null markets never promoted)."""
import json
from pathlib import Path
from typing import Annotated

import typer

from trader.errors import SpecError

app = typer.Typer(help="Benchmarks of the whole research loop.", no_args_is_help=True)


@app.command("discovery")
def discovery(
    quick: Annotated[bool, typer.Option("--quick", help="Null and medium edge, 3 seeds, 2 experiments each (minutes).")]
    = False,
    seeds: Annotated[int | None, typer.Option("--seeds", min=1, help="Markets per edge strength.")] = None,
    edges: Annotated[str | None, typer.Option("--edges", help="Comma-separated strengths: null,weak,medium,strong.")]
    = None,
    sessions: Annotated[int | None, typer.Option("--sessions", min=10, help="Sessions per market.")] = None,
    budget: Annotated[int | None, typer.Option("--budget", min=1, help="Experiments per market.")] = None,
    proposer: Annotated[str, typer.Option("--proposer", help="Who proposes after the base run: offline (rules), "
                                                              "tpe or random (search over momentum and max hold).")]
    = "offline",
    out: Annotated[Path, typer.Option("--out", help="Folder for the homes, discovery.json and the plot.")]
    = Path("discovery"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result document as JSON.")] = False,
) -> None:
    """Run the loop on a grid of synthetic markets with known planted edges; print power and false promotions."""
    from dataclasses import replace

    from experiments.cli.discovery import EDGES, PROPOSERS, DiscoveryGrid, power_plot, run_grid, summary_table
    from experiments.cli.tables import make_console

    if proposer not in PROPOSERS:
        raise SpecError(f"--proposer must be one of {', '.join(PROPOSERS)}, got {proposer!r}")

    grid = DiscoveryGrid.quick() if quick else DiscoveryGrid.full()
    if edges is not None:
        names = tuple(e.strip() for e in edges.split(",") if e.strip())
        bad = [e for e in names if e not in EDGES]
        if bad or not names:
            raise SpecError(f"--edges: unknown strength {', '.join(bad) or '(none)'}; allowed: {', '.join(EDGES)}")
        grid = replace(grid, edges=names)
    grid = replace(grid, seeds=seeds or grid.seeds, sessions=sessions or grid.sessions, budget=budget or grid.budget,
                   proposer=proposer)
    out = out.expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        raise SpecError(f"--out {out} is not empty; choose a new folder")
    console = make_console(stderr=as_json)

    def progress(o: object) -> None:
        console.print(f"  {o.strength} seed {o.seed}: promoted {o.promoted or '-'}"  # type: ignore[attr-defined]
                      f", holdout P&L % {o.holdout_pnl_pct}, {o.seconds:.0f} s", highlight=False)  # type: ignore

    doc = run_grid(grid, out / "homes", progress=progress)
    (out / "discovery.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    plot = power_plot(doc, out / "power_curve.png")
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    console.print(summary_table(doc))
    console.print(f"results: {out / 'discovery.json'}; power curve: {plot}", highlight=False)


def register(cli: typer.Typer) -> None:
    """Attach the `bench` command group."""
    cli.add_typer(app, name="bench")
