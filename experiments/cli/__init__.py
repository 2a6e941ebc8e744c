"""The gaussian command line (typer) and the demo, with the tables both print.
The top wing: may import every wing below it.

Start-up is part of the interface (`bench/cli.py`, `tests/test_cli_imports.py`): a command module imports at its top
only typer, rich and light modules of ours, and loads the rest inside the command that needs it. The modules that
declare commands do not use `from __future__ import annotations`: typer reads every command's signature at start-up,
and a string annotation costs it a compile and two evals (most of the time of building the command tree).
"""
