"""The engine's two baselines written for backtesting.py (an optional extra: `pip install -e .[bench]`).

Same entry rules as trader.strategies.baselines (momentum: the last 15 bars' log move against 120 bars of
volatility, at least 1 sigma; random: one seeded draw pair per bar), same management as the engine's defaults
(at most 3 open trades, 5 bars of cooldown, stop and target, 45 minutes of holding at most, flat 5 minutes
before the close). backtesting.py trades the underlying itself, so the stop and target are moves of the
underlying (0.1% and 0.2%, about what an at-the-money 0DTE option's 8% and 15% are), and it prices no option.
The momentum signal is an indicator computed once over all bars, as backtesting.py is meant to be used;
"momentum per bar" computes it in next() at every bar instead, as the engine's strategy does.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

CASH = 1_000_000  # the account of every run (the engine's in bench/engine.py too)
LOOKBACK, THRESHOLD, VOL_WINDOW = 15, 1.0, 120
MAX_OPEN, COOLDOWN, STOP, TARGET, MAX_HOLD, EOD_MINUTES = 3, 5, 0.001, 0.002, 45, 5


def momentum_z(close: np.ndarray) -> np.ndarray:
    """The momentum baseline's z-score at every bar (NaN until the volatility window is full)."""
    logc = np.log(np.asarray(close, dtype=float))
    rets = np.diff(logc, prepend=np.nan)
    var = pd.Series(rets * rets).rolling(VOL_WINDOW).mean().to_numpy()
    move = logc - np.r_[np.full(LOOKBACK, np.nan), logc[:-LOOKBACK]]
    return move / np.sqrt(var * LOOKBACK)


def _strategies() -> dict[str, type]:
    from backtesting import Strategy

    class Managed(Strategy):
        """Entry from `signal()` (+1 buy, -1 sell, 0 nothing); the engine's default exits."""

        def init(self) -> None:
            self.last_entry = -10**9
            idx = self.data.index
            self.minutes_left = self.I(lambda: np.asarray(((16 * 60) - (idx.hour * 60 + idx.minute) - 1), float),
                                       plot=False)

        def signal(self) -> int:
            return 0

        def next(self) -> None:
            bar = len(self.data) - 1
            for trade in self.trades:
                if bar - trade.entry_bar >= MAX_HOLD or self.minutes_left[-1] <= EOD_MINUTES:
                    trade.close()
            if len(self.trades) >= MAX_OPEN or bar - self.last_entry <= COOLDOWN:
                return
            if self.minutes_left[-1] <= EOD_MINUTES + 2:
                return
            d = self.signal()
            if d == 0:
                return
            px = self.data.Close[-1]
            if d > 0:
                self.buy(size=1, sl=px * (1 - STOP), tp=px * (1 + TARGET))
            else:
                self.sell(size=1, sl=px * (1 + STOP), tp=px * (1 - TARGET))
            self.last_entry = bar

    class Momentum(Managed):
        def init(self) -> None:
            super().init()
            self.z = self.I(momentum_z, self.data.Close)

        def signal(self) -> int:
            z = self.z[-1]
            return 0 if not abs(z) >= THRESHOLD else (1 if z > 0 else -1)

    class MomentumPerBar(Managed):
        """The momentum rule computed at each bar in next(), as the engine's MomentumStrategy does."""

        def signal(self) -> int:
            closes = self.data.Close
            if len(closes) <= VOL_WINDOW:
                return 0
            rets = np.diff(np.log(closes[-VOL_WINDOW - 1:]))
            sigma = math.sqrt(float(np.dot(rets, rets)) / len(rets) * LOOKBACK)
            if not sigma > 0:
                return 0
            z = math.log(closes[-1] / closes[-1 - LOOKBACK]) / sigma
            return 0 if abs(z) < THRESHOLD else (1 if z > 0 else -1)

    class Random(Managed):
        p, seed = 0.02, 0

        def init(self) -> None:
            super().init()
            self.rng = np.random.default_rng(self.seed)

        def signal(self) -> int:
            u, d = self.rng.random(2)
            return 0 if u >= self.p else (1 if d < 0.5 else -1)

    return {"momentum": Momentum, "momentum per bar": MomentumPerBar, "random": Random}


def installed() -> bool:
    """Whether backtesting.py can be imported."""
    try:
        import backtesting  # noqa: F401
    except ImportError:
        return False
    return True


def run_backtesting(bars: pd.DataFrame, name: str) -> tuple[float, Any]:
    """CPU seconds of one backtesting.py run of baseline `name` over `bars`, and its statistics."""
    import warnings

    import backtesting.backtesting as bt
    from backtesting import Backtest

    bt._tqdm = lambda seq, **_: seq  # no progress bar (it would only add to backtesting.py's time)

    data = bars.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    data.index = data.index.tz_localize(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.process_time()
        stats = Backtest(data, _strategies()[name], cash=CASH, commission=0.0).run()
        return time.process_time() - t0, stats
