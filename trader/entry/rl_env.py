"""A gymnasium environment over the engine itself: one training session per episode, run bar by bar.

A step is a decision point: a bar where the engine would accept an entry (below the position cap, past the
cooldown, before the end-of-day cut-off); the bars in between run on their own (holding), and their rewards are
summed into the step's. So PPO's timesteps count decisions, and no step is an action the engine would ignore.

Observation: the state vector of `trader.entry.state` (signals, predictor outputs, regime probabilities, open
positions, time to the close). Actions: 0 hold, 1 buy a call, 2 buy a put (the engine's own cooldown, position cap,
end-of-day cut-off, contract selection, fills at the ask/bid with latency, costs and exit layers apply). Reward per
bar, in hundreds of dollars: the change in the account's equity (cash plus open positions at their mid marks; fees
and the half-spread paid at a fill show at once), minus `risk_penalty` x the open positions' unrealized loss (zero
when they are up). Every episode ends flat, so an episode's equity changes sum to exactly the realized P&L of its
trades net of costs: the dense reward moves the credit earlier without changing what is being maximized.
"""
from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np

from trader.broker.sim import SimBroker
from trader.clock import BarClock
from trader.domain import EntryContext, ExitReason, Intent
from trader.engine import Engine, EngineConfig, ExitModel
from trader.entry.state import state_names, state_vector
from trader.errors import StateError
from trader.feed import ReplayFeed
from trader.market.base import Market
from trader.strategies.base import BarSeries, Snapshot

ACTIONS = ("hold", "buy_call", "buy_put")


def action_direction(action: int) -> int:
    """The option direction of an action: 0 hold, +1 call, -1 put."""
    return (0, 1, -1)[int(action)]


class ActionStrategy:
    """Turns the agent's chosen action into an intent at the current bar."""

    name = "rl"

    def __init__(self) -> None:
        self.action = 0

    def decide(self, snap: Snapshot) -> list[Intent]:
        """Open in the chosen direction (nothing on hold)."""
        d = action_direction(self.action)
        if d == 0:
            return []
        return [Intent("open", direction=d, context=EntryContext(strategy="rl", direction=d))]

    def on_trade_closed(self, trade: object) -> None:
        """Rewards are read from the engine's trades."""


def training_sessions(market: Market, train: tuple[int, int], warmup: int = 60,
                      min_bars: int = 30) -> list[tuple[int, int]]:
    """The (first, end) bar ranges of the whole sessions inside the training split, the first `warmup` bars skipped."""
    a, b = train
    dates = np.array(market.bars.index.date)
    starts = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]])
    ends = np.r_[starts[1:], len(dates)]
    return [(max(int(s), a + warmup), int(e)) for s, e in zip(starts, ends)
            if s >= a and e <= b and e - max(s, a + warmup) > min_bars]


class EntryEnv(gym.Env):
    """One training session per episode (drawn with the env's seeded generator), stepped decision by decision."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, market: Market, series: BarSeries, config: EngineConfig, train: tuple[int, int],
                 risk_penalty: float, warmup: int = 60, exit_model: ExitModel | None = None) -> None:
        super().__init__()
        self.market, self.series, self.cfg, self.risk_penalty = market, series, config, risk_penalty
        self.exit_model = exit_model
        self.sessions = training_sessions(market, train, warmup)
        if not self.sessions:
            raise StateError(f"the training split (bars {train[0]}..{train[1]}) has no whole session for the RL "
                             "environment")
        n = len(state_names(series))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(len(ACTIONS))
        self.episode_returns: list[float] = []
        self._return = 0.0

    def _obs(self) -> np.ndarray:
        e = self.engine
        return state_vector(self.series, self.t, len(e.positions) + e._pending_opens, self.cfg.max_positions,
                            float(e._to_close[self.t]))

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start a random training session."""
        super().reset(seed=seed)
        s, self.end = self.sessions[int(self.np_random.integers(len(self.sessions)))]
        feed = ReplayFeed(self.market, BarClock(self.market.bars.index, s))
        self.strategy = ActionStrategy()
        self.engine = Engine(feed, SimBroker(feed, self.cfg.costs, self.cfg.initial_balance), self.strategy,
                             self.cfg, series=self.series, exit_model=self.exit_model)
        self.t = s
        self._return = 0.0
        self.engine.prepare(s)
        done = False
        while not done and not self._actionable():
            _, done = self._advance()  # flat at the start: nothing to reward yet
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Act at the current bar, then move on to the next bar where an entry is possible (or the session end);
        reward the bars passed."""
        self.strategy.action = int(action)
        self.engine.decide(self.t)
        reward, done = self._advance()
        while not done and not self._actionable():
            r, done = self._advance()
            reward += r
        self._return += reward
        if done:
            self.episode_returns.append(self._return)
        return self._obs(), float(reward), done, False, {}

    def _actionable(self) -> bool:
        """Whether the engine would accept an entry at the current bar (position cap, cooldown, end of day)."""
        return self.engine._may_open(self.t)

    def _advance(self) -> tuple[float, bool]:
        """Move one bar on (closing everything at the session end): the bar's reward, and whether it ended."""
        e = self.engine
        before = self._equity()
        self.t += 1
        done = self.t >= self.end
        if done:
            e.close_all(self.t - 1, ExitReason.END_OF_DATA)
            self.t -= 1
        else:
            e.prepare(self.t)
        unreal = sum((p.last_mark - p.entry_price) * 100 * p.contracts for p in e.positions.values())
        return (self._equity() - before) / 100.0 - self.risk_penalty * max(0.0, -unreal) / 100.0, done

    def _equity(self) -> float:
        e = self.engine
        return e.broker.cash() + sum(p.last_mark * 100.0 * p.contracts for p in e.positions.values())
