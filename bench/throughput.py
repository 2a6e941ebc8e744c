"""Experiments per hour for a batch of ideas, the way the optimizer runs them (one contained child each).

Usage: python bench/throughput.py [--ideas 10] [--cycles 2000] [--sessions 30]

Four configurations run the same batch side by side, each in a fresh home whose market is generated once
beforehand (as it is after an optimizer's first run):
  before       a new Python per experiment, no model cache, torch's default threads (what every idea cost before)
  1 thread     as before, one thread per library
  cache        as before, one thread per library and the fitted-model cache
  warm         all of that, each experiment forked from the warm server (the optimizer's default)
Half of the ideas change only exit settings (the predictor and regime HMM are reused from the cache), the other
half change the entry (every model is reused). Last, the engine against the strategies it shares with a reference
loop: bench/engine.py's comparison with backtesting.py (bars per CPU-second), on `--sessions` sessions. The table prints seconds, experiments per hour and the ratio to
`before`, and checks that the cache changes no figure: metrics.json of `cache` equals `1 thread` run for run,
timings aside.
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

from experiments.home import set_home
from experiments.runs.containment import Limits, run_contained
from experiments.runs.market_loader import load_market_for
from experiments.spec.io import load_spec

CHANGES = [
    [], ["exits.stop_loss_pct=30"], ["exits.take_profit_pct=40"], ["exits.trailing_activation_pct=15"],
    ["exits.max_hold_minutes=60"], ["entry.consensus.min_signals_to_trade=2"],
    ["entry.consensus.min_weighted_confidence=0.5"], ["entry.cooldown_bars=10", "exits.stop_loss_pct=25"],
    ["entry.consensus.min_signals_to_trade=4"], ["exits.eod_minutes_before_close=30"],
]
"""The batch: the base spec, then five exit-only and four entry changes (one changes both)."""

CONFIGS = (("before", "0", 0, False), ("1 thread", "0", 1, False), ("cache", "2048", 1, False),
           ("warm", "2048", 1, True))


def _strip(node):
    """metrics.json without the run id and anything timed."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k != "run_id" and not k.endswith("seconds")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def run_batch(home: Path, specs: list[dict], cache_mb: str, threads: int, warm: bool) -> tuple[float, list[dict]]:
    """Run every spec as the optimizer would; total wall seconds and each run's metrics.json."""
    os.environ["GAUSSIAN_MODEL_CACHE_MB"] = cache_mb
    set_home(home)
    load_market_for(load_spec(None, [f"data.sessions={specs[0]['data']['sessions']}"]))
    docs = []
    t0 = time.perf_counter()
    for i, spec in enumerate(specs):
        job, result = home / f"job{i}.json", home / f"result{i}.json"
        job.write_text(json.dumps({"idea_id": None, "spec": spec, "cycles": None, "analyze": False}))
        out = run_contained(["run", str(job), str(result)], home / "children.log", result,
                            Limits(timeout_s=3600, memory_mb=None, threads=threads, warm=warm))
        if out.kind != "ok":
            raise SystemExit(f"experiment {i} ended {out.kind}: {out.log_tail[-1500:]}")
        run_id = json.loads(result.read_text())["run_id"]
        docs.append(json.loads((home / "runs" / run_id / "metrics.json").read_text()))
    secs = time.perf_counter() - t0
    set_home(None)
    return secs, docs


def main() -> None:
    """Run the three configurations and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ideas", type=int, default=10, help="batch size (at most 10)")
    ap.add_argument("--cycles", type=int, default=2000, help="evaluation bars per experiment")
    ap.add_argument("--sessions", type=int, default=30, help="synthetic sessions in the market")
    args = ap.parse_args()
    base = [f"data.sessions={args.sessions}", f"cycles={args.cycles}"]
    specs = [load_spec(None, [*base, *c]).model_dump(mode="json") for c in CHANGES[: args.ideas]]
    rows, docs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cache_mb, threads, warm in CONFIGS:
            secs, docs[name] = run_batch(Path(tmp) / name.replace(" ", "_"), specs, cache_mb, threads, warm)
            rows.append((name, secs))
    before = rows[0][1]
    print(f"{'configuration':14} {'experiments':>11} {'seconds':>9} {'per hour':>9} {'x before':>9}")
    for name, secs in rows:
        print(f"{name:14} {len(specs):>11} {secs:>9.1f} {len(specs) * 3600 / secs:>9.0f} {before / secs:>9.2f}")
    for other in ("cache", "warm"):
        same = [_strip(a) == _strip(b) for a, b in zip(docs["1 thread"], docs[other], strict=True)]
        print(f"metrics of '{other}' identical to '1 thread': {sum(same)}/{len(same)} runs")
    print(f"{args.cycles} cycles, {args.sessions} sessions; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print()
    from bench.engine import compare, print_comparison
    from trader.market.synthetic import generate_synthetic

    print_comparison(compare(generate_synthetic(sessions=args.sessions, seed=0, edge=0.3), 2))
    print("load average", ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
