"""What one proposing job did: each proposal with its fate (queued, refused, invalid) and why, cost and failures.

`submit_checked` is the one path from checked proposals into a ProposalSink, shared by the LLM agent and the
offline proposer: a proposal of the wrong shape is stored by the sink as `invalid` with its reasons (once), a
policy failure (a protected field) never reaches it; a proposal whose only problem is its spec is handed to the
sink, which stores it as `invalid` with its reasons; a valid one is queued or refused (duplicate).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.proposal import CheckedProposal
from agents.sink import ProposalSink, Source
from trader.errors import GaussianError

log = logging.getLogger("gaussian.agents")

Decision = Literal["queued", "refused", "invalid", "valid", "error"]
"""queued: in the queue (proposed or approved); refused: protected field, duplicate or over the limit, not stored;
invalid: failed validation (stored as an invalid idea when idea_id is set); valid: passed every check in a dry
run, not submitted; error: the queue could not take it."""
DECISIONS: tuple[str, ...] = ("queued", "refused", "invalid", "valid", "error")
DRY_RUN_NOTE = "dry run: passed every check; not submitted (the queue's duplicate check did not run)"


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ProposalOutcome(BaseModel):
    """One proposal and what became of it."""

    model_config = ConfigDict(extra="forbid")

    title: str
    hypothesis: str = ""
    rationale: str = ""
    changes: dict[str, Any] = Field(default_factory=dict)
    priority: int = 0
    based_on_run: str | None = None
    decision: Decision
    idea_id: str | None = None
    queue_status: str | None = None
    reasons: list[str] = Field(default_factory=list)
    repaired: bool = Field(False, description="taken from the repair round's answer")


class ProposeOutcome(BaseModel):
    """Everything one proposing job did; it never raises to the optimizer, failures are listed in `errors`."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["llm", "offline"]
    dry_run: bool = False
    model: str | None = None
    source: str = ""
    started_at: str = Field(default_factory=utc_now)
    finished_at: str | None = None
    proposals: list[ProposalOutcome] = Field(default_factory=list)
    calls: int = 0
    repair_rounds: int = 0
    usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: list[str] = Field(default_factory=list)
    budget_blocked: bool = False
    notes: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the job ran without a failure (refused or invalid proposals are not failures)."""
        return not self.errors

    def counts(self) -> dict[str, int]:
        """How many proposals got each decision (every decision listed)."""
        tally = Counter(p.decision for p in self.proposals)
        return {d: tally.get(d, 0) for d in DECISIONS}

    def summary(self) -> str:
        """One line for logs and the optimizer's status."""
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items() if v)
        text = f"{self.mode}{' dry run' if self.dry_run else ''}: {len(self.proposals)} proposals"
        text += f" ({counts})" if counts else ""
        if self.calls:
            text += f"; {self.calls} call(s), ${self.usd:.4f}"
        if self.budget_blocked:
            text += "; daily LLM cap reached"
        if self.errors:
            text += f"; error: {self.errors[-1]}"
        return text


def _raw_text(raw: Any, key: str, default: str = "") -> str:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    return value if isinstance(value, str) else default


def _raw_changes(raw: Any) -> dict[str, Any]:
    value = raw.get("changes") if isinstance(raw, Mapping) else None
    return dict(value) if isinstance(value, Mapping) else {}


def _base_outcome(item: CheckedProposal, repaired: bool, **fields: Any) -> ProposalOutcome:
    p = item.proposal
    if p is not None:
        return ProposalOutcome(title=p.title, hypothesis=p.hypothesis, rationale=p.rationale, changes=dict(p.changes),
                               priority=p.priority, based_on_run=p.based_on_run, repaired=repaired, **fields)
    title = _raw_text(item.raw, "title") or f"proposal {item.index + 1} (unreadable)"
    return ProposalOutcome(title=title[:200], hypothesis=_raw_text(item.raw, "hypothesis")[:800],
                           rationale=_raw_text(item.raw, "rationale")[:1500], changes=_raw_changes(item.raw),
                           repaired=repaired, **fields)


def _record_invalid(item: CheckedProposal, sink: ProposalSink, source: Source, repaired: bool) -> ProposalOutcome:
    """Store a proposal of the wrong shape in the sink as invalid (its reasons without the batch position, so that
    the same mistake in a later answer is recognised and stored once)."""
    outcome = _base_outcome(item, repaired, decision="invalid", reasons=item.shape_errors)
    reasons = [re.sub(r"^proposals\.\d+:", "proposal:", re.sub(r"^proposals\.\d+\.", "", e))
               for e in item.shape_errors]
    try:
        result = sink.record_invalid(outcome.title, outcome.hypothesis, outcome.rationale, outcome.changes, source,
                                     reasons)
    except GaussianError as err:
        log.warning("the queue could not record invalid proposal %r: %s", outcome.title, err)
        outcome.reasons = [*outcome.reasons, f"not stored: {err}"]
        return outcome
    outcome.idea_id, outcome.queue_status = result.idea_id, result.status
    return outcome


def submit_checked(
    items: Sequence[CheckedProposal],
    sink: ProposalSink,
    source: Source,
    dry_run: bool = False,
    repaired: bool = False,
) -> list[ProposalOutcome]:
    """Hand each checked proposal to the sink (or not) and record what became of it."""
    out: list[ProposalOutcome] = []
    for item in items:
        if item.shape_errors:
            out.append(_record_invalid(item, sink, source, repaired) if not dry_run else
                       _base_outcome(item, repaired, decision="invalid", reasons=item.shape_errors))
            continue
        if item.policy_errors:
            out.append(_base_outcome(item, repaired, decision="refused", reasons=item.policy_errors))
            continue
        if dry_run:
            decision = "invalid" if item.spec_errors else "valid"
            reasons = item.spec_errors or [DRY_RUN_NOTE]
            out.append(_base_outcome(item, repaired, decision=decision, reasons=reasons))
            continue
        p = item.proposal
        assert p is not None  # no shape errors means the proposal parsed
        try:
            result = sink.submit(p.title, p.hypothesis, p.rationale, dict(p.changes), source, p.priority,
                                 p.based_on_run)
        except GaussianError as err:
            log.warning("the queue could not take proposal %r: %s", p.title, err)
            out.append(_base_outcome(item, repaired, decision="error", reasons=[str(err)]))
            continue
        if result.accepted:
            notes = []
            if item.spec_errors:
                log.warning("the queue accepted proposal %r that the agent's validator refused: %s", p.title,
                            "; ".join(item.spec_errors))
                notes = [f"accepted by the queue although the validator said: {e}" for e in item.spec_errors]
            out.append(_base_outcome(item, repaired, decision="queued", idea_id=result.idea_id,
                                     queue_status=result.status, reasons=notes))
        elif result.status == "invalid":
            out.append(_base_outcome(item, repaired, decision="invalid", idea_id=result.idea_id,
                                     queue_status=result.status, reasons=result.reasons or item.spec_errors))
        else:
            out.append(_base_outcome(item, repaired, decision="refused", idea_id=result.idea_id,
                                     queue_status=result.status, reasons=result.reasons or ["refused by the queue"]))
    return out


def over_limit_outcomes(raw_items: Sequence[Any], limit: int, repaired: bool = False) -> list[ProposalOutcome]:
    """Refusals for proposals beyond the per-call limit."""
    return [ProposalOutcome(title=(_raw_text(raw, "title") or f"proposal {limit + i + 1}")[:200],
                            changes=_raw_changes(raw), decision="refused", repaired=repaired,
                            reasons=[f"over the limit of {limit} proposals per call"])
            for i, raw in enumerate(raw_items)]
