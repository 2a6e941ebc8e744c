"""`gaussian demo`: the four user flows, end to end, in a few minutes on a laptop CPU.

In a dedicated home: generate the embedded synthetic market; flow 1, run a baseline experiment by hand and apply
the promotion gate to it; flow 2, let the offline proposer queue ideas (auto-approved inside a narrow policy) and
review the rest as a person would; flow 3, run them with the optimizer (each in a contained child process,
analysed, gated); print the leaderboard and the decision; flow 4, paper trade the promoted run for a short replay
(or, only when asked, the best run when nothing passed the gate); then say where everything is.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.rule import Rule

from experiments.home import set_home
from trader.errors import StateError

MARKER = ".gaussian-demo"
MARKET = "demo"
DEMO_EDGE = 1.0
"""The demo market's planted edge: findable (22 bp of drift over a 45-minute hold, several times what SPY option
costs take) so that the loop ends with a promotion; `--null` sets it to 0, where the gate must refuse."""


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is: market sessions, agent-then-optimizer rounds, proposals and experiments per round,
    bars of the paper-trading replay."""

    sessions: int
    rounds: int
    proposals: int
    experiments: int
    paper_bars: int = 120


FULL = DemoSize(sessions=60, rounds=2, proposals=4, experiments=3, paper_bars=120)
FAST = DemoSize(sessions=15, rounds=1, proposals=3, experiments=2, paper_bars=60)
REVIEWER = "human:demo-reviewer"


def base_spec_doc() -> dict[str, Any]:
    """The demo's base spec: the cached demo market, momentum entries (no training), small models if an idea
    switches to a model-based controller, the whole validation split."""
    return {
        "name": "demo-baseline",
        "seed": 7,
        "cycles": None,
        "data": {"source": "cache", "name": MARKET},
        "entry": {"type": "momentum"},
        "model": {"hidden": 16, "training": {"epochs": 2, "max_samples": 1000}},
    }


