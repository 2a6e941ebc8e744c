"""Where proposals go: a small Protocol the agent writes into, answered with accepted or refused-with-reasons.

The agent never imports the experiment layer; it is handed an object that satisfies `ProposalSink` (the idea
queue does) and reads the `SubmitResult` it gets back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

SourceKind = Literal["agent", "heuristic", "human", "optimizer"]


class Source(BaseModel):
    """Who proposed an idea: an LLM agent (with its model id), a heuristic/optimizer, or a person."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SourceKind
    name: str = Field(min_length=1, max_length=80, description="agent or heuristic name, or the person")
    model: str | None = Field(None, min_length=1, max_length=120, description="LLM model id (kind=agent)")

    @model_validator(mode="after")
    def _model_for_agents(self) -> Source:
        if self.kind == "agent" and not self.model:
            raise ValueError("source.model (the LLM model id) is required when source.kind is 'agent'")
        return self

    def label(self) -> str:
        """A short display form, e.g. 'agent:proposer (claude-sonnet-4-6)' or 'human:alice'."""
        text = f"{self.kind}:{self.name}"
        return f"{text} ({self.model})" if self.model else text


@dataclass(frozen=True)
class SubmitResult:
    """The sink's answer: accepted (with the new idea's id) or refused with one reason per problem."""

    accepted: bool
    idea_id: str | None = None
    reasons: list[str] = field(default_factory=list)
    status: str | None = None


@runtime_checkable
class ProposalSink(Protocol):
    """Anything that takes experiment proposals: spec changes (dotted field paths) plus the reasoning behind them."""

    def submit(
        self,
        title: str,
        hypothesis: str,
        rationale: str,
        changes: dict[str, Any],
        source: Source,
        priority: int = 0,
        analysis_ref: str | None = None,
    ) -> SubmitResult:
        """Validate and store one proposal; never raises for a bad proposal, refuses it with reasons instead."""
        ...

    def record_invalid(
        self,
        title: str,
        hypothesis: str,
        rationale: str,
        changes: dict[str, Any],
        source: Source,
        reasons: list[str],
    ) -> SubmitResult:
        """Store a proposal that failed the agent's own shape checks as invalid, with its reasons, for audit; the
        same one again (same changes and reasons) is stored once. Never raises for a bad proposal."""
        ...
