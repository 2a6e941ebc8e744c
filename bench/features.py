"""Feature-family build time: one year of 1-minute bars with 15 context series, beside today's price features.

Usage: python bench/features.py [--sessions 252] [--repeat 2]
Prints a table; the target is under 5 s for all families together (price, breadth, macro, crypto, surface)
on a year of 1-minute bars. The universe: ten sector ETFs, TLT, UUP, VIX9D, VIX3M and BTC-USD (5-minute bars,
24/7) = 15 context series, plus the 40-constituent panel breadth reads and the daily option snapshots.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import best_of
from trader.families import breadth, crypto, macro, surface
from trader.families.registry import CONTEXT_FAMILIES, feature_frame
from trader.features import build_features
from trader.market.synthetic import generate_synthetic
from trader.market.synthetic_context import generate_context
from trader.market.universe import role_of


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=252)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    t0 = time.perf_counter()
    market = generate_synthetic(sessions=args.sessions, seed=0)
    gen = time.perf_counter() - t0
    ctx_secs, market.context = best_of(lambda: generate_context(market, seed=0), 1)
    n = len(market.bars)
    named = sum(role_of(s) != "constituent" for s in market.context)
    panel = len(market.context) - named
    rows = [("generate market (not timed below)", f"{args.sessions} sessions", gen, None, ""),
            ("generate context series", f"{named} series + {panel} constituents", ctx_secs, None, "")]
    price_secs, price = best_of(lambda: build_features(market.bars), args.repeat)
    rows.append(("price (today's features)", f"{price.shape[1]} columns", price_secs, 1.0, ""))
    for name, module in (("breadth", breadth), ("macro", macro), ("crypto", crypto), ("surface", surface)):
        secs, frame = best_of(lambda module=module: module.build(market, True), args.repeat)
        rows.append((name, f"{frame.shape[1]} columns", secs, secs / price_secs, ""))
    all_secs, frame = best_of(lambda: feature_frame(market, ["price", "chain", *CONTEXT_FAMILIES]), args.repeat)
    verdict = "meets < 5 s" if all_secs < 5.0 else "MISSES < 5 s"
    rows.append(("all families (price + 4)", f"{frame.shape[1]} columns", all_secs, all_secs / price_secs, verdict))

    print(f"{n:,} one-minute bars ({args.sessions} sessions), best of {args.repeat}")
    print(f"{'what':38} {'size':32} {'seconds':>8} {'x price':>8}  target")
    for what, size, secs, ratio, note in rows:
        r = f"{ratio:8.2f}" if ratio is not None else f"{'':8}"
        print(f"{what:38} {size:32} {secs:8.2f} {r}  {note}")


if __name__ == "__main__":
    main()
