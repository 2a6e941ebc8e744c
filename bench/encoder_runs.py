"""Wall time of a 5,000-cycle predictor experiment per encoder (training included), side by side.

Usage: python bench/encoder_runs.py [--sessions 80] [--cycles 5000]
Each run trains the predictor on the train split and evaluates 5,000 validation bars with the predictor strategy.
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


def main() -> None:
    """Run one experiment per encoder in a scratch home and print a table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=80)
    ap.add_argument("--cycles", type=int, default=5000)
    ap.add_argument("--encoders", default="tcn,lstm,transformer,mamba2")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["GAUSSIAN_HOME"] = home
        from experiments.runs.runner import run_experiment
        from experiments.spec.io import load_spec

        rows = []
        for enc in args.encoders.split(","):
            spec = load_spec(None, ["entry.type=predictor", f"model.encoder={enc}", "exits.model.enabled=false",
                                    "regime.enabled=false", f"data.sessions={args.sessions}"])
            t0 = time.perf_counter()
            res = run_experiment(spec, cycles=args.cycles, analyze=False)
            secs = time.perf_counter() - t0
            doc = json.loads((res.run_dir / "metrics.json").read_text())
            q = doc.get("predictor", {}).get("mean", {})
            rows.append((enc, doc["window"]["bars"], secs, res.metrics["trades"], q.get("nll_gain"),
                         q.get("direction_accuracy")))
    print(f"{'encoder':12} {'bars':>6} {'wall s':>8} {'trades':>7} {'nll_gain':>9} {'dir acc':>8}")
    for enc, bars, secs, trades, gain, acc in rows:
        g = "-" if gain is None else f"{gain:.3f}"
        a = "-" if acc is None else f"{acc:.3f}"
        print(f"{enc:12} {bars:>6} {secs:>8.1f} {trades:>7} {g:>9} {a:>8}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
