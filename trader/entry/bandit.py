"""A contextual bandit over rule-based arms: "follow signal X", by volatility-regime context.

Each arm is a directional signal; at a bar the candidate arms are those whose signal passes with a direction (and
no signal vetoes). Thompson sampling draws a win probability from each candidate's Beta posterior and enters with
the best arm when its draw exceeds 1/2; epsilon-greedy enters with a random candidate with probability epsilon,
else with the best posterior mean above 1/2. Posteriors learn only in `on_trade_closed`, i.e. from trades that
have closed (a win is a trade with positive net P&L).
"""
from __future__ import annotations

import numpy as np

from trader.domain import EntryContext, Intent
from trader.entry.consensus import regime_context
from trader.signals import PASS, SIGNAL_NAMES, VETO
from trader.strategies.base import Snapshot

ARMS = ("predictor_agreement", "hmm_stance", "momentum", "technical", "options_flow", "advanced")


class BanditController:
    """Thompson-sampling or epsilon-greedy choice among signal arms, per volatility-regime context."""

    name = "bandit"

    def __init__(self, algorithm: str = "thompson", epsilon: float = 0.1, seed: int = 0) -> None:
        if algorithm not in ("thompson", "epsilon_greedy"):
            raise ValueError(f"unknown bandit algorithm {algorithm!r}")
        self.algorithm = algorithm
        self.epsilon = epsilon
        self.rng = np.random.default_rng(seed)
        self.wins: dict[tuple[int, str], int] = {}
        self.losses: dict[tuple[int, str], int] = {}
        self.updates = 0

    @staticmethod
    def context(snap: Snapshot) -> int:
        """The volatility regime at the bar (0 low, 1 normal, 2 high), or 0 without a regime model."""
        return int(snap.series.at("regime_volatility")) if "regime_volatility" in snap.series else 0

    def _posterior(self, ctx: int, arm: str) -> tuple[int, int]:
        return 1 + self.wins.get((ctx, arm), 0), 1 + self.losses.get((ctx, arm), 0)

    def decide(self, snap: Snapshot) -> list[Intent]:
        """Pick an arm among the passing directional signals and follow its direction."""
        s = snap.series
        if any(int(s.at(f"sig_{name}_status")) == VETO for name in SIGNAL_NAMES):
            return []
        candidates = [a for a in ARMS if int(s.at(f"sig_{a}_status")) == PASS and int(s.at(f"sig_{a}_dir")) != 0]
        if not candidates:
            return []
        ctx = self.context(snap)
        if self.algorithm == "thompson":
            draws = [self.rng.beta(*self._posterior(ctx, a)) for a in candidates]
            k = int(np.argmax(draws))
            if draws[k] <= 0.5:
                return []
            arm, conf = candidates[k], float(draws[k])
        else:
            explore = self.rng.random() < self.epsilon
            if explore:
                arm = candidates[int(self.rng.integers(len(candidates)))]
            else:
                means = [a_ / (a_ + b_) for a_, b_ in (self._posterior(ctx, a) for a in candidates)]
                k = int(np.argmax(means))
                if means[k] <= 0.5:
                    return []
                arm = candidates[k]
            a_, b_ = self._posterior(ctx, arm)
            conf = a_ / (a_ + b_)
        direction = int(s.at(f"sig_{arm}_dir"))
        extra = regime_context(s, snap.i)
        ctx_obj = EntryContext(strategy=f"bandit:{arm}", direction=direction, confidence=conf, signals=(arm,),
                               **extra)
        return [Intent("open", direction=direction, context=ctx_obj)]

    def on_trade_closed(self, trade) -> None:  # noqa: ANN001 - a Trade
        """Update the arm that opened the trade, in the context it was opened in."""
        if not str(trade.strategy).startswith("bandit:"):
            return
        arm = trade.strategy.split(":", 1)[1]
        ctx = int(trade.regime_volatility) if trade.regime_volatility is not None else 0
        book = self.wins if trade.pnl > 0 else self.losses
        book[(ctx, arm)] = book.get((ctx, arm), 0) + 1
        self.updates += 1

    def summary(self) -> dict:
        """Posterior counts per (context, arm), for the run report."""
        keys = sorted(set(self.wins) | set(self.losses))
        return {f"{c}:{a}": {"wins": self.wins.get((c, a), 0), "losses": self.losses.get((c, a), 0)}
                for c, a in keys}
