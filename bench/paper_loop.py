"""Wall time of one paper-loop bar against the local Tradier server (HTTP, journal and state.json included).

Usage: python bench/paper_loop.py [--history 5] [--bars 120]
A synthetic market of `history` + 1 sessions; the last session is replayed through the paper loop. The model
pipeline uses the default predictor architecture (TCN, window 64, hidden 32) with the regime HMM and the exit
model, trained briefly (training time does not change the per-bar cost).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    """Replay `bars` bars per configuration and print ms per bar."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--history", type=int, default=5, help="sessions of history before the replayed one")
    ap.add_argument("--bars", type=int, default=120)
    args = ap.parse_args()
    from experiments.paper.guard import PaperLimits
    from experiments.paper.session import PaperSession
    from experiments.paper.venues import replay_venue, session_bounds
    from experiments.runs.pipeline import fit_models, make_strategy
    from experiments.spec.io import load_spec
    from trader.market.synthetic import generate_synthetic

    market = generate_synthetic(sessions=args.history + 1, seed=1)
    a, _ = session_bounds(market)
    limits = PaperLimits(max_daily_loss=None, max_open_positions=None, max_orders_per_minute=None)
    configs = [("momentum", [], "stream"),
               ("consensus+regime+exit", ["model.training.epochs=1", "model.training.max_samples=500",
                                          "exits.model.enabled=true"], "stream"),
               ("consensus+regime+exit", ["model.training.epochs=1", "model.training.max_samples=500",
                                          "exits.model.enabled=true"], "recompute")]
    rows = []
    fitted_cache = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for k, (entry, extra, mode) in enumerate(configs):
            kind = entry.split("+")[0]
            spec = load_spec(None, [f"entry.type={kind}", "costs.latency_bars=0", *extra] +
                             ([] if extra else ["exits.model.enabled=false"]))
            fitted = None
            if kind != "momentum":
                key = tuple(extra)
                if key not in fitted_cache:
                    fitted_cache[key] = fit_models(spec, market, (0, a), home / f"models{k}")
                fitted = fitted_cache[key]
            venue, feed, _ = replay_venue(market, spec)
            strategy = make_strategy(spec, fitted) if fitted else make_strategy(spec, _free(spec))
            paper = PaperSession(home / "paper" / f"s{k}", home, spec, strategy, feed, venue, limits,
                                 fitted=fitted, exit_model=fitted.exit_model if fitted else None, arrays_mode=mode)
            t0 = time.perf_counter()
            try:
                paper.run(max_bars=args.bars)
            finally:
                venue.close()
            total = time.perf_counter() - t0
            per = np.array(paper.bar_seconds) * 1000
            rows.append((entry, mode, len(per), per.mean(), np.percentile(per, 95), total))
    print(f"paper loop, {args.history} history sessions ({a} bars), {args.bars} replayed bars, "
          "local Tradier over HTTP")
    print(f"{'pipeline':<24}{'arrays':<11}{'bars':>6}{'ms/bar':>9}{'p95 ms':>9}{'total s':>9}")
    for entry, mode, n, mean, p95, total in rows:
        print(f"{entry:<24}{mode:<11}{n:>6}{mean:>9.1f}{p95:>9.1f}{total:>9.1f}")


def _free(spec):
    from experiments.runs.pipeline import FittedModels

    return FittedModels(spec=spec)


if __name__ == "__main__":
    main()
