"""`gaussian demo`: the whole loop (data, baseline, proposals, optimizer, analysis, promotion) in a few minutes."""
from __future__ import annotations

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
        null: Annotated[bool, typer.Option("--null", help="A null market (edge 0): the gate must refuse, "
                                                          "naming each check.")] = False,
    ) -> None:
        """Generate the market, run a baseline, queue and run ideas, analyse, gate and print the leaderboard."""
        from experiments.cli.demo import run_demo

        run_demo(home, fast=fast, keep=keep, null=null)
