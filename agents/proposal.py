"""The proposal model the agent answers with, and the agent-side checks every proposal passes before the queue.

A proposal is data, never code: a title, a hypothesis, a rationale and `changes`, a mapping of dotted
ExperimentSpec field paths to plain JSON values. Fields that decide how honestly an experiment is evaluated
(the time splits and the sealed holdout, the evaluation budget, the market data, costs, the account and the
seed) are protected: a change under them is refused. The promotion gate and the runner's limits (timeout,
memory, attempts) are not spec fields at all, so no proposal can reach them.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, create_model

FIELD_PATH_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"

PROTECTED_FIELDS: tuple[str, ...] = (
    "seed",                     # the run's random seed: re-rolling it is p-hacking, not an experiment
    "cycles",                   # the evaluation budget (bars evaluated)
    "splits",                   # train/validation/holdout fractions, embargo, refits: the honesty of the split
    "data",                     # which market and how much of it (source, sessions, dates, edge, seed, files)
    "costs",                    # commission, fees, latency and spread stress: never negotiable by the agent
    "trading.initial_balance",  # the account every run starts from (keeps P&L comparable)
)
"""Dotted prefixes of spec fields no agent or heuristic may change (see PROTECTED_EXCEPTIONS)."""

PROTECTED_EXCEPTIONS: tuple[str, ...] = ("data.interval",)
"""Fields under a protected prefix that stay open: the bar interval is a strategy choice, not a data choice."""

ValidateChanges = Callable[[dict[str, Any]], list[str]]
"""Callable the caller builds from the spec layer: spec changes -> validation errors (empty when valid)."""

FieldPath = Annotated[str, StringConstraints(pattern=FIELD_PATH_PATTERN, min_length=1, max_length=120)]
Scalar = str | int | float | bool | None
ChangeValue = Scalar | list[str | int | float | bool]


class Proposal(BaseModel):
    """One experiment proposal: what to change in the base spec and why (data only, never code)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=120, description="Short name of the experiment.")
    hypothesis: str = Field(min_length=1, max_length=800, description="What should improve, and by what mechanism.")
    rationale: str = Field(
        min_length=1, max_length=1500,
        description="The evidence from the validation reports, leaderboard or tried list behind it.",
    )
    changes: dict[FieldPath, ChangeValue] = Field(
        min_length=1, max_length=8,
        description="Dotted ExperimentSpec field paths to new values, e.g. {'exits.stop_loss_pct': 12.0}.",
    )
    priority: int = Field(0, ge=0, le=10, description="0 (low) .. 10 (high): how promising it is.")
    based_on_run: str | None = Field(None, max_length=64, description="Run id whose report motivated it, if any.")


class ProposalBatch(BaseModel):
    """The forced tool's input: a list of proposals."""

    model_config = ConfigDict(extra="forbid")

    proposals: list[Proposal] = Field(description="The proposals, most promising first.")


@lru_cache(maxsize=32)
def batch_model(max_proposals: int) -> type[ProposalBatch]:
    """A ProposalBatch subclass whose schema allows at most `max_proposals` proposals."""
    if max_proposals < 1:
        raise ValueError(f"max_proposals must be at least 1, got {max_proposals}")
    return create_model(
        "ProposalBatch",
        __base__=ProposalBatch,
        __doc__="The forced tool's input: a list of proposals.",
        proposals=(list[Proposal], Field(max_length=max_proposals, description="The proposals, most promising first.")),
    )


def is_protected(path: str) -> bool:
    """Whether a dotted field path lies under PROTECTED_FIELDS (and is not one of PROTECTED_EXCEPTIONS)."""
    if any(path == ok or path.startswith(ok + ".") for ok in PROTECTED_EXCEPTIONS):
        return False
    return any(path == p or path.startswith(p + ".") for p in PROTECTED_FIELDS)


def protected_field_errors(changes: Mapping[str, Any]) -> list[str]:
    """One error per change under a protected field."""
    return [f"{path}: protected field (splits, cycles, data, costs, seed and the account are not the agent's "
            f"to change; a person must edit them)" for path in changes if is_protected(path)]


