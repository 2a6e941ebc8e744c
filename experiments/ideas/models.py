"""Queue entries: the Idea model, its status machine and the history of every transition.

Status machine (anything else is refused with IllegalTransition):

    proposed -> approved -> running -> done | failed
    proposed -> rejected
    running  -> approved            (graceful release, or a stale lease reaped with attempts left)
    running  -> failed              (a stale lease reaped after the maximum attempts)
    proposed | approved | invalid -> proposed   (edit: the new spec must validate; an edited approved
                                                  idea needs approving again)
    invalid  : a proposal whose spec failed validation, kept with its errors for audit

`attempts` counts the runs started (lease_next / start add one; a graceful release gives it back).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.sink import Source
from experiments.ideas.errors import IllegalTransition
from experiments.ideas.status import Status
from trader.errors import SpecError

if TYPE_CHECKING:  # an idea stores its spec as a plain dict: reading the queue never builds the spec models
    from experiments.spec.model import ExperimentSpec

Action = Literal[
    "propose", "approve", "reject", "edit", "priority", "start", "complete", "fail", "release", "reap", "retry"
]

# Statuses whose spec hash blocks a new proposal with the same hash.
ACTIVE_STATUSES = frozenset({Status.PROPOSED, Status.APPROVED, Status.RUNNING, Status.DONE})
TERMINAL_STATUSES = frozenset({Status.DONE, Status.FAILED, Status.REJECTED})

# action -> (statuses it may start from, statuses it may lead to)
ACTIONS: dict[str, tuple[frozenset[Status], frozenset[Status]]] = {
    "approve": (frozenset({Status.PROPOSED}), frozenset({Status.APPROVED})),
    "reject": (frozenset({Status.PROPOSED}), frozenset({Status.REJECTED})),
    "edit": (frozenset({Status.PROPOSED, Status.APPROVED, Status.INVALID}), frozenset({Status.PROPOSED})),
    "priority": (frozenset({Status.PROPOSED, Status.APPROVED}), frozenset({Status.PROPOSED, Status.APPROVED})),
    "start": (frozenset({Status.APPROVED}), frozenset({Status.RUNNING})),
    "complete": (frozenset({Status.RUNNING}), frozenset({Status.DONE})),
    "fail": (frozenset({Status.RUNNING}), frozenset({Status.FAILED})),
    "release": (frozenset({Status.RUNNING}), frozenset({Status.APPROVED})),
    "reap": (frozenset({Status.RUNNING}), frozenset({Status.APPROVED, Status.FAILED})),
    # the worker running a leased idea died and the run starts again elsewhere, under the same lease
    "retry": (frozenset({Status.RUNNING}), frozenset({Status.RUNNING})),
}

# The status graph implied by ACTIONS (self-loops of edit/priority included).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    s: frozenset(t for frm, to in ACTIONS.values() if s in frm for t in to) for s in Status
}

_HINTS = {
    "approve": "only a proposed idea can be approved",
    "reject": "only a proposed idea can be rejected",
    "edit": "only a proposed, approved or invalid idea can be edited",
    "priority": "only a proposed or approved idea can be re-prioritised",
    "start": "approve it first (gaussian queue approve ID)",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HistoryEvent(_Model):
    """One transition (or priority/edit change): when, who, what, from which status to which, and why."""

    time: dt.datetime
    actor: str = Field(min_length=1, max_length=200)
    action: Action
    from_status: Status | None
    to_status: Status
    note: str = Field("", max_length=20_000)


class Lease(_Model):
    """Which worker runs the idea and when it last said it is alive."""

    worker_id: str = Field(min_length=1, max_length=200)
    started: dt.datetime
    heartbeat: dt.datetime


MetricValue = float | int | str | bool | None


class IdeaResult(_Model):
    """What running the idea produced: the run id and key metrics, or the error and the log's tail."""

    run_id: str | None = None
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    error: str | None = None
    log_tail: str | None = None
    finished: dt.datetime


