"""The offline proposer (no API key): deterministic rules over the reports plus exploration of what was never tried.

Candidates of two kinds, taken alternately (a recommendation, an exploration, ...), each through the same checks
and sink as the LLM agent's proposals:
1. every recommendation of the latest reports (newest run first), applied on top of that run's own changes
   against the base spec (protected fields among those changes are not carried over);
2. exploration: each entry controller of ENTRY_CANDIDATES that this build supports and no tried idea or report
   used, then each encoder of ENCODER_CANDIDATES not yet tried with a supported model-based entry controller
   (encoders change nothing for the model-free controllers, so they are explored only with a model-based one),
   then each context feature family of FAMILY_CANDIDATES that no tried idea or report switched on (optional:
   a market without the family's series drops it with a warning instead of failing).
Candidates equal to a tried idea's changes (or, given `spec_hash_of`, to its spec hash or an earlier candidate's)
are skipped. The same inputs always give the same proposals.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from agents.context import AgentContext, TriedItem
from agents.outcome import ProposeOutcome, submit_checked, utc_now
from agents.proposal import CheckedProposal, ValidateChanges, canonical_changes, check_proposal, is_protected
from agents.search_space import enum_values
from agents.sink import ProposalSink, Source

log = logging.getLogger("gaussian.agents.offline")

OFFLINE_NAME = "offline-rules"
ENTRY_CANDIDATES: tuple[str, ...] = ("consensus", "predictor", "q_scorer", "bandit", "rl", "momentum", "random")
"""Entry controllers worth exploring, in order of preference (filtered by what the build supports)."""
MODEL_FREE_ENTRY_TYPES = frozenset({"momentum", "random"})
"""Entry controllers that do not use the predictor, so its encoder does not matter to them."""
ENCODER_CANDIDATES: tuple[str, ...] = ("tcn", "lstm", "transformer", "mamba2")
"""Temporal encoders worth exploring, in order."""
FAMILY_CANDIDATES: tuple[str, ...] = ("macro", "breadth", "surface", "crypto")
"""Context feature families worth switching on, in order (each alone on top of the base's families)."""
NOT_TRIED_STATUSES = frozenset({"invalid"})
"""Tried-list statuses that do not count as tried (an invalid idea never ran and never will)."""
PRIORITY_RECOMMENDATION, PRIORITY_ENTRY, PRIORITY_ENCODER = 2, 1, 0


def _short(value: Any) -> str:
    return json.dumps(value, default=str)


def _proposal(title: str, hypothesis: str, rationale: str, changes: dict[str, Any], priority: int,
              run_id: str | None = None) -> dict[str, Any]:
    return {"title": title[:120], "hypothesis": hypothesis[:800], "rationale": rationale[:1500],
            "changes": changes, "priority": priority, "based_on_run": run_id}


def _recommendation_candidates(ctx: AgentContext) -> list[dict[str, Any]]:
    out = []
    for report in ctx.reports:
        carried = {k: v for k, v in report.changes.items() if not is_protected(k)}
        dropped = sorted(k for k in report.changes if is_protected(k))
        for rec in report.recommendations:
            changes = {**carried, rec.field: rec.value}
            rationale = f"Run {report.run_id}: {rec.finding or 'the analysis recommends it'}."
            others = [f"{k}={_short(v)}" for k, v in carried.items() if k != rec.field]
            if others:
                rationale += " Applied on top of the run's own changes: " + ", ".join(others) + "."
            if dropped:
                rationale += f" Protected fields of that run not carried over: {', '.join(dropped)}."
            also = f" with {', '.join(others)}" if others else ""  # a title names every change it makes
            out.append(_proposal(
                f"{rec.field} {_short(rec.current)} -> {_short(rec.value)}{also} (run {report.run_id})",
                f"The analysis rule '{rec.rule or 'recommendation'}' expects run {report.run_id}'s experiment to do "
                f"better on validation with {rec.field} = {_short(rec.value)}.",
                rationale, changes, PRIORITY_RECOMMENDATION, report.run_id))
    return out


def _counted(tried: Sequence[TriedItem]) -> list[TriedItem]:
    return [t for t in tried if t.status not in NOT_TRIED_STATUSES]


def _allowed(spec_model: type[BaseModel] | None, path: str, candidates: Sequence[str]) -> list[str]:
    enum = enum_values(spec_model, path) if spec_model is not None else ()
    return [c for c in candidates if not enum or c in enum]


def _exploration_candidates(ctx: AgentContext, spec_model: type[BaseModel] | None,
                            supported: Sequence[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
    notes: list[str] = []
    entries = _allowed(spec_model, "entry.type", ENTRY_CANDIDATES)
    if supported is not None:
        entries = [e for e in entries if e in supported]
    tried = _counted(ctx.tried)
    base_entry, base_encoder = ctx.base.get("entry.type"), ctx.base.get("model.encoder")
    used_entries = {t.entry_type for t in tried} | {r.entry_type for r in ctx.reports} | {base_entry}
    out = [_proposal(f"Explore entry controller {e}",
                     f"The '{e}' entry controller has never been evaluated; it may find entries the others miss.",
                     f"No tried idea or analysed run used entry.type '{e}', which this build supports.",
                     {"entry.type": e}, PRIORITY_ENTRY)
           for e in entries if e not in used_entries]
    model_entries = [e for e in entries if e not in MODEL_FREE_ENTRY_TYPES]
    if not model_entries:
        notes.append("encoders are explored only with a model-based entry controller, and this build supports "
                     "none (only " + ", ".join(entries) + ")")
        return out, notes
    pairs = ({(t.entry_type, t.encoder) for t in tried} | {(r.entry_type, r.encoder) for r in ctx.reports}
             | {(base_entry, base_encoder)})
    for entry in model_entries:
        for enc in _allowed(spec_model, "model.encoder", ENCODER_CANDIDATES):
            if (entry, enc) in pairs:
                continue
            out.append(_proposal(f"Explore encoder {enc} with {entry} entries",
                                 f"The {enc} temporal encoder may predict better than those tried so far, which "
                                 f"would show in the '{entry}' controller's validation result.",
                                 f"No tried idea or analysed run combined model.encoder '{enc}' with entry.type "
                                 f"'{entry}'.", {"entry.type": entry, "model.encoder": enc}, PRIORITY_ENCODER))
    return out + _family_candidates(ctx, tried, spec_model), notes


def _families_of(changes: dict[str, Any]) -> set[str]:
    value = changes.get("features.families")
    return {str(f) for f in value} if isinstance(value, list) else set()


def _family_candidates(ctx: AgentContext, tried: Sequence[TriedItem],
                       spec_model: type[BaseModel] | None) -> list[dict[str, Any]]:
    """Switch on each context feature family never tried (on top of the default price and chain families)."""
    if spec_model is not None and "features" not in spec_model.model_fields:
        return []
    used: set[str] = set()
    for item in [*tried, *ctx.reports]:
        used |= _families_of(item.changes)
    out = []
    for family in FAMILY_CANDIDATES:
        if family in used:
            continue
        out.append(_proposal(f"Add the {family} feature family",
                             f"The {family} context features may show the regime earlier than the underlying's "
                             "own bars, which would show as better predictor quality and validation result.",
                             f"No tried idea or analysed run switched on features.families '{family}'; its "
                             "permutation importance in the run's analysis will say whether it helped.",
                             {"features.families": ["price", "chain", family], f"features.required.{family}": False},
                             PRIORITY_ENCODER))
    return out


def _interleave(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """first[0], second[0], first[1], second[1], ... then the rest of the longer list."""
    out: list[dict[str, Any]] = []
    for a, b in zip(first, second, strict=False):
        out += [a, b]
    n = min(len(first), len(second))
    return out + first[n:] + second[n:]


def offline_candidates(
    ctx: AgentContext,
    spec_model: type[BaseModel] | None = None,
    spec_hash_of: Callable[[dict[str, Any]], str | None] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every candidate in order (recommendations alternating with exploration), tried ones removed."""
    recs = _recommendation_candidates(ctx)
    explore, notes = _exploration_candidates(ctx, spec_model, ctx.supported_entry_types)
    tried = _counted(ctx.tried)
    seen = {canonical_changes(t.changes) for t in tried}
    seen_hashes = {t.spec_hash for t in tried if t.spec_hash}
    out = []
    skipped = 0
    for cand in _interleave(recs, explore):
        key = canonical_changes(cand["changes"])
        digest = spec_hash_of(cand["changes"]) if spec_hash_of is not None else None
        if key in seen or (digest is not None and digest in seen_hashes):
            skipped += 1
            continue
        seen.add(key)
        if digest is not None:
            seen_hashes.add(digest)
        out.append(cand)
    if skipped:
        notes.append(f"{skipped} candidate(s) skipped: already tried or the same experiment as another")
    return out, notes


def propose_offline(
    ctx: AgentContext,
    sink: ProposalSink,
    validate_changes: ValidateChanges,
    *,
    spec_model: type[BaseModel] | None = None,
    max_proposals: int | None = None,
    dry_run: bool = False,
    spec_hash_of: Callable[[dict[str, Any]], str | None] | None = None,
    source_name: str = OFFLINE_NAME,
) -> ProposeOutcome:
    """Propose deterministically from the reports and the untried controllers and encoders, through the sink."""
    limit = max_proposals or ctx.max_proposals
    source = Source(kind="heuristic", name=source_name)
    outcome = ProposeOutcome(mode="offline", dry_run=dry_run, source=source.label())
    candidates, outcome.notes = offline_candidates(ctx, spec_model, spec_hash_of)
    chosen: list[CheckedProposal] = []
    submitted = 0
    for index, raw in enumerate(candidates):
        if submitted >= limit:
            break
        item = check_proposal(raw, index, validate_changes, ctx.supported_entry_types)
        chosen.append(item)
        submitted += not (item.shape_errors or item.policy_errors)
    outcome.proposals = submit_checked(chosen, sink, source, dry_run=dry_run)
    left = len(candidates) - len(chosen)
    if left:
        outcome.notes.append(f"{left} more candidate(s) wait for a later job (limit {limit} per job)")
    if not candidates:
        outcome.notes.append("nothing left to propose: every recommendation and controller/encoder was tried")
    outcome.finished_at = utc_now()
    log.info("offline proposer: %s", outcome.summary())
    return outcome
