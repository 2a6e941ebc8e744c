"""The last computed Probability of Backtest Overfitting, kept in runs/pbo.json, so the read-only commands
(`gaussian status`, `gaussian leaderboard`) show it without loading numpy or pandas; the optimizer refreshes it
after every finished run (experiments.promotion.pbo.refresh_pbo), `gaussian check pbo` on demand."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from experiments.files import atomic_write_json
from experiments.home import runs_dir

PBO_FILE = "pbo.json"
MIN_RUNS, MIN_DAYS = 3, 8
"""Below this the CSCV split is too coarse to mean anything (two runs over six days give PBO 0 or 1 by a coin)."""


def _finished() -> tuple[int, str]:
    """How many run folders hold metrics.json, and a hash of their names (what the PBO was computed over)."""
    root = runs_dir()
    names = sorted(p.name for p in root.iterdir() if (p / "metrics.json").exists()) if root.is_dir() else []
    return len(names), hashlib.sha1("\n".join(names).encode()).hexdigest()[:16]


def read_pbo() -> dict[str, Any] | None:
    """The stored PBO, with `stale` set when runs finished since it was computed; None when never computed."""
    path = runs_dir() / PBO_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    doc["stale"] = doc.get("runs_signature") != _finished()[1]
    return doc


def write_pbo(doc: dict[str, Any]) -> dict[str, Any]:
    """Store a freshly computed PBO with what it was computed over; returns it as `read_pbo` would."""
    n, signature = _finished()
    doc = {**doc, "finished_runs": n, "runs_signature": signature,
           "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    atomic_write_json(runs_dir() / PBO_FILE, doc)
    return {**doc, "stale": False}


def pbo_sentence(doc: dict[str, Any] | None) -> str:
    """One line for tables: the PBO and what it was computed from."""
    if doc is None:
        return "PBO not computed yet (the optimizer computes it after each run; `gaussian check pbo` now)"
    when = f" as of {doc['computed_at']} UTC" if doc.get("stale") and doc.get("computed_at") else ""
    if doc.get("pbo") is None:
        return (f"PBO n/a ({doc.get('runs', 0)} runs x {doc.get('days', 0)} days share a window; needs {MIN_RUNS} x "
                f"{MIN_DAYS}){when}")
    return (f"PBO {doc['pbo']:.2f} over {doc['runs']} runs x {doc['days']} days (CSCV, {doc['splits']} splits)"
            f"{when}")
