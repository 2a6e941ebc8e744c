"""`gaussian optimize`: the unattended loop, an APScheduler scheduler with a runner, an agent and a heartbeat job.

- runner (one at a time, coalesced): lease the next approved idea by priority, run it in a contained child
  process (experiments.runs.containment: wall-clock timeout, memory cap, log tail), record done/failed on the idea,
  the analysis being written by the child after the run; then, with auto-promote, apply the promotion gate.
  With `workers` > 1 or a `scheduler`, the runner hands this to experiments.optimizer.dask_runner: N at once.
- agent: the meta-agent job (experiments.optimizer.agent_job.run_agent_job) every `agent_interval_s` and whenever the
  approved backlog falls below `agent_backlog`; its failures are logged and shown by `gaussian status`, never
  fatal to the runner.
- heartbeat: writes runs/optimizer_status.json and returns ideas of dead workers to the queue (reap_stale).

Stopping: SIGINT lets the running experiment finish, then exits; a second SIGINT, or SIGTERM, kills the running
experiment and returns its idea to approved (the attempt is given back). A SIGKILL leaves the idea running with
a stale lease: the next optimizer reaps it back to approved (attempts + 1) and runs it again, so every idea
completes exactly once. The killed attempt's half-written run directory is marked ABANDONED.json: it is never
ranked or promoted, and it adds no ledger line (it produced no result anyone could select on). A run killed
for its timeout or memory cap does add a "failed" ledger line: it is an executed experiment that failed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field, model_validator

from experiments.files import atomic_write_json
from experiments.home import runs_dir
from experiments.ideas.errors import LeaseError, QueueCorrupt
from experiments.ideas.models import Idea
from experiments.ideas.queue import IdeaQueue, LeaseHeartbeat
from experiments.ideas.run_idea import worker_id
from experiments.optimizer.status import read_optimizer_status, write_optimizer_status
from experiments.runs import ledger
from experiments.runs.attempts import abandon_attempts, attempt_dirs
from experiments.runs.containment import ChildOutcome, Limits, run_contained
from trader.errors import GaussianError, StateError

log = logging.getLogger("gaussian.optimizer")
NY = ZoneInfo("America/New_York")
MAX_PENDING_REVIEW = 10


class OptimizerBusy(StateError):
    """Another optimizer already runs on this home."""


class OptimizerConfig(BaseModel):
    """Bounds, schedules and limits of one `gaussian optimize` invocation."""

    model_config = ConfigDict(extra="forbid")

    max_experiments: int | None = Field(None, ge=1, description="stop after this many experiments ran")
    until: dt.datetime | None = Field(None, description="lease no new idea after this time (tz-aware)")
    once: bool = Field(False, description="exit when no approved idea is left (after one agent run)")
    auto_promote: bool = Field(False, description="apply the promotion gate to every finished run")
    agent: bool = Field(True, description="run the meta-agent job")
    offline: bool | None = Field(None, description="force the offline proposer (None: by configuration)")
    max_proposals: int | None = Field(None, ge=1, description="per agent job")
    agent_interval_s: float = Field(1800.0, ge=1.0, description="seconds between scheduled agent jobs")
    agent_backlog: int = Field(2, ge=0, description="also run the agent when fewer ideas than this are approved")
    agent_min_gap_s: float = Field(600.0, ge=0.0, description="least seconds between backlog-triggered agent jobs")
    poll_s: float = Field(5.0, gt=0.0, description="seconds between looks at the queue while idle")
    heartbeat_s: float = Field(15.0, gt=0.0, description="lease heartbeat and status-file interval")
    stale_after_s: float = Field(120.0, gt=0.0, description="a lease this silent belongs to a dead worker")
    max_attempts: int = Field(3, ge=1, description="runs an idea may start before a stale lease fails it")
    timeout_s: float | None = Field(3600.0, gt=0.0, description="wall-clock limit per experiment")
    memory_mb: float | None = Field(4096.0, gt=0.0, description="resident-memory cap per experiment")
    threads: int = Field(1, ge=0, le=256, description="threads per numeric library in each experiment (0: defaults)")
    warm_start: bool = Field(True, description="fork each experiment from a process that imported everything once")
    cycles: int | None = Field(None, ge=10, description="bound on evaluation bars for every run")
    analyze: bool = Field(True, description="write ANALYSIS.md after each run")
    workers: int | None = Field(None, description="experiments at once on a Dask LocalCluster (>1), or the cap "
                                                  "on experiments in flight with a scheduler (None: 1 locally)")
    scheduler: str | None = Field(None, description="address of an existing Dask scheduler (tcp://HOST:8786)")

    @property
    def on_dask(self) -> bool:
        """True when experiments run as Dask tasks rather than one at a time in a local child."""
        return self.scheduler is not None or (self.workers or 1) > 1

    @model_validator(mode="after")
    def _consistent(self) -> OptimizerConfig:
        if self.stale_after_s < 3 * self.heartbeat_s:
            raise ValueError(f"stale_after_s (--stale-after {self.stale_after_s:g}) must be at least 3 x heartbeat_s "
                             f"(--heartbeat {self.heartbeat_s:g}), or live leases would be reaped")
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("until must carry a time zone")
        return self


def parse_until(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """`--until`: an ISO date-time, or HH:MM (the next such time); naive times are New York time."""
    now = now or dt.datetime.now(NY)
    raw = text.strip()
    try:
        if len(raw) <= 5 and ":" in raw:
            hh, mm = (int(x) for x in raw.split(":"))
            local = now.astimezone(NY)
            t = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
            return t if t > local else t + dt.timedelta(days=1)
        t = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise StateError(f"--until '{text}' is not a time: use HH:MM or an ISO date-time such as "
                         "2025-01-31T18:00") from None
    return t if t.tzinfo else t.replace(tzinfo=NY)


@dataclasses.dataclass
class AgentState:
    """What the agent job did last."""

    runs: int = 0
    errors: int = 0
    running: bool = False
    last_started: str | None = None
    last_finished: str | None = None
    last_outcome: str | None = None
    last_error: str | None = None
    finished_mono: float | None = None
    started_mono: float | None = None


def _describe(outcome: Any) -> str:
    if outcome is None:
        return "done"
    if hasattr(outcome, "summary") and callable(outcome.summary):
        return str(outcome.summary())[:500]
    if dataclasses.is_dataclass(outcome) and not isinstance(outcome, type):
        data = dataclasses.asdict(outcome)
    elif hasattr(outcome, "model_dump"):
        data = outcome.model_dump(mode="json")
    else:
        return repr(outcome)[:500]
    short = {k: (len(v) if isinstance(v, (list, tuple, dict)) else v) for k, v in data.items()
             if isinstance(v, (str, int, float, bool, list, tuple, dict)) or v is None}
    return ", ".join(f"{k}={v}" for k, v in short.items())[:500]


def _f2(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "n/a"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t else None


def workers_dir() -> Path:
    """runs/_workers/: job, result and log files of the child processes."""
    return runs_dir() / "_workers"


class Optimizer:
    """One optimizer process: the scheduler, its three jobs, signal handling and the bounds."""

    def __init__(self, config: OptimizerConfig, agent_fn: Callable[[], Any] | None = None,
                 queue: IdeaQueue | None = None) -> None:
        self.cfg = config
        self.queue = queue or IdeaQueue.from_home()
        self.wid = worker_id("optimizer")
        self.agent_fn = agent_fn or self._default_agent
        self.limits = Limits(timeout_s=config.timeout_s, memory_mb=config.memory_mb, threads=config.threads,
                             warm=config.warm_start)
        self.started = _now()
        self.stop_reason: str | None = None
        self.results: list[dict[str, Any]] = []
        self.agent = AgentState()
        self.current: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._release = threading.Event()
        self._runner_busy = threading.Event()
        self._idle_since: float | None = None
        self._sched: BackgroundScheduler | None = None
        self._status_lock = threading.Lock()
        self.pool: Any = None  # experiments.optimizer.dask_runner.DaskRunner with --workers N / --scheduler
        self.fatal: QueueCorrupt | None = None  # what stopped the optimizer, raised by `run`

    # ----- control ---------------------------------------------------------------------------------------

    def request_stop(self, reason: str, release: bool = False) -> None:
        """Stop leasing new ideas; with `release`, also kill the running experiment and return it to approved."""
        if release:
            self._release.set()
        if not self._stop.is_set():
            self.stop_reason = reason
            log.info("stopping: %s", reason)
        elif release:
            self.stop_reason = reason
            log.info("stopping now: %s", reason)
        self._stop.set()

    def _on_signal(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.current is None and not self._runner_busy.is_set():
            self.request_stop(f"{name}: no experiment is running; stopping", release=True)
        elif signum == signal.SIGTERM or self._stop.is_set():
            self.request_stop(f"{name}: the running experiment is returned to the queue", release=True)
        else:
            self.request_stop(f"{name}: finishing the running experiment first (send it again to return the "
                              "experiment to the queue now)")

    def _experiments(self) -> int:
        return sum(1 for r in self.results if r["counted"])

    # ----- the whole run -----------------------------------------------------------------------------------

    def run(self) -> list[dict[str, Any]]:
        """Run until a bound or a signal stops it; return what each experiment ended as."""
        runs_dir().mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(runs_dir() / "optimizer.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            other = read_optimizer_status() or {}
            raise OptimizerBusy(f"another optimizer (pid {other.get('pid', '?')} on {other.get('host', '?')}) is "
                                f"running on {runs_dir().parent}; stop it first (see `gaussian status`)") from None
        handler = logging.FileHandler(runs_dir() / "optimizer.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        if log.level == logging.NOTSET or log.level > logging.INFO:
            log.setLevel(logging.INFO)
        try:
            self.queue.counts()  # an unreadable queue file stops us before anything starts
            results = self._run_locked()
            if self.fatal is not None:
                raise self.fatal
            return results
        finally:
            log.removeHandler(handler)
            handler.close()
            lock.release()

    def _run_locked(self) -> list[dict[str, Any]]:
        log.info("optimizer %s started (pid %d)%s", self.wid, os.getpid(), self._bounds_text())
        if self.cfg.on_dask:
            from experiments.optimizer.dask_runner import DaskRunner

            self.pool = DaskRunner(self).open()
        try:
            return self._run_scheduled()
        finally:
            if self.pool is not None:
                self.pool.close()

    def _run_scheduled(self) -> list[dict[str, Any]]:
        old: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, self._on_signal)
        sched = BackgroundScheduler(timezone=dt.UTC, executors={"default": ThreadPoolExecutor(4)},
                                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self._sched = sched
        now = _now()
        self._heartbeat_job()
        sched.add_job(self._heartbeat_job, IntervalTrigger(seconds=self.cfg.heartbeat_s), id="heartbeat",
                      next_run_time=now + dt.timedelta(seconds=self.cfg.heartbeat_s))
        self._arm_runner(0.0)
        if self.cfg.agent and self.cfg.once:  # --once: one agent job, and only to fill a low backlog
            if self._backlog_low():
                sched.add_job(self._agent_job, DateTrigger(run_date=now), id="agent")
            else:
                self.agent.finished_mono = time.monotonic()
        elif self.cfg.agent:
            first = now if self._backlog_low() else now + dt.timedelta(seconds=self.cfg.agent_interval_s)
            sched.add_job(self._agent_job, IntervalTrigger(seconds=self.cfg.agent_interval_s), id="agent",
                          next_run_time=first)
        sched.start()
        try:
            while not self._stop.wait(0.2):
                self._check_bounds()
            while self._runner_busy.is_set() or self.agent.running:
                time.sleep(0.2)  # the runner finishes (or, on release, kills and returns) its experiment
        finally:
            # Jobs out first, under the scheduler's lock (so after any job-processing pass in flight): a one-off
            # job still being processed when shutdown() marks the scheduler stopped makes APScheduler look for
            # it among the not-yet-started jobs and end its thread with a JobLookupError traceback.
            sched.remove_all_jobs()
            sched.shutdown(wait=True)
            self._sched = None
            for sig, prev in old.items():
                signal.signal(sig, prev)
            self._write_status("stopped")
        log.info("optimizer stopped: %s; %d experiment(s) ran", self.stop_reason, self._experiments())
        return self.results

    def _bounds_text(self) -> str:
        bits = []
        if self.cfg.max_experiments:
            bits.append(f"max {self.cfg.max_experiments} experiment(s)")
        if self.cfg.until:
            bits.append(f"until {self.cfg.until.astimezone(NY):%Y-%m-%d %H:%M} New York")
        if self.cfg.once:
            bits.append("once (until the approved ideas are done)")
        if self.cfg.auto_promote:
            bits.append("auto-promote")
        return "; " + ", ".join(bits) if bits else ""

    def _check_bounds(self) -> None:
        if self.cfg.until is not None and _now() >= self.cfg.until:
            self.request_stop(f"--until {self.cfg.until.isoformat(timespec='minutes')} reached")
        if self.cfg.max_experiments is not None and self._experiments() >= self.cfg.max_experiments:
            self.request_stop(f"--max-experiments {self.cfg.max_experiments} reached")
        if self.cfg.once and self._idle_since is not None and not self.agent.running:
            agent_done = not self.cfg.agent or (self.agent.finished_mono is not None
                                                and self._idle_since > self.agent.finished_mono)
            if agent_done:
                self.request_stop("--once: no approved idea is left" + self._waiting_note())

    # ----- runner ------------------------------------------------------------------------------------------

    def _arm_runner(self, delay_s: float) -> None:
        """(Re)schedule the runner once, `delay_s` from now: it never overlaps itself and never piles up."""
        if self._sched is None or self._stop.is_set():
            return
        self._sched.add_job(self._runner_job, DateTrigger(run_date=_now() + dt.timedelta(seconds=delay_s)),
                            id="runner", replace_existing=True)

    def _runner_job(self) -> None:
        self._runner_busy.set()
        try:
            if self.pool is not None:  # leases, runs and records up to the Dask pool's capacity at once
                self.pool.run()
                return
            while not self._stop.is_set():
                self._check_bounds()
                if self._stop.is_set():
                    return
                idea = self.queue.lease_next(self.wid)
                if idea is None:
                    if self._idle_since is None and not self.cfg.once:
                        log.info("idle: %s", self._idle_reason())
                    self._idle_since = time.monotonic()
                    self._maybe_trigger_agent()
                    return
                self._idle_since = None
                self._run_one(idea)
                self._check_bounds()
                self._maybe_trigger_agent()
        except QueueCorrupt as exc:  # retrying cannot mend it: stop, and say so once
            self._stop_on_unreadable_queue(exc)
        except GaussianError as exc:  # the queue is locked: log it, try again at the next tick
            log.error("runner: %s", exc)
        except Exception:  # a bug: logged in full; the lease (if any) goes stale and is reaped later
            log.exception("runner job failed")
        finally:
            self._runner_busy.clear()
            self._arm_runner(self.cfg.poll_s)

    def _stop_on_unreadable_queue(self, exc: QueueCorrupt) -> None:
        """An unreadable queue file stops the optimizer; `run` then raises it (one error line, exit code 2)."""
        if self.fatal is None:
            self.fatal = exc
            log.error("the idea queue cannot be read; stopping: %s", exc)
        self.request_stop("the idea queue file cannot be read (gaussian queue recover)")

    def _run_one(self, idea: Idea) -> None:
        t0 = _now()
        wd = workers_dir()
        wd.mkdir(parents=True, exist_ok=True)
        job, result, log_path = wd / f"{idea.id}.job.json", wd / f"{idea.id}.result.json", wd / f"{idea.id}.log"
        atomic_write_json(job, {"idea_id": idea.id, "spec": idea.spec, "cycles": self.cfg.cycles,
                                "analyze": self.cfg.analyze})
        self.current = {"idea_id": idea.id, "title": idea.title, "since": _iso(t0), "attempt": idea.attempts,
                        "child_pid": None, "log": str(log_path)}
        log.info("running idea %s (%s), attempt %d", idea.id, idea.title, idea.attempts)
        self._write_status("running")

        def started(pid: int) -> None:
            if self.current is not None:
                self.current["child_pid"] = pid

        with LeaseHeartbeat(self.queue, idea.id, self.wid, self.cfg.heartbeat_s) as hb:
            outcome = run_contained(["run", str(job), str(result)], log_path, result, self.limits,
                                    abort=lambda: self._release.is_set() or hb.lost.is_set(), on_start=started)
        record = self._record(idea, outcome, hb.lost.is_set(), t0)
        self.results.append(record)
        self.current = None
        self._write_status("running")
        if outcome.ok and record["status"] == "done" and self.cfg.auto_promote:
            record["promotion"] = self._auto_promote(record["run_id"])

    def _record(self, idea: Idea, outcome: ChildOutcome, lease_lost: bool, t0: dt.datetime) -> dict[str, Any]:
        rec: dict[str, Any] = {"idea_id": idea.id, "title": idea.title, "kind": outcome.kind,
                               "seconds": round(outcome.seconds, 1), "run_id": None, "error": None,
                               "counted": outcome.kind != "aborted", "status": None}
        res = outcome.result or {}
        try:
            if outcome.ok:
                rec["run_id"] = res.get("run_id")
                if lease_lost:
                    raise LeaseError(f"the lease of idea {idea.id} was lost while it ran")
                self.queue.complete(idea.id, self.wid, res["run_id"], res.get("metrics") or {})
                rec["status"] = "done"
                self._refresh_pbo()
                m = res.get("metrics") or {}
                log.info("idea %s done in %.0f s: run %s, %s trades, P&L %s%%, Sharpe %s (analysis %s)", idea.id,
                         outcome.seconds, res["run_id"], m.get("trades"), _f2(m.get("pnl_pct")), _f2(m.get("sharpe")),
                         res.get("analysis"))
            elif outcome.kind == "aborted":
                if lease_lost:
                    raise LeaseError(f"the lease of idea {idea.id} was lost while it ran")
                self.queue.release(idea.id, self.wid, f"optimizer stopped ({self.stop_reason}); back in the queue")
                marked = abandon_attempts(idea.id, "the optimizer stopped before it finished", since=t0)
                rec["status"] = "released"
                log.info("idea %s returned to the queue%s", idea.id,
                         f"; abandoned run dir {', '.join(marked)}" if marked else "")
            else:
                rec["error"] = outcome.error()
                dirs = attempt_dirs(idea.id, since=t0)
                rec["run_id"] = dirs[-1].name if dirs else None
                if outcome.kind in ("timeout", "memory", "crashed"):
                    # the child died before it could record itself; the parent counts the trial for it
                    ledger.record(rec["run_id"] or "-", idea.spec_hash or "-", "failed", idea_id=idea.id,
                                  error=rec["error"])
                if lease_lost:
                    raise LeaseError(f"the lease of idea {idea.id} was lost while it ran")
                self.queue.fail(idea.id, self.wid, rec["error"], outcome.log_tail, run_id=rec["run_id"])
                rec["status"] = "failed"
                log.warning("idea %s failed (%s): %s", idea.id, outcome.kind, rec["error"])
        except LeaseError as exc:
            rec["status"], rec["counted"] = "lease lost", outcome.kind not in ("aborted",)
            marked = abandon_attempts(idea.id, f"lease lost: {exc}", since=t0)
            log.warning("%s; its result is not recorded (abandoned: %s)", exc, ", ".join(marked) or "none")
        return rec

    def _refresh_pbo(self) -> None:
        """Recompute the PBO over the trial matrix for `gaussian status` and the leaderboard (never fatal)."""
        from experiments.promotion.pbo import refresh_pbo

        try:
            refresh_pbo()
        except (GaussianError, OSError, ValueError) as exc:
            log.warning("the PBO could not be recomputed: %s", exc)

    def _auto_promote(self, run_id: str) -> dict[str, Any]:
        from experiments.promotion.gate import promote

        try:
            decision = promote(run_id, auto=True, by=f"optimizer:{self.wid}", holdout_fn=self._contained_holdout)
        except GaussianError as exc:
            log.warning("promotion of run %s not considered: %s", run_id, exc)
            return {"promoted": False, "message": str(exc), "failed": []}
        log.info("promotion gate: %s", decision.message)
        return {"promoted": decision.promoted, "message": decision.message, "failed": decision.failed}

    def _contained_holdout(self, run_dir: Path) -> dict[str, Any]:
        from experiments.promotion.gate import PromotionError

        wd = workers_dir()
        result = wd / f"holdout-{run_dir.name}.result.json"
        outcome = run_contained(["holdout", run_dir.name, str(result)], wd / f"holdout-{run_dir.name}.log", result,
                                self.limits, abort=self._release.is_set)
        if not outcome.ok:
            raise PromotionError(f"holdout evaluation of run {run_dir.name}: {outcome.error()}")
        return (outcome.result or {})["holdout"]

    # ----- agent -------------------------------------------------------------------------------------------

    def _default_agent(self) -> Any:
        from experiments.optimizer.agent_job import run_agent_job

        return run_agent_job(offline=self.cfg.offline, max_proposals=self.cfg.max_proposals)

    def _backlog_low(self) -> bool:
        try:
            counts = self.queue.counts()
        except GaussianError as exc:
            log.warning("cannot read the queue: %s", exc)
            return False
        return counts["approved"] < self.cfg.agent_backlog and counts["proposed"] < MAX_PENDING_REVIEW

    def _waiting_note(self) -> str:
        """'; N proposal(s) await review (...)' when proposals wait for a person, else ''."""
        try:
            waiting = len(self.queue.list("proposed"))
        except GaussianError:
            return ""
        return (f"; {waiting} proposal(s) await review: gaussian queue list --status proposed, then "
                "gaussian queue approve N" if waiting else "")

    def _idle_reason(self) -> str:
        """Why the runner has nothing to do and what it waits for, in one sentence."""
        what = f"no approved idea; checking the queue every {self.cfg.poll_s:g} s"
        if not self.cfg.agent:
            what += " (the agent is off: --no-agent); waiting for `gaussian queue approve N` or `queue add --approve`"
        elif self.agent.running:
            what += "; the agent is proposing now"
        else:
            job = self._sched.get_job("agent") if self._sched is not None else None
            nxt = getattr(job, "next_run_time", None)
            what += (f"; the agent proposes next at {nxt.astimezone(dt.UTC):%H:%M:%S} UTC" if nxt
                     else "; the agent has no run scheduled")
        return what + self._waiting_note()

    def _maybe_trigger_agent(self) -> None:
        if not self.cfg.agent or self.cfg.once or self._stop.is_set() or self._sched is None or self.agent.running:
            return
        last = self.agent.started_mono
        if last is not None and time.monotonic() - last < self.cfg.agent_min_gap_s:
            return
        if self._backlog_low():
            log.info("approved backlog below %d: running the agent job now", self.cfg.agent_backlog)
            self._sched.modify_job("agent", next_run_time=_now())

    def _agent_job(self) -> None:
        if self._stop.is_set():
            return
        a = self.agent
        a.running, a.runs, a.started_mono, a.last_started = True, a.runs + 1, time.monotonic(), _iso(_now())
        log.info("agent job started")
        try:
            outcome = self.agent_fn()
            errors = getattr(outcome, "errors", None)  # a ProposeOutcome lists the failures it did not raise
            a.last_outcome = _describe(outcome)
            a.last_error = str(errors[-1])[:500] if isinstance(errors, list) and errors else None
            a.errors += 1 if a.last_error else 0
            log.info("agent job finished: %s", a.last_outcome)
        except Exception as exc:  # the agent's failure never stops the runner: logged, shown by `gaussian status`
            a.errors += 1
            a.last_error = f"{type(exc).__name__}: {exc}"[:500]
            log.exception("agent job failed")
        finally:
            a.last_finished, a.finished_mono, a.running = _iso(_now()), time.monotonic(), False
            if not self._runner_busy.is_set():
                self._arm_runner(0.0)
            self._write_status("running")

    # ----- heartbeat ---------------------------------------------------------------------------------------

    def _heartbeat_job(self) -> None:
        try:
            for idea in self.queue.reap_stale(self.cfg.stale_after_s, self.cfg.max_attempts):
                marked = abandon_attempts(idea.id, "its worker died (stale lease reaped)")
                log.warning("reaped idea %s (%s): now %s%s", idea.id, idea.title, idea.status.value,
                            f"; abandoned run dir {', '.join(marked)}" if marked else "")
        except QueueCorrupt as exc:
            self._stop_on_unreadable_queue(exc)
        except GaussianError as exc:
            log.warning("reaper: %s", exc)
        self._write_status("stopping" if self._stop.is_set() else "running")

    def _write_status(self, state: str) -> None:
        try:
            counts = self.queue.counts()
        except GaussianError as exc:
            counts = {"error": str(exc)}
        agent = {k: v for k, v in dataclasses.asdict(self.agent).items() if not k.endswith("_mono")}
        if self._sched is not None and self.cfg.agent and self._sched.running:
            job = self._sched.get_job("agent")
            agent["next_run"] = _iso(job.next_run_time) if job and job.next_run_time else None
        agent["enabled"] = self.cfg.agent
        doc = {
            "pid": os.getpid(), "host": socket.gethostname(), "worker_id": self.wid, "state": state,
            "started": _iso(self.started), "heartbeat": _iso(_now()), "heartbeat_s": self.cfg.heartbeat_s,
            "stale_after_s": self.cfg.stale_after_s, "stop_reason": self.stop_reason, "current": self.current,
            "experiments_run": self._experiments(), "counts": counts, "agent": agent,
            "last_results": [{k: v for k, v in r.items() if k != "counted"} for r in self.results[-5:]],
            "config": self.cfg.model_dump(mode="json"),
            "workers": self.pool.workers() if self.pool is not None else None,
        }
        with self._status_lock:
            write_optimizer_status(doc)


def run_optimizer(config: OptimizerConfig, agent_fn: Callable[[], Any] | None = None) -> list[dict[str, Any]]:
    """Run the optimizer in this process (signals handled when called from the main thread)."""
    return Optimizer(config, agent_fn).run()
