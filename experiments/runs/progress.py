"""Phase progress of one run: every phase (load, features, predictor epochs, HMM, exit model, evaluation,
baselines, analysis) reported to a display and to `runs/<run_id>/progress.json`, which `gaussian status` reads.

The file is replaced atomically, at most once per `interval_s` within a phase (always at a phase change), so a
long evaluation does not turn into thousands of writes.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.files import atomic_write_json

PROGRESS_FILE = "progress.json"
STALE_AFTER_S = 3600.0  # a "running" file of another host not touched for this long is taken as dead


@dataclass(frozen=True)
class PhaseUpdate:
    """One progress report: the phase, how far it is (`total` None when unknown) and a short note (a loss)."""

    phase: str
    done: int
    total: int | None
    info: str = ""


Display = Callable[[PhaseUpdate], None]


def utc_now() -> str:
    """The current time as an ISO string in UTC with a Z, the one convention of logs and status files."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunProgress:
    """Forwards phase updates to a display and keeps the run's progress.json fresh (atomic, throttled)."""

    display: Display | None = None
    interval_s: float = 1.0
    run_dir: Path | None = None
    run_id: str | None = None
    idea_id: str | None = None
    _phase: str | None = None
    _phase_t0: float = 0.0
    _last_write: float = 0.0
    _done_phases: list[dict[str, Any]] = field(default_factory=list)
    _last: PhaseUpdate | None = None

    def bind(self, run_dir: Path, idea_id: str | None = None) -> None:
        """Start writing progress.json into this run directory."""
        self.run_dir, self.run_id, self.idea_id = run_dir, run_dir.name, idea_id
        self._write("running", force=True)

    def __call__(self, phase: str, done: int, total: int | None = None, info: str = "") -> None:
        """Report that `phase` has reached `done` of `total` steps."""
        now = time.monotonic()
        if phase != self._phase:
            self._close_phase(now)
            self._phase, self._phase_t0 = phase, now
            self._last_write = 0.0
        self._last = PhaseUpdate(phase, done, total, info)
        finished = total is not None and done >= total
        self._write("running", force=finished or done == 0 or now - self._last_write >= self.interval_s)
        if self.display is not None:  # after the file: whoever the display tells can read the same phase there
            self.display(self._last)

    def finish(self, state: str = "done") -> None:
        """Mark the run finished (done or failed) in progress.json."""
        self._close_phase(time.monotonic())
        self._phase = None
        self._write(state, force=True)

    def _close_phase(self, now: float) -> None:
        if self._phase is not None:
            self._done_phases.append({"phase": self._phase, "seconds": round(now - self._phase_t0, 2)})

    def _eta_s(self, now: float) -> float | None:
        u = self._last
        if u is None or not u.total or u.done <= 0 or u.done >= u.total:
            return None
        return round((now - self._phase_t0) * (u.total - u.done) / u.done, 1)

    def _write(self, state: str, force: bool) -> None:
        if self.run_dir is None or not force:
            return
        now = time.monotonic()
        self._last_write = now
        u = self._last if self._phase is not None else None
        doc = {
            "run_id": self.run_id, "idea_id": self.idea_id, "pid": os.getpid(), "host": socket.gethostname(),
            "state": state,
            "updated": utc_now(), "phase": u.phase if u else None, "done": u.done if u else None,
            "total": u.total if u else None, "info": u.info if u else "",
            "phase_elapsed_s": round(now - self._phase_t0, 1) if u else None,
            "eta_s": self._eta_s(now) if u else None, "phases_done": self._done_phases,
        }
        atomic_write_json(self.run_dir / PROGRESS_FILE, doc)


def read_progress(run_dir: Path) -> dict[str, Any] | None:
    """A run's progress.json, or None when absent or unreadable."""
    try:
        doc = json.loads((run_dir / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def is_running(doc: dict[str, Any], now: dt.datetime | None = None) -> bool:
    """Whether the process that wrote this progress document still runs it: state running, and its process
    alive (same host) or, on another host, an update within STALE_AFTER_S."""
    if doc.get("state") != "running":
        return False
    pid = doc.get("pid")
    if doc.get("host") == socket.gethostname() and isinstance(pid, int):
        import psutil

        return psutil.pid_exists(pid)
    try:
        updated = dt.datetime.fromisoformat(str(doc.get("updated")))
    except ValueError:
        return False
    return ((now or dt.datetime.now(dt.UTC)) - updated).total_seconds() <= STALE_AFTER_S


def running_experiments(runs: Path, newest: int = 20, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Progress of the runs still running among the newest `newest` run directories (dead writers skipped)."""
    if not runs.is_dir():
        return []
    now = now or dt.datetime.now(dt.UTC)
    dirs = sorted((p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("_")), reverse=True)
    out = []
    for d in dirs[:newest]:
        doc = read_progress(d)
        if doc and is_running(doc, now):
            age = (now - dt.datetime.fromisoformat(str(doc.get("updated")))).total_seconds()
            out.append({**doc, "age_s": round(age, 1)})
    return out


def describe(doc: dict[str, Any]) -> str:
    """One line for a running experiment: phase, steps, note, ETA."""
    phase = doc.get("phase") or "starting"
    done, total = doc.get("done"), doc.get("total")
    part = f"{phase} {done}/{total}" if total else phase
    if total:
        part += f" ({100 * (done or 0) / total:.0f}%)"
    if doc.get("info"):
        part += f", {doc['info']}"
    if doc.get("eta_s") is not None:
        part += f", about {doc['eta_s']:.0f} s left in this phase"
    return part
