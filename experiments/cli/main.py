"""The `gaussian` command line: one entry point, subcommands per area."""
import os
import sys
from pathlib import Path
from typing import Any

import typer
from typer._click import exceptions as click_errors  # typer's own copy of click

from experiments.cli import (
    agent_cmd,
    analyze_cmd,
    bench_cmd,
    cache_cmd,
    check_cmd,
    demo_cmd,
    optimize_cmd,
    paper_cmd,
    queue_cmd,
    run_cmd,
    serve_cmd,
    spec_cmd,
)
from experiments.cli import data as data_cmd
from experiments.cli import tradier as tradier_cmd
from experiments.home import set_home
from trader.errors import GaussianError

cli = typer.Typer(
    help="gaussian: an agentic research and trading framework for SPY options.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@cli.callback()
def _root(
    home: Path | None = typer.Option(None, "--home", help="State directory (default: GAUSSIAN_HOME or the cwd)."),
) -> None:
    """Global options."""
    set_home(home)


spec_cmd.register(cli)
run_cmd.register(cli)
analyze_cmd.register(cli)
cli.add_typer(agent_cmd.app, name="agent")
cli.add_typer(data_cmd.app, name="data")
cli.add_typer(cache_cmd.app, name="cache")
queue_cmd.register(cli)
cli.add_typer(tradier_cmd.app, name="tradier-sim")
optimize_cmd.register(cli)
demo_cmd.register(cli)
paper_cmd.register(cli)
serve_cmd.register(cli)
bench_cmd.register(cli)
check_cmd.register(cli)


def tidy_help(command: Any) -> Any:
    """Flags take no value, so their help shows no type (typer would print `<bool>`); applied to every command."""
    for param in command.params:
        if param.param_type_name == "option" and getattr(param, "is_flag", False):
            param.metavar = ""
    make_help = command.get_help_option

    def help_option(ctx: Any) -> Any:
        opt = make_help(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)
    return command


def run_cli(args: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; a user error (a bad argument, file or value) is one `error:` line on
    stderr and exit code 2, never a traceback or a usage box."""
    try:
        rc = tidy_help(typer.main.get_command(cli))(args=args, prog_name="gaussian", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:  # `gaussian queue`: the group's help, as usual
        exc.show()
        return exc.exit_code
    except click_errors.UsageError as exc:
        where = f"{exc.ctx.command_path}: " if exc.ctx is not None and exc.ctx.command_path != "gaussian" else ""
        typer.secho(f"error: {where}{exc.format_message()}", fg=typer.colors.RED, err=True)
        return 2
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 1
    except GaussianError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return 2
    return rc if isinstance(rc, int) else 0


def app() -> None:
    """Console-script entry: run the CLI and exit with its code. Pydantic plugins are not looked for (no dependency
    provides one, and the search reads every installed package's entry points at each start); setting
    PYDANTIC_DISABLE_PLUGINS yourself (empty: load them all) takes precedence."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    sys.exit(run_cli())


if __name__ == "__main__":
    app()