class Proposal(_Model):
    """The caller-supplied part of a new idea (validated before anything is stored)."""

    title: str = Field(min_length=1, max_length=200)
    hypothesis: str = Field("", max_length=4000)
    rationale: str = Field("", max_length=20_000)
    changes: dict[str, Any] = Field(default_factory=dict)
    source: Source
    priority: int = Field(0, ge=-1_000_000, le=1_000_000)
    analysis_ref: str | None = Field(None, max_length=200)


class Idea(_Model):
    """One queue entry: the proposal, its resolved spec and hash, status, lease, result and full history."""

    id: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=1)
    created: dt.datetime
    source: Source
    title: str = Field(min_length=1, max_length=200)
    hypothesis: str = Field("", max_length=4000)
    rationale: str = Field("", max_length=20_000)
    analysis_ref: str | None = Field(None, max_length=200)
    changes: dict[str, Any] = Field(default_factory=dict, description="{dotted.field: value} against the base")
    base_hash: str | None = Field(None, description="hash of the base spec the changes were applied to")
    spec: dict[str, Any] | None = Field(None, description="the resolved full spec (None when invalid)")
    spec_hash: str | None = None
    errors: list[str] = Field(default_factory=list, description="validation errors (status invalid)")
    priority: int = Field(0, ge=-1_000_000, le=1_000_000)
    status: Status
    attempts: int = Field(0, ge=0)
    lease: Lease | None = None
    result: IdeaResult | None = None
    history: list[HistoryEvent] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Idea:
        if (self.lease is not None) != (self.status is Status.RUNNING):
            raise ValueError(f"idea {self.id}: a lease must be held exactly while running (status {self.status.value})")
        if self.status is Status.INVALID:
            if not self.errors:
                raise ValueError(f"idea {self.id}: an invalid idea must keep its validation errors")
        elif self.spec is None or self.spec_hash is None:
            raise ValueError(f"idea {self.id}: a {self.status.value} idea must hold its resolved spec and hash")
        if self.history[-1].to_status is not self.status:
            raise ValueError(f"idea {self.id}: the last history event does not lead to status {self.status.value}")
        return self

    def experiment_spec(self) -> ExperimentSpec:
        """The resolved spec as an ExperimentSpec (raises SpecError for an invalid idea)."""
        if self.spec is None:
            raise SpecError(f"idea {self.id} is invalid and has no runnable spec: {'; '.join(self.errors)}")
        from experiments.spec.io import validate_spec

        return validate_spec(self.spec, source=f"idea {self.id}")

    def record(self, action: str, to: Status, actor: str, note: str = "",
               when: dt.datetime | None = None) -> None:
        """Apply one transition: check it against the status machine, set the status, append to history."""
        check_transition(self, action, to)
        self.history.append(
            HistoryEvent(time=when or _now(), actor=actor, action=action,  # type: ignore[arg-type]
                         from_status=self.status, to_status=to, note=note)
        )
        self.status = to


def check_transition(idea: Idea, action: str, to: Status) -> None:
    """Raise IllegalTransition unless `action` may take `idea` from its status to `to`."""
    if action not in ACTIONS:
        raise IllegalTransition(f"unknown queue action '{action}'")
    sources, targets = ACTIONS[action]
    if idea.status not in sources or to not in targets:
        allowed = ", ".join(sorted(s.value for s in sources))
        hint = _HINTS.get(action, f"allowed from: {allowed}")
        raise IllegalTransition(f"idea {idea.id} is {idea.status.value}; cannot {action} it ({hint})")


def clean_metrics(metrics: dict[str, Any]) -> dict[str, MetricValue]:
    """Keep JSON-safe scalars only: non-finite floats become None, other objects their string form."""
    out: dict[str, MetricValue] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or value is None or isinstance(value, str):
            out[str(key)] = value
        elif isinstance(value, (int, float)) or hasattr(value, "__float__"):
            f = float(value)
            out[str(key)] = (int(value) if isinstance(value, int) else f) if math.isfinite(f) else None
        else:
            out[str(key)] = str(value)
    return out
