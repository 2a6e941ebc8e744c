"""The leaderboard: finished runs ranked on validation figures, with their baselines and the promoted marker.

Ranked by validation Sharpe (ties by P&L). The DSR column is recomputed over the ledger's current trial
count, so every row is deflated by the same number of trials. Abandoned attempts (see experiments.runs.attempts)
and runs superseded by a later attempt of the same idea are left out.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from experiments.home import queue_path, runs_dir
from experiments.promotion.gate import current_dsr, current_promoted
from experiments.runs import ledger
from experiments.runs.attempts import is_abandoned, run_idea_id
from experiments.runs.store import list_runs, read_json
from trader.errors import StateError

COLUMNS = ("rank", "run_id", "name", "entry", "encoder", "bars", "trades", "pnl_pct", "win_rate", "sharpe", "dsr",
           "random_pnl_pct", "buy_hold_pnl_pct", "promoted")


def _idea_results() -> dict[str, tuple[str | None, str]]:
    """idea id -> (the run id recorded as its result or None, the idea's title)."""
    if not queue_path().exists():
        return {}
    from experiments.ideas.store import QueueStore

    try:
        ideas = QueueStore(queue_path()).ideas()
    except StateError:
        return {}
    return {i.id: (i.result.run_id if i.result else None, i.title) for i in ideas}


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(float(v)) else None


def _spec_bits(run_dir: Path) -> dict[str, Any]:
    try:
        spec = (read_json(run_dir / "spec.json").get("spec") or {})
    except StateError:
        return {}
    entry = (spec.get("entry") or {}).get("type")
    uses_model = entry not in ("momentum", "random", None)
    return {"entry": entry, "encoder": (spec.get("model") or {}).get("encoder") if uses_model else None}


def leaderboard(limit: int | None = None) -> list[dict[str, Any]]:
    """Finished, non-abandoned runs ranked by validation Sharpe (then P&L), with baselines and the promoted flag.

    `name` is the idea's title for runs of queued ideas, else the spec's name.
    """
    results = _idea_results()
    promoted = current_promoted()
    promoted_id = promoted.get("run_id") if promoted else None
    n_trials = ledger.trial_count()
    sharpes = ledger.trial_sharpes()
    rows = []
    for r in list_runs():
        if r["status"] != "done":
            continue
        d = runs_dir() / r["run_id"]
        if is_abandoned(d):
            continue
        idea = run_idea_id(d)
        recorded, title = results.get(idea or "", (None, None))
        if recorded not in (None, r["run_id"]):
            continue  # an earlier attempt of an idea whose recorded result is another run
        m, b = r["metrics"], r["baselines"]
        rows.append({
            "run_id": r["run_id"], "name": title or r["name"], **_spec_bits(d), "idea_id": idea,
            "bars": r.get("bars"), "trades": m.get("trades"), "pnl": _num(m.get("pnl")), "pnl_pct": _num(m.get("pnl_pct")),
            "win_rate": _num(m.get("win_rate")), "sharpe": _num(m.get("sharpe")),
            "dsr": current_dsr(m, n_trials, sharpes), "dsr_at_run": _num(m.get("dsr")),
            "random_pnl_pct": _num((b.get("random_entry") or {}).get("pnl_pct")),
            "buy_hold_pnl_pct": _num((b.get("buy_and_hold") or {}).get("pnl_pct")),
            "promoted": r["run_id"] == promoted_id,
        })
    rows.sort(key=lambda x: (-(x["sharpe"] if x["sharpe"] is not None else -math.inf),
                             -(x["pnl"] if x["pnl"] is not None else -math.inf), x["run_id"]))
    for k, row in enumerate(rows, 1):
        row["rank"] = k
    return rows[:limit] if limit else rows


def trials_note() -> str:
    """How many trials the DSR column is deflated over, and the PBO of choosing the best of them."""
    from experiments.promotion.pbo_store import pbo_sentence, read_pbo

    return f"DSR over {ledger.trial_count()} trials in the ledger; {pbo_sentence(read_pbo())}"
