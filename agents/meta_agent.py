"""The LLM meta-agent: one forced-tool call for proposals, one repair round for invalid ones, then into the sink.

It is handed everything it needs (the context, the spec model, a sink, a `validate_changes` callable, settings
and the cost ledger) and never raises to its caller: an unreachable API, a malformed answer or the daily cap
are recorded in the returned ProposeOutcome (and in the cost ledger) so the optimizer goes on with what it has.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agents.context import AgentContext, compress_context
from agents.cost_ledger import CostLedger
from agents.llm import BudgetExceeded, ToolCallResult, call_with_tool, repair_turns
from agents.outcome import ProposeOutcome, over_limit_outcomes, submit_checked, utc_now
from agents.prompts import TOOL_DESCRIPTION, TOOL_NAME, render_system, render_user
from agents.proposal import CheckedBatch, ValidateChanges, batch_model, check_batch
from agents.secret_env import redact
from agents.settings import LLMSettings
from agents.sink import ProposalSink, Source
from trader.errors import GaussianError

log = logging.getLogger("gaussian.agents.meta")

AGENT_NAME = "meta-agent"
DEFAULT_CONTEXT_TOKENS = 6000
REPAIR_HEADER = ("Send the whole batch again: keep the valid proposals unchanged, and fix or drop those with these "
                 "problems:")


def _account(outcome: ProposeOutcome, ledger: CostLedger, first_record: int) -> None:
    """Fill the outcome's calls, tokens and dollars from the ledger lines this job appended."""
    try:
        new = ledger.records()[first_record:]
    except GaussianError as err:
        outcome.notes.append(f"cost figures unavailable: {err}")
        return
    outcome.calls = len(new)
    outcome.usd = round(sum(r.usd for r in new), 8)
    outcome.input_tokens = sum(r.input_tokens for r in new)
    outcome.output_tokens = sum(r.output_tokens for r in new)


def _call(system: str, user: str, model: type[BaseModel], settings: LLMSettings, ledger: CostLedger,
          extra: list[dict[str, Any]] | None, purpose: str) -> ToolCallResult:
    return call_with_tool(system, user, TOOL_NAME, TOOL_DESCRIPTION, model, settings, ledger, extra,
                          purpose=purpose)


def propose_with_llm(
    ctx: AgentContext,
    sink: ProposalSink,
    validate_changes: ValidateChanges,
    settings: LLMSettings,
    ledger: CostLedger,
    spec_model: type[BaseModel],
    *,
    max_proposals: int | None = None,
    dry_run: bool = False,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    prompts_dir: Path | None = None,
    source_name: str = AGENT_NAME,
) -> ProposeOutcome:
    """Ask the model for proposals, validate them (one repair round), submit them; never raises for a failure."""
    limit = max_proposals or ctx.max_proposals
    ctx = ctx.model_copy(update={"max_proposals": limit})
    outcome = ProposeOutcome(mode="llm", dry_run=dry_run, model=settings.model,
                             source=Source(kind="agent", name=source_name, model=settings.model).label())
    secrets = settings.secret_values()
    try:
        first_record = len(ledger.records())
        system = render_system(ctx, spec_model, prompts_dir)
        user_ctx = compress_context(ctx, context_tokens, lambda c: render_user(c, prompts_dir))
        user = render_user(user_ctx, prompts_dir)
    except GaussianError as err:  # missing templates, an unreadable cost ledger, holdout data in the context
        outcome.errors.append(redact(str(err), secrets))
        outcome.finished_at = utc_now()
        return outcome
    outcome.notes += [f"left out of the context: {what}" for what in user_ctx.omitted]
    model = batch_model(limit)

    def check(tool_input: dict[str, Any]) -> CheckedBatch:
        return check_batch(tool_input, limit, validate_changes, ctx.supported_entry_types)

    def fail(err: GaussianError, when: str) -> None:
        outcome.budget_blocked = outcome.budget_blocked or isinstance(err, BudgetExceeded)
        outcome.errors.append(redact(f"{when}: {err}", secrets))
        log.warning("%s: %s", when, redact(str(err), secrets))

    try:
        first = _call(system, user, model, settings, ledger, None, "propose")
    except GaussianError as err:  # LLMError (unavailable, rejected, bad answer, cap) or an unreadable ledger
        fail(err, "the proposal call failed")
        _account(outcome, ledger, first_record)
        outcome.finished_at = utc_now()
        return outcome
    checked, result, repaired = check(first.tool_input), first, False
    if checked.errors:
        log.info("%d problem(s) in the proposals; sending one repair round", len(checked.errors))
        try:
            feedback = [REPAIR_HEADER, *checked.errors]
            second = _call(system, user, model, settings, ledger, repair_turns(first, feedback), "propose repair 1")
        except GaussianError as err:
            fail(err, "the repair round failed; the first answer is used as it is")
        else:
            outcome.repair_rounds = 1
            checked, result, repaired = check(second.tool_input), second, True
    if checked.batch_errors:
        outcome.errors.append("the answer was malformed" + (" after the repair round" if repaired else "") + ": "
                              + "; ".join(checked.batch_errors))
    source = Source(kind="agent", name=source_name, model=settings.model)
    outcome.proposals = submit_checked(checked.items, sink, source, dry_run=dry_run, repaired=repaired)
    outcome.proposals += over_limit_outcomes(checked.over_limit, limit, repaired)
    if not outcome.proposals and not checked.batch_errors:
        outcome.notes.append("the model proposed nothing" + (f": {result.text[:300]}" if result.text else ""))
    _account(outcome, ledger, first_record)
    outcome.finished_at = utc_now()
    log.info("agent job: %s", outcome.summary())
    return outcome

