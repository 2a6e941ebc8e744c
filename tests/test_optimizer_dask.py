"""The optimizer on Dask: a LocalCluster of two worker processes, and a real `dask scheduler` with two
`dask worker` subprocesses on 127.0.0.1. Every idea ends done exactly once (one run directory, one ledger line),
also when a worker or the coordinator is killed with SIGKILL mid-experiment; metrics.json is the same byte for
byte as on the local path.

The experiments are tiny (10 synthetic sessions, momentum entries, 300 bars); a "slowpoke" idea sleeps at its
first evaluation step (the child's documented GAUSSIAN_TEST_FAULT hook) so a kill lands mid-experiment. Workers
that are not daemonic (the LocalCluster's, and `dask worker` started with DAEMON_ENV) fork their experiments warm
from a fork server of their own, which dies with them; a daemonic worker runs them cold, and the coordinator says so.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from experiments.home import set_home
from experiments.ideas.queue import IdeaQueue
from experiments.optimizer.dask_pool import DAEMON_ENV, PoolError, check_workers, probe_scheduler
from experiments.optimizer.loop import OptimizerConfig, run_optimizer
from experiments.optimizer.status import collect_status
from experiments.runs.attempts import attempt_dirs, is_abandoned
from tests.optimizer_fixtures import REPO, add_idea, gaussian, make_home, read_status, start, wait_for

FAST: dict[str, Any] = {"agent": False, "once": True, "heartbeat_s": 0.5, "stale_after_s": 3.0, "poll_s": 0.2,
                        "analyze": False, "cycles": 300, "timeout_s": 120.0, "memory_mb": 2000.0}
CLI_FAST = ["--no-agent", "--heartbeat", "0.5", "--stale-after", "3", "--poll", "0.2", "--cycles", "300",
            "--timeout", "120", "--memory-mb", "2000"]
SLOW_S = "4"


def _ledger(home: Path) -> list[dict[str, Any]]:
    path = home / "runs" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _run_dirs(home: Path) -> list[Path]:
    return sorted(d for d in (home / "runs").iterdir() if d.is_dir() and not d.name.startswith(("_", ".")))


def _assert_exactly_once(home: Path, ids: list[str]) -> None:
    set_home(home)
    try:
        _exactly_once(home, ids)
    finally:
        set_home(None)


def _exactly_once(home: Path, ids: list[str]) -> None:
    q = IdeaQueue.from_home()
    lines = _ledger(home)
    for idea_id in ids:
        idea = q.get(idea_id)
        assert idea.status.value == "done", (idea_id, idea.status, idea.result)
        dirs = [d for d in attempt_dirs(idea_id) if not is_abandoned(d)]
        assert [d.name for d in dirs] == [idea.result.run_id], idea_id
        assert (dirs[0] / "metrics.json").exists() and (dirs[0] / "trades.parquet").exists()
        assert [e["run_id"] for e in lines if e["idea_id"] == idea_id] == [idea.result.run_id], idea_id
    assert len(lines) == len(ids)


def _env(fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GAUSSIAN_TEST_FAULT", "GAUSSIAN_HOME")}
    if fault:
        env["GAUSSIAN_TEST_FAULT"], env["GAUSSIAN_TEST_SLOW_S"] = fault, SLOW_S
    return env


def _worker_running(home: Path, idea_id: str) -> dict[str, Any] | None:
    """The status file's worker row once the idea's experiment process has started on it."""
    for w in read_status(home).get("workers") or []:
        if w.get("idea_id") == idea_id and w.get("child_pid") and w.get("pid"):
            return w
    return None


def _worker_logs(home: Path) -> str:
    """Every runs/_workers/IDEA.log the coordinator wrote from its tasks' results."""
    return "".join(p.read_text() for p in sorted((home / "runs" / "_workers").glob("*.log")))


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# ----- a LocalCluster of two worker processes ---------------------------------------------------------------


