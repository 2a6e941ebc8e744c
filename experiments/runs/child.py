"""The child process the optimizer runs each experiment in: `python -m experiments.runs.child run|holdout ...`.

The parent (experiments.runs.containment) holds the idea's lease, watches the wall clock and memory, and reads the
result file this process writes; the child never touches the queue. It dies with its parent (PR_SET_PDEATHSIG on
Linux, plus a watchdog thread), so a killed optimizer leaves no orphan experiment behind.

Modes:
  run JOB RESULT      run the spec in JOB (JSON: idea_id, spec, cycles, analyze, and optionally relocated:
                      {spec file path: local copy}) into a run directory, then
                      analyze it; RESULT gets {"status": "done", "run_id", "metrics", "analysis"} (written
                      before the analysis starts, so a run whose analysis dies is still complete) or
                      {"status": "error", "error", "traceback"}.
  holdout RUN RESULT  evaluate a finished run on the sealed holdout once (experiments.runs.runner.evaluate_holdout).

GAUSSIAN_THREADS=N (set by a Dask worker, with OMP/MKL/OpenBLAS_NUM_THREADS) caps torch's threads at N.

Test hook (documented, inert unless set): GAUSSIAN_TEST_FAULT makes an experiment misbehave at its first
evaluation step, to test containment. Its value is a comma-separated list of `mode` (every experiment) or
`spec_name:mode` (experiments whose spec `name` matches), mode one of: raise (an exception inside the
experiment), hang (sleep forever), oom (allocate memory until killed), crash (exit at once without a result),
slow (sleep GAUSSIAN_TEST_SLOW_S seconds, default 30, then carry on normally).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

FAULT_ENV = "GAUSSIAN_TEST_FAULT"
SLOW_ENV = "GAUSSIAN_TEST_SLOW_S"
FAULT_MODES = ("raise", "hang", "oom", "crash", "slow")
PR_SET_PDEATHSIG = 1

log = logging.getLogger("gaussian.child")


def _alive(pid: int, direct: bool) -> bool:
    """Whether the process this child must die with still runs (a direct parent: still our parent)."""
    if direct:
        return os.getppid() == pid
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def die_with_parent(parent_pid: int) -> None:
    """Arrange to be killed when `parent_pid` dies: the Linux parent-death signal where it is our parent (a child
    forked by the warm server is the grandchild of the process that started it), and a polling watchdog."""
    direct = os.getppid() == parent_pid
    if direct and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError) as exc:
            log.warning("cannot set the parent-death signal (%s); relying on the watchdog", exc)
    if not _alive(parent_pid, direct):
        os._exit(75)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if not _alive(parent_pid, direct):
                os._exit(75)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def test_fault(spec_name: str) -> str | None:
    """The fault mode GAUSSIAN_TEST_FAULT asks for this spec name, or None (always None when unset)."""
    raw = os.environ.get(FAULT_ENV, "").strip()
    if not raw:
        return None
    for item in raw.split(","):
        name, _, mode = item.strip().rpartition(":")
        if mode in FAULT_MODES and (not name or name == spec_name):
            return mode
    return None


def _fire(mode: str) -> None:
    log.warning("test fault '%s' firing (%s is set)", mode, FAULT_ENV)
    sys.stderr.flush()
    if mode == "raise":
        raise RuntimeError(f"test fault: the experiment raised on purpose ({FAULT_ENV})")
    if mode == "crash":
        os._exit(70)
    if mode == "slow":
        time.sleep(float(os.environ.get(SLOW_ENV, "30")))
        return
    if mode == "oom":
        hoard = []
        for _ in range(256):  # up to 8 GiB, touched page by page; the parent's memory cap kills us first
            hoard.append(b"\x01" * (32 << 20))
            time.sleep(0.02)
    while True:  # hang (or an oom that was not stopped): wait to be killed
        time.sleep(3600)


def _write(path: Path, data: dict[str, Any]) -> None:
    from experiments.files import atomic_write_json

    atomic_write_json(path, data)


def run_job(job_path: Path, result_path: Path) -> int:
    """Run one job file's spec into a run directory, write the result file, then analyze the run."""
    from experiments.runs.progress import PhaseUpdate
    from experiments.runs.runner import run_experiment
    from experiments.runs.summary import key_metrics
    from experiments.spec.io import validate_spec

    job = json.loads(job_path.read_text(encoding="utf-8"))
    idea_id = job.get("idea_id")
    if job.get("relocated"):
        from experiments.runs.market_loader import relocate_files

        relocate_files(job["relocated"])
    fired = threading.Event()
    fault: str | None = None

    def progress(u: PhaseUpdate) -> None:
        if fault and u.phase == "evaluate" and not fired.is_set():
            fired.set()
            _fire(fault)
        if u.info or u.done == 0 or (u.total is not None and u.done >= u.total):
            log.info("%s %d/%s%s", u.phase, u.done, u.total, f" {u.info}" if u.info else "")

    try:
        spec = validate_spec(job["spec"], f"idea {idea_id}")
        fault = test_fault(spec.name)
        result = run_experiment(spec, cycles=job.get("cycles"), idea_id=idea_id, progress=progress, analyze=False)
    except Exception as exc:  # the experiment's own failure: reported to the parent, which fails the idea
        log.exception("the experiment failed")
        _write(result_path, {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                             "traceback": "".join(traceback.format_exception(exc))[-4000:]})
        return 1
    doc = {"status": "done", "run_id": result.run_id, "metrics": key_metrics(result.metrics), "analysis": "pending"}
    _write(result_path, doc)
    log.info("run %s done: %s", result.run_id, json.dumps(doc["metrics"], default=str))
    if job.get("analyze", True):
        from analysis.report import analyze_run

        try:
            analyze_run(result.run_dir)
            doc["analysis"] = "ok"
            log.info("analysis written: %s", result.run_dir / "ANALYSIS.md")
        except Exception as exc:  # the run stays done; the analysis can be backfilled (gaussian analyze)
            log.exception("analysis of %s failed", result.run_id)
            doc["analysis"] = f"failed: {type(exc).__name__}: {exc}"
        _write(result_path, doc)
    return 0


def run_holdout(run: str, result_path: Path) -> int:
    """Evaluate a finished run on the sealed holdout (once) and write the figures to the result file."""
    from experiments.runs.runner import evaluate_holdout
    from experiments.runs.store import resolve_run

    try:
        doc = evaluate_holdout(resolve_run(run))
    except Exception as exc:  # reported to the parent, which refuses the promotion with this error
        log.exception("holdout evaluation of %s failed", run)
        _write(result_path, {"status": "error", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    _write(result_path, {"status": "done", "holdout": doc})
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process."""
    ap = argparse.ArgumentParser(prog="python -m experiments.runs.child")
    ap.add_argument("mode", choices=("run", "holdout"))
    ap.add_argument("target", help="job file (run) or run id (holdout)")
    ap.add_argument("result", type=Path)
    ap.add_argument("--home", required=True)
    ap.add_argument("--parent", type=int, default=None, help="die when this process dies")
    args = ap.parse_args(argv)
    if args.parent is not None:
        die_with_parent(args.parent)
    from experiments.runs.threads import limit_threads, threads_from_env

    limit_threads(threads_from_env())  # before the experiment loads torch, BLAS or XGBoost
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from experiments.home import set_home

    set_home(args.home)
    if args.mode == "run":
        return run_job(Path(args.target), args.result)
    return run_holdout(args.target, args.result)


if __name__ == "__main__":
    sys.exit(main())