AUTOAPPROVE = {
    "enabled": True,
    "allowed_fields": ["exits.", "entry.momentum.", "entry.consensus.", "entry.predictor.", "entry.cooldown_bars",
                       "trading.target_delta", "trading.max_dte", "trading.min_dte"],
    "bounds": {},
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


def run_demo(home: Path, fast: bool = False, keep: bool = False, console: Console | None = None,
             paper_best: bool = False, base: dict[str, Any] | None = None,
             size: DemoSize | None = None, null: bool = False) -> dict[str, Any]:
    """Walk the four flows in `home`, printing every step; return a summary (runs, decisions, promoted run, the
    paper session). `base` replaces fields of the demo's base spec; `paper_best` paper trades the best run when
    nothing passed the gate (said so, never promoted); `null` makes the market's planted edge 0."""
    from experiments.cli import data as data_cmd
    from experiments.cli.progress_display import attach_console_log, phase_display
    from experiments.cli.tables import checks_table, leaderboard_table, make_console, queue_table, results_table

    c = console or make_console()
    size = size or (FAST if fast else FULL)
    t_start = time.monotonic()
    home = prepare_home(home, keep)
    set_home(home)
    spec_doc = {**base_spec_doc(), **(base or {})}
    (home / "base_spec.yaml").write_text(yaml.safe_dump(spec_doc, sort_keys=False), encoding="utf-8")
    (home / "autoapprove.yaml").write_text(yaml.safe_dump(AUTOAPPROVE, sort_keys=False), encoding="utf-8")
    step = iter(range(1, 100))

    _section(c, next(step), "A home for the demo",
             f"Everything lives under {home}: base_spec.yaml (the experiment every idea changes), autoapprove.yaml "
             "(which proposals may run without a person: exits, entry parameters, contract choice; a new entry "
             "controller waits for a review), queue/, "
             "runs/, data/ and paper/. The promotion gate uses its defaults (no promotion.yaml).")
    c.print((home / "base_spec.yaml").read_text(), markup=False, highlight=False)

    _section(c, next(step), "Market data",
             f"A synthetic SPY market: {size.sessions} sessions of 1-minute bars with modeled option chains, hidden "
             "trend/volatility/liquidity regimes and a planted momentum component (like `gaussian data generate`).")
    edge = 0.0 if null else DEMO_EDGE
    if null:
        c.print("--null: the planted edge is 0, so every price is a martingale; the gate must refuse every run.",
                highlight=False)
    data_cmd.generate(name=MARKET, sessions=size.sessions, seed=7, edge=edge, start="2024-01-02")

    _section(c, next(step), "Flow 1: one experiment by hand",
             "Like `gaussian run`: the base spec (momentum entries) is fitted on the train split and evaluated "
             "walk-forward on validation, beside two baselines on the same window: random entries and buy & hold. "
             "The last 20% of the sessions (the holdout) is sealed: nothing looks at it until promotion.")
    from analysis.report import analyze_run
    from experiments.runs.runner import run_experiment
    from experiments.spec.base import load_base_spec

    with phase_display(c) as display:
        base_run = run_experiment(load_base_spec(), analyze=False, progress=display)
    analyze_run(base_run.run_dir)
    c.print(results_table(base_run.metrics, base_run.baselines, f"baseline run {base_run.run_id} (validation)"))
    c.print(f"analysis: {base_run.run_dir / 'ANALYSIS.md'}", highlight=False)

    _section(c, next(step), "The promotion gate on the baseline",
             "Minimum trades, the Deflated Sharpe Ratio over every trial in the ledger, beating random entry and "
             "buy & hold; only if those pass is the sealed holdout evaluated (once).")
    from experiments.promotion.gate import load_gate, promote

    gate = load_gate()
    c.print("gate: " + ", ".join(f"{k}={v}" for k, v in gate.model_dump().items()), highlight=False)
    first = promote(base_run.run_id, auto=True, by="demo")
    c.print(checks_table(first.as_dict(), f"gate for baseline run {base_run.run_id}"))
    c.print(first.message, highlight=False)

    from experiments.ideas.queue import IdeaQueue
    from experiments.optimizer.agent_job import run_agent_job
    from experiments.optimizer.loop import OptimizerConfig, run_optimizer

    q = IdeaQueue.from_home()
    results: list[dict[str, Any]] = []
    reviewed: list[dict[str, Any]] = []
    for rnd in range(1, size.rounds + 1):
        _section(c, next(step), f"Flow 2, round {rnd}: the meta-agent proposes, a person reviews",
                 "The offline proposer (rule-based; the LLM agent takes its place when ANTHROPIC_API_KEY is set) "
                 "reads the newest ANALYSIS.md reports, the leaderboard and what was tried, and writes validated "
                 "proposals into the queue (like `gaussian agent propose`). Those inside autoapprove.yaml are "
                 "approved at once; the rest wait for a person.")
        outcome = run_agent_job(offline=True, max_proposals=size.proposals)
        c.print(f"agent job: {outcome.summary()}", highlight=False)
        for p in outcome.proposals:
            c.print(f"  - {p.title}: {p.decision}" + (f" ({p.queue_status})" if p.queue_status else "")
                    + (f"; {'; '.join(p.reasons)}" if p.reasons else ""), markup=False, highlight=False)
        c.print(queue_table(q.list(), "idea queue", width=c.width))
        reviewed += _review(c, q, size)
        _section(c, next(step), f"Flow 3, round {rnd}: the optimizer runs the approved ideas",
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

    _section(c, next(step), "Leaderboard",
             "Finished runs ranked by validation Sharpe; DSR deflated over every trial so far; bars is the length "
             "of each run's validation window.")
    from experiments.promotion.gate import current_promoted, promotion_history
    from experiments.promotion.leaderboard import leaderboard, trials_note

    rows = leaderboard()
    c.print(leaderboard_table(rows, f"leaderboard ({trials_note()})", width=c.width))

    _section(c, next(step), "The promotion decision", "What the gate decided, with its figures.")
    promoted = current_promoted()
    paper_run: str | None = None
    if promoted:
        c.print(checks_table(promoted, f"promoted run {promoted['run_id']} ({promoted.get('name')})"))
        c.print(f"[bold green]promoted: run {promoted['run_id']}[/] (evidence in {home / 'runs' / 'promoted.json'})",
                highlight=False)
        paper_run = promoted["run_id"]
    else:
        top = rows[0]["run_id"] if rows else None
        last = next((h for h in reversed(promotion_history()) if h.get("run_id") == top), None)
        if last:
            c.print(checks_table(last, f"best run {top}: refused"))
        c.print("[bold yellow]nothing is promoted[/]: no run passed the gate. That is the gate doing its job: on "
                "this market no strategy showed an edge over its baselines, after costs, that survives "
                "deflating for the number of trials. Every decision is recorded in "
                f"{home / 'runs' / 'promotions.jsonl'}.", highlight=False)
        if paper_best and top:
            paper_run = top

    _section(c, next(step), "Flow 4: paper trading",
             "Like `gaussian paper --bars N`: the run's exact pipeline (its saved models, nothing refitted) through "
             "the same engine, against a local Tradier server replaying the last session of its market, one bar "
             "at a time, with kill switches and a journal.")
    session = _paper(c, home, paper_run, promoted is not None, size.paper_bars) if paper_run else None
    if session is None:
        c.print("[yellow]skipped[/]: paper trading runs the promoted model, and nothing is promoted. "
                "`gaussian demo --paper-best` paper trades the best run anyway (labelled as not promoted); "
                "`gaussian promote RUN --force` promotes one by hand, recorded as forced.", highlight=False)

    _where(c, next(step), home, rows, session)
    seconds = time.monotonic() - t_start
    c.print(f"\ndemo finished in {seconds:.0f} s", highlight=False)
    return {"home": str(home), "null": null, "edge": edge, "baseline": base_run.run_id, "results": results, "leaderboard": rows,
            "reviewed": reviewed, "promoted": promoted.get("run_id") if promoted else None,
            "paper": session, "seconds": seconds}


def _review(c: Console, q: Any, size: DemoSize) -> list[dict[str, Any]]:
    """Stand in for a person: show each proposal auto-approve left waiting (its diff against the base), approve as
    many as the round's experiment budget leaves room for (at least one), leave the rest proposed for the reader."""
    from experiments.spec.io import spec_diff

    waiting = q.list("proposed")
    if not waiting:
        c.print("review: every proposal was inside autoapprove.yaml; nothing waits for a person", highlight=False)
        return []
    c.print(f"review: {len(waiting)} proposal(s) wait for a person (`gaussian queue list --status proposed`, "
            "`gaussian queue show N`):", highlight=False)
    budget = max(1, size.experiments - len(q.list("approved")))  # one approval at least: the review shows both
    out = []
    for idea in waiting:
        diff = spec_diff(q.base_spec(), idea.experiment_spec())
        changes = ", ".join(f"{k}: {json.dumps(a)} -> {json.dumps(b)}" for k, (a, b) in diff.items())
        c.print(f"  #{idea.seq} {idea.title}", markup=False, highlight=False)
        c.print(f"     changes {changes or 'nothing'}", markup=False, highlight=False)
        if budget > 0:
            note = "demo review: within this demo's experiment budget"
            q.approve(idea.id, REVIEWER, note)
            budget -= 1
            c.print(f"     approved (`gaussian queue approve {idea.seq} --note \"{note}\"`)", markup=False,
                    highlight=False)
            out.append({"idea": idea.id, "action": "approve"})
        else:
            c.print(f"     left for you: `gaussian queue approve {idea.seq}` or "
                    f"`gaussian queue reject {idea.seq} --note WHY`", markup=False, highlight=False)
            out.append({"idea": idea.id, "action": "left"})
    return out


def _paper(c: Console, home: Path, run_id: str, promoted: bool, bars: int) -> dict[str, Any]:
    """Replay `bars` bars of the run's market through the paper loop and print its decisions and summary."""
    from experiments.cli.paper_cmd import session_table
    from experiments.paper.guard import load_limits
    from experiments.paper.venues import load_pipeline, open_session

    label = "promoted run" if promoted else "best run (NOT promoted: --paper-best)"
    c.print(f"paper trading the {label} {run_id} for {bars} bars "
            f"(`gaussian paper --run {run_id} --bars {bars}`)", highlight=False)
    pipe = load_pipeline(run_id)
    paper, venue = open_session(pipe, "replay", home, load_limits(home), session=f"demo-{run_id}")

    def show(_: int, row: dict[str, Any]) -> None:
        if row["decisions"]:
            acts = "; ".join(f"{a} {'call' if d > 0 else 'put' if d < 0 else ''}".strip() if a == "open"
                             else f"{a} #{p}" for intents in row["decisions"] for a, d, p in intents)
            c.print(f"  {row['time'][:16]}  equity {row['equity']:,.2f}  open {row['n_open']}  {acts}",
                    highlight=False)

    try:
        doc = paper.run(max_bars=bars, on_bar=show)
    finally:
        venue.close()
    c.print(session_table(doc, paper.dir))
    return {"run_id": run_id, "promoted": promoted, "dir": str(paper.dir), "bars": (doc.get("window") or {}).get("bars"),
            "trades": (doc.get("metrics") or {}).get("trades")}


def _where(c: Console, n: int, home: Path, rows: list[dict[str, Any]], session: dict[str, Any] | None) -> None:
    import importlib.util

    _section(c, n, "Where everything is", "")
    g = f"gaussian --home {home}"
    say = partial(c.print, highlight=False, soft_wrap=True)  # paths stay whole for copying
    say(f"  runs, one folder each with ANALYSIS.md and plots/: {home / 'runs'}")
    for r in rows[:5]:
        say(f"    {r['run_id']}: {home / 'runs' / r['run_id'] / 'ANALYSIS.md'}")
    say(f"  idea queue: {home / 'queue' / 'ideas.json'}  ({g} queue list)")
    say(f"  promotion decisions: {home / 'runs' / 'promotions.jsonl'}")
    if session:
        say(f"  paper session (journal, state, ANALYSIS.md): {session['dir']}")
    say(f"  next: {g} status | leaderboard | runs list | runs compare A B | queue list | paper")
    if importlib.util.find_spec("experiments.web") is not None:
        say(f"  dashboard: {g} serve  (then open the address it prints)")
