"""A predictor-driven strategy: enter when the forecast move beats costs with enough confidence."""
from __future__ import annotations

import math

from trader.domain import EntryContext, Intent
from trader.entry.consensus import regime_context
from trader.strategies.base import Snapshot


class PredictorStrategy:
    """Buy a call (put) when P(up) (P(down)) at `horizon` reaches `min_confidence` and the expected option gain,
    about delta x spot x |predicted log return| per share, exceeds `cost_multiple` x the round-trip cost."""

    name = "predictor"

    def __init__(self, horizon: int, min_confidence: float, cost_multiple: float, cost_per_share: float,
                 delta: float = 0.5) -> None:
        self.h = horizon
        self.min_conf = min_confidence
        self.cost_multiple = cost_multiple
        self.cost = cost_per_share
        self.delta = delta

    def decide(self, snap: Snapshot) -> list[Intent]:
        """Open in the forecast direction when confident and worth the costs."""
        s = snap.series
        p_up = float(s.at(f"pred_p_up_{self.h}"))
        mean = float(s.at(f"pred_mean_{self.h}"))
        if math.isnan(p_up) or math.isnan(mean):  # NaN: no forecast at this bar
            return []
        if p_up >= self.min_conf and mean > 0:
            direction, conf = 1, p_up
        elif 1 - p_up >= self.min_conf and mean < 0:
            direction, conf = -1, 1 - p_up
        else:
            return []
        gain = self.delta * snap.close * abs(mean)
        if gain < self.cost_multiple * self.cost:
            return []
        ctx = EntryContext(strategy=self.name, direction=direction, confidence=conf, signals=("predictor",),
                           predicted_return=mean, predicted_std=float(s.at(f"pred_total_std_{self.h}")),
                           **regime_context(s, snap.i))
        return [Intent("open", direction=direction, context=ctx)]

    def on_trade_closed(self, trade: object) -> None:
        """The predictor strategy does not learn online."""