@pytest.fixture(scope="module")
def local_cluster_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = make_home(tmp_path_factory.mktemp("dask-local"))
    set_home(home)
    mp = pytest.MonkeyPatch()
    mp.setenv("GAUSSIAN_TEST_FAULT", "slowpoke:slow")  # the worker processes inherit it
    mp.setenv("GAUSSIAN_TEST_SLOW_S", SLOW_S)
    try:
        q = IdeaQueue.from_home()
        ids = [add_idea(q, "slowpoke", 10, priority=9)] + [add_idea(q, f"n{k}", 11 + k) for k in range(3)]
        out: dict[str, Any] = {}
        opt = threading.Thread(target=lambda: out.update(results=run_optimizer(OptimizerConfig(workers=2, **FAST))))
        opt.start()
        row = wait_for(lambda: _worker_running(home, ids[0]), 90, "the slowpoke experiment to start on a worker")
        status_seen, shown = read_status(home), collect_status()
        server = psutil.Process(int(row["child_pid"])).ppid()  # the process the experiment was forked from
        server_parent = psutil.Process(server).ppid()
        time.sleep(1.0)  # inside its slow first evaluation step
        os.kill(int(row["pid"]), signal.SIGKILL)
        opt.join(180)
        assert not opt.is_alive(), "the optimizer did not finish"
        yield {"home": home, "ids": ids, "killed": row, "server": (server, server_parent), "status": status_seen,
               "shown": shown, **out, "ideas": {i: q.get(i) for i in ids}}
    finally:
        mp.undo()
        set_home(None)


@pytest.mark.slow
def test_local_cluster_runs_four_ideas_exactly_once(local_cluster_run: dict[str, Any]) -> None:
    run = local_cluster_run
    _assert_exactly_once(run["home"], run["ids"])
    assert sorted(r["status"] for r in run["results"]) == ["done"] * 4
    # which worker ran what after the kill is the scheduler's choice (the survivor may take every waiting task
    # while the nanny restarts the other): here only that the rerun and the rest came back from live workers
    assert run["killed"]["address"] not in {r["worker"] for r in run["results"]}
    assert [r["warm"] for r in run["results"]] == [True] * 4, "every experiment was forked warm"
    rows = run["status"]["workers"]
    workers = [w for w in rows if not w.get("waiting")]
    assert len(workers) == 2 and all(w["address"].startswith("tcp://127.0.0.1:") for w in workers)
    # ideas on a worker or submitted ahead and waiting for one: each shown once
    placed = [w["idea_id"] for w in rows if w.get("idea_id")]
    assert len(placed) == len(set(placed)) >= 2 and set(placed) <= set(run["ids"]) and run["ids"][0] in placed


@pytest.mark.slow
def test_status_shows_each_worker_and_what_it_runs_since_when(local_cluster_run: dict[str, Any]) -> None:
    from experiments.cli import optimize_cmd

    row = local_cluster_run["killed"]
    assert row["idea_id"] == local_cluster_run["ids"][0] and row["since"] and row["title"].startswith("idea slowpoke")
    with optimize_cmd.console.capture() as cap:
        optimize_cmd._print_status(local_cluster_run["shown"])
    text = " ".join(cap.get().split())
    title = " ".join(row["title"].split())
    assert f"worker {row['address']} (pid {row['pid']}): idea {row['idea_id']} ({title}) since" in text


@pytest.mark.slow
def test_a_worker_killed_mid_experiment_reruns_its_idea_once(local_cluster_run: dict[str, Any]) -> None:
    run = local_cluster_run
    slow = run["ideas"][run["ids"][0]]
    assert slow.status.value == "done" and slow.attempts == 2, slow.history
    retry = [h for h in slow.history if h.action == "retry"]
    assert len(retry) == 1 and run["killed"]["address"] in retry[0].note
    assert _gone(int(run["killed"]["child_pid"])), "the killed worker's experiment process is gone"
    assert all(r["worker"] != run["killed"]["address"] for r in run["results"] if r["idea_id"] == slow.id)


