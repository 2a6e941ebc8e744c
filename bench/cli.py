"""Start-up time of the read-only `gaussian` commands beside `python -c pass`, measured side by side in one run.

Usage: python bench/cli.py [--repeat 7]
A scratch home gets one queued idea and one small finished run, so `queue show`, `runs list` and `leaderboard`
have something to print. The project's bytecode is compiled first, as any run after the first finds it (even where
PYTHONDONTWRITEBYTECODE keeps the commands from writing it). Each command runs `repeat` times, interleaved; the
table shows the median wall time and the ratio to `python -c pass` (the target: within 10x), then the best
time and its ratio: on a machine shared with other jobs the best of each is the one least disturbed by them.
"""
from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READ_ONLY = [["--help"], ["queue", "list"], ["queue", "show", "1"], ["status"], ["runs", "list"], ["leaderboard"]]
SMALL_RUN = ["run", "--set", "entry.type=momentum", "--set", "exits.model.enabled=false", "--set",
             "data.sessions=6", "--set", "splits.embargo_bars=45", "--cycles", "300", "--json"]


def gaussian() -> list[str]:
    """The console script beside this interpreter, else `python -m experiments.cli.main`."""
    script = Path(sys.executable).with_name("gaussian")
    return [str(script)] if script.exists() else [sys.executable, "-m", "experiments.cli.main"]


def compile_bytecode() -> None:
    """The project's packages compiled to __pycache__, so no command pays for compiling its sources."""
    root = Path(__file__).resolve().parent.parent
    for pkg in ("trader", "analysis", "agents", "experiments"):
        compileall.compile_dir(root / pkg, quiet=1)


def prepare(home: Path) -> None:
    """One idea in the queue and one finished run."""
    env = {**os.environ, "GAUSSIAN_HOME": str(home)}
    for args in (["queue", "add", "--set", "exits.stop_loss_pct=12", "--title", "wider stop"], SMALL_RUN):
        subprocess.run([*gaussian(), *args], env=env, check=True, capture_output=True)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    """Print the median start-up time of each read-only command and its ratio to `python -c pass`."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        prepare(home)
        env = {**os.environ, "GAUSSIAN_HOME": str(home), "COLUMNS": "100"}
        cmds = {"python -c pass": [sys.executable, "-c", "pass"]}
        cmds.update({"gaussian " + " ".join(a): [*gaussian(), *a] for a in READ_ONLY})
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(args.repeat):
            for name, cmd in cmds.items():
                times[name].append(timed(cmd, env))
    base, best_base = statistics.median(times["python -c pass"]), min(times["python -c pass"])
    print(f"{'command':<28} {'median ms':>10} {'x python':>9} {'best ms':>8} {'x python':>9}")
    for name, ts in times.items():
        med, best = statistics.median(ts), min(ts)
        print(f"{name:<28} {med * 1000:>10.0f} {med / base:>9.1f} {best * 1000:>8.0f} {best / best_base:>9.1f}")


if __name__ == "__main__":
    main()
