"""Run directories of an idea's attempts, and the marker that sets an abandoned attempt's directory aside.

An attempt is abandoned when its worker stopped before recording a result on the idea: the optimizer was
killed (its lease was reaped), it was stopped and returned the idea to the queue, or it lost its lease. Its run
directory stays on disk for inspection but is never ranked, promoted or counted as the idea's result.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from experiments.files import atomic_write_json
from experiments.home import runs_dir
from experiments.runs import ledger

ABANDONED_FILE = "ABANDONED.json"


def run_idea_id(run_dir: Path) -> str | None:
    """The idea id a run directory was made for (from its spec.json), or None."""
    try:
        doc = json.loads((run_dir / "spec.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    value = doc.get("idea_id") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def run_created(run_id: str) -> dt.datetime | None:
    """When a run was created, read from its id's UTC time prefix (YYYYmmdd-HHMMSS), or None."""
    try:
        return dt.datetime.strptime(run_id[:15], "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def attempt_dirs(idea_id: str, since: dt.datetime | None = None) -> list[Path]:
    """Run directories made for `idea_id` (oldest first), optionally only those created at or after `since`."""
    root = runs_dir()
    if not root.is_dir():
        return []
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        if run_idea_id(d) != idea_id:
            continue
        if since is not None and (made := run_created(d.name)) is not None and made < since - dt.timedelta(seconds=1):
            continue
        out.append(d)
    return out


def is_abandoned(run_dir: Path) -> bool:
    """True when the run directory was set aside as an abandoned attempt."""
    return (run_dir / ABANDONED_FILE).exists()


def mark_abandoned(run_dir: Path, reason: str) -> None:
    """Set a run directory aside as an abandoned attempt, saying why (kept once written)."""
    if is_abandoned(run_dir):
        return
    atomic_write_json(run_dir / ABANDONED_FILE, {
        "run_id": run_dir.name, "reason": reason,
        "marked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })


def abandon_attempts(idea_id: str, reason: str, keep: str | None = None,
                     since: dt.datetime | None = None) -> list[str]:
    """Mark the idea's run directories (except `keep`) as abandoned and withdraw their ledger lines; return the
    run ids marked."""
    marked, aside = [], []
    for d in attempt_dirs(idea_id, since):
        if d.name == keep:
            continue
        aside.append(d.name)
        if not is_abandoned(d):
            mark_abandoned(d, reason)
            marked.append(d.name)
    ledger.withdraw(run_ids=aside)
    return marked


def withdraw_unrecorded_attempts(idea_id: str) -> list[str]:
    """Before an idea's attempt starts: its earlier attempts never recorded a result on the idea (a done or failed
    idea is never run again), so their run directories are set aside and all its ledger lines withdrawn."""
    marked = abandon_attempts(idea_id, "an earlier attempt whose worker died before it recorded a result")
    ledger.withdraw(idea_id=idea_id)
    return marked
