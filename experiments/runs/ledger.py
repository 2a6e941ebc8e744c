"""The experiment ledger: one line per executed experiment, failed or not; the trial count for the DSR."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from experiments.files import append_jsonl, read_jsonl
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