@pytest.mark.slow
def test_a_killed_worker_leaves_no_warm_server_or_experiment_behind(local_cluster_run: dict[str, Any]) -> None:
    run = local_cluster_run
    worker, child, (server, parent) = int(run["killed"]["pid"]), int(run["killed"]["child_pid"]), run["server"]
    assert server != worker and parent == worker, "the experiment was forked from a server inside the worker"
    wait_for(lambda: _gone(child) and _gone(server), 30, "the killed worker's fork server and experiment to stop")


# ----- a real `dask scheduler` and two `dask worker` processes ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _cluster(base: Path, workers: int, worker_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A `dask scheduler` and `workers` `dask worker` subprocesses on 127.0.0.1, stopped on exit."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    procs = []
    log = open(base / "cluster.log", "ab")  # noqa: SIM115 - closed at exit
    try:
        procs.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                       "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=base))
        for n in range(workers):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{n}",
                                           "--local-directory", str(base / f"w{n}")],
                                          stdout=log, stderr=subprocess.STDOUT, env=worker_env, cwd=base))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=90)
        yield {"address": address, "log": base / "cluster.log"}
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two workers started as the README says, so that they fork their experiments warm."""
    name, _, value = DAEMON_ENV.partition("=")
    with _cluster(tmp_path_factory.mktemp("dask-cluster"), 2, {**_env("slowpoke:slow"), name: value}) as cluster:
        yield cluster


def _metrics_bytes(run_dir: Path) -> bytes:
    """metrics.json with its run id (the one field that names the run, not its result) blanked."""
    return (run_dir / "metrics.json").read_bytes().replace(run_dir.name.encode(), b"RUN-ID")


@pytest.mark.slow
def test_scheduler_results_equal_the_local_path_byte_for_byte(dask_cluster: dict[str, Any],
                                                               tmp_path: Path) -> None:
    homes = {k: make_home(tmp_path / k) for k in ("local", "dask")}
    ids: dict[str, list[str]] = {}
    try:
        for k, home in homes.items():
            set_home(home)  # the ideas' specs are made from this home's tiny base spec
            ids[k] = [add_idea(IdeaQueue.from_home(), f"same{n}", 12 + n) for n in range(3)]
        set_home(homes["local"])
        run_optimizer(OptimizerConfig(**FAST))  # the local path
    finally:
        set_home(None)
    # one in flight at a time on the cluster, so each run sees the same ledger as on the local path
    out = subprocess.run(gaussian(homes["dask"], "optimize", "--once", "--scheduler", dask_cluster["address"],
                                  "--workers", "1", *CLI_FAST), env=_env(), cwd=REPO, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 done" in out.stdout
    assert _worker_logs(homes["dask"]).count("forked warm") == 3 and "started cold" not in _worker_logs(homes["dask"])
    for k, home in homes.items():
        _assert_exactly_once(home, ids[k])
    q = {k: IdeaQueue(h / "queue" / "ideas.json") for k, h in homes.items()}
    for a, b in zip(ids["local"], ids["dask"], strict=True):
        ra, rb = (homes[k] / "runs" / q[k].get(i).result.run_id for k, i in (("local", a), ("dask", b)))
        assert _metrics_bytes(ra) == _metrics_bytes(rb), a
        assert (ra / "trades.parquet").read_bytes() and (rb / "equity.parquet").exists()
    # three runs on two workers: a worker runs two, and the second loads the exit model its first fitted
    hits = [json.loads((homes["dask"] / "runs" / q["dask"].get(i).result.run_id / "models" / "cache.json")
                       .read_text())["exit_model"]["hit"] for i in ids["dask"]]
    assert any(hits), "each worker keeps its fitted models between tasks, as the local path's home does"
    keep = ("spec_hash", "status", "metrics")
    assert [{k: e.get(k) for k in keep} for e in _ledger(homes["local"])] == \
           [{k: e.get(k) for k in keep} for e in _ledger(homes["dask"])]


@pytest.mark.slow
def test_a_killed_coordinator_leaves_nothing_running_and_the_next_one_reruns(dask_cluster: dict[str, Any],
                                                                             tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    set_home(home)
    q = IdeaQueue.from_home()
    idea_id = add_idea(q, "slowpoke", 10)
    set_home(None)
    log = home / "optimizer.out"
    first = start(home, ["optimize", "--once", "--scheduler", dask_cluster["address"], *CLI_FAST], _env(), log)
    try:
        row = wait_for(lambda: _worker_running(home, idea_id), 90, "the experiment to start on a worker", log)
        time.sleep(1.0)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    # the scheduler releases the dead client's task, and its worker stops the experiment
    wait_for(lambda: _gone(int(row["child_pid"])), 20, "the orphaned experiment to stop", dask_cluster["log"])
    assert q.get(idea_id).status.value == "running"
    time.sleep(3.5)  # the dead coordinator's lease goes stale (--stale-after 3): `--once` reaps it at its start
    set_home(home)
    try:
        second = subprocess.run(gaussian(home, "optimize", "--once", "--scheduler", dask_cluster["address"],
                                         *CLI_FAST), env=_env(), cwd=REPO, capture_output=True, text=True,
                                timeout=300, check=False)
        assert second.returncode == 0, second.stdout + second.stderr
        _assert_exactly_once(home, [idea_id])
        assert q.get(idea_id).attempts == 2
    finally:
        set_home(None)


@pytest.mark.slow
def test_a_daemonic_worker_runs_its_experiments_cold_and_the_coordinator_says_how_to_warm_it(
        tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    set_home(home)
    try:
        idea_id = add_idea(IdeaQueue.from_home(), "plain", 12)
    finally:
        set_home(None)
    with _cluster(tmp_path, 1, _env()) as cluster:  # Dask's default: a daemonic worker process
        out = subprocess.run(gaussian(home, "optimize", "--once", "--scheduler", cluster["address"], *CLI_FAST),
                             env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    _assert_exactly_once(home, [idea_id])
    assert "started cold" in _worker_logs(home)
    said = " ".join((out.stdout + out.stderr).split())  # the console wraps long lines
    assert "is a daemonic process, so each experiment starts cold" in said and DAEMON_ENV in said, said


# ----- bad input ------------------------------------------------------------------------------------------


def test_bad_worker_counts_are_refused_naming_the_limit() -> None:
    cores = os.cpu_count() or 1
    total_mb = psutil.virtual_memory().total / 2**20
    cases = [
        ((0, 4096.0, None), "--workers 0: at least 1 worker is needed"),
        ((cores + 1, 64.0, None), f"--workers {cores + 1} is more than the {cores} CPU core(s)"),
        ((2, float(int(total_mb)), None), f"--memory-mb {int(total_mb)} needs"),
        ((0, 4096.0, "tcp://10.0.0.5:8786"), "--workers 0: at least 1 worker is needed"),
    ]
    for (workers, memory_mb, scheduler), text in cases:
        with pytest.raises(PoolError) as err:
            check_workers(workers, memory_mb, scheduler)
        assert text in str(err.value), (workers, memory_mb, str(err.value))
    check_workers(1, total_mb * 4, None)  # the local path, as without --workers: no cap applies
    check_workers(64, 4096.0, "tcp://10.0.0.5:8786")  # a cluster's machines are its own
    with pytest.raises(PoolError, match="--scheduler nowhere: expected tcp://HOST:PORT"):
        probe_scheduler("nowhere")


def test_an_unreachable_scheduler_is_one_error_line_naming_it(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = subprocess.run(gaussian(home, "optimize", "--no-agent", "--once", "--scheduler", address), env=_env(),
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.strip() == f"error: cannot reach the Dask scheduler at {address}: Connection refused"
    assert not (home / "runs" / "optimizer.lock").exists(), "refused before the optimizer started"


@pytest.mark.slow
def test_a_killed_local_coordinator_takes_its_workers_and_experiments_with_it(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    set_home(home)
    try:
        ids = [add_idea(IdeaQueue.from_home(), "slowpoke", 10 + k) for k in range(2)]
    finally:
        set_home(None)
    log = home / "optimizer.out"
    env = {**_env("slowpoke:slow"), "GAUSSIAN_TEST_SLOW_S": "120"}
    coordinator = start(home, ["optimize", "--once", "--workers", "2", *CLI_FAST], env, log)
    try:
        wait_for(lambda: all(_worker_running(home, i) for i in ids), 90, "both experiments to start", log)
        family = [c.pid for c in psutil.Process(coordinator.pid).children(recursive=True)]
        coordinator.send_signal(signal.SIGKILL)
        coordinator.wait(10)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
    assert len(family) >= 4  # two worker processes (and their nanny's helpers) and two experiment processes
    wait_for(lambda: all(_gone(pid) for pid in family), 30, "the workers and experiments to stop", log)


@pytest.mark.slow
def test_submitted_ahead_on_one_worker_counts_trials_as_the_local_path(tmp_path: Path) -> None:
    """One worker, its next experiment waiting at the scheduler while it runs the last: each task reads the ledger
    when it starts, after the coordinator recorded the one before it, so the trial counts and metrics.json are
    the local path's byte for byte."""
    import dask
    from distributed import LocalCluster

    homes = {k: make_home(tmp_path / k) for k in ("local", "dask")}
    ids: dict[str, list[str]] = {}
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        for k, home in homes.items():
            set_home(home)
            ids[k] = [add_idea(IdeaQueue.from_home(), f"ahead{n}", 12 + n) for n in range(3)]
        set_home(homes["local"])
        results["local"] = run_optimizer(OptimizerConfig(**FAST))
        set_home(homes["dask"])
        with dask.config.set({"distributed.worker.daemon": False}), \
                LocalCluster(n_workers=1, threads_per_worker=1, processes=True, memory_limit=0, host="127.0.0.1",
                             dashboard_address=":0") as cluster:
            results["dask"] = run_optimizer(OptimizerConfig(scheduler=cluster.scheduler_address, workers=1, **FAST))
            # a second coordinator on the same worker never waits for the first one's tasks
            later = add_idea(IdeaQueue.from_home(), "later", 20)
            results["again"] = run_optimizer(OptimizerConfig(scheduler=cluster.scheduler_address, workers=1, **FAST))
    finally:
        set_home(None)
    _assert_exactly_once(homes["local"], ids["local"])
    _assert_exactly_once(homes["dask"], [*ids["dask"], later])
    ideas = [IdeaQueue(homes["dask"] / "queue" / "ideas.json").get(i) for i in ids["dask"]]
    leased = [next(h.time for h in i.history if h.action == "start") for i in ideas]
    completed = [next(h.time for h in i.history if h.action == "complete") for i in ideas]
    assert leased[1] < completed[0] and leased[2] < completed[1], "the next idea was submitted ahead"
    assert [r["trials_before"] for r in results["dask"]] == [0, 1, 2]
    assert [(r["idea_id"], r["trials_before"]) for r in results["again"]] == [(later, 3)]
    assert max(r["ledger_wait_s"] for r in results["dask"] + results["again"]) < 5.0
    q = {k: IdeaQueue(h / "queue" / "ideas.json") for k, h in homes.items()}
    for a, b in zip(ids["local"], ids["dask"], strict=True):
        ra, rb = (homes[k] / "runs" / q[k].get(i).result.run_id for k, i in (("local", a), ("dask", b)))
        assert _metrics_bytes(ra) == _metrics_bytes(rb), a
