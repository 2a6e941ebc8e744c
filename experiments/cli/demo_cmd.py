"""`gaussian demo`: the four flows (a run by hand, reviewed agent proposals, the optimizer with promotion, paper
trading) in a few minutes."""
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_HOME = Path("demo-home")


def register(cli: typer.Typer) -> None:
    """Attach the `demo` command."""

    @cli.command("demo")
    def demo(
        home: Annotated[Path, typer.Option("--home", help="The demo's own home (made fresh).")] = DEFAULT_HOME,
        fast: Annotated[bool, typer.Option("--fast", help="A smaller market and fewer ideas (about a minute).")] = False,
        keep: Annotated[bool, typer.Option("--keep", help="Reuse the home as it is instead of starting fresh.")] = False,
        paper_best: Annotated[bool, typer.Option("--paper-best", help="When no run passes the gate, paper trade the "
                                                 "best run anyway (labelled as not promoted).")] = False,
        null: Annotated[bool, typer.Option("--null", help="A null market (edge 0): the gate must refuse, "
                                                          "naming each check.")] = False,
    ) -> None:
        """Walk the four flows: a run by hand and the gate, agent proposals with a review, the optimizer with
        auto-promotion, a short paper-trading replay of the promoted run; then say where everything is."""
        from experiments.cli.demo import run_demo

        run_demo(home, fast=fast, keep=keep, paper_best=paper_best, null=null)
