"""What a person may do from the browser or the API, each through the same code path as the CLI: the queue's
locked, validated operations and promotion's gate. Inputs arrive as text from forms or JSON from scripts and are
checked here with the CLI's own messages; a refused action raises and stores nothing."""
from __future__ import annotations

from typing import Any

from experiments.ideas.errors import ProposalError
from experiments.ideas.queue import IdeaQueue
from experiments.promotion.gate import promote as gate_promote

WEB_ACTOR = "human:web"
PRIORITY_LIMIT = 1_000_000


def actor(by: str | None) -> str:
    """Who acts: the given name (as `--by`), else human:web."""
    name = (by or "").strip()
    return name[:200] if name else WEB_ACTOR


def parse_priority(value: Any) -> int:
    """An integer priority in range, from a form's text or JSON, or the CLI's message naming the range."""
    try:
        p = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        p = None
    if p is None or abs(p) > PRIORITY_LIMIT:
        raise ProposalError(f"priority must be an integer between -{PRIORITY_LIMIT} and {PRIORITY_LIMIT}, "
                            f"got {value!r}")
    return p


def approve(ref: str, note: str = "", by: str | None = None) -> dict[str, Any]:
    """proposed -> approved (`gaussian queue approve`)."""
    return IdeaQueue.from_home().approve(ref, actor(by), note).model_dump(mode="json")


def reject(ref: str, note: str, by: str | None = None) -> dict[str, Any]:
    """proposed -> rejected with the required note (`gaussian queue reject --note`)."""
    return IdeaQueue.from_home().reject(ref, actor(by), note).model_dump(mode="json")


def edit(ref: str, changes: dict[str, Any] | list[str], note: str = "", by: str | None = None) -> dict[str, Any]:
    """Change spec fields (`gaussian queue edit --set path=value`); re-validated, back to proposed."""
    return IdeaQueue.from_home().edit(ref, changes, actor(by), note).model_dump(mode="json")


def edit_field(ref: str, field: str, value: str, note: str = "", by: str | None = None) -> dict[str, Any]:
    """One field from a form: `field=value` parsed exactly as the CLI's --set."""
    field = field.strip()
    if not field:
        raise ProposalError(f"editing idea {ref} needs a field path such as 'entry.momentum.lookback_bars'")
    return edit(ref, [f"{field}={value}"], note, by)


def set_priority(ref: str, value: Any, by: str | None = None) -> dict[str, Any]:
    """Change a proposed or approved idea's priority (`gaussian queue priority`)."""
    return IdeaQueue.from_home().set_priority(ref, parse_priority(value), actor(by)).model_dump(mode="json")


def promote(run: str, by: str | None = None) -> dict[str, Any]:
    """Apply the promotion gate (evaluating the sealed holdout once when the rest passes), as `gaussian promote`
    without --force: the browser cannot force a run past the gate. An unknown run id is NotFound (404)."""
    from experiments.web.views import run_dir

    run_dir(run.strip())
    return gate_promote(run.strip(), by=actor(by)).as_dict()


def recover() -> dict[str, Any]:
    """Restore the newest good backup of an unreadable queue file (`gaussian queue recover`)."""
    r = IdeaQueue.from_home().recover()
    return {"restored_from": str(r.restored_from), "saved_as": str(r.saved_as) if r.saved_as else None,
            "ideas": r.ideas}
