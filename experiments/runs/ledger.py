"""The experiment ledger: one line per executed experiment, failed or not; the trial count for the DSR.

An attempt that never reached the queue (its worker was killed before recording done or failed on the idea) is
not a trial: the idea runs again, and that run is its one line. Its line, if it had written one, is withdrawn
when the attempt is set aside (`withdraw`), so the ledger holds exactly one line per completed idea whatever was
killed when.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from experiments.files import append_jsonl, drop_jsonl, read_jsonl
from experiments.home import runs_dir


def ledger_path() -> Path:
    """runs/ledger.jsonl under the home."""
    return runs_dir() / "ledger.jsonl"


def record(run_id: str, spec_hash: str, status: str, metrics: dict[str, Any] | None = None,
           idea_id: str | None = None, error: str | None = None) -> None:
    """Append one executed experiment to the ledger."""
    entry = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run_id": run_id, "spec_hash": spec_hash, "status": status, "idea_id": idea_id,
    }
    if metrics:
        entry["metrics"] = {k: metrics.get(k) for k in ("pnl", "pnl_pct", "trades", "win_rate", "sharpe")}
    if error:
        entry["error"] = error[:500]
    append_jsonl(ledger_path(), entry)


def withdraw(*, idea_id: str | None = None, run_ids: Iterable[str] = ()) -> int:
    """Remove the lines of abandoned attempts: every line of `idea_id`, and the lines of `run_ids`; how many."""
    runs = set(run_ids)
    if idea_id is None and not runs:
        return 0
    return drop_jsonl(ledger_path(), lambda e: (idea_id is not None and e.get("idea_id") == idea_id)
                      or e.get("run_id") in runs)


def entries() -> list[dict[str, Any]]:
    """All ledger lines in order."""
    return read_jsonl(ledger_path())


def trial_count() -> int:
    """Experiments executed so far (every line counts, failures included)."""
    return len(entries())


def trial_sharpes() -> list[float]:
    """Validation Sharpe ratios of completed experiments (for the deflated Sharpe's variance)."""
    out = []
    for e in entries():
        s = (e.get("metrics") or {}).get("sharpe")
        if isinstance(s, (int, float)):
            out.append(float(s))
    return out
