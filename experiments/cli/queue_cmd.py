"""`gaussian queue`: review the idea queue: list, show, approve, reject, edit, add, priority, reap, recover."""
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from experiments.cli.tables import make_console
from experiments.home import runs_dir
from experiments.ideas.status import Status

if TYPE_CHECKING:  # the models, the store and the queue load pydantic and the spec: imported by the commands
    from experiments.ideas.models import Idea
    from experiments.ideas.queue import IdeaQueue
    from experiments.ideas.store import QueueStore

app = typer.Typer(
    help="Review the idea queue: proposals from agents, heuristics and people.",
    no_args_is_help=True,
    add_completion=False,
)

STATUS_STYLE = {
    "proposed": "yellow", "approved": "cyan", "running": "blue", "done": "green",
    "failed": "red", "rejected": "magenta", "invalid": "red",
}


IdeaArg = Annotated[str, typer.Argument(help="Idea id, its sequence number, or a unique part of the id.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", metavar="FIELD=VALUE", help="A field change: path.to.field=value (repeatable).")]


def _by(what: str) -> Any:
    return typer.Option("--by", help=f"Who {what} (default: human:<login>).")


def register(cli: typer.Typer) -> None:
    """Attach `queue` as a command group of the main CLI."""
    cli.add_typer(app, name="queue")


def _queue() -> "IdeaQueue":
    from experiments.ideas.queue import IdeaQueue

    return IdeaQueue.from_home()


def _store() -> "QueueStore":
    """The queue's file for reading: validated ideas without the spec models or the auto-approve policy."""
    from experiments.home import queue_path
    from experiments.ideas.store import QueueStore

    return QueueStore(queue_path())


def _actor(by: str | None) -> str:
    if by:
        return by
    import getpass

    try:
        return f"human:{getpass.getuser()}"
    except (KeyError, OSError):
        return "human"


def _when(t: Any) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _status(status: Status) -> str:
    return f"[{STATUS_STYLE[status.value]}]{status.value}[/]"


def _json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _analysis_path(run_id: str | None) -> Path | None:
    if not run_id:
        return None
    path = runs_dir() / run_id / "ANALYSIS.md"
    return path if path.exists() else None


def _diff(idea: "Idea") -> tuple[dict[str, tuple[Any, Any]], str | None]:
    if idea.spec is None:
        return {}, None
    from experiments.spec.base import load_base_spec
    from experiments.spec.io import spec_diff
    from experiments.spec.io import spec_hash as hash_spec

    base = load_base_spec()
    note = None
    if idea.base_hash and idea.base_hash != hash_spec(base):
        note = "the base spec changed since this idea was proposed; the diff is against the current base"
    return spec_diff(base, idea.experiment_spec()), note


def _echo(idea: "Idea", verb: str) -> None:
    typer.echo(f"{verb} idea {idea.id} ({idea.title}): now {idea.status.value}")


@app.command("list")
def list_(
    status: Annotated[Status | None, typer.Option("--status", "-s", help="Only ideas with this status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Every column at full width (id, hash), past the terminal's "
                                       "edge.")] = False,
) -> None:
    """List ideas (oldest first): number, status, priority, title, what each changes, source, tries, created."""
    from experiments.cli.tables import print_table, queue_table

    q = _store()
    every = q.ideas()  # one read of the file for the rows and the counts
    ideas = [i for i in every if status is None or i.status is status]
    if as_json:
        _json([i.model_dump(mode="json", exclude={"spec"}) for i in ideas])
        return
    console = make_console()
    print_table(queue_table(ideas, f"idea queue: {q.path}", console.width, wide), wide, console)
    counts = {s.value: n for s in Status if (n := sum(i.status is s for i in every))}
    console.print(", ".join(f"{k}: {v}" for k, v in counts.items()) or "the queue is empty")


