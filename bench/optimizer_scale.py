"""Experiments per hour of `gaussian optimize`: the local path against the Dask path with 1 and 2 workers.

Usage: python bench/optimizer_scale.py [--experiments 4] [--cycles 2000] [--sessions 30]
Each configuration runs the same `experiments` approved ideas (momentum entries on a synthetic market, `cycles`
evaluation bars each) in a fresh home, side by side in one run:
  local      --workers 1: one at a time in a contained child process forked warm (today's path)
  dask x1    one Dask worker process (a LocalCluster reached through --scheduler, its worker not daemonic as
             `gaussian optimize --workers N` starts them): the Dask path's overhead
  dask x2    --workers 2: a LocalCluster of two worker processes, one thread each
Every path forks its experiments from a fork server that imports the libraries once (per worker on Dask); the
first experiment of each waits for those imports, inside the figures. Throughput is measured from the first
lease to the last completion (from the ideas' history), so the one-time cluster start is left out; it is printed
on its own, and so is the machine's load before and after (the ratios mean little on a machine shared with
other jobs). "in child s" is the mean time inside the contained experiment
process (measured where it runs); the overhead outside it compares the two paths without the experiments' own
run-to-run noise. Targets: dask x2 >= 1.7 x local; overhead < 1 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = "entry: {type: momentum}\ndata: {sessions: SESSIONS}\nsplits: {embargo_bars: 45}\ncycles: CYCLES\n"


def _home(root: Path, name: str, n: int, cycles: int, sessions: int) -> Path:
    from agents.sink import Source
    from experiments.home import set_home
    from experiments.ideas.queue import IdeaQueue

    home = root / name
    home.mkdir()
    (home / "base_spec.yaml").write_text(BASE.replace("SESSIONS", str(sessions)).replace("CYCLES", str(cycles)))
    set_home(home)  # the ideas' specs are made from this home's base spec
    try:
        q = IdeaQueue.from_home()
        for k in range(n):
            idea = q.propose(f"lookback {10 + k}", "benchmark", "benchmark",
                             {"entry.momentum.lookback_bars": 10 + k}, Source(kind="human", name="bench"))
            q.approve(idea.id, "human:bench")
    finally:
        set_home(None)
    return home


def _window_s(home: Path) -> float:
    """Seconds from the first lease to the last completion, read from the ideas' history."""
    from experiments.ideas.queue import IdeaQueue

    ideas = IdeaQueue(home / "queue" / "ideas.json").list()
    starts = [h.time for i in ideas for h in i.history if h.action == "start"]
    ends = [h.time for i in ideas for h in i.history if h.action == "complete"]
    if len(ends) != len(ideas):
        raise SystemExit(f"{home.name}: {len(ends)} of {len(ideas)} experiments completed")
    return (max(ends) - min(starts)).total_seconds()


def _run(home: Path, **kw: Any) -> tuple[float, float, float, int]:
    """Run the optimizer on `home`; return (throughput window s, total wall s, mean s inside the experiment, how
    many experiments were forked warm)."""
    from experiments.home import set_home
    from experiments.optimizer.loop import OptimizerConfig, run_optimizer

    set_home(home)
    t0 = time.perf_counter()
    try:
        results = run_optimizer(OptimizerConfig(once=True, agent=False, analyze=False, heartbeat_s=1.0, poll_s=0.2,
                                                **kw))
    finally:
        set_home(None)
    inside = [r["seconds"] for r in results if r["status"] == "done"]
    warm = sum(1 for r in results if r["status"] == "done" and r.get("warm", True))  # the local path: always
    return _window_s(home), time.perf_counter() - t0, sum(inside) / max(len(inside), 1), warm


def main() -> None:
    """Run the three configurations and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiments", type=int, default=4, help="experiments per configuration")
    ap.add_argument("--cycles", type=int, default=2000, help="evaluation bars per experiment")
    ap.add_argument("--sessions", type=int, default=30, help="synthetic sessions (validation must hold cycles)")
    args = ap.parse_args()
    import dask
    from distributed import LocalCluster

    root = Path(tempfile.mkdtemp(prefix="gaussian-bench-scale-"))
    n = args.experiments
    rows = []
    load_before = os.getloadavg()
    try:
        homes = {name: _home(root, name, n, args.cycles, args.sessions) for name in ("local", "dask x1", "dask x2")}
        rows.append(("local", 1, *_run(homes["local"])))
        t = time.perf_counter()
        with dask.config.set({"distributed.worker.daemon": False}), \
                LocalCluster(n_workers=1, threads_per_worker=1, processes=True, memory_limit=0, host="127.0.0.1",
                             dashboard_address=None) as cluster:
            start_s = time.perf_counter() - t
            rows.append(("dask x1", 1, *_run(homes["dask x1"], scheduler=cluster.scheduler_address)))
        rows.append(("dask x2", 2, *_run(homes["dask x2"], workers=2)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    local_window = rows[0][2]
    load_after = os.getloadavg()
    print(f"{n} experiments per configuration, {args.cycles} cycles each, momentum entries, {args.sessions} "
          f"synthetic sessions; LocalCluster start {start_s:.1f} s (once, not in the figures)")
    print(f"machine: {os.cpu_count()} CPU core(s); load average (1/5/15 min) "
          f"{' / '.join(f'{x:.2f}' for x in load_before)} before, {' / '.join(f'{x:.2f}' for x in load_after)} after")
    print(f"{'config':<10} {'workers':>7} {'s/experiment':>13} {'in child s':>11} {'experiments/h':>14} "
          f"{'vs local':>9} {'total wall s':>13} {'warm':>5}")
    for name, workers, window, wall, inside, warm in rows:
        print(f"{name:<10} {workers:>7} {window / n:>13.2f} {inside:>11.2f} {3600 * n / window:>14.1f} "
              f"{local_window / window:>8.2f}x {wall:>13.1f} {warm:>3}/{n}")
    (_, _, w0, _, c0, _), (_, _, w1, _, c1, _) = rows[0], rows[1]
    print(f"Dask path overhead per experiment (dask x1 - local): {(w1 - w0) / n:+.2f} s end to end, "
          f"{(w1 / n - c1) - (w0 / n - c0):+.2f} s outside the experiment process (target < 1 s)")
    print(f"2 workers (dask x2) vs 1 worker (local): {local_window / rows[2][2]:.2f}x experiments per hour "
          f"(target >= 1.7x); dask x2 vs dask x1: {w1 / rows[2][2]:.2f}x")

if __name__ == "__main__":
    main()
