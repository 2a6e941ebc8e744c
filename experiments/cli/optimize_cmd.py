"""`gaussian optimize`, `gaussian status`, `gaussian leaderboard` and `gaussian promote`."""
import json
from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from experiments.cli.tables import checks_table, fmt_cell, leaderboard_table, make_console, print_table, utc_text
from trader.errors import GaussianError

console = make_console()


def register(cli: typer.Typer) -> None:
    """Attach `optimize`, `status`, `leaderboard` and `promote`."""

    @cli.command("optimize")
    def optimize(
        max_experiments: int | None = typer.Option(None, "--max-experiments", min=1,
                                                   help="Stop after this many experiments ran."),
        until: str | None = typer.Option(None, "--until", help="Lease no new idea after this time: HH:MM or "
                                                               "an ISO date-time (New York time if no zone)."),
        once: bool = typer.Option(False, "--once", help="Exit when no approved idea is left."),
        auto_promote: bool = typer.Option(False, "--auto-promote", help="Apply the promotion gate to every "
                                                                        "finished run."),
        no_agent: bool = typer.Option(False, "--no-agent", help="Do not run the meta-agent job."),
        offline: bool = typer.Option(False, "--offline", help="Use the offline (rule-based) proposer."),
        agent_every: float = typer.Option(30.0, "--agent-every", min=0.1, help="Minutes between agent jobs."),
        agent_backlog: int = typer.Option(2, "--agent-backlog", min=0,
                                          help="Also run the agent when fewer ideas than this are approved."),
        max_proposals: int | None = typer.Option(None, "--max-proposals", min=1, help="Per agent job."),
        timeout: float = typer.Option(3600.0, "--timeout", min=1.0, help="Wall-clock seconds per experiment."),
        memory_mb: float = typer.Option(4096.0, "--memory-mb", min=64.0, help="Memory cap per experiment (MB)."),
        threads: int = typer.Option(1, "--threads", min=0, help="Threads for torch, BLAS and XGBoost in each "
                                                                "experiment (0: their defaults)."),
        warm: bool = typer.Option(True, "--warm/--cold", help="Fork experiments from a process that imported "
                                                              "everything once (--cold: a new Python each)."),
        cycles: int | None = typer.Option(None, "--cycles", min=10, help="Bound every run's evaluation bars."),
        heartbeat: float = typer.Option(15.0, "--heartbeat", min=0.1, help="Seconds between heartbeats."),
        stale_after: float = typer.Option(120.0, "--stale-after", min=0.3,
                                          help="Seconds of silence after which a lease is reaped."),
        max_attempts: int = typer.Option(3, "--max-attempts", min=1, help="Runs an idea may start."),
        poll: float = typer.Option(5.0, "--poll", min=0.1, help="Seconds between looks at an empty queue."),
        workers: int | None = typer.Option(None, "--workers", help="Run up to N experiments at once on a local "
                                                                  "Dask cluster (1: one at a time, as without it)."),
        scheduler: str | None = typer.Option(None, "--scheduler", help="Submit the experiments to the Dask "
                                                                       "scheduler at tcp://HOST:8786 instead."),
    ) -> None:
        """Run approved ideas unattended (each in a contained child process, N at once with --workers / --scheduler)
        and propose more."""
        import logging

        from pydantic import ValidationError

        from experiments.cli.progress_display import attach_console_log
        from experiments.optimizer.dask_pool import check_workers, probe_scheduler
        from experiments.optimizer.loop import OptimizerConfig, parse_until, run_optimizer
        from experiments.spec.io import describe_validation_error

        check_workers(workers, memory_mb, scheduler)
        if scheduler is not None:
            probe_scheduler(scheduler)
        try:
            cfg = OptimizerConfig(
                max_experiments=max_experiments, until=parse_until(until) if until else None, once=once,
                auto_promote=auto_promote, agent=not no_agent, offline=True if offline else None,
                max_proposals=max_proposals, agent_interval_s=agent_every * 60.0, agent_backlog=agent_backlog,
                timeout_s=timeout, memory_mb=memory_mb, threads=threads, warm_start=warm, cycles=cycles,
                heartbeat_s=heartbeat, stale_after_s=stale_after, max_attempts=max_attempts, poll_s=poll,
                workers=workers, scheduler=scheduler,
            )
        except ValidationError as err:
            raise GaussianError(describe_validation_error(err, "optimize options")) from None
        handler = attach_console_log()
        try:
            results = run_optimizer(cfg)
        finally:
            logging.getLogger("gaussian.optimizer").removeHandler(handler)
        done = sum(1 for r in results if r["status"] == "done")
        failed = sum(1 for r in results if r["status"] == "failed")
        console.print(f"optimizer finished: {done} done, {failed} failed, "
                      f"{len(results) - done - failed} returned to the queue or lost")

    @cli.command("status")
    def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """What is running, queue counts, recent results, agent spend, the promoted model and health."""
        from experiments.optimizer.status import collect_status

        doc = collect_status()
        if as_json:
            typer.echo(json.dumps(doc, indent=2, default=str))
        else:
            _print_status(doc)
        if doc.get("queue_error"):  # a damaged queue is an error for scripts too
            raise typer.Exit(2)

    @cli.command("leaderboard")
    def leaderboard_cmd(
        limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Show the top N."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        wide: bool = typer.Option(False, "--wide", help="Every column at full width, past the terminal's edge."),
    ) -> None:
        """Finished runs ranked by validation Sharpe (ties by P&L), baselines alongside."""
        from experiments.promotion.leaderboard import leaderboard, trials_note

        rows = leaderboard(limit)
        if as_json:
            typer.echo(json.dumps(rows, indent=2, default=str))
            return
        if not rows:
            console.print("no finished runs yet (gaussian run, or gaussian optimize)")
            return
        term = make_console()  # sized now: the terminal (or COLUMNS) as it is when the command runs
        print_table(leaderboard_table(rows, f"leaderboard (validation; {trials_note()})", term.width, wide), wide,
                    term)

    @cli.command("promote")
    def promote_cmd(
        run: str = typer.Argument(..., help="Run id (or unique prefix) or run directory."),
        force: bool = typer.Option(False, "--force", help="Promote even when the gate fails (recorded as forced)."),
        by: str | None = typer.Option(None, "--by", help="Who promotes (default: human:<login>)."),
        as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
    ) -> None:
        """Apply the promotion gate to a run (evaluating its sealed holdout once) and promote it if it passes."""
        import getpass

        from experiments.promotion.gate import PromotionError, promote

        try:
            who = by or f"human:{getpass.getuser()}"
        except (KeyError, OSError):
            who = "human"
        decision = promote(run, force=force, by=who)
        doc = decision.as_dict()
        if as_json:
            typer.echo(json.dumps(doc, indent=2, default=str))
        elif decision.checks:
            console.print(checks_table(doc, f"promotion gate for run {decision.run_id}"))
        if not decision.promoted:
            raise PromotionError(decision.message)
        if not as_json:
            console.print(f"[bold green]{decision.message}[/]" if not decision.forced
                          else f"[bold yellow]{decision.message}[/]")


