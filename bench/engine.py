"""Engine throughput: bars per second with the baselines on 60 synthetic sessions, and a 5,000-cycle run.

Usage: python bench/engine.py [--sessions 60] [--repeat 3]
Prints a table; the target is at least 20,000 bars/s for the momentum baseline without model inference.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import best_of
from experiments.runs.backtest import evaluate
from experiments.spec.io import load_spec
from trader.market.synthetic import generate_synthetic
from trader.strategies.baselines import MomentumStrategy, RandomStrategy


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    market = generate_synthetic(sessions=args.sessions, seed=0, edge=0.3)
    gen = time.perf_counter() - t0
    n = len(market.bars)
    spec = load_spec(None, ["entry.type=momentum"])
    rows = [("generate market", f"{args.sessions} sessions", n, gen, None)]
    for name, make in (("momentum", lambda: MomentumStrategy()), ("random", lambda: RandomStrategy(0.02, 0))):
        secs, res = best_of(lambda make=make: evaluate(spec, market, 0, n, make()), args.repeat)
        rows.append((f"engine: {name}", f"{len(res.trades)} trades", n, secs, n / secs))

    with tempfile.TemporaryDirectory() as home:
        os.environ["GAUSSIAN_HOME"] = home
        from experiments.runs.runner import run_experiment

        spec5k = load_spec(None, ["entry.type=momentum", "exits.model.enabled=false", "data.sessions=80"])
        run_experiment(spec5k, cycles=5000, analyze=False)  # warm: generates and caches the market
        secs, res = best_of(lambda: run_experiment(spec5k, cycles=5000, analyze=False), 1)
        bars = json.loads((res.run_dir / "metrics.json").read_text())["window"]["bars"]
        rows.append(("run_experiment, 5,000 cycles", f"{res.metrics['trades']} trades", bars, secs, bars / secs))

    print(f"{'what':30} {'detail':>16} {'bars':>8} {'seconds':>9} {'bars/s':>10}")
    for what, detail, bars, secs, rate in rows:
        print(f"{what:30} {detail:>16} {bars:>8} {secs:>9.3f} {'-' if rate is None else f'{rate:,.0f}':>10}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
