"""Errors of the idea queue: each one sentence naming the idea, the file or the rule that was broken."""
from __future__ import annotations

from trader.errors import GaussianError, SpecError, StateError


class QueueCorrupt(StateError):
    """The queue file (or a backup) cannot be parsed or validated; it is never overwritten."""


class QueueLocked(StateError):
    """Another process held the queue's file lock for longer than the timeout."""


class IdeaNotFound(StateError):
    """No idea in the queue has the given id."""


class IllegalTransition(StateError):
    """The requested action is not allowed from the idea's current status."""


class LeaseError(StateError):
    """A worker acted on an idea it does not hold the lease of."""


class DuplicateIdea(StateError):
    """A proposal's spec hash matches an idea that is queued, running or done, or it changes nothing (no id)."""

    def __init__(self, message: str, existing_id: str | None) -> None:
        super().__init__(message)
        self.existing_id = existing_id


class ProposalError(GaussianError):
    """A proposal's or a review's input (title, text, note, source, priority, status, changes) is malformed."""


class InvalidProposal(SpecError):
    """A proposal's spec failed validation; it was stored with status invalid for audit."""

    def __init__(self, message: str, idea_id: str, errors: list[str]) -> None:
        super().__init__(message)
        self.idea_id = idea_id
        self.errors = errors


class PolicyError(GaussianError):
    """The auto-approve policy file is missing fields, has unknown ones or holds bad values."""
