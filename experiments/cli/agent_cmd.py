"""`gaussian agent`: propose experiments from the analysis reports (LLM or offline rules) and show the agent's status."""
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from experiments.cli.tables import make_console
from experiments.home import home_dir
from trader.errors import GaussianError

if TYPE_CHECKING:  # the agent's modules load pydantic models and the price table: imported by the commands
    from agents.outcome import ProposeOutcome

app = typer.Typer(
    help="The meta-agent: read the latest validation reports and queue experiment proposals.",
    no_args_is_help=True,
    add_completion=False,
)

DECISION_STYLE = {"queued": "green", "refused": "yellow", "invalid": "red", "valid": "cyan", "error": "red"}


def register(cli: typer.Typer) -> None:
    """Attach `agent` as a command group of the main CLI."""
    cli.add_typer(app, name="agent")


def _json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _changes(changes: dict[str, Any]) -> str:
    return "\n".join(f"{k}={json.dumps(v, default=str)}" for k, v in changes.items()) or "-"


def outcome_table(outcome: "ProposeOutcome") -> Table:
    """The proposals of one job as a table: decision, idea, title, changes and why."""
    title = f"agent proposals ({outcome.source or outcome.mode}{', dry run' if outcome.dry_run else ''})"
    table = Table(title=title, show_lines=True)
    for col in ("#", "decision", "idea", "title", "changes", "why"):
        table.add_column(col, overflow="fold")
    for n, p in enumerate(outcome.proposals, 1):
        style = DECISION_STYLE.get(p.decision, "")
        decision = p.decision + (f" ({p.queue_status})" if p.queue_status and p.queue_status != p.decision else "")
        why = "\n".join(p.reasons) if p.reasons else p.hypothesis
        table.add_row(str(n), f"[{style}]{decision}[/]", p.idea_id or "-", p.title, _changes(p.changes), why)
    return table


@app.command("propose")
def propose(
    offline: Annotated[bool, typer.Option("--offline", help="Use the offline rules, even with an API key.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and print; queue nothing.")] = False,
    max_proposals: Annotated[int | None, typer.Option("--max", min=1, max=10,
                                                      help="Most proposals (default: agent.yaml).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Propose experiments: the LLM when ANTHROPIC_API_KEY is set, else (or with --offline) the offline rules."""
    from agents.config import AGENT_CONFIG_FILE, load_agent_config
    from experiments.optimizer.agent_job import run_agent_job

    home = home_dir()
    load_agent_config(home / AGENT_CONFIG_FILE, home)  # a bad agent.yaml or .env: one error line, exit code 2

    outcome = run_agent_job(offline=True if offline else None, dry_run=dry_run, max_proposals=max_proposals)
    _print_outcome(outcome, as_json)


def _print_outcome(outcome: "ProposeOutcome", as_json: bool = False) -> None:
    if as_json:
        _json({**outcome.model_dump(mode="json"), "counts": outcome.counts()})
    else:
        console = make_console()
        if outcome.proposals:
            console.print(outcome_table(outcome))
        for note in outcome.notes:
            console.print(f"note: {note}", markup=False, highlight=False)
        for err in outcome.errors:
            console.print(f"[red]error:[/] {err}", highlight=False)
        console.print(outcome.summary(), markup=False, highlight=False)
    if outcome.errors:
        raise typer.Exit(1)


@app.command("search")
def search(
    sampler: Annotated[str, typer.Option("--sampler", help="tpe (Optuna's TPE) or random.")] = "tpe",
    fields: Annotated[list[str] | None, typer.Option("--field", help="Search only fields under this prefix "
                                                                      "(repeatable; default: the whole space).")] = None,
    max_proposals: Annotated[int, typer.Option("--max", min=1, max=50, help="Trials to ask for.")] = 3,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and print; queue nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Budgeted search beside the agent: ask TPE (or random search) for trials, told past validation Sharpes."""
    if sampler not in ("tpe", "random"):
        raise GaussianError(f"--sampler must be tpe or random, got {sampler!r}")
    from experiments.optimizer.agent_job import run_agent_job

    outcome = run_agent_job(offline=True, dry_run=dry_run, max_proposals=max_proposals, sampler=sampler,
                            fields=fields)
    _print_outcome(outcome, as_json)


@app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Today's LLM spend against the daily cap, and what the last agent job did."""
    from agents.config import AGENT_CONFIG_FILE, load_agent_config
    from agents.cost_ledger import CostLedger, default_ledger_path, usd_text
    from experiments.optimizer.status import read_agent_status

    home = home_dir()
    _, settings = load_agent_config(home / AGENT_CONFIG_FILE, home)
    spend = CostLedger(default_ledger_path(home)).status(settings)
    last = read_agent_status()
    if as_json:
        _json({"spend": spend, "last_job": last})
        return
    console = make_console()
    blocked = " [red](cap reached: no API calls until tomorrow, UTC)[/]" if spend["blocked"] else ""
    console.print(f"LLM spend {spend['day']} (UTC): ${spend['spent_today_usd']:.4f} of {usd_text(spend['daily_cap_usd'])}"
                  f" in {spend['calls_today']} call(s), {spend['failures_today']} failed{blocked}")
    console.print(f"all-time spend ${spend['total_usd']:.4f}; ledger {spend['ledger']}", markup=False,
                  highlight=False)
    if last is None:
        console.print("the agent has not run yet (gaussian agent propose)")
        return
    console.print(f"last job {last.get('time')}: {last.get('summary')}", markup=False, highlight=False)
    if last.get("last_error"):
        console.print(f"[red]last error:[/] {last['last_error']}", highlight=False)
