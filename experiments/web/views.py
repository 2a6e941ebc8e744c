"""What the pages and the JSON API show, assembled once from the home's files through the wings' own readers, so a
page, its API twin and the CLI report the same figures. Reading never changes anything."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import markdown

from experiments.files import read_jsonl
from experiments.home import home_dir, queue_path, runs_dir
from experiments.ideas.models import Idea, Status
from experiments.ideas.queue import IdeaQueue
from experiments.optimizer.status import collect_status
from experiments.paper.journal import load_state
from experiments.promotion.gate import (
    current_promoted,
    load_gate,
    promoted_path,
    promotion_history,
    sealed_holdout_check,
    validation_checks,
)
from experiments.promotion.leaderboard import leaderboard, trials_note
from experiments.runs import ledger
from experiments.runs.store import read_json
from experiments.spec.io import spec_diff
from experiments.spec.io import spec_hash as hash_spec
from experiments.web.cache import MEMO, QUEUES
from trader.errors import GaussianError, StateError

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CURVE_POINTS = 1500
JOURNAL_TAIL = 30
LOG_TAIL_BYTES = 4000
COMPARE_METRICS = ("trades", "pnl", "pnl_pct", "win_rate", "sharpe", "sortino", "max_drawdown", "dsr", "days")


class NotFound(StateError):
    """An idea, run or paper session the request names does not exist (HTTP 404)."""


# ----- overview ------------------------------------------------------------------------------------------------


def _tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def overview(alerts: dict[str, Any] | None = None) -> dict[str, Any]:
    """`gaussian status` (the same document) plus the running idea's live progress and the alerts' health."""
    try:
        ideas_now = QUEUES.ideas(queue_path())
    except GaussianError:
        ideas_now = None  # collect_status reads the file itself and reports what is wrong with it
    doc = collect_status(ideas=ideas_now)
    opt = doc["optimizer"]
    cur = opt.get("current") if opt.get("running") else None
    progress = None
    if cur:
        since = dt.datetime.fromisoformat(cur["since"])
        lines = [ln for ln in _tail(Path(cur.get("log") or "")).splitlines() if ln.strip()]
        progress = {**cur, "elapsed_s": round((dt.datetime.now(dt.UTC) - since).total_seconds(), 1),
                    "log_tail": lines[-6:]}
    doc["progress"] = progress
    doc["alerts"] = alerts or {"configured": 0, "failures": [], "sent": 0}
    for f in doc["alerts"].get("failures", [])[-3:]:
        doc["health"].append({"level": "warning", "message": f"alert delivery failed: {f['error']}"})
    return doc


# ----- ideas ---------------------------------------------------------------------------------------------------


def _summary(i: Idea) -> dict[str, Any]:
    return {"id": i.id, "seq": i.seq, "title": i.title, "status": i.status.value, "priority": i.priority,
            "source": i.source.label(), "attempts": i.attempts, "created": i.created.isoformat(timespec="seconds"),
            "spec_hash": i.spec_hash, "changes": i.changes,
            "run_id": i.result.run_id if i.result else None}


def _listing(state: Any) -> tuple[dict[str, int], list[dict[str, Any]]]:
    counts = {s.value: 0 for s in Status}
    for i in state.ideas.values():
        counts[i.status.value] += 1
    return counts, [_summary(i) for i in state.ideas.values()]


def ideas(status: str | None = None) -> dict[str, Any]:
    """Every idea (oldest first, or those of one status) and the counts per status."""
    from experiments.ideas.queue import parse_status

    q = IdeaQueue.from_home()
    counts, summaries = QUEUES.derived(q.path, "listing", _listing)
    wanted = parse_status(status) if status else None
    shown = [i for i in summaries if wanted is None or i["status"] == wanted.value]
    return {"queue": str(q.path), "status": wanted.value if wanted else None, "counts": dict(counts), "ideas": shown}


def allowed_actions(idea: Idea) -> list[str]:
    """The review actions the status machine allows now (as `gaussian queue` does)."""
    s = idea.status
    out = []
    if s is Status.PROPOSED:
        out += ["approve", "reject"]
    if s in (Status.PROPOSED, Status.APPROVED, Status.INVALID):
        out.append("edit")
    if s in (Status.PROPOSED, Status.APPROVED):
        out.append("priority")
    return out


def _analysis_ref(run_id: str | None) -> dict[str, Any] | None:
    if not run_id:
        return None
    ok = bool(RUN_ID.match(run_id)) and (runs_dir() / run_id / "ANALYSIS.md").exists()
    return {"run_id": run_id, "exists": ok, "url": f"/runs/{run_id}" if ok else None}


def idea(ref: str) -> dict[str, Any]:
    """One idea as `gaussian queue show --json` gives it, plus the allowed actions and links to its analyses."""
    q = IdeaQueue.from_home()
    if not q.path.exists():
        raise NotFound(f"no idea '{ref}': the queue {q.path} does not exist yet")
    state = QUEUES.state(q.path)
    found = state.ideas[q.resolve(ref, state)]
    diff: dict[str, tuple[Any, Any]] = {}
    note = None
    if found.spec is not None:
        base = q.base_spec()
        if found.base_hash and found.base_hash != hash_spec(base):
            note = "the base spec changed since this idea was proposed; the diff is against the current base"
        diff = spec_diff(base, found.experiment_spec())
    return {
        "idea": found.model_dump(mode="json"),
        "diff": [{"field": k, "base": old, "idea": new} for k, (old, new) in diff.items()],
        "diff_note": note,
        "analysis": _analysis_ref(found.analysis_ref),
        "result_analysis": _analysis_ref(found.result.run_id if found.result else None),
        "actions": allowed_actions(found),
    }


# ----- runs ----------------------------------------------------------------------------------------------------


def run_dir(run_id: str) -> Path:
    """The directory of run `run_id` (exact id), or NotFound naming it."""
    d = runs_dir() / run_id
    if not RUN_ID.match(run_id) or not (d / "spec.json").exists():
        raise NotFound(f"run '{run_id}' not found under {runs_dir()}")
    return d


def runs() -> dict[str, Any]:
    """The leaderboard (`gaussian leaderboard --json`), with the DSR's trial count (kept until a run folder
    appears, a run is recorded in the ledger, the promotion or the queue changes, or for a few seconds)."""
    watched = [runs_dir(), ledger.ledger_path(), promoted_path(), queue_path()]
    return MEMO.get(f"leaderboard:{runs_dir()}", watched, lambda: {"rows": leaderboard(), "note": trials_note(),
                                                                   "trials": ledger.trial_count()})


def _plots(d: Path) -> list[str]:
    folder = d / "plots"
    return sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []


def render_analysis(text: str, run_id: str) -> str:
    """ANALYSIS.md as HTML: raw HTML in it is escaped, relative image links point at the run's files."""
    safe = text.replace("&", "&amp;").replace("<", "&lt;")
    safe = re.sub(r"!\[([^\]]*)\]\((?!https?:|/)([^)\s]+)\)", rf"![\1](/runs/{run_id}/files/\2)", safe)
    return markdown.markdown(safe, extensions=["tables", "fenced_code"])


