"""`gaussian demo`: the whole research loop, end to end, in a few minutes on a laptop CPU.

In a dedicated home: generate the embedded synthetic market, run a baseline experiment, apply the promotion
gate to it, let the offline proposer queue ideas (auto-approved inside a narrow policy), run them with the
optimizer (each in a contained child process, analysed, gated), then print the leaderboard and the decision.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from experiments.home import set_home
from trader.errors import StateError

MARKER = ".gaussian-demo"
MARKET = "demo"
DEMO_EDGE = 1.0
"""The demo market's planted edge: findable (22 bp of drift over a 45-minute hold, several times what SPY option
costs take) so that the loop ends with a promotion; `--null` sets it to 0, where the gate must refuse."""


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is: market sessions, agent-then-optimizer rounds, proposals and experiments per round."""

    sessions: int
    rounds: int
    proposals: int
    experiments: int


FULL = DemoSize(sessions=60, rounds=2, proposals=4, experiments=3)
FAST = DemoSize(sessions=15, rounds=1, proposals=3, experiments=2)


def base_spec_doc() -> dict[str, Any]:
    """The demo's base spec: the cached demo market, momentum entries (no training), small models if an idea
    switches to a model-based controller, the whole validation split."""
    return {
        "name": "demo-baseline",
        "seed": 7,
        "cycles": None,
        "data": {"source": "cache", "name": MARKET},
        "entry": {"type": "momentum"},
        "model": {"hidden": 16, "window": 32, "training": {"epochs": 2, "max_samples": 1000}},
    }


AUTOAPPROVE = {
    "enabled": True,
    "allowed_fields": ["exits.", "entry.momentum.", "entry.consensus.", "entry.predictor.", "entry.cooldown_bars",
                       "trading.target_delta", "trading.max_dte", "trading.min_dte"],
    "bounds": {"entry.type": {"values": ["random", "consensus", "predictor"]}},
    "max_changes": 3,
    "max_per_day": 50,
    "sources": ["agent", "heuristic", "optimizer"],
}


def prepare_home(home: Path, keep: bool) -> Path:
    """Create the demo home (emptied first unless `keep`); refuse to empty a folder the demo did not make."""
    home = home.expanduser().resolve()
    if home.exists() and any(home.iterdir()) and not keep:
        if not (home / MARKER).exists():
            raise StateError(f"{home} exists and was not made by `gaussian demo`; choose another --home "
                             "or pass --keep to reuse it")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by gaussian demo; safe to delete\n", encoding="utf-8")
    return home


def _section(c: Console, n: int, title: str, what: str) -> None:
    c.print()
    c.print(Rule(f"[bold cyan]{n}. {title}[/]"))
    c.print(what, highlight=False)


def _queue_table(ideas: list[Any]) -> Table:
    t = Table(title="idea queue")
    for col in ("#", "status", "title", "source", "changes"):
        t.add_column(col, overflow="fold")
    for i in ideas:
        t.add_row(str(i.seq), i.status.value, i.title, i.source.label(),
                  ", ".join(f"{k}={json.dumps(v)}" for k, v in i.changes.items()))
    return t


