"""The optimizer's runner on a Dask pool: up to the pool's capacity of experiments at once, each exactly once.

The coordinator (the `gaussian optimize` process) keeps the home: it leases ideas, holds their leases with a
heartbeat, submits each experiment as a task (one per worker thread, and one more waiting for each where the
cluster is all ours), and when a task returns writes the run directory under runs/, appends the run's ledger
line, marks the idea through the same `_record` as the local path, and posts the ledger to the board the next
task reads when it starts (so a run counts as trials every run recorded before it started, its worker's
previous one included: with one worker, exactly the local path's count). A worker that dies mid-experiment:
the scheduler runs the task again on another worker, and the idea's attempt is counted (`IdeaQueue.retry`);
past `max_attempts` the idea fails. Files come back only from the run that finished, so there is one run
directory and one ledger line in the end. A stopped coordinator cancels its tasks (their workers kill the
experiments); a killed one leaves stale leases that the next optimizer reaps, and its client's tasks are
released by the scheduler, which stops them too.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from experiments.home import runs_dir
from experiments.ideas.errors import LeaseError
from experiments.ideas.models import Idea
from experiments.ideas.queue import LeaseHeartbeat
from experiments.optimizer.dask_pool import DaskPool, check_workers
from experiments.runs import ledger
from experiments.runs.attempts import abandon_attempts
from experiments.runs.containment import ChildOutcome
from experiments.runs.remote_task import append_ledger, write_run_files
from trader.errors import GaussianError

log = logging.getLogger("gaussian.optimizer")
COLLECT_POLL_S = 0.2


@dataclass
class Flight:
    """One experiment in flight: its idea, task future, lease heartbeat and when it was submitted."""

    token: str
    idea: Idea
    future: Any
    heartbeat: LeaseHeartbeat
    t0: dt.datetime


class DaskRunner:
    """Leases, submits and records experiments for one Optimizer on a DaskPool."""

    def __init__(self, opt: Any) -> None:  # an experiments.optimizer.loop.Optimizer (imported by it, not here)
        cfg = opt.cfg
        check_workers(cfg.workers, cfg.memory_mb, cfg.scheduler)
        self.opt = opt
        self.pool = DaskPool(cfg.workers, cfg.scheduler, cfg.max_attempts, cfg.warm_start)
        self.flights: dict[str, Flight] = {}

    def open(self) -> DaskRunner:
        """Start or reach the cluster, and put the ledger on its board."""
        self.pool.open()
        self.pool.post_ledger(ledger.entries())
        return self

    def close(self) -> None:
        """Give back anything still in flight and close the pool."""
        if self.flights:
            self._cancel_all("the optimizer stopped")
        self.pool.close()

    def workers(self) -> list[dict[str, Any]]:
        """The status file's worker table."""
        titles = {f.idea.id: f.idea.title for f in self.flights.values()}
        try:
            rows = self.pool.worker_table(titles)
        except (OSError, RuntimeError) as exc:  # the scheduler went away: the table says so
            return [{"error": f"cannot read the Dask workers: {exc}"}]
        for f in sorted(self.flights.values(), key=lambda f: f.t0):
            p = self.pool.placement(f.token)
            if p is not None and p.worker is None:  # submitted ahead (or between two attempts): no worker yet
                rows.append({"waiting": True, "idea_id": f.idea.id, "title": f.idea.title,
                             "since": f.t0.isoformat(timespec="seconds"), "starts": p.starts})
        return rows

    # ----- the loop ----------------------------------------------------------------------------------------

    def run(self) -> None:
        """Keep the pool busy until the queue is empty and nothing is in flight, or the optimizer stops."""
        opt = self.opt
        next_look = 0.0
        while True:
            opt._check_bounds()
            if opt._release.is_set():
                self._cancel_all(f"optimizer stopped ({opt.stop_reason}); back in the queue")
                return
            empty = False
            if not opt._stop.is_set() and time.monotonic() >= next_look:
                empty = self._fill()
                if empty:
                    next_look = time.monotonic() + opt.cfg.poll_s
            if not self.flights:
                if empty or opt._stop.is_set():
                    opt._idle_since = time.monotonic() if empty else None
                    opt._maybe_trigger_agent()
                    return
            else:
                opt._idle_since = None
            self._reruns()
            if self._collect():
                opt._maybe_trigger_agent()
            self.pool.wait_any([f.future for f in self.flights.values()], COLLECT_POLL_S)

    def _fill(self) -> bool:
        """Lease and submit ideas while there is room (every worker thread busy, and where the pool allows, one
        more waiting for each: dask_pool.AHEAD_PER_SLOT); True when the queue had no approved idea left."""
        opt = self.opt
        room = sum(self.pool.slots()) - len(self.flights)
        while room > 0 and not opt._stop.is_set():
            if opt.cfg.max_experiments is not None and opt._experiments() + len(self.flights) >= \
                    opt.cfg.max_experiments:
                return False
            idea = opt.queue.lease_next(opt.wid)
            if idea is None:
                return True
            self._submit(idea)
            room -= 1
        return False

    def _submit(self, idea: Idea) -> None:
        opt = self.opt
        token = f"{idea.id}-{idea.attempts}-{secrets.token_hex(3)}"
        job = {"idea_id": idea.id, "spec": idea.spec, "cycles": opt.cfg.cycles, "analyze": opt.cfg.analyze}
        inputs = self.pool.inputs_for(idea.spec or {})
        future = self.pool.submit(token, idea.id, job, inputs, opt.cfg.timeout_s, opt.cfg.memory_mb)
        hb = LeaseHeartbeat(opt.queue, idea.id, opt.wid, opt.cfg.heartbeat_s).__enter__()
        self.flights[token] = Flight(token, idea, future, hb, dt.datetime.now(dt.UTC))
        log.info("submitted idea %s (%s), attempt %d, to %s", idea.id, idea.title, idea.attempts,
                 self.pool.describe())
        opt._write_status("running")

    def _reruns(self) -> None:
        """Count an attempt for every task the scheduler started again because its worker died."""
        opt = self.opt
        for token, dead, now_on in self.pool.reruns():
            flight = self.flights.get(token)
            if flight is None:
                continue
            try:
                idea = opt.queue.retry(flight.idea.id, opt.wid, f"worker {dead} died; running again on {now_on}")
            except LeaseError as exc:
                log.warning("%s", exc)
                continue
            flight.idea = idea
            log.warning("idea %s: worker %s died mid-experiment; attempt %d runs on %s", idea.id, dead,
                        idea.attempts, now_on)
            if idea.attempts > opt.cfg.max_attempts:
                self.pool.cancel([flight.future])
                self._finish_failed(flight, f"its Dask workers died {idea.attempts - 1} times "
                                            f"(--max-attempts {opt.cfg.max_attempts})", executed=True)

    def _collect(self) -> bool:
        """Record every finished task; True when any finished. A task whose lease was lost is stopped."""
        for f in list(self.flights.values()):
            if f.heartbeat.lost.is_set() and not f.future.done():
                log.warning("idea %s: its lease was lost (%s); stopping its experiment", f.idea.id, f.heartbeat.error)
                self.pool.cancel([f.future])
        done = [f for f in list(self.flights.values()) if f.future.done()]
        for flight in done:
            self._finish(flight)
        if done:
            self.opt._write_status("running")
        return bool(done)

    # ----- recording ---------------------------------------------------------------------------------------

    def _end(self, flight: Flight) -> None:
        self.flights.pop(flight.token, None)
        flight.heartbeat.__exit__(None, None, None)
        self.pool.forget(flight.token)

    def _settle(self, flight: Flight) -> None:
        """Post the ledger with this task settled: a task waiting on its worker to start after it goes on."""
        try:
            self.pool.post_ledger(ledger.entries(), settled=flight.token)
        except Exception as exc:  # noqa: BLE001 - the scheduler went away: its tasks stop, nothing to tell them
            log.warning("dask: cannot post the ledger to the scheduler: %s", exc)

    def _finish(self, flight: Flight) -> None:
        from distributed import KilledWorker

        opt = self.opt
        if flight.future.cancelled():
            self._finish_failed(flight, "its Dask task was cancelled")
            return
        try:
            res = flight.future.result()
        except KilledWorker as exc:
            self._finish_failed(flight, f"its Dask workers died while running it ({exc})", executed=True)
            return
        except Exception as exc:  # the task itself broke (e.g. a worker without gaussian installed)
            log.exception("the Dask task of idea %s failed", flight.idea.id)
            self._finish_failed(flight, f"the Dask task failed: {type(exc).__name__}: {exc}")
            return
        self._end(flight)
        idea = flight.idea
        if res.get("run_id") and res.get("files"):
            write_run_files(runs_dir(), res["run_id"], res["files"])
        append_ledger(ledger.ledger_path(), res.get("ledger") or [])
        log_path = runs_dir() / "_workers" / f"{idea.id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as fh:
            start = "forked warm" if res.get("warm") else "started cold"
            fh.write(f"\n=== on {res.get('worker')} ({res.get('host')}) since {res.get('since')}, {start}\n"
                     f"{res.get('log')}")
        outcome = ChildOutcome(res["kind"], res.get("result"), res.get("returncode"), res.get("log_tail") or "",
                               float(res.get("seconds") or 0.0), float(res.get("peak_rss_mb") or 0.0), opt.limits)
        record = opt._record(idea, outcome, flight.heartbeat.lost.is_set(), flight.t0)
        self._settle(flight)  # the ledger as _record left it (a crash's line added, a lost lease's withdrawn)
        record["worker"], record["warm"] = res.get("worker"), res.get("warm")
        record["ledger_wait_s"], record["trials_before"] = res.get("ledger_wait_s"), res.get("trials_before")
        opt.results.append(record)
        if outcome.ok and record["status"] == "done" and opt.cfg.auto_promote:
            record["promotion"] = opt._auto_promote(record["run_id"])

    def _finish_failed(self, flight: Flight, error: str, executed: bool = False) -> None:
        """The task could not bring back a result: fail the idea (its lease permitting).

        `executed`: the experiment ran and its workers died under it, a failed trial the ledger counts (as the
        local path counts a crashed child); a task that never reached the experiment is not a trial.
        """
        opt = self.opt
        self._end(flight)
        rec: dict[str, Any] = {"idea_id": flight.idea.id, "title": flight.idea.title, "kind": "crashed",
                               "seconds": round((dt.datetime.now(dt.UTC) - flight.t0).total_seconds(), 1),
                               "run_id": None, "error": error, "counted": executed, "status": "failed"}
        if executed:
            ledger.record("-", flight.idea.spec_hash or "-", "failed", idea_id=flight.idea.id, error=error)
        self._settle(flight)
        try:
            opt.queue.fail(flight.idea.id, opt.wid, error)
            log.warning("idea %s failed: %s", flight.idea.id, error)
        except (LeaseError, GaussianError) as exc:
            rec["status"] = "lease lost"
            log.warning("idea %s: %s; %s", flight.idea.id, error, exc)
        opt.results.append(rec)

    def _cancel_all(self, note: str) -> None:
        """Cancel every task in flight and return its idea to the queue (the attempt given back)."""
        opt = self.opt
        flights = list(self.flights.values())
        self.pool.cancel([f.future for f in flights])
        for flight in flights:
            self._end(flight)
            self._settle(flight)
            rec = {"idea_id": flight.idea.id, "title": flight.idea.title, "kind": "aborted", "seconds": 0.0,
                   "run_id": None, "error": None, "counted": False, "status": "released"}
            try:
                opt.queue.release(flight.idea.id, opt.wid, note)
                abandon_attempts(flight.idea.id, "the optimizer stopped before it finished", since=flight.t0)
                log.info("idea %s returned to the queue", flight.idea.id)
            except GaussianError as exc:
                rec["status"] = "lease lost"
                log.warning("idea %s: %s", flight.idea.id, exc)
            opt.results.append(rec)
