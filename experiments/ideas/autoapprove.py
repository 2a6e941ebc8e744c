"""The auto-approve policy: for unattended use, approve proposals whose changes stay inside configured bounds.

Off by default. Configured in `<home>/autoapprove.yaml`, for example:

    enabled: true
    allowed_fields: [exits., entry.momentum.]   # dotted prefixes a change may touch
    bounds:                                      # per-field limits (a bounded field is allowed too)
      exits.stop_loss_pct: {min: 4, max: 12}
      model.encoder: {values: [tcn, mamba2]}
    max_changes: 3                               # at most this many fields differ from the base spec
    max_per_day: 5                               # auto-approvals per New York calendar day
    sources: [agent, heuristic, optimizer]       # who may be auto-approved (never 'human' unless listed)
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.sink import SourceKind
from experiments.home import home_dir
from experiments.ideas.errors import PolicyError
from experiments.spec.io import describe_validation_error, effective_dict, flatten
from experiments.spec.model import ExperimentSpec

AUTO_APPROVE_ACTOR = "auto-approve"
POLICY_FILE = "autoapprove.yaml"
DAY_ZONE = ZoneInfo("America/New_York")


def _spec_fields() -> set[str]:
    return set(flatten(effective_dict(ExperimentSpec())))


def _matches(path: str, prefix: str) -> bool:
    stem = prefix.rstrip(".")
    return path == stem or path.startswith(stem + ".")


class FieldBound(BaseModel):
    """Limits on one field: a numeric range and/or a list of allowed values."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None
    values: list[Any] | None = Field(None, min_length=1)

    def violation(self, path: str, value: Any) -> str | None:
        """Why `value` breaks this bound, or None when it is inside."""
        if self.values is not None and value not in self.values:
            return f"{path} = {value!r} is not one of the auto-approvable values {self.values}"
        if self.min is not None or self.max is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{path} = {value!r} is not a number inside the auto-approve bounds"
            if self.min is not None and value < self.min:
                return f"{path} = {value} is below the auto-approve minimum {self.min}"
            if self.max is not None and value > self.max:
                return f"{path} = {value} is above the auto-approve maximum {self.max}"
        return None


class AutoApprovePolicy(BaseModel):
    """Which proposals may be approved without a person: off unless enabled, and only inside the bounds."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    allowed_fields: list[str] = Field(default_factory=list, description="dotted field prefixes a change may touch")
    bounds: dict[str, FieldBound] = Field(default_factory=dict, description="per-field limits")
    max_changes: int = Field(3, ge=1, le=100, description="most fields that may differ from the base spec")
    max_per_day: int = Field(5, ge=0, le=10_000, description="auto-approvals per New York calendar day")
    sources: list[SourceKind] = Field(default_factory=lambda: ["agent", "heuristic", "optimizer"])

    @model_validator(mode="after")
    def _known_fields(self) -> AutoApprovePolicy:
        known = _spec_fields()
        for prefix in self.allowed_fields:
            if not any(_matches(f, prefix) for f in known):
                raise ValueError(f"allowed_fields entry '{prefix}' matches no spec field")
        for path in self.bounds:
            if path not in known:
                raise ValueError(f"bounds key '{path}' is not a spec field")
        return self

    def refusals(self, diff: dict[str, tuple[Any, Any]], source_kind: str, approved_today: int) -> list[str]:
        """Reasons this proposal may not be auto-approved (empty: approve it)."""
        if not self.enabled:
            return ["auto-approve is disabled"]
        reasons = []
        if source_kind not in self.sources:
            reasons.append(f"proposals from a {source_kind} are not auto-approved")
        if approved_today >= self.max_per_day:
            reasons.append(f"the daily auto-approve limit ({self.max_per_day}) is reached")
        if not diff:
            reasons.append("the proposal does not change the base spec")
        if len(diff) > self.max_changes:
            reasons.append(f"{len(diff)} fields changed, more than max_changes={self.max_changes}")
        for path, (_, new) in diff.items():
            bound = self.bounds.get(path)
            if bound is None and not any(_matches(path, p) for p in self.allowed_fields):
                reasons.append(f"{path} is outside the auto-approvable fields")
            elif bound is not None and (why := bound.violation(path, new)):
                reasons.append(why)
        return reasons


def policy_path() -> Path:
    """Where the policy lives: autoapprove.yaml in the home."""
    return home_dir() / POLICY_FILE


def load_autoapprove_policy(path: str | Path | None = None) -> AutoApprovePolicy:
    """Read the policy file (default: the home's autoapprove.yaml); a missing file means auto-approve is off."""
    p = Path(path) if path is not None else policy_path()
    if not p.exists():
        if path is not None:
            raise PolicyError(f"{p}: auto-approve policy file not found")
        return AutoApprovePolicy()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"{p}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{p}: the auto-approve policy must be a mapping of fields")
    try:
        return AutoApprovePolicy.model_validate(data)
    except ValidationError as err:
        raise PolicyError(describe_validation_error(err, str(p))) from None


def policy_day(when: dt.datetime) -> dt.date:
    """The New York calendar day a timestamp falls on (the unit of max_per_day)."""
    return when.astimezone(DAY_ZONE).date()
