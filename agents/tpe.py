"""A budgeted search beside the agent: Optuna's TPE sampler (or plain random search) through ask and tell.

The space is generated from the spec model: every bounded number, boolean and choice the agent may touch
(protected fields excluded), optionally narrowed to some field prefixes. Past trials are the queue's ideas from
the same source that have a result: each is told the run's validation Sharpe only (never a holdout figure);
failed runs are told as failed. New trials are asked and written into the same queue, through the same checks
as every other proposal, with source `optimizer:tpe` (or `optimizer:random`).
"""
from __future__ import annotations

import logging
import math
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from agents.context import AgentContext
from agents.outcome import ProposeOutcome, submit_checked, utc_now
from agents.proposal import CheckedProposal, ValidateChanges, check_proposal
from agents.search_space import search_space
from agents.sink import ProposalSink, Source

log = logging.getLogger("gaussian.agents.tpe")
SAMPLERS = ("tpe", "random")
OBJECTIVE = "sharpe"
"""The validation metric trials are told (maximised)."""


def _field_info(spec_model: type[BaseModel], path: str) -> Any:
    model: Any = spec_model
    parts = path.split(".")
    for part in parts[:-1]:
        ann = model.model_fields[part].annotation
        model = next((a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)), ann)
    return model.model_fields[parts[-1]]


def _bounds(info: Any) -> tuple[float | None, float | None]:
    lo = hi = None
    for item in info.metadata:
        lo = getattr(item, "ge", None) if getattr(item, "ge", None) is not None else lo
        if getattr(item, "gt", None) is not None:
            lo = float(item.gt) * 1.0001 if item.gt else 0.0  # open at zero: see below
        hi = getattr(item, "le", None) if getattr(item, "le", None) is not None else hi
    if lo == 0.0 and hi is not None and any(getattr(item, "gt", None) == 0 for item in info.metadata):
        lo = hi * 1e-3  # "greater than zero": three decades below the top, not a vanishing sliver
    return lo, hi


def tpe_space(spec_model: type[BaseModel], base: Mapping[str, Any],
              prefixes: Sequence[str] | None = None) -> dict[str, Any]:
    """Optuna distributions for the searchable fields: bounded ints and floats, booleans and Literal choices whose
    base value is set (a field that is None in the base, or a list or mapping, is left to the agent)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for row in search_space(spec_model, base):
        path = row["path"]
        if prefixes and not any(path == p or path.startswith(p) for p in prefixes):
            continue
        value = base.get(path)
        if value is None:
            continue
        info = _field_info(spec_model, path)
        ann = info.annotation
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        inner = args[0] if typing.get_origin(ann) in (typing.Union, types.UnionType) and len(args) == 1 else ann
        if typing.get_origin(inner) is Literal:
            out[path] = CategoricalDistribution(typing.get_args(inner))
        elif inner is bool:
            out[path] = CategoricalDistribution((False, True))
        elif inner in (int, float):
            lo, hi = _bounds(info)
            if lo is None or hi is None or not hi > lo:
                continue
            log_scale = lo > 0 and hi / lo >= 100
            out[path] = (IntDistribution(math.ceil(lo), int(hi), log=log_scale) if inner is int
                         else FloatDistribution(float(lo), float(hi), log=log_scale))
    return out


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested spec document as {dotted path: leaf value}."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _study(sampler: str, seed: int) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    chosen = (optuna.samplers.TPESampler(seed=seed, n_startup_trials=4, constant_liar=True, multivariate=True)
              if sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed))
    return optuna.create_study(direction="maximize", sampler=chosen)


def tell_history(study: Any, ctx: AgentContext, space: Mapping[str, Any], base: Mapping[str, Any],
                 label: str) -> int:
    """Add this source's finished trials to the study, told the validation Sharpe only; returns how many."""
    from optuna.trial import TrialState, create_trial

    told = 0
    for item in ctx.tried:
        if item.source != label or item.status not in ("done", "failed"):
            continue
        params = {p: item.changes.get(p, base.get(p)) for p in space}
        value = item.metrics.get(OBJECTIVE)
        ok = item.status == "done" and isinstance(value, (int, float)) and math.isfinite(value)
        try:
            trial = create_trial(params=params, distributions=dict(space), value=float(value) if ok else None,
                                 state=TrialState.COMPLETE if ok else TrialState.FAIL)
        except ValueError:  # a value outside today's space (the base spec changed since): not this study's trial
            continue
        study.add_trial(trial)
        told += 1
    return told


def propose_tpe(ctx: AgentContext, sink: ProposalSink, validate_changes: ValidateChanges, *,
                spec_model: type[BaseModel], base: Mapping[str, Any], prefixes: Sequence[str] | None = None,
                sampler: str = "tpe", max_proposals: int | None = None, seed: int = 0,
                dry_run: bool = False) -> ProposeOutcome:
    """Ask the sampler for new trials over the spec's search space and queue them (same checks as any proposal)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    source = Source(kind="optimizer", name=sampler)
    limit = max_proposals or ctx.max_proposals
    outcome = ProposeOutcome(mode="offline", dry_run=dry_run, source=source.label())
    space = tpe_space(spec_model, base, prefixes)
    if not space:
        outcome.notes.append("no searchable field under " + ", ".join(prefixes or ["the spec"]))
        outcome.finished_at = utc_now()
        return outcome
    study = _study(sampler, seed + len(ctx.tried))
    told = tell_history(study, ctx, space, base, source.label())
    outcome.notes.append(f"{sampler}: {len(space)} fields, {told} finished trial(s) told their validation "
                         f"{OBJECTIVE}")
    chosen: list[CheckedProposal] = []
    for index in range(limit):
        trial = study.ask(dict(space))
        changes = {p: v for p, v in trial.params.items() if v != base.get(p)}
        if not changes:
            continue
        title = f"{sampler} trial: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                  for k, v in sorted(changes.items()))
        raw = {"title": title if len(title) <= 120 else title[:117] + "...",
               "hypothesis": f"The {sampler} sampler expects this point of the search space to raise the "
                             f"validation {OBJECTIVE}.",
               "rationale": f"Asked after {told} finished {sampler} trial(s) over {len(space)} fields.",
               "changes": changes, "priority": 0, "based_on_run": None}
        chosen.append(check_proposal(raw, index, validate_changes, ctx.supported_entry_types))
    outcome.proposals = submit_checked(chosen, sink, source, dry_run=dry_run)
    outcome.finished_at = utc_now()
    log.info("%s proposer: %s", sampler, outcome.summary())
    return outcome
