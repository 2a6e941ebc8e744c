"""Experiments per hour of `gaussian optimize`: the local path against the Dask path with 1 and 2 workers.

Usage: python bench/optimizer_scale.py [--experiments 6] [--cycles 2000] [--sessions 30]
Each configuration runs in a fresh home, side by side in one run:
  local      --workers 1 (today's path): one at a time, each forked from this process's warm fork server
  dask x1    one Dask worker process: the Dask path's overhead over the local path
  dask x2    two Dask worker processes, one thread each (what --workers 2 starts)
The Dask configurations run on a LocalCluster started here with its workers not daemonic, as `--workers N`
starts them, reached through --scheduler so that it outlives one optimizer run. Each configuration first runs a
start-up round, one idea per worker (the fork server's imports, the market generated and the models fitted, once
per worker), then the `experiments` timed ideas (the steady state, what an overnight run sees); both rounds are
printed. Ideas differ in the momentum lookback, so their fitted exit model is the same (cached after the first).
A round is measured from its first lease to its last completion (from the ideas' history); "in child s" is the
mean time inside the contained experiment process (measured where it runs), so the overhead outside it compares
the paths without the experiments' own run-to-run noise. The machine's load is printed before and after: the
ratios mean little on a machine shared with other jobs. Targets: dask x2 >= 1.7 x local; overhead < 1 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = "entry: {type: momentum}\ndata: {sessions: SESSIONS}\nsplits: {embargo_bars: 45}\ncycles: CYCLES\n"


@dataclass
class Round:
    """One optimizer run: its window (first lease to last completion), mean s inside the child, warm count."""

    window_s: float
    inside_s: float
    warm: int
    n: int


def _home(root: Path, name: str, cycles: int, sessions: int) -> Path:
    home = root / name
    home.mkdir()
    (home / "base_spec.yaml").write_text(BASE.replace("SESSIONS", str(sessions)).replace("CYCLES", str(cycles)))
    return home


def _queue(home: Path, lookbacks: range) -> list[str]:
    """Approve one idea per lookback in `home`; return their ids."""
    from agents.sink import Source
    from experiments.home import set_home
    from experiments.ideas.queue import IdeaQueue

    set_home(home)  # the ideas' specs are made from this home's base spec
    try:
        q = IdeaQueue.from_home()
        ids = []
        for lookback in lookbacks:
            idea = q.propose(f"lookback {lookback}", "benchmark", "benchmark",
                             {"entry.momentum.lookback_bars": lookback}, Source(kind="human", name="bench"))
            q.approve(idea.id, "human:bench")
            ids.append(idea.id)
        return ids
    finally:
        set_home(None)


def _window_s(home: Path, ids: list[str]) -> float:
    """Seconds from the first lease to the last completion of these ideas, read from their history."""
    from experiments.ideas.queue import IdeaQueue

    ideas = [i for i in IdeaQueue(home / "queue" / "ideas.json").list() if i.id in ids]
    starts = [h.time for i in ideas for h in i.history if h.action == "start"]
    ends = [h.time for i in ideas for h in i.history if h.action == "complete"]
    if len(ends) != len(ids):
        raise SystemExit(f"{home.name}: {len(ends)} of {len(ids)} experiments completed")
    return (max(ends) - min(starts)).total_seconds()


def _round(home: Path, lookbacks: range, **kw: Any) -> Round:
    """Queue these ideas and run the optimizer on `home` until they are done."""
    from experiments.home import set_home
    from experiments.optimizer.loop import OptimizerConfig, run_optimizer

    ids = _queue(home, lookbacks)
    set_home(home)
    try:
        results = run_optimizer(OptimizerConfig(once=True, agent=False, analyze=False, heartbeat_s=1.0, poll_s=0.2,
                                                **kw))
    finally:
        set_home(None)
    done = [r for r in results if r["status"] == "done"]
    warm = sum(1 for r in done if r.get("warm", True))  # the local path forks warm by default
    return Round(_window_s(home, ids), sum(r["seconds"] for r in done) / max(len(done), 1), warm, len(ids))


def _config(home: Path, workers: int, n: int) -> tuple[Round, Round, float]:
    """The start-up round (one idea per worker) and the timed round; and the cluster's start in s (0: local)."""
    import dask
    from distributed import LocalCluster

    with ExitStack() as stack:
        kw: dict[str, Any] = {}
        t = time.perf_counter()
        if workers:
            stack.enter_context(dask.config.set({"distributed.worker.daemon": False}))
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       memory_limit=0, host="127.0.0.1", dashboard_address=None))
            kw = {"scheduler": cluster.scheduler_address, "workers": workers}
        start_s = time.perf_counter() - t
        first = _round(home, range(100, 100 + max(workers, 1)), **kw)
        return first, _round(home, range(10, 10 + n), **kw), start_s


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    """Run the three configurations and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiments", type=int, default=6, help="timed experiments per configuration")
    ap.add_argument("--cycles", type=int, default=2000, help="evaluation bars per experiment")
    ap.add_argument("--sessions", type=int, default=30, help="synthetic sessions (validation must hold cycles)")
    args = ap.parse_args()
    if args.experiments < 1 or args.cycles < 1 or args.sessions < 1:
        print("error: --experiments, --cycles and --sessions must be at least 1", file=sys.stderr)
        raise SystemExit(2)
    root = Path(tempfile.mkdtemp(prefix="gaussian-bench-scale-"))
    n = args.experiments
    load_before = _load()
    rows: list[tuple[str, int, Round, Round, float]] = []
    try:
        for name, workers in (("local", 0), ("dask x1", 1), ("dask x2", 2)):
            home = _home(root, name.replace(" ", "_"), args.cycles, args.sessions)
            rows.append((name, max(workers, 1), *_config(home, workers, n)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{n} timed experiments per configuration after a start-up round of one per worker; {args.cycles} cycles "
          f"each, momentum entries, {args.sessions} synthetic sessions; LocalCluster start "
          f"{rows[1][4]:.1f} / {rows[2][4]:.1f} s (x1 / x2, once, not in the figures)")
    print(f"machine: {os.cpu_count()} CPU core(s); load average (1/5/15 min) {load_before} before, {_load()} after")
    print(f"{'config':<8} {'workers':>7} {'start-up s':>10} {'s/experiment':>12} {'in child s':>10} "
          f"{'experiments/h':>13} {'vs local':>8} {'warm':>6}")
    local = rows[0][3].window_s
    for name, workers, first, timed, _ in rows:
        print(f"{name:<8} {workers:>7} {first.window_s:>10.2f} {timed.window_s / n:>12.2f} {timed.inside_s:>10.2f} "
              f"{3600 * n / timed.window_s:>13.1f} {local / timed.window_s:>7.2f}x "
              f"{first.warm + timed.warm:>3}/{first.n + timed.n}")
    (lo, x1, x2) = (r[3] for r in rows)
    print(f"Dask path overhead per experiment (dask x1 - local): {(x1.window_s - lo.window_s) / n:+.2f} s end to "
          f"end, {(x1.window_s / n - x1.inside_s) - (lo.window_s / n - lo.inside_s):+.2f} s outside the experiment "
          f"process (target < 1 s)")
    print(f"2 workers (dask x2) vs 1 worker (local): {lo.window_s / x2.window_s:.2f}x experiments per hour "
          f"(target >= 1.7x); dask x2 vs dask x1: {x1.window_s / x2.window_s:.2f}x")
    with_start = [(r[2].window_s + r[3].window_s) / (r[2].n + r[3].n) for r in rows]
    print(f"counting the start-up round too: {with_start[0]:.2f} / {with_start[1]:.2f} / {with_start[2]:.2f} s per "
          f"experiment (local / x1 / x2), x2 vs local {with_start[0] / with_start[2]:.2f}x")


if __name__ == "__main__":
    main()