@app.command("show")
def show(
    idea_id: IdeaArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one idea: rationale, spec diff against the base, motivating analysis, result and history."""
    idea = _store().get(idea_id)
    diff, diff_note = _diff(idea)
    analysis = _analysis_path(idea.analysis_ref)
    result_analysis = _analysis_path(idea.result.run_id if idea.result else None)
    if as_json:
        _json({
            "idea": idea.model_dump(mode="json"),
            "diff": {k: list(v) for k, v in diff.items()},
            "diff_note": diff_note,
            "analysis_path": str(analysis) if analysis else None,
            "result_analysis_path": str(result_analysis) if result_analysis else None,
        })
        return
    c = make_console()
    c.print(f"[bold]{idea.id}[/]  {idea.title}")
    c.print(f"status {_status(idea.status)}  priority {idea.priority}  attempts {idea.attempts}  "
            f"source {idea.source.label()}  created {_when(idea.created)}")
    c.print(f"spec hash {idea.spec_hash or '-'}", markup=False)
    if idea.lease:
        c.print(f"leased by {idea.lease.worker_id} since {_when(idea.lease.started)}, "
                f"last heartbeat {_when(idea.lease.heartbeat)}", markup=False)
    for label, text in (("Hypothesis", idea.hypothesis), ("Rationale", idea.rationale)):
        if text:
            c.print(f"\n[bold]{label}[/]")
            c.print(text, markup=False)
    if idea.analysis_ref:
        where = str(analysis) if analysis else f"no ANALYSIS.md found under {runs_dir() / idea.analysis_ref}"
        c.print(f"\n[bold]Motivating analysis[/] run {idea.analysis_ref}: {where}", highlight=False)
    if idea.errors:
        c.print("\n[bold red]Validation errors[/]")
        for e in idea.errors:
            c.print(f"- {e}", markup=False)
        c.print("\n[bold]Requested changes[/]")
        for k, v in idea.changes.items():
            c.print(f"  {k} = {json.dumps(v)}", markup=False)
    if idea.spec is not None:
        t = Table(title="spec diff against the base")
        t.add_column("field")
        t.add_column("base")
        t.add_column("idea")
        for path, (old, new) in diff.items():
            t.add_row(path, json.dumps(old), json.dumps(new))
        c.print()
        c.print(t if diff else "no difference from the base spec")
        if diff_note:
            c.print(f"note: {diff_note}", markup=False)
    if idea.result:
        r = idea.result
        c.print(f"\n[bold]Result[/] ({_when(r.finished)})")
        if r.run_id:
            c.print(f"run {r.run_id}" + (f": {result_analysis}" if result_analysis else ""), markup=False)
        for k, v in r.metrics.items():
            c.print(f"  {k}: {v}", markup=False)
        if r.error:
            c.print(f"error: {r.error}", markup=False)
        if r.log_tail:
            c.print("log tail:\n" + r.log_tail, markup=False)
    h = Table(title="history")
    for col in ("time", "actor", "action", "from", "to", "note"):
        h.add_column(col)
    for e in idea.history:
        h.add_row(_when(e.time), e.actor, e.action, e.from_status.value if e.from_status else "-",
                  e.to_status.value, e.note)
    c.print()
    c.print(h)


@app.command("approve")
def approve(
    idea_id: IdeaArg,
    note: Annotated[str, typer.Option("--note", "-n", help="Why (kept in the idea's history).")] = "",
    by: Annotated[str | None, _by("approves")] = None,
) -> None:
    """Approve a proposed idea so a runner may execute it."""
    _echo(_queue().approve(idea_id, _actor(by), note), "approved")


@app.command("reject")
def reject(
    idea_id: IdeaArg,
    note: Annotated[str, typer.Option("--note", "-n", help="Why it is rejected (required).")],
    by: Annotated[str | None, _by("rejects")] = None,
) -> None:
    """Reject a proposed idea, saying why."""
    _echo(_queue().reject(idea_id, _actor(by), note), "rejected")


@app.command("edit")
def edit(
    idea_id: IdeaArg,
    set_: SetOpt = None,
    note: Annotated[str, typer.Option("--note", "-n", help="Why (kept in the history).")] = "",
    by: Annotated[str | None, _by("edits")] = None,
) -> None:
    """Change fields of a proposed, approved or invalid idea; it is re-validated and goes back to proposed."""
    _echo(_queue().edit(idea_id, set_ or [], _actor(by), note), "edited")


@app.command("add")
def add(
    spec: Annotated[Path | None, typer.Argument(help="Spec file (YAML/JSON/TOML); default: the base.")] = None,
    set_: SetOpt = None,
    title: Annotated[str | None, typer.Option("--title", "-t", help="Short title (default: the changes).")] = None,
    hypothesis: Annotated[str, typer.Option("--hypothesis", help="What you expect and why.")] = "",
    rationale: Annotated[str, typer.Option("--rationale", help="The reasoning or evidence behind it.")] = "",
    priority: Annotated[int, typer.Option("--priority", "-p", help="Higher runs first.")] = 0,
    approve_: Annotated[bool, typer.Option("--approve", help="Approve it at once.")] = False,
    note: Annotated[str, typer.Option("--note", "-n", help="Approval note (with --approve).")] = "",
    by: Annotated[str | None, _by("adds it")] = None,
) -> None:
    """Queue your own idea: --set changes against the base spec, or a complete spec file (its missing fields
    take the ExperimentSpec defaults) with optional --set overrides; the diff against the base is recorded."""
    from agents.sink import Source
    from experiments.spec.io import apply_overrides, check_data_inputs, load_spec, validate_spec

    q = _queue()
    actor = _actor(by)
    set_ = set_ or []
    if spec is not None:
        full = load_spec(spec, set_)
    else:
        source = "base spec with --set " + ", ".join(set_) if set_ else "base spec"
        full = validate_spec(apply_overrides(q.base_spec().model_dump(mode="json"), set_), source)
    check_data_inputs(full, "queue add")
    idea = q.add_spec(full, title=title, hypothesis=hypothesis, rationale=rationale, priority=priority,
                      source=Source(kind="human", name=(actor.removeprefix("human:") or "human")[:80]),
                      approve=approve_, actor=actor, note=note)
    _echo(idea, "added")


@app.command("priority", context_settings={"ignore_unknown_options": True})
def priority(
    idea_id: IdeaArg,
    value: Annotated[int, typer.Argument(help="New priority (higher runs first; negative allowed).")],
    by: Annotated[str | None, _by("changes it")] = None,
) -> None:
    """Set a proposed or approved idea's priority."""
    idea = _queue().set_priority(idea_id, value, _actor(by))
    typer.echo(f"idea {idea.id} ({idea.title}): priority {idea.priority}")


@app.command("reap")
def reap(
    grace: Annotated[float, typer.Option("--grace", help="Seconds without a heartbeat: stale.")] = 900.0,
    max_attempts: Annotated[int, typer.Option("--max-attempts", help="Runs started before it fails.")] = 3,
) -> None:
    """Return running ideas of dead workers to approved (or fail them after the maximum attempts)."""
    reaped = _queue().reap_stale(grace, max_attempts)
    for idea in reaped:
        _echo(idea, "reaped")
    if not reaped:
        typer.echo("no stale leases")


@app.command("recover")
def recover(
    force: Annotated[bool, typer.Option("--force", help="Roll back even if the file is readable.")] = False,
) -> None:
    """Restore the newest readable backup of an unreadable queue file (the bad file is kept aside)."""
    result = _queue().recover(force=force)
    kept = f"; the replaced file is kept as {result.saved_as}" if result.saved_as else ""
    typer.echo(f"restored {result.restored_from} ({result.ideas} ideas){kept}")