def run(run_id: str) -> dict[str, Any]:
    """One run: its spec, validation metrics and baselines, plots, ANALYSIS.md (raw and as HTML)."""
    d = run_dir(run_id)
    spec = read_json(d / "spec.json")
    metrics = read_json(d / "metrics.json") if (d / "metrics.json").exists() else None
    analysis = (d / "ANALYSIS.md").read_text(encoding="utf-8") if (d / "ANALYSIS.md").exists() else None
    return {
        "run_id": run_id, "spec": spec.get("spec"), "spec_hash": spec.get("hash"), "idea_id": spec.get("idea_id"),
        "status": "done" if metrics else "incomplete",
        "metrics": (metrics or {}).get("metrics"), "baselines": (metrics or {}).get("baselines"),
        "window": (metrics or {}).get("window"),
        "plots": [f"/runs/{run_id}/files/plots/{p}" for p in _plots(d)],
        "analysis_md": analysis, "analysis_html": render_analysis(analysis, run_id) if analysis else None,
        "promoted": (current_promoted() or {}).get("run_id") == run_id,
    }


def run_file(run_id: str, rel: str) -> Path:
    """A file inside a run's directory (plots and the like); NotFound for anything outside it or missing."""
    d = run_dir(run_id).resolve()
    p = (d / rel).resolve()
    if d not in p.parents or not p.is_file():
        raise NotFound(f"run '{run_id}' has no file '{rel}'")
    return p


