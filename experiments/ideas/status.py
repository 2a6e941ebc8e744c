"""An idea's status: a plain enum in a module of its own, so command-line options can name it without loading
the pydantic models."""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where an idea stands."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    INVALID = "invalid"
