"""The agent job: gather the reports, leaderboard and tried list, pick the LLM or the offline proposer, record the outcome.

This is the composition root of the agent: it builds what `agents/` is handed (the spec model, the idea queue
as the sink, a `validate_changes` callable over the base spec) and writes `runs/agent_status.json` (read by
`gaussian status`) and one line per job to `runs/agent_history.jsonl`. It never raises for a failure of the
agent: the returned ProposeOutcome lists it, so the optimizer goes on with the approved ideas it has.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agents.config import AGENT_CONFIG_FILE, AgentConfig, load_agent_config
from agents.context import (
    AgentContext,
    ReportDigest,
    TriedItem,
    build_context,
    read_report_digest,
    recent_report_dirs,
    tried_item,
)
from agents.cost_ledger import CostLedger, default_ledger_path
from agents.offline import MODEL_FREE_ENTRY_TYPES, propose_offline
from agents.outcome import ProposeOutcome, utc_now
from agents.settings import LLMSettings
from experiments.files import append_jsonl, atomic_write_json
from experiments.home import home_dir, runs_dir
from experiments.ideas.errors import ProposalError
from experiments.ideas.queue import IdeaQueue, normalise_changes
from experiments.optimizer.status import agent_status_path
from experiments.runs import ledger as run_ledger
from experiments.runs.attempts import is_abandoned
from experiments.spec.io import apply_overrides, effective_dict, flatten, spec_diff, spec_hash, validate_spec
from experiments.spec.model import EntryType, ExperimentSpec
from trader.errors import GaussianError, SpecError
from trader.signal_names import SIGNAL_NAMES

log = logging.getLogger("gaussian.agent_job")

HISTORY_FILE = "agent_history.jsonl"


def history_path() -> Path:
    """runs/agent_history.jsonl under the home: one line per agent job (dry runs excluded)."""
    return runs_dir() / HISTORY_FILE


def supported_entry_types() -> list[str]:
    """Entry controllers the runner can build in this version, in the spec's order.

    experiments.runs.pipeline.SUPPORTED_ENTRY_TYPES when it exists; otherwise each entry.type is probed with
    pipeline.make_strategy over stand-in fitted models: only "not available in this build" (a SpecError) rules
    a type out, while a stand-in that lacks what a real strategy reads shows the build does know the type.
    """
    from experiments.runs import pipeline

    declared = getattr(pipeline, "SUPPORTED_ENTRY_TYPES", None)
    if declared is not None:
        return list(declared)
    base = ExperimentSpec().model_dump(mode="json")

    def known(kind: str) -> bool:
        spec = validate_spec(apply_overrides(base, {"entry.type": kind}), source=f"entry.type {kind}")
        try:
            pipeline.make_strategy(spec, SimpleNamespace(cost_per_share=0.0))  # type: ignore[arg-type]
        except SpecError:
            return False
        except (AttributeError, TypeError, ValueError):
            return True  # the stand-in models are not enough to build it, but the build knows the type
        return True

    return [kind for kind in typing.get_args(EntryType) if known(kind)]


# ---------------------------------------------------------------------------------------------- spec helpers
class SpecTools:
    """validate_changes, spec_hash_of and diff_from_base over one base spec."""

    def __init__(self, base: ExperimentSpec) -> None:
        self.base = base
        self.base_data = base.model_dump(mode="json")

    def resolve(self, changes: Mapping[str, Any]) -> ExperimentSpec:
        """The base spec with `changes` applied and validated (raises SpecError or ProposalError)."""
        return validate_spec(apply_overrides(self.base_data, normalise_changes(dict(changes))), source="proposal")

    def validate_changes(self, changes: dict[str, Any]) -> list[str]:
        """Validation errors of `changes` applied to the base spec (empty when the spec is valid)."""
        try:
            self.resolve(changes)
        except (SpecError, ProposalError) as err:
            return [str(err)]
        return []

    def spec_hash_of(self, changes: dict[str, Any]) -> str | None:
        """The spec hash `changes` lead to, or None when they are invalid."""
        try:
            return spec_hash(self.resolve(changes))
        except (SpecError, ProposalError):
            return None

    def diff_from_base(self, spec_data: Mapping[str, Any] | None) -> dict[str, Any]:
        """A stored spec's fields that differ from the base ({} when it cannot be read)."""
        if not isinstance(spec_data, Mapping):
            return {}
        try:
            spec = validate_spec(dict(spec_data), source="stored spec")
        except SpecError:
            return {}
        return {k: new for k, (_, new) in spec_diff(self.base, spec).items()}

    def base_flat(self) -> dict[str, Any]:
        """The base spec flattened to dotted paths (cosmetic fields left out)."""
        return flatten(effective_dict(self.base))


