"""The Dask side of `gaussian optimize --workers N / --scheduler ADDR`: the cluster, the client, inputs and events.

`DaskPool` starts a `LocalCluster` (worker processes, one thread each) or connects to an existing scheduler,
scatters a spec's user files once, submits experiments as tasks (experiments.runs.remote_task.run_task) and
keeps, from the tasks' events, which worker runs what since when. Its LocalCluster's workers are not daemonic
(`distributed.worker.daemon: False`, held while the pool is open, so a worker the nanny restarts gets it too),
so each hosts a warm fork server (experiments.runs.warm_worker, registered on every worker, also a cluster's);
a cluster's daemonic workers run their experiments cold, and the coordinator says so once per worker. Dask is
imported only here and only when a pool is opened, so `gaussian --help` and `gaussian status` never import it.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from experiments.home import data_dir
from experiments.runs.remote_task import TOPIC, run_task
from trader.errors import GaussianError

log = logging.getLogger("gaussian.optimizer")
CONNECT_TIMEOUT_S = 10.0
# Experiments submitted ahead, per worker thread: a worker finds its next task waiting at the scheduler the moment
# it finishes one, instead of idling through the coordinator's record-lease-submit round trip. The cost: an idea
# approved with a higher priority meanwhile waits behind at most this many per worker.
AHEAD_PER_SLOT = 1
SETTLED_KEPT = 1024  # recent settled tokens on the ledger board (a task waits only for its worker's last one)
DAEMON_ENV = "DASK_DISTRIBUTED__WORKER__DAEMON=False"
"""How a `dask worker` is started so its worker processes may fork experiments warm."""


class PoolError(GaussianError):
    """The Dask cluster cannot be started or reached, or the worker count is refused."""


def check_workers(workers: int | None, memory_mb: float | None, scheduler: str | None) -> None:
    """Refuse a worker count this machine cannot run: none, more than its cores, or more than its memory holds."""
    if workers is None:
        return
    if workers < 1:
        raise PoolError(f"--workers {workers}: at least 1 worker is needed")
    if scheduler is not None:
        return  # the cluster's machines are its own; --workers only caps the experiments in flight
    if workers == 1:
        return  # the local path, one experiment at a time, as without --workers
    if memory_mb is not None:
        total_mb = psutil.virtual_memory().total / (1024 * 1024)
        if workers * memory_mb > total_mb:
            raise PoolError(f"--workers {workers} at the memory cap --memory-mb {memory_mb:g} needs "
                            f"{workers * memory_mb:.0f} MB, but this machine has {total_mb:.0f} MB: use at most "
                            f"{max(int(total_mb // memory_mb), 1)} worker(s) or a lower --memory-mb")
    cores = os.cpu_count() or 1
    if workers > cores:
        raise PoolError(f"--workers {workers} is more than the {cores} CPU core(s) of this machine; each worker "
                        f"runs one experiment on one core (use --workers {cores} or fewer)")


def probe_scheduler(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse an address that is not [tcp://]HOST:PORT, or where nothing answers, in one line naming it."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    host, _, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls") or not host or not port.isdigit():
        raise PoolError(f"--scheduler {address}: expected tcp://HOST:PORT (such as tcp://10.0.0.5:8786)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise PoolError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}") from None


@dataclass
class Placement:
    """Where one submitted experiment runs: its worker, since when, and how many times it started."""

    idea_id: str
    worker: str | None = None
    host: str | None = None
    pid: int | None = None
    child_pid: int | None = None
    since: str | None = None
    starts: int = 0
    workers_seen: list[str] = field(default_factory=list)


class DaskPool:
    """A Dask client on a LocalCluster (`workers` processes) or on the scheduler at `scheduler`."""

    def __init__(self, workers: int | None, scheduler: str | None, max_attempts: int = 3,
                 warm_start: bool = True) -> None:
        self.workers = workers
        self.warm_start = warm_start
        self.scheduler = scheduler
        self.max_attempts = max_attempts
        self.client: Any = None
        self.cluster: Any = None
        self._lock = threading.Lock()
        self._placements: dict[str, Placement] = {}
        self._reruns: list[tuple[str, str, str]] = []  # (token, worker that died, worker now running it)
        self._scattered: dict[str, Any] = {}
        self._config: Any = None  # the dask.config.set held while a LocalCluster is open
        self._cold: set[str] = set()  # workers reported to start their experiments cold
        self.board: Any = None  # the Dask Variable each task reads the ledger from when it starts
        self._settled: list[str] = []  # tokens recorded (or given up) by this coordinator, newest last

    # ----- lifetime ------------------------------------------------------------------------------------------

    def open(self) -> DaskPool:
        """Start the LocalCluster or connect to the scheduler (one clear error when it cannot be reached)."""
        import dask
        from distributed import Client, LocalCluster

        from experiments.runs.warm_worker import WarmStart

        if self.scheduler:
            probe_scheduler(self.scheduler)
            try:
                self.client = Client(self.scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise PoolError(f"cannot reach the Dask scheduler at {self.scheduler}: {reason}") from None
        else:
            n = self.workers or 1
            # a worker process that dies takes its task with it; the scheduler runs it again elsewhere, and
            # gives up (KilledWorker) once as many workers died on it as the idea has attempts. Worker processes
            # that are not daemonic may have the warm fork server; the nanny reads this when it (re)starts one.
            self._config = dask.config.set({"distributed.scheduler.allowed-failures": max(self.max_attempts - 1, 0),
                                            "distributed.worker.daemon": False})
            try:
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit=0,
                                            host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self.cluster, set_as_default=False)
            except BaseException:
                self.close()
                raise
        self.client.subscribe_topic(TOPIC, self._on_event)
        from distributed import Variable

        self.board = Variable(f"gaussian-ledger-{os.getpid()}-{secrets.token_hex(4)}", client=self.client)
        try:
            if self.warm_start:
                self.client.register_plugin(WarmStart())
        except Exception as exc:  # noqa: BLE001 - whatever a worker raised: it runs its experiments cold
            log.warning("dask: the warm start could not be set up on every worker: %s", exc)
        log.info("dask: %s with %d worker thread(s)", self.describe(), self.worker_threads())
        return self

    def close(self) -> None:
        """Close the client (the scheduler releases every task it still wanted) and a LocalCluster."""
        if self.board is not None:
            with contextlib.suppress(Exception):  # the scheduler may be gone already
                self.board.delete()
            self.board = None
        if self.client is not None:
            try:
                self.client.unsubscribe_topic(TOPIC)
            except (KeyError, ValueError):
                pass
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
        if self._config is not None:
            self._config.__exit__(None, None, None)
            self._config = None

    def describe(self) -> str:
        """One phrase naming the cluster."""
        return f"scheduler {self.scheduler}" if self.scheduler else f"local cluster of {self.workers or 1} process(es)"

    # ----- capacity and workers ------------------------------------------------------------------------------

    def _workers_info(self) -> dict[str, Any]:
        try:
            return dict(self.client.scheduler_info(n_workers=-1).get("workers") or {})
        except TypeError:  # older distributed: no n_workers argument
            return dict(self.client.scheduler_info().get("workers") or {})

    def worker_threads(self) -> int:
        """Threads over all workers the scheduler knows now."""
        return sum(int(w.get("nthreads") or 1) for w in self._workers_info().values())

    def slots(self) -> tuple[int, int]:
        """(how many experiments may run at once: one per worker thread, capped by --workers; how many more may
        be submitted to wait for a worker). Tasks wait only where every worker thread is ours to fill: on a
        cluster with threads beyond --workers, a waiting task would start at once on an idle one, and more than
        --workers experiments would run."""
        threads = self.worker_threads()
        cap = min(threads, self.workers) if self.workers else threads
        return cap, cap * AHEAD_PER_SLOT if threads <= cap else 0

    def worker_table(self, titles: dict[str, str]) -> list[dict[str, Any]]:
        """Every worker: address, host, pid, and the idea it runs since when (None when idle)."""
        with self._lock:
            running = {p.worker: p for p in self._placements.values() if p.worker}
        rows = []
        for addr, info in sorted(self._workers_info().items()):
            p = running.get(addr)
            rows.append({
                "address": addr, "host": info.get("host"), "pid": p.pid if p else None,
                "nthreads": info.get("nthreads"), "idea_id": p.idea_id if p else None,
                "title": titles.get(p.idea_id) if p else None, "since": p.since if p else None,
                "child_pid": p.child_pid if p else None, "starts": p.starts if p else None,
            })
        return rows

    # ----- events ----------------------------------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if not isinstance(msg, dict) or "token" not in msg:
            return
        with self._lock:
            p = self._placements.get(msg["token"])
            if p is None:
                return
            if msg.get("event") == "start":
                self._say_cold(msg)
                if p.starts and p.worker is not None:
                    self._reruns.append((msg["token"], p.worker, msg["worker"]))
                p.starts += 1
                p.worker, p.host, p.pid, p.since = msg.get("worker"), msg.get("host"), msg.get("pid"), msg.get("since")
                p.child_pid = None
                p.workers_seen.append(str(msg.get("worker")))
            elif msg.get("event") == "child" and msg.get("worker") == p.worker:
                p.child_pid = msg.get("child_pid")
            elif msg.get("event") == "end" and msg.get("worker") == p.worker:
                p.worker, p.child_pid = None, None

    def _say_cold(self, msg: dict[str, Any]) -> None:
        """Warn once per worker that starts its experiments in a new Python though warm was asked (a daemonic
        worker process)."""
        worker = str(msg.get("worker"))
        if self.warm_start and msg.get("warm") is False and worker not in self._cold:
            self._cold.add(worker)
            log.warning("dask: worker %s is a daemonic process, so each experiment starts cold (a new Python, "
                        "seconds of imports); start its `dask worker` with %s", worker, DAEMON_ENV)

    def reruns(self) -> list[tuple[str, str, str]]:
        """Tasks started again since the last call: (token, the worker that died, the worker running it now)."""
        with self._lock:
            out, self._reruns = self._reruns, []
        return out

    def placement(self, token: str) -> Placement | None:
        """Where a submitted task runs (a copy)."""
        with self._lock:
            p = self._placements.get(token)
            return Placement(**{**p.__dict__, "workers_seen": list(p.workers_seen)}) if p else None

    # ----- inputs and tasks ------------------------------------------------------------------------------------

    def inputs_for(self, spec: dict[str, Any]) -> Any:
        """The spec's user files or cached dataset, scattered once (a future), or None for generated markets."""
        files = _input_files(spec)
        if not files:
            return None
        digest = hashlib.sha256()
        for name, path in sorted(files.items()):
            st = path.stat()
            digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        key = digest.hexdigest()
        if key not in self._scattered:
            blobs = {name: path.read_bytes() for name, path in files.items()}
            self._scattered[key] = self.client.scatter(blobs, broadcast=False, hash=False)
            log.info("scattered %d input file(s), %.1f MB", len(blobs), sum(map(len, blobs.values())) / 1e6)
        return self._scattered[key]

    def post_ledger(self, lines: list[dict[str, Any]], settled: str | None = None) -> None:
        """Put the ledger as it stands on the board, with `settled` added to the tokens this coordinator has
        recorded or given up: a task starting after that token on the same worker waits for it (remote_task)."""
        if settled is not None:
            self._settled = [*self._settled[-(SETTLED_KEPT - 1):], settled]
        self.board.set({"lines": lines, "settled": self._settled})

    def submit(self, token: str, idea_id: str, job: dict[str, Any], inputs: Any, timeout_s: float | None,
               memory_mb: float | None) -> Any:
        """Submit one experiment as a task (it reads the ledger from the board when it starts); return its
        future."""
        with self._lock:
            self._placements[token] = Placement(idea_id=idea_id)
        return self.client.submit(run_task, token, {**job, "ledger_board": self.board.name}, inputs, timeout_s,
                                  memory_mb, 1, self.warm_start, key=f"gaussian-{token}", pure=False, retries=0)

    def wait_any(self, futures: list[Any], timeout_s: float) -> None:
        """Return when one of `futures` finishes, or after `timeout_s` (at once when there are none)."""
        if not futures:
            time.sleep(timeout_s)
            return
        from distributed import wait

        try:
            with self.client.as_current():  # `wait` finds its client as the current one (ours is not the default)
                wait(futures, timeout=timeout_s, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return

    def forget(self, token: str) -> None:
        """Drop a finished task's placement."""
        with self._lock:
            self._placements.pop(token, None)

    def cancel(self, futures: list[Any]) -> None:
        """Cancel tasks: the workers stop their experiments (the task polls whether it is still wanted)."""
        if futures and self.client is not None:
            self.client.cancel(futures)


def _input_files(spec: dict[str, Any]) -> dict[str, Path]:
    """Files a worker needs for this spec: the user's bars/options files, or a cached dataset's files."""
    data = spec.get("data") or {}
    source = data.get("source", "synthetic")
    out: dict[str, Path] = {}
    if source == "file":
        for n, key in enumerate(("path", "options_path")):
            value = data.get(key)
            if value and Path(value).is_file():
                out[f"file:{n}:{value}"] = Path(value)
    elif source == "cache" and data.get("name"):
        folder = data_dir() / str(data["name"])
        if folder.is_dir():
            for p in sorted(folder.rglob("*")):
                if p.is_file():
                    out[str(Path("data") / p.relative_to(data_dir()))] = p
    return out
