"""One experiment as a Dask task: run contained in a scratch home on the worker, hand back the run directory's files.

The worker needs no shared filesystem and no queue. The coordinator sends the idea's job (spec, cycles, analyze,
the name of its ledger board) and, for user files or cached datasets, their bytes. The task reads the ledger from
the board (a Dask Variable the coordinator posts after every result) when it starts, once the coordinator has
settled the task this worker ran before (a waiting task starts the moment its predecessor returns, before the
coordinator has recorded it): so the deflated Sharpe counts every run recorded before this one started, and with
one worker exactly what the local path counts. Synthetic and real-daily markets are regenerated here, cached per
worker, and the fitted models (experiments.runs.model_cache) are cached per worker too, so an idea that changes nothing a
model reads loads it as on the local path, instead of refitting it in every task's fresh scratch home.
The experiment runs in the contained child process (time and memory limits as on the local path) with one
core's worth of threads, forked warm from the worker's fork server (experiments.runs.warm_worker) where the
worker may have children, else started cold (a new Python); the events and the result say which. The task
stops its child when the coordinator no longer wants the result: the future was cancelled, or the client that
asked for it went away (the scheduler then releases the task).

Events on the Dask topic TOPIC ("start", "end") tell the coordinator which worker runs what since when; a second
"start" for the same token means the first worker died and the scheduler ran the task again elsewhere.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from experiments.files import append_jsonl, read_jsonl
from experiments.runs import warm
from experiments.runs.containment import Limits, read_tail, run_contained

TOPIC = "gaussian-experiments"
INPUTS = "inputs"
CACHE_DIR = "gaussian-market-cache"
MODEL_CACHE_DIR = "gaussian-model-cache"
CANCELLED_STATES = ("cancelled", "released", "forgotten")
MAX_FILE_BYTES = 512 * 1024 * 1024
LEDGER_WAIT_S = 60.0  # the longest a task waits for its worker's previous task to be recorded
_last_token: dict[tuple[str, str], str] = {}  # (worker address, ledger board) -> the token that worker ran last


def _ledger_when_settled(board: str, worker_address: str) -> tuple[list[dict[str, Any]], float]:
    """The ledger from the coordinator's board once it has settled this worker's previous task; and the seconds
    waited. Only a task of the same coordinator (the same board) is waited for; past LEDGER_WAIT_S (a coordinator
    that stopped recording) the ledger as it stands is taken."""
    from distributed import Variable, get_client

    var = Variable(board, client=get_client())
    before = _last_token.get((worker_address, board))
    t0 = time.monotonic()
    while True:
        doc = var.get(timeout=LEDGER_WAIT_S)
        waited = time.monotonic() - t0
        if before is None or before in doc["settled"] or waited >= LEDGER_WAIT_S:
            return list(doc["lines"]), waited
        time.sleep(0.01)


def _setup_home(home: Path, ledger_lines: list[dict[str, Any]], inputs: dict[str, bytes] | None,
                worker_dir: Path) -> dict[str, str]:
    """Write the scratch home: the ledger, links to the worker's market and model caches, and the scattered inputs;
    return the relocations."""
    runs = home / "runs"
    runs.mkdir(parents=True)
    with open(runs / "ledger.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(line, sort_keys=True, default=str) + "\n" for line in ledger_lines)
    (home / "data").mkdir()
    links = ((home / "data" / "_cache", worker_dir / CACHE_DIR), (home / "cache", worker_dir / MODEL_CACHE_DIR))
    for link, cache in links:
        cache.mkdir(parents=True, exist_ok=True)
        link.symlink_to(cache, target_is_directory=True)
    relocated: dict[str, str] = {}
    for rel, blob in (inputs or {}).items():
        if rel.startswith("file:"):  # "file:<n>:<original path>" -> inputs/<n>/<file name>
            _, n, original = rel.split(":", 2)
            target = home / INPUTS / n / Path(original).name
            relocated[original] = str(target)
        else:  # "data/<dataset>/<file>": a cached dataset, at the same place in the scratch home
            target = home / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    return relocated


def _collect(runs: Path) -> tuple[str | None, dict[str, bytes]]:
    """The one run directory the child made under `runs` (name and files), or (None, {})."""
    dirs = [d for d in runs.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))]
    if not dirs:
        return None, {}
    run_dir = max(dirs, key=lambda d: d.name)
    files = {}
    for p in sorted(run_dir.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and p.stat().st_size <= MAX_FILE_BYTES:
            files[str(p.relative_to(run_dir))] = p.read_bytes()
    return run_dir.name, files


def run_task(token: str, job: dict[str, Any], inputs: dict[str, bytes] | None, timeout_s: float | None,
             memory_mb: float | None, threads: int = 1, warm_start: bool = True) -> dict[str, Any]:
    """Run one experiment on this Dask worker; return its outcome, run directory files and new ledger lines.

    `warm_start`: fork the experiment from the worker's fork server where this worker process may have one."""
    from distributed import get_worker

    worker = get_worker()
    key = worker.get_current_task()
    since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    forks_warm = warm_start and warm.available()
    who = {"token": token, "idea_id": job.get("idea_id"), "worker": worker.address, "host": socket.gethostname(),
           "pid": os.getpid(), "since": since, "warm": forks_warm}
    worker.log_event(TOPIC, {"event": "start", **who})

    def unwanted() -> bool:
        ts = worker.state.tasks.get(key)
        return ts is None or ts.state in CANCELLED_STATES or worker.status.name not in ("running", "paused")

    def child_started(pid: int) -> None:
        worker.log_event(TOPIC, {"event": "child", **who, "child_pid": pid})

    scratch = Path(tempfile.mkdtemp(prefix="gaussian-task-", dir=worker.local_directory))
    try:
        ledger_lines, ledger_wait = _ledger_when_settled(job["ledger_board"], worker.address)
        home = scratch / "home"
        relocated = _setup_home(home, ledger_lines, inputs, Path(worker.local_directory))
        job_path, result_path, log_path = scratch / "job.json", scratch / "result.json", scratch / "child.log"
        job_path.write_text(json.dumps({**job, "relocated": relocated}, default=str), encoding="utf-8")
        limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb, threads=threads, warm=forks_warm)
        outcome = run_contained(["run", str(job_path), str(result_path)], log_path, result_path, limits,
                                abort=unwanted, on_start=child_started, home=home)
        run_id, files = _collect(home / "runs")
        new_lines = read_jsonl(home / "runs" / "ledger.jsonl")[len(ledger_lines):]
        return {
            "token": token, "worker": worker.address, "host": socket.gethostname(), "since": since,
            "warm": forks_warm, "kind": outcome.kind, "result": outcome.result, "returncode": outcome.returncode,
            "log_tail": outcome.log_tail, "seconds": outcome.seconds, "peak_rss_mb": outcome.peak_rss_mb,
            "run_id": run_id, "files": files, "ledger": new_lines, "log": read_tail(log_path, 0, 200_000),
            "ledger_wait_s": round(ledger_wait, 3), "trials_before": len(ledger_lines),
        }
    finally:
        _last_token[(worker.address, job["ledger_board"])] = token
        worker.log_event(TOPIC, {"event": "end", **who})
        shutil.rmtree(scratch, ignore_errors=True)


def write_run_files(runs: Path, run_id: str, files: dict[str, bytes]) -> Path:
    """Write a returned run directory under `runs` at once (a temp folder renamed into place); return its path."""
    target = runs / run_id
    if target.exists():
        raise FileExistsError(f"run directory {target} already exists")
    tmp = runs / f".incoming-{run_id}"
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, blob in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    (tmp / "models").mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return target


def append_ledger(path: Path, lines: list[dict[str, Any]]) -> None:
    """Append the ledger lines a remote run wrote, as they are."""
    for line in lines:
        append_jsonl(path, line)
