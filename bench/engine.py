"""Engine throughput in bars per CPU-second beside backtesting.py on the same bars and strategies, and a
5,000-cycle run.

Usage: python bench/engine.py [--sessions 60] [--repeat 5]
Both run the momentum and the random-entry baseline over the same synthetic bars (60 sessions: 23,400 one-minute
bars), alternately, best of `--repeat`; CPU time (time.process_time) is what is compared, as it moves less than
wall time when other jobs share the machine. Both accounts hold the same cash (bench.reference.CASH), so
both take every entry their management allows and the trade counts agree (with the default 5,000 of the spec
the engine's account runs dry and rejects most momentum entries, which flatters it: no position to mark). The
engine prices an option for every entry, fill and mark; backtesting.py trades the underlying
(bench/reference.py). backtesting.py is an optional extra (`pip install -e .[bench]`); without it its columns
say "not installed". Target: the engine at least as fast.
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

from bench.reference import CASH, installed, run_backtesting
from bench.timing import best_of
from experiments.runs.backtest import evaluate
from experiments.spec.io import load_spec
from trader.market.base import Market
from trader.market.synthetic import generate_synthetic
from trader.strategies.baselines import MomentumStrategy, RandomStrategy

STRATEGIES = {"momentum": lambda: MomentumStrategy(), "random": lambda: RandomStrategy(0.02, 0)}
REFERENCES = (("momentum", "momentum"), ("momentum", "momentum per bar"), ("random", "random"))
"""(engine strategy, backtesting.py strategy) pairs: momentum against the indicator and the per-bar form."""


def compare(market: Market, repeat: int) -> list[dict]:
    """Per baseline: the engine's and backtesting.py's CPU seconds over the market's bars, measured alternately."""
    n = len(market.bars)
    spec = load_spec(None, ["entry.type=momentum", f"trading.initial_balance={CASH}"])
    rows = []
    for name, reference in REFERENCES if installed() else [(s, s) for s in STRATEGIES]:
        make = STRATEGIES[name]
        engine, theirs, trades, their_trades = float("inf"), None, 0, None
        for _ in range(repeat):
            secs, res = best_of(lambda make=make: evaluate(spec, market, 0, n, make()), 1, time.process_time)
            engine, trades = min(engine, secs), len(res.trades)
            if installed():
                secs, stats = run_backtesting(market.bars, reference)
                theirs, their_trades = min(theirs or float("inf"), secs), int(stats["# Trades"])
        rows.append({"strategy": reference, "bars": n, "engine_s": engine, "engine_trades": trades, "bt_s": theirs,
                     "bt_trades": their_trades})
    return rows


def print_comparison(rows: list[dict]) -> None:
    """The side-by-side table (bars per CPU-second; x = engine / backtesting.py)."""
    print(f"{'baseline':16} {'bars':>7} {'engine bars/CPU-s':>18} {'trades':>7} {'backtesting.py':>15} "
          f"{'trades':>7} {'x':>6}")
    for r in rows:
        mine = r["bars"] / r["engine_s"]
        if r["bt_s"] is None:
            theirs, trades, ratio = "not installed", "-", "-"
        else:
            theirs, trades, ratio = f"{r['bars'] / r['bt_s']:,.0f}", str(r["bt_trades"]), f"{r['bt_s'] / r['engine_s']:.2f}"
        print(f"{r['strategy']:16} {r['bars']:>7} {mine:>18,.0f} {r['engine_trades']:>7} {theirs:>15} {trades:>7} "
              f"{ratio:>6}")


def main() -> None:
    """Run the benchmark and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    t0 = time.process_time()
    market = generate_synthetic(sessions=args.sessions, seed=0, edge=0.3)
    print(f"market: {args.sessions} sessions, {len(market.bars):,} bars, generated in "
          f"{time.process_time() - t0:.2f} CPU-s")
    print_comparison(compare(market, args.repeat))

    with tempfile.TemporaryDirectory() as home:
        os.environ["GAUSSIAN_HOME"] = home
        from experiments.runs.runner import run_experiment

        spec5k = load_spec(None, ["entry.type=momentum", "exits.model.enabled=false", "data.sessions=80"])
        run_experiment(spec5k, cycles=5000, analyze=False)  # warm: generates and caches the market
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_experiment(spec5k, cycles=5000, analyze=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        bars = json.loads((res.run_dir / "metrics.json").read_text())["window"]["bars"]
        print(f"run_experiment, 5,000 cycles ({bars} bars, {res.metrics['trades']} trades): {wall:.2f} s wall, "
              f"{cpu:.2f} CPU-s")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}")


if __name__ == "__main__":
    main()
