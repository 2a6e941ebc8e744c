"""A contextual bandit over rule-based arms: "follow signal X", by volatility-regime context.

Each arm is a directional signal; at a bar the candidate arms are those whose signal passes with a direction (and
no signal vetoes). The context is the volatility regime's most probable filtered state (low, normal, high), or
`none` without a regime model. Thompson sampling draws a win probability from each candidate's Beta posterior and
enters with the best arm when its draw exceeds 1/2; epsilon-greedy enters with a random candidate with probability
epsilon, else with the best posterior mean above 1/2. Posteriors learn only in `on_trade_closed`, i.e. from trades
that have closed (a win is a trade with positive net P&L); the arm and context that opened a trade travel on its
entry context (`strategy="bandit:<arm>"`, `regime_volatility`). `train_bandit` optionally warm-starts the
posteriors by running the bandit through the engine over the training split.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trader.broker.sim import SimBroker
from trader.clock import BarClock
from trader.domain import EntryContext, Intent
from trader.engine import Engine, EngineConfig, ExitModel
from trader.entry.consensus import regime_context
from trader.errors import SpecError, StateError
from trader.feed import ReplayFeed
from trader.market.base import Market
from trader.signals import PASS, SIGNAL_NAMES, VETO
from trader.strategies.base import BarSeries, Snapshot

ARMS = ("predictor_agreement", "hmm_stance", "momentum", "technical", "options_flow", "advanced")
ALGORITHMS = ("thompson", "epsilon_greedy")
NO_CONTEXT = -1
CONTEXT_NAMES = {NO_CONTEXT: "none", 0: "low_vol", 1: "normal_vol", 2: "high_vol"}
STATE_FILE = "bandit.json"


class BanditController:
    """Thompson-sampling or epsilon-greedy choice among signal arms, per volatility-regime context."""

    name = "bandit"

    def __init__(self, algorithm: str = "thompson", epsilon: float = 0.1, seed: int = 0) -> None:
        if algorithm not in ALGORITHMS:
            raise SpecError(f"entry.bandit.algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
        self.algorithm = algorithm
        self.epsilon = epsilon
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.wins: dict[tuple[int, str], int] = {}
        self.losses: dict[tuple[int, str], int] = {}
        self.updates = 0
        self.report: dict = {}

    @staticmethod
    def context(snap: Snapshot) -> int:
        """The volatility regime at the bar (0 low, 1 normal, 2 high), or -1 (none) without a regime model."""
        return int(snap.series.at("regime_volatility")) if "regime_volatility" in snap.series else NO_CONTEXT

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

    def on_trade_closed(self, trade) -> None:
        """Update the arm that opened the trade, in the context it was opened in."""
        if not str(trade.strategy).startswith("bandit:"):
            return
        arm = trade.strategy.split(":", 1)[1]
        ctx = int(trade.regime_volatility) if trade.regime_volatility is not None else NO_CONTEXT
        book = self.wins if trade.pnl > 0 else self.losses
        book[(ctx, arm)] = book.get((ctx, arm), 0) + 1
        self.updates += 1

    def summary(self) -> dict:
        """Posterior counts per (context, arm), for the run report."""
        keys = sorted(set(self.wins) | set(self.losses))
        return {f"{CONTEXT_NAMES.get(c, c)}:{a}": {"wins": self.wins.get((c, a), 0),
                                                   "losses": self.losses.get((c, a), 0)} for c, a in keys}

    def save(self, directory: Path) -> None:
        """Write the posterior counts (bandit.json) so a later evaluation starts from them."""
        directory.mkdir(parents=True, exist_ok=True)
        rows = [{"context": c, "arm": a, "wins": self.wins.get((c, a), 0), "losses": self.losses.get((c, a), 0)}
                for c, a in sorted(set(self.wins) | set(self.losses))]
        (directory / STATE_FILE).write_text(json.dumps({"algorithm": self.algorithm, "epsilon": self.epsilon,
                                                        "posteriors": rows, "report": self.report}, indent=2))

    @classmethod
    def load(cls, directory: Path, algorithm: str, epsilon: float, seed: int) -> BanditController:
        """A bandit with the saved posterior counts (the spec's algorithm and epsilon, a fresh seeded generator)."""
        path = directory / STATE_FILE
        if not path.exists():
            raise StateError(f"{path} is missing: the run's bandit posteriors were not saved")
        data = json.loads(path.read_text())
        bandit = cls(algorithm, epsilon, seed)
        for row in data["posteriors"]:
            key = (int(row["context"]), str(row["arm"]))
            if row["wins"]:
                bandit.wins[key] = int(row["wins"])
            if row["losses"]:
                bandit.losses[key] = int(row["losses"])
        bandit.report = dict(data.get("report", {}))
        return bandit


def build_bandit(algorithm: str, epsilon: float, seed: int) -> BanditController:
    """A bandit with flat Beta(1, 1) priors."""
    return BanditController(algorithm, epsilon, seed)


def train_bandit(market: Market, series: BarSeries, train: tuple[int, int], config: EngineConfig, algorithm: str,
                 epsilon: float, seed: int, models_dir: Path | None = None, warmup: int = 60,
                 exit_model: ExitModel | None = None) -> BanditController:
    """Warm-start the posteriors: run the bandit through the engine over the training split (the market cut at its
    end; positions still open there are dropped, not counted) and keep what it learned; saved with the run.

    `exit_model` (optional) is the run's exit layer 2; pass a copy when its counters matter."""
    a, b = train
    view = Market(bars=market.bars.iloc[:b], chains=market.chains, truth=None, meta=market.meta,
                  quoter=market.quoter)
    bandit = BanditController(algorithm, epsilon, seed)
    start = min(b, a + warmup)
    feed = ReplayFeed(view, BarClock(view.bars.index, start))
    engine = Engine(feed, SimBroker(feed, config.costs, config.initial_balance), bandit, config, series=series,
                    exit_model=exit_model)
    result = engine.run(start, b, close_at_end=False)
    bandit.report = {"warm_start_trades": bandit.updates,
                     "warm_start_pnl": round(float(sum(t.pnl for t in result.trades)), 2)}
    bandit.rng = np.random.default_rng(seed)  # the evaluation draws do not depend on the warm-start's length
    if models_dir is not None:
        bandit.save(models_dir)
    return bandit


def load_bandit(models_dir: Path, algorithm: str, epsilon: float, seed: int) -> BanditController:
    """The run's warm-started bandit."""
    return BanditController.load(models_dir, algorithm, epsilon, seed)