def _run_spec(run_id: str | None) -> dict[str, Any] | None:
    if not run_id:
        return None
    try:
        doc = json.loads((runs_dir() / run_id / "spec.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    spec = doc.get("spec") if isinstance(doc, dict) else None
    return spec if isinstance(spec, dict) else None


def _bits(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """Entry controller and encoder of a stored spec (no encoder for controllers that use no model)."""
    spec = spec or {}
    entry = (spec.get("entry") or {}).get("type")
    encoder = (spec.get("model") or {}).get("encoder") if entry not in MODEL_FREE_ENTRY_TYPES else None
    return {"entry_type": entry, "encoder": encoder}


# ---------------------------------------------------------------------------------------------- gathering
def gather_reports(tools: SpecTools, limit: int) -> list[ReportDigest]:
    """Digests of the `limit` newest analysed, non-abandoned runs, each with its changes against the base."""
    out = []
    for run_dir in recent_report_dirs(runs_dir(), limit, exclude=is_abandoned):
        digest = read_report_digest(run_dir, tools.diff_from_base(_run_spec(run_dir.name)))
        if digest is not None:
            out.append(digest)
    return out


def gather_leaderboard(limit: int) -> list[dict[str, Any]]:
    """The leaderboard's best `limit` rows (validation figures)."""
    if limit <= 0:
        return []
    from experiments.promotion.leaderboard import leaderboard

    return leaderboard(limit)


def gather_tried(queue: IdeaQueue, tools: SpecTools, limit: int) -> list[TriedItem]:
    """Ideas of the queue and runs of the ledger (failures included), newest first, merged per idea."""
    ideas = queue.list()
    entries = run_ledger.entries()
    by_idea: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.get("idea_id"):
            by_idea[str(e["idea_id"])] = e
    rows: list[tuple[str, TriedItem]] = []
    for idea in ideas:
        led = by_idea.get(idea.id) or {}
        res = idea.result
        metrics = (res.metrics if res else None) or led.get("metrics") or {}
        error = (res.error if res else None) or led.get("error") or ("; ".join(idea.errors) if idea.errors else None)
        rows.append((idea.created.isoformat(), tried_item(
            idea_id=idea.id, run_id=(res.run_id if res else None) or led.get("run_id"), title=idea.title,
            status=idea.status.value, source=idea.source.label(), changes=dict(idea.changes),
            spec_hash=idea.spec_hash, metrics=metrics, error=error, **_bits(idea.spec))))
    known = {i.id for i in ideas}
    for e in entries:
        if e.get("idea_id") in known:
            continue
        spec = _run_spec(e.get("run_id"))
        rows.append((str(e.get("time") or ""), tried_item(
            run_id=e.get("run_id"), title=str((spec or {}).get("name") or "run without an idea"),
            status=str(e.get("status") or "unknown"), source="run", changes=tools.diff_from_base(spec),
            spec_hash=e.get("spec_hash"), metrics=e.get("metrics") or {}, error=e.get("error"), **_bits(spec))))
    rows.sort(key=lambda r: r[0], reverse=True)
    return [item for _, item in rows[:limit]]


def gather_context(queue: IdeaQueue, tools: SpecTools, config: AgentConfig, max_proposals: int) -> AgentContext:
    """The agent's context: reports, leaderboard, tried list, base values, supported controllers, signal names."""
    notes: list[str] = []
    try:
        board = gather_leaderboard(config.leaderboard_rows)
    except GaussianError as err:
        board = []
        notes.append(f"the leaderboard (unavailable: {err})")
    ctx = build_context(
        reports=gather_reports(tools, config.reports),
        leaderboard=board,
        tried=gather_tried(queue, tools, config.tried_limit),
        base=tools.base_flat(),
        max_proposals=max_proposals,
        supported_entry_types=supported_entry_types(),
        signal_names=SIGNAL_NAMES,
    )
    ctx.omitted += notes
    return ctx


# ---------------------------------------------------------------------------------------------- the job
def choose_mode(offline: bool | None, config: AgentConfig, settings: LLMSettings) -> str:
    """'offline' or 'llm': the flag first, then agent.yaml's mode, then whether an API key is set."""
    if offline is not None:
        return "offline" if offline else "llm"
    if config.mode != "auto":
        return config.mode
    return "llm" if settings.api_key is not None and settings.api_key.get_secret_value() else "offline"


def write_status(outcome: ProposeOutcome, ledger: CostLedger, settings: LLMSettings | None) -> None:
    """Record the job in runs/agent_status.json (replaced) and runs/agent_history.jsonl (appended)."""
    try:
        spend: dict[str, Any] = ledger.status(settings)
    except GaussianError as err:
        spend = {"error": str(err)}
    doc = {
        "time": outcome.finished_at or utc_now(), "mode": outcome.mode, "model": outcome.model,
        "source": outcome.source, "summary": outcome.summary(), "counts": outcome.counts(),
        "proposals": len(outcome.proposals), "calls": outcome.calls, "usd": outcome.usd,
        "errors": outcome.errors, "last_error": outcome.errors[-1] if outcome.errors else None,
        "budget_blocked": outcome.budget_blocked or bool(spend.get("blocked")),
        "spend": spend,
    }
    atomic_write_json(agent_status_path(), doc)
    append_jsonl(history_path(), outcome.model_dump(mode="json"))


def run_agent_job(
    offline: bool | None = None,
    dry_run: bool = False,
    max_proposals: int | None = None,
    *,
    queue: IdeaQueue | None = None,
    environ: Mapping[str, str] | None = None,
    sampler: str | None = None,
    fields: Sequence[str] | None = None,
) -> ProposeOutcome:
    """One agent job: propose (LLM, or offline without an API key; with `sampler` "tpe" or "random", the budgeted
    search over `fields`), queue, and record the outcome; never raises."""
    home = home_dir()
    started = dt.datetime.now(dt.UTC)
    settings: LLMSettings | None = None
    cost_ledger = CostLedger(default_ledger_path(home))
    try:
        config, settings = load_agent_config(home / AGENT_CONFIG_FILE, home, environ)
        mode = choose_mode(offline, config, settings)
        limit = max_proposals or config.proposals_per_call
        sink = queue or IdeaQueue.from_home()
        tools = SpecTools(sink.base_spec())
        ctx = gather_context(sink, tools, config, limit)
    except GaussianError as err:
        outcome = ProposeOutcome(mode="offline" if offline else "llm", dry_run=dry_run,
                                 started_at=started.isoformat(timespec="seconds"), errors=[str(err)],
                                 finished_at=utc_now())
        log.warning("agent job could not start: %s", err)
        if not dry_run:
            write_status(outcome, cost_ledger, settings)
        return outcome
    if sampler is not None:
        from agents.tpe import flatten, propose_tpe

        outcome = propose_tpe(ctx, sink, tools.validate_changes, spec_model=ExperimentSpec,
                              base=flatten(tools.base_data), prefixes=fields, sampler=sampler, max_proposals=limit,
                              seed=tools.base.seed, dry_run=dry_run)
    elif mode == "offline":
        outcome = propose_offline(ctx, sink, tools.validate_changes, spec_model=ExperimentSpec, max_proposals=limit,
                                  dry_run=dry_run, spec_hash_of=tools.spec_hash_of)
    else:
        from agents.meta_agent import propose_with_llm  # the anthropic SDK, only when the LLM is used

        outcome = propose_with_llm(ctx, sink, tools.validate_changes, settings, cost_ledger, ExperimentSpec,
                                   max_proposals=limit, dry_run=dry_run, context_tokens=config.context_tokens)
    if not dry_run:
        try:
            write_status(outcome, cost_ledger, settings)
        except (GaussianError, OSError) as err:
            outcome.errors.append(f"could not write the agent status: {err}")
    return outcome