def entry_type_errors(changes: Mapping[str, Any], supported: Sequence[str] | None) -> list[str]:
    """An error when `entry.type` names a controller this build cannot run (None: no restriction)."""
    value = changes.get("entry.type")
    if supported is None or value is None or value in supported:
        return []
    return [f"entry.type: {json.dumps(value)} is not available in this build (available: {', '.join(supported)})"]


def pydantic_errors(err: ValidationError, prefix: str) -> list[str]:
    """`prefix.loc: message` lines for a pydantic error."""
    out = []
    for item in err.errors(include_url=False):
        loc = ".".join(str(p) for p in item["loc"])
        where = f"{prefix}.{loc}" if loc else prefix
        if item["type"] == "extra_forbidden":
            out.append(f"{where}: unknown field (not allowed)")
        else:
            out.append(f"{where}: {item['msg']}")
    return out


@dataclass
class CheckedProposal:
    """One raw proposal after the checks: the parsed model (if its shape was right) and its errors by kind."""

    index: int
    raw: Any
    proposal: Proposal | None = None
    shape_errors: list[str] = field(default_factory=list)
    policy_errors: list[str] = field(default_factory=list)
    spec_errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when no check failed."""
        return not (self.shape_errors or self.policy_errors or self.spec_errors)

    @property
    def errors(self) -> list[str]:
        """Every error, shape first."""
        return [*self.shape_errors, *self.policy_errors, *self.spec_errors]


def check_proposal(
    raw: Any,
    index: int,
    validate_changes: ValidateChanges,
    supported_entry_types: Sequence[str] | None = None,
) -> CheckedProposal:
    """Run every check on one raw proposal: its shape, the protected fields and entry types, then the spec."""
    checked = CheckedProposal(index=index, raw=raw)
    where = f"proposals.{index}"
    try:
        proposal = Proposal.model_validate(raw)
    except ValidationError as err:
        checked.shape_errors = pydantic_errors(err, where)
        return checked
    checked.proposal = proposal
    changes = dict(proposal.changes)
    checked.policy_errors = [f"{where}.changes.{e}" for e in
                             protected_field_errors(changes) + entry_type_errors(changes, supported_entry_types)]
    if not checked.policy_errors:
        checked.spec_errors = [f"{where}.changes: {e}" for e in validate_changes(changes)]
    return checked


@dataclass
class CheckedBatch:
    """A whole tool input after the checks: batch-level errors plus each proposal's result."""

    items: list[CheckedProposal] = field(default_factory=list)
    batch_errors: list[str] = field(default_factory=list)
    over_limit: list[Any] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Every error worth a repair round (batch-level and per proposal)."""
        return [*self.batch_errors, *(e for item in self.items for e in item.errors)]


def check_batch(
    tool_input: Mapping[str, Any],
    max_proposals: int,
    validate_changes: ValidateChanges,
    supported_entry_types: Sequence[str] | None = None,
) -> CheckedBatch:
    """Check a tool input shaped {"proposals": [...]}: unknown keys, the list, the per-call limit, each proposal."""
    out = CheckedBatch()
    extra = sorted(k for k in tool_input if k != "proposals")
    if extra:
        out.batch_errors.append(f"{', '.join(extra)}: unknown field (not allowed); the input holds only 'proposals'")
    raw = tool_input.get("proposals")
    if not isinstance(raw, list):
        out.batch_errors.append("proposals: a list of proposal objects is required")
        return out
    for index, item in enumerate(raw[:max_proposals]):
        out.items.append(check_proposal(item, index, validate_changes, supported_entry_types))
    out.over_limit = list(raw[max_proposals:])
    return out


def canonical_changes(changes: Mapping[str, Any]) -> str:
    """Changes as canonical JSON (sorted keys), for comparing proposals."""
    return json.dumps(dict(changes), sort_keys=True, separators=(",", ":"), default=str)


def describe_changes(changes: Mapping[str, Any], limit: int = 6) -> str:
    """`a.b=1, c.d="x"` for display, at most `limit` fields."""
    items = [f"{k}={json.dumps(v, default=str)}" for k, v in list(changes.items())[:limit]]
    more = len(changes) - limit
    return ", ".join(items) + (f", ... (+{more})" if more > 0 else "")


def unique_in_order(values: Iterable[str]) -> list[str]:
    """The values without repeats, first occurrence kept."""
    seen: set[str] = set()
    return [v for v in values if not (v in seen or seen.add(v))]