def _usd(value: float) -> str:
    from agents.cost_ledger import usd_text

    return usd_text(value)


def _print_status(doc: dict[str, Any]) -> None:
    opt = doc["optimizer"]
    console.print(f"[bold]home[/] {doc['home']}  (times in UTC; now {utc_text(doc['time'], seconds=True)})",
                  highlight=False)
    if opt.get("running"):
        console.print(f"[bold]optimizer[/] [green]running[/] (pid {opt.get('pid')}, since {utc_text(opt.get('started'))}, "
                      f"heartbeat {opt.get('heartbeat_age_s', 0):.0f} s ago, "
                      f"{opt.get('experiments_run', 0)} experiment(s) this session)", highlight=False)
    else:
        console.print(f"[bold]optimizer[/] not running: {opt.get('why')}", highlight=False)
    for w in (opt.get("workers") or []) if opt.get("running") else []:
        if "error" in w:
            console.print(f"  [red]workers[/]: {w['error']}", highlight=False)
        elif w.get("waiting"):
            console.print(f"  waiting for a worker: idea {w['idea_id']} ({w.get('title')}) submitted {w.get('since')}",
                          highlight=False)
        elif w.get("idea_id"):
            console.print(f"  worker {w['address']} (pid {w.get('pid')}): idea {w['idea_id']} ({w.get('title')}) "
                          f"since {w.get('since')}, start {w.get('starts')}", highlight=False)
        else:
            console.print(f"  worker {w['address']}: idle", highlight=False)
    cur = opt.get("current") if opt.get("running") else None
    if cur:
        console.print(f"  running idea {cur['idea_id']} ({cur['title']}) since {utc_text(cur['since'])}, "
                      f"attempt {cur.get('attempt')}, log {cur.get('log')}", highlight=False)
    from experiments.runs.progress import describe

    for e in doc.get("experiments") or []:
        who = f"idea {e['idea_id']}" if e.get("idea_id") else "by hand"
        console.print(f"  run {e['run_id']} ({who}, pid {e.get('pid')}): {describe(e)}", highlight=False)
    for r in doc["running"]:
        if not cur or r["idea_id"] != cur["idea_id"]:
            console.print(f"  leased: idea {r['idea_id']} by {r['worker']} (heartbeat {utc_text(r['heartbeat'], True)})",
                          highlight=False)
    q = {k: v for k, v in (doc["queue"] or {}).items() if v}
    if doc.get("queue_error"):
        console.print("[bold]queue[/] [red]damaged[/]: the file cannot be read (see health)")
    else:
        console.print("[bold]queue[/] " + (", ".join(f"{k} {v}" for k, v in q.items()) or "empty"))
    if doc["recent"]:
        t = Table(title="recent results", box=box.SIMPLE_HEAD)
        for col in ("#", "status", "run", "trades", "P&L%", "Sharpe", "title"):
            t.add_column(col, no_wrap=col != "title", overflow="ellipsis")
        for r in doc["recent"]:
            t.add_row(str(r["seq"]), r["status"], r["run_id"] or "-", fmt_cell(r["trades"]), fmt_cell(r["pnl_pct"]),
                      fmt_cell(r["sharpe"]), r["title"])
        console.print(t)
        for r in doc["recent"]:
            if r["error"]:
                console.print(Text(f"  #{r['seq']} failed: {r['error']}", style="red"))
    spend = doc.get("agent_spend") or {}
    agent = opt.get("agent") or {}
    line = (f"[bold]agent[/] spend today ${spend.get('spent_today_usd', 0):.4f}"
            + (f" of {_usd(spend['daily_cap_usd'])}" if "daily_cap_usd" in spend else "")
            + f", total ${spend.get('total_usd', 0):.4f}")
    job = doc.get("agent_last_job") or {}
    if job.get("time"):
        line += f"; last job {utc_text(job['time'])}: {job.get('summary') or job.get('mode')}"
    elif agent.get("last_finished"):
        line += f"; last job {utc_text(agent['last_finished'])}: {agent.get('last_error') or agent.get('last_outcome') or 'ok'}"
    if agent.get("next_run") and opt.get("running"):
        line += f"; next {utc_text(agent['next_run'])}"
    console.print(line, highlight=False)
    p = doc.get("promoted")
    if p:
        console.print(f"[bold]promoted[/] run {p['run_id']} ({p.get('name')}) at {utc_text(p['promoted_at'])} by {p['by']}"
                      f"{' [yellow](forced)[/]' if p.get('forced') else ''}: validation Sharpe "
                      f"{fmt_cell(p['validation_sharpe'])}, holdout Sharpe {fmt_cell(p['holdout_sharpe'])}", highlight=False)
    else:
        console.print("[bold]promoted[/] none yet")
    if doc.get("pbo") is not None:
        from experiments.promotion.pbo_store import pbo_sentence

        console.print(f"[bold]overfitting[/] {pbo_sentence(doc['pbo'])}", highlight=False)
    if doc["health"]:
        for h in doc["health"]:
            color = {"error": "red", "warning": "yellow"}.get(h["level"], "cyan")
            console.print(f"[{color}]{h['level']}[/]: {h['message']}", highlight=False)
    else:
        console.print("[bold]health[/] [green]ok[/]")