def _curve_from_frame(path: Path) -> dict[str, list[Any]]:
    import pandas as pd

    if not path.exists():
        return {"x": [], "y": []}
    frame = pd.read_parquet(path, columns=["equity"])
    step = max(1, len(frame) // CURVE_POINTS)
    part = frame.iloc[::step]
    if len(frame) and part.index[-1] != frame.index[-1]:
        part = pd.concat([part, frame.iloc[[-1]]])
    return {"x": [t.isoformat() for t in part.index], "y": [round(float(v), 4) for v in part["equity"]]}


def equity(run_id: str) -> dict[str, Any]:
    """A run's validation equity curve (at most about 1,500 points, the last one kept)."""
    return {"run_id": run_id, **_curve_from_frame(run_dir(run_id) / "equity.parquet")}


def compare(run_ids: list[str]) -> dict[str, Any]:
    """Two or more runs side by side: their key metrics and baselines, and their equity curves."""
    ids = list(dict.fromkeys(r for r in run_ids if r))
    if len(ids) < 2:
        raise NotFound("comparing needs two or more run ids (run=ID&run=ID)")
    rows = []
    for rid in ids:
        r = run(rid)
        m = r["metrics"] or {}
        b = r["baselines"] or {}
        rows.append({"run_id": rid, "name": (r["spec"] or {}).get("name"),
                     **{k: m.get(k) for k in COMPARE_METRICS},
                     "random_pnl_pct": (b.get("random_entry") or {}).get("pnl_pct"),
                     "buy_hold_pnl_pct": (b.get("buy_and_hold") or {}).get("pnl_pct")})
    return {"runs": rows, "metrics": list(COMPARE_METRICS) + ["random_pnl_pct", "buy_hold_pnl_pct"],
            "curves": [equity(rid) for rid in ids]}


# ----- promotion -----------------------------------------------------------------------------------------------


def promotion() -> dict[str, Any]:
    """The promoted run, the gate's settings and every recorded decision (newest first)."""
    history = promotion_history()
    return {"promoted": current_promoted(), "gate": load_gate().model_dump(), "history": history[::-1][:200],
            "decisions": len(history)}


def gate_preview(run_id: str) -> dict[str, Any]:
    """The gate's validation checks for any finished run, as promoting would compute them; the holdout is not
    touched (it stays sealed until someone promotes)."""
    d = run_dir(run_id)
    if not (d / "metrics.json").exists():
        raise NotFound(f"run '{run_id}' has no metrics.json yet; only a finished run can be checked")
    doc = read_json(d / "metrics.json")
    checks = validation_checks(doc, load_gate(), ledger.trial_count(), ledger.trial_sharpes())
    checks.append(sealed_holdout_check("a preview; the holdout is evaluated only when promoting"))
    return {"run_id": run_id, "checks": [c.__dict__ for c in checks],
            "validation_failed": [c.name for c in checks if c.passed is False]}


# ----- paper ---------------------------------------------------------------------------------------------------


def paper_root() -> Path:
    """<home>/paper: one folder per paper session."""
    return home_dir() / "paper"


def _journal_tail(path: Path, n: int = JOURNAL_TAIL) -> list[dict[str, Any]]:
    out = []
    for line in _tail(path, 64_000).splitlines()[-n:]:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _session_summary(d: Path) -> dict[str, Any]:
    try:
        state = load_state(d / "state.json") or {}
        error = None
    except StateError as exc:
        state, error = {}, str(exc)
    m = read_json(d / "metrics.json") if (d / "metrics.json").exists() else {}
    return {"session": d.name, "run_id": state.get("run_id") or m.get("promoted_run"),
            "venue": state.get("venue") or m.get("venue"), "bar": state.get("bar"), "time": state.get("time"),
            "positions": len(state.get("positions") or []), "stopped": state.get("stopped"),
            "complete": m.get("complete"), "trades": (m.get("metrics") or {}).get("trades"),
            "pnl": (m.get("metrics") or {}).get("pnl"), "error": error}


def paper() -> dict[str, Any]:
    """Every paper session: venue, progress, open positions and kill-switch state."""
    root = paper_root()
    dirs = sorted((d for d in root.iterdir() if d.is_dir()), reverse=True) if root.is_dir() else []
    return {"sessions": [_session_summary(d) for d in dirs]}


def paper_session(name: str) -> dict[str, Any]:
    """One paper session: positions, the journal's tail, the equity curve and the kill switches."""
    d = paper_root() / name
    if not RUN_ID.match(name) or not d.is_dir():
        raise NotFound(f"paper session '{name}' not found under {paper_root()}")
    state = load_state(d / "state.json") or {}
    curve = _curve_from_frame(d / "equity.parquet")
    if not curve["x"]:
        bars = {e["bar"]: e for e in read_jsonl(d / "journal.jsonl") if e.get("event") == "bar"}
        rows = [bars[k] for k in sorted(bars)]
        curve = {"x": [r["time"] for r in rows], "y": [r["equity"] for r in rows]}
    kills = [e for e in _journal_tail(d / "journal.jsonl", 400) if e.get("event") == "kill_switch"]
    return {**_session_summary(d), "positions_detail": state.get("positions") or [],
            "working": state.get("working") or [], "journal_tail": _journal_tail(d / "journal.jsonl"),
            "equity": curve, "kill_switch_events": kills}
