"""`gaussian status`: what is running, queue counts, recent results, agent spend, the promoted model and health.

The optimizer writes `runs/optimizer_status.json` from its heartbeat job; everything else is read from the
home's files (queue, ledger, agent cost ledger, promoted.json). Reading never changes anything.
"""
from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path
from typing import Any

from experiments.files import atomic_write_json
from experiments.home import home_dir, queue_path, runs_dir
from experiments.runs.progress import running_experiments
from trader.errors import GaussianError

RECENT = 5
AGENT_STATUS_FILE = "agent_status.json"


def optimizer_status_path() -> Path:
    """runs/optimizer_status.json: written by a running optimizer's heartbeat job."""
    return runs_dir() / "optimizer_status.json"


def write_optimizer_status(doc: dict[str, Any]) -> None:
    """Replace the optimizer's status file atomically."""
    atomic_write_json(optimizer_status_path(), doc)


def read_optimizer_status() -> dict[str, Any] | None:
    """The last status the optimizer wrote, or None (also when the file is unreadable)."""
    try:
        doc = json.loads(optimizer_status_path().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def agent_status_path() -> Path:
    """runs/agent_status.json under the home: the last agent job's outcome (written by the agent job)."""
    return runs_dir() / AGENT_STATUS_FILE


def read_agent_status() -> dict[str, Any] | None:
    """The last agent job's status document, or None when the agent never ran."""
    path = agent_status_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        return {"error": f"{path} is unreadable ({type(err).__name__})"}
    return data if isinstance(data, dict) else None


def _parse(t: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(t))
    except ValueError:
        return None


def optimizer_liveness(doc: dict[str, Any] | None, now: dt.datetime) -> dict[str, Any]:
    """Whether the optimizer that wrote `doc` is alive: its process exists and its heartbeat is recent."""
    if doc is None:
        return {"running": False, "why": "no optimizer has run in this home"}
    beat = _parse(doc.get("heartbeat"))
    age = (now - beat).total_seconds() if beat else None
    interval = float(doc.get("heartbeat_s") or 15.0)
    same_host = doc.get("host") == socket.gethostname()
    pid = doc.get("pid")
    proc_alive = None
    if same_host and isinstance(pid, int):
        import psutil  # only when an optimizer of this host left its status

        proc_alive = psutil.pid_exists(pid)
    if doc.get("state") == "stopped":
        return {"running": False, "why": f"stopped ({doc.get('stop_reason') or 'no reason recorded'})",
                "heartbeat_age_s": age}
    if proc_alive is False:
        return {"running": False, "why": f"process {pid} is gone (killed or crashed)", "heartbeat_age_s": age}
    if age is None or age > 3 * interval:
        return {"running": False, "why": f"heartbeat is stale ({age:.0f} s old)" if age is not None
                else "no heartbeat recorded", "heartbeat_age_s": age}
    return {"running": True, "why": "alive", "heartbeat_age_s": age}


def _queue_part(ideas: list[Any] | None = None) -> tuple[dict[str, int], list[dict[str, Any]], list[dict[str, Any]],
                                                       str | None]:
    from experiments.ideas.status import Status
    from experiments.ideas.store import QueueStore

    if ideas is None:
        if not queue_path().exists():
            return {}, [], [], None
        try:
            ideas = QueueStore(queue_path()).ideas()
        except GaussianError as exc:
            return {}, [], [], str(exc)
    elif not ideas and not queue_path().exists():
        return {}, [], [], None
    counts = {s.value: 0 for s in Status}
    for i in ideas:
        counts[i.status.value] += 1
    running = [{"idea_id": i.id, "title": i.title, "worker": i.lease.worker_id,
                "since": i.lease.started.isoformat(timespec="seconds"),
                "heartbeat": i.lease.heartbeat.isoformat(timespec="seconds"), "attempts": i.attempts}
               for i in ideas if i.status is Status.RUNNING and i.lease]
    finished = sorted((i for i in ideas if i.status in (Status.DONE, Status.FAILED) and i.result),
                      key=lambda i: i.result.finished if i.result else dt.datetime.min, reverse=True)
    recent = [{"idea_id": i.id, "seq": i.seq, "title": i.title, "status": i.status.value,
               "finished": i.result.finished.isoformat(timespec="seconds") if i.result else None,
               "run_id": i.result.run_id if i.result else None,
               "sharpe": (i.result.metrics if i.result else {}).get("sharpe"),
               "pnl_pct": (i.result.metrics if i.result else {}).get("pnl_pct"),
               "trades": (i.result.metrics if i.result else {}).get("trades"),
               "error": (i.result.error or "").splitlines()[0][:200] if i.result and i.result.error else None}
              for i in finished[:RECENT]]
    return counts, running, recent, None


def _agent_spend() -> dict[str, Any] | None:
    from agents.cost_ledger import CostLedger, default_ledger_path

    path = default_ledger_path(home_dir())
    if not path.exists():
        return {"spent_today_usd": 0.0, "total_usd": 0.0, "calls_today": 0, "ledger": str(path)}
    try:
        return CostLedger(path).status()
    except GaussianError as exc:
        return {"error": str(exc), "ledger": str(path)}


def _last_agent_job() -> dict[str, Any] | None:
    doc = read_agent_status()
    if doc is None:
        return None
    keep = ("time", "mode", "model", "summary", "proposals", "usd", "last_error", "budget_blocked")
    return {k: doc.get(k) for k in keep} if "error" not in doc else doc


def _promoted() -> dict[str, Any] | None:
    from experiments.promotion.gate import current_promoted

    try:
        doc = current_promoted()
    except GaussianError as exc:
        return {"error": str(exc)}
    if doc is None:
        return None
    val = (doc.get("validation") or {}).get("metrics") or {}
    hold = (doc.get("holdout") or {}).get("metrics") or {}
    return {"run_id": doc.get("run_id"), "name": doc.get("name"), "promoted_at": doc.get("promoted_at"),
            "by": doc.get("by"), "forced": doc.get("forced"), "previous": doc.get("previous"),
            "validation_sharpe": val.get("sharpe"), "validation_pnl_pct": val.get("pnl_pct"),
            "holdout_sharpe": hold.get("sharpe"), "holdout_pnl_pct": hold.get("pnl_pct")}


def _pbo() -> dict[str, Any] | None:
    """The Probability of Backtest Overfitting over the runs that share the commonest validation window."""
    from experiments.promotion.pbo_store import read_pbo

    return read_pbo()


def collect_status(now: dt.datetime | None = None, ideas: list[Any] | None = None) -> dict[str, Any]:
    """Everything `gaussian status` shows, as a JSON-able dict with a `health` list of problems; `ideas` (the
    queue's ideas, already read by a caller that keeps them) saves reading the queue file again."""
    now = now or dt.datetime.now(dt.UTC)
    opt = read_optimizer_status()
    live = optimizer_liveness(opt, now)
    counts, running, recent, queue_error = _queue_part(ideas)
    spend = _agent_spend()
    health: list[dict[str, str]] = []
    if queue_error:
        health.append({"level": "error", "message": queue_error})
    if opt is not None and not live["running"] and opt.get("state") != "stopped":
        health.append({"level": "warning", "message": f"the optimizer is not running: {live['why']}"})
    stale_after = float((opt or {}).get("stale_after_s") or 120.0)
    for r in running:
        age = (now - dt.datetime.fromisoformat(r["heartbeat"])).total_seconds()
        if age > stale_after:
            health.append({"level": "warning", "message": f"idea {r['idea_id']} is running with a stale lease "
                                                          f"({age:.0f} s since its heartbeat); it will be reaped"})
    fails = [r for r in recent if r["status"] == "failed"]
    if recent and len(fails) == len(recent) and len(recent) >= 3:
        health.append({"level": "warning", "message": f"the last {len(recent)} experiments all failed "
                                                      f"(latest: {fails[0]['error']})"})
    agent = (opt or {}).get("agent") or {}
    last_job = _last_agent_job()
    if agent.get("last_error"):
        health.append({"level": "warning", "message": f"the last agent job failed: {agent['last_error']}"})
    elif last_job and last_job.get("last_error"):
        health.append({"level": "warning", "message": f"the last agent job reported: {last_job['last_error']}"})
    if spend and spend.get("blocked"):
        health.append({"level": "warning", "message": "the daily LLM spending cap is reached; the agent "
                                                      "uses no API until tomorrow (UTC)"})
    if counts and not counts.get("approved") and not running and live["running"]:
        health.append({"level": "info", "message": "no approved ideas: the runner is idle until the agent or a "
                                                   "person adds some (gaussian queue approve)"})
    return {
        "home": str(home_dir()),
        "time": now.isoformat(timespec="seconds"),
        "optimizer": {**(opt or {}), **live},
        "queue": counts,
        "queue_error": queue_error,
        "running": running,
        "experiments": running_experiments(runs_dir(), now=now),
        "recent": recent,
        "agent_spend": spend,
        "agent_last_job": last_job,
        "promoted": _promoted(),
        "pbo": _pbo(),
        "health": health,
    }