def run_demo(home: Path, fast: bool = False, keep: bool = False, console: Console | None = None,
             null: bool = False) -> dict[str, Any]:
    """Run the whole loop in `home` and print every step; return a summary (runs, decisions, promoted run)."""
    from experiments.cli import data as data_cmd
    from experiments.cli.tables import attach_console_log, checks_table, leaderboard_table, results_table

    c = console or Console()
    size = FAST if fast else FULL
    t_start = time.monotonic()
    home = prepare_home(home, keep)
    set_home(home)
    (home / "base_spec.yaml").write_text(yaml.safe_dump(base_spec_doc(), sort_keys=False), encoding="utf-8")
    (home / "autoapprove.yaml").write_text(yaml.safe_dump(AUTOAPPROVE, sort_keys=False), encoding="utf-8")

    _section(c, 1, "A home for the demo",
             f"Everything lives under {home}: base_spec.yaml (the experiment every idea changes), autoapprove.yaml "
             "(which proposals may run without a person: exits, momentum parameters, contract choice), queue/, "
             "runs/ and data/. The promotion gate uses its defaults (no promotion.yaml).")
    c.print((home / "base_spec.yaml").read_text(), markup=False, highlight=False)

    _section(c, 2, "Market data",
             f"A synthetic SPY market: {size.sessions} sessions of 1-minute bars with modeled option chains, hidden "
             "trend/volatility/liquidity regimes and a planted momentum component (like `gaussian data generate`).")
    edge = 0.0 if null else DEMO_EDGE
    if null:
        c.print("--null: the planted edge is 0, so every price is a martingale; the gate must refuse every run.",
                highlight=False)
    data_cmd.generate(name=MARKET, sessions=size.sessions, seed=7, edge=edge, start="2024-01-02")

    _section(c, 3, "A baseline experiment",
             "The base spec (momentum entries) is fitted on the train split and evaluated walk-forward on "
             "validation, beside two baselines on the same window: random entries and buy & hold. The last "
             "20% of the sessions (the holdout) is sealed: nothing looks at it until promotion.")
    from analysis.report import analyze_run
    from experiments.runs.runner import run_experiment
    from experiments.spec.base import load_base_spec

    base = run_experiment(load_base_spec(), analyze=False)
    analyze_run(base.run_dir)
    c.print(results_table(base.metrics, base.baselines, f"baseline run {base.run_id} (validation)"))
    c.print(f"analysis: {base.run_dir / 'ANALYSIS.md'}", highlight=False)

    _section(c, 4, "The promotion gate on the baseline",
             "Minimum trades, the Deflated Sharpe Ratio over every trial in the ledger, beating random entry and "
             "buy & hold; only if those pass is the sealed holdout evaluated (once).")
    from experiments.promotion.gate import load_gate, promote

    gate = load_gate()
    c.print(f"gate: {gate.model_dump()}", highlight=False)
    first = promote(base.run_id, auto=True, by="demo")
    c.print(checks_table(first.as_dict(), f"gate for baseline run {base.run_id}"))
    c.print(first.message, highlight=False)

    from experiments.ideas.queue import IdeaQueue
    from experiments.optimizer.agent_job import run_agent_job
    from experiments.optimizer.loop import OptimizerConfig, run_optimizer

    q = IdeaQueue.from_home()
    results: list[dict[str, Any]] = []
    step = 5
    for rnd in range(1, size.rounds + 1):
        _section(c, step, f"Round {rnd}: the meta-agent proposes ideas",
                 "The offline proposer (rule-based; the LLM agent takes its place when ANTHROPIC_API_KEY is set) "
                 "reads the newest ANALYSIS.md reports, the leaderboard and what was tried, and writes validated "
                 "proposals into the queue. Those inside autoapprove.yaml are approved at once; the rest wait for "
                 "a person (`gaussian queue approve ID`).")
        outcome = run_agent_job(offline=True, max_proposals=size.proposals)
        c.print(f"agent job: {outcome.summary()}", highlight=False)
        for p in outcome.proposals:
            c.print(f"  - {p.title}: {p.decision}" + (f" ({p.queue_status})" if p.queue_status else "")
                    + (f"; {'; '.join(p.reasons)}" if p.reasons else ""), markup=False, highlight=False)
        c.print(_queue_table(q.list()))
        step += 1
        _section(c, step, f"Round {rnd}: the optimizer runs the approved ideas",
                 f"Like `gaussian optimize --once --max-experiments {size.experiments} --auto-promote`: one idea at "
                 "a time by priority, each in a child process with a wall-clock timeout and a memory cap, analysed "
                 "after its run, then put through the promotion gate (it must also rank above the promoted run).")
        if not q.list("approved"):
            c.print("no approved idea to run in this round", highlight=False)
        else:
            cfg = OptimizerConfig(once=True, max_experiments=size.experiments, auto_promote=True, agent=False,
                                  heartbeat_s=2.0, stale_after_s=30.0, poll_s=0.5, timeout_s=600.0,
                                  memory_mb=4096.0)
            handler = attach_console_log()
            try:
                results += run_optimizer(cfg)
            finally:
                logging.getLogger("gaussian.optimizer").removeHandler(handler)
        step += 1

    _section(c, step, "Leaderboard", "Finished runs ranked by validation Sharpe; DSR deflated over every trial so far.")
    from experiments.promotion.gate import current_promoted, promotion_history
    from experiments.promotion.leaderboard import leaderboard, trials_note

    rows = leaderboard()
    c.print(leaderboard_table(rows, f"leaderboard ({trials_note()})"))

    _section(c, step + 1, "The promotion decision", "What the gate decided, with its figures.")
    promoted = current_promoted()
    if promoted:
        c.print(checks_table(promoted, f"promoted run {promoted['run_id']} ({promoted.get('name')})"))
        c.print(f"[bold green]promoted: run {promoted['run_id']}[/] (evidence in {home / 'runs' / 'promoted.json'})",
                highlight=False)
    else:
        top = rows[0]["run_id"] if rows else None
        last = next((h for h in reversed(promotion_history()) if h.get("run_id") == top), None)
        if last:
            c.print(checks_table(last, f"best run {top}: refused"))
        c.print("[bold yellow]nothing is promoted[/]: no run passed the gate. That is the gate doing its job: on "
                "this small market no strategy showed an edge over its baselines, after costs, that survives "
                "deflating for the number of trials. Every decision is recorded in "
                f"{home / 'runs' / 'promotions.jsonl'}.", highlight=False)

    _section(c, step + 2, "Where to look next", "")
    for r in rows:
        c.print(f"  {r['run_id']}: {home / 'runs' / r['run_id'] / 'ANALYSIS.md'}", highlight=False)
    c.print(f"  gaussian --home {home} status | leaderboard | queue list | runs show RUN | promote RUN",
            highlight=False)
    seconds = time.monotonic() - t_start
    c.print(f"\ndemo finished in {seconds:.0f} s", highlight=False)
    return {"home": str(home), "null": null, "edge": edge, "baseline": base.run_id, "results": results, "leaderboard": rows,
            "promoted": promoted.get("run_id") if promoted else None, "seconds": seconds}
