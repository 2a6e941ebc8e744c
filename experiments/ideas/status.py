"""An idea's status: a plain enum in a module of its own, so command-line options can name it without loading
the pydantic models."""
from __future__ import annotations

from enum import StrEnum

from experiments.ideas.errors import ProposalError


class Status(StrEnum):
    """Where an idea stands."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    INVALID = "invalid"


def parse_status(value: Status | str | None) -> Status | None:
    """A Status from its name, or a clear error listing the statuses."""
    if value is None or isinstance(value, Status):
        return value
    try:
        return Status(str(value).lower())
    except ValueError:
        names = ", ".join(s.value for s in Status)
        raise ProposalError(f"unknown idea status '{value}' (one of: {names})") from None
