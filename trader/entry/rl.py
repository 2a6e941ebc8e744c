"""An entry policy learned with PPO (stable-baselines3) in a gymnasium environment over the engine itself.

State: the state vector of `trader.entry.state` (signals, predictor outputs, regime probabilities, open positions,
time to the close). Actions: 0 hold, 1 buy a call, 2 buy a put. Reward per bar: realized P&L of the trades that
closed at that bar, net of costs, in hundreds of dollars, minus `risk_penalty` x the open positions' unrealized
loss (hundreds of dollars). Episodes are single sessions of the training split, drawn with the seeded generator;
exits are the engine's own layers. The policy is saved as models/ppo.zip and decides deterministically.
"""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from trader.broker.sim import SimBroker
from trader.clock import BarClock
from trader.domain import EntryContext, ExitReason, Intent
from trader.engine import Engine, EngineConfig
from trader.entry.consensus import regime_context
from trader.entry.state import snapshot_state, state_names, state_vector
from trader.errors import StateError
from trader.feed import ReplayFeed
from trader.market.base import Market
from trader.strategies.base import BarSeries, Snapshot

MODEL_FILE = "ppo.zip"


class _ActionStrategy:
    """Turns the agent's chosen action into an intent at the current bar."""

    name = "rl"

    def __init__(self) -> None:
        self.action = 0

    def decide(self, snap: Snapshot) -> list[Intent]:
        if self.action == 0:
            return []
        d = 1 if self.action == 1 else -1
        return [Intent("open", direction=d, context=EntryContext(strategy="rl", direction=d))]

    def on_trade_closed(self, trade: object) -> None:
        """Rewards are read from the engine's trades."""


class EntryEnv(gym.Env):
    """One training session per episode, stepped bar by bar through the engine."""

    metadata: dict = {"render_modes": []}

    def __init__(self, market: Market, series: BarSeries, config: EngineConfig, train: tuple[int, int],
                 risk_penalty: float, warmup: int = 60) -> None:
        super().__init__()
        self.market, self.series, self.cfg, self.risk_penalty = market, series, config, risk_penalty
        a, b = train
        dates = np.array(market.bars.index.date)
        starts = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]])
        ends = np.r_[starts[1:], len(dates)]
        self.sessions = [(max(int(s), a + warmup), int(e)) for s, e in zip(starts, ends)
                         if s >= a and e <= b and e - max(s, a + warmup) > 30]
        if not self.sessions:
            raise StateError("the training split has no full session for the RL environment")
        n = len(state_names(series))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3)

    def _obs(self) -> np.ndarray:
        e = self.engine
        return state_vector(self.series, self.t, len(e.positions) + e._pending_opens, self.cfg.max_positions,  # noqa: SLF001
                            float(e._to_close[self.t]))  # noqa: SLF001

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start a random training session."""
        super().reset(seed=seed)
        s, self.end = self.sessions[int(self.np_random.integers(len(self.sessions)))]
        feed = ReplayFeed(self.market, BarClock(self.market.bars.index, s))
        self.strategy = _ActionStrategy()
        self.engine = Engine(feed, SimBroker(feed, self.cfg.costs, self.cfg.initial_balance), self.strategy,
                             self.cfg, series=self.series)
        self.t = s
        self.engine.prepare(s)
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Act at the current bar, move one bar on, reward what closed."""
        e = self.engine
        before = len(e.trades)
        self.strategy.action = int(action)
        e.decide(self.t)
        self.t += 1
        done = self.t >= self.end
        if done:
            e.close_all(self.t - 1, ExitReason.END_OF_DATA)
            self.t -= 1
        else:
            e.prepare(self.t)
        realized = sum(tr.pnl for tr in e.trades[before:])
        unreal = sum((p.last_mark - p.entry_price) * 100 * p.contracts for p in e.positions.values())
        reward = realized / 100.0 - self.risk_penalty * max(0.0, -unreal) / 100.0
        return self._obs(), float(reward), done, False, {}


class RLPolicy:
    """The trained PPO policy as an entry controller."""

    name = "rl"

    def __init__(self, model, max_positions: int) -> None:  # noqa: ANN001 - a stable-baselines3 PPO
        self.model = model
        self.max_positions = max_positions

    def decide(self, snap: Snapshot) -> list[Intent]:
        """The policy's deterministic action at this bar."""
        action, _ = self.model.predict(snapshot_state(snap, self.max_positions), deterministic=True)
        action = int(action)
        if action == 0:
            return []
        d = 1 if action == 1 else -1
        ctx = EntryContext(strategy=self.name, direction=d, confidence=0.5, signals=("rl",),
                           **regime_context(snap.series, snap.i))
        return [Intent("open", direction=d, context=ctx)]

    def on_trade_closed(self, trade: object) -> None:
        """The policy does not learn during evaluation."""

    @classmethod
    def load(cls, directory: Path, max_positions: int) -> RLPolicy:
        """Read models/ppo.zip back."""
        from stable_baselines3 import PPO

        if not (directory / MODEL_FILE).exists():
            raise StateError(f"{directory / MODEL_FILE} is missing: the run's RL policy was not saved")
        return cls(PPO.load(str(directory / MODEL_FILE), device="cpu"), max_positions)


def train_rl(market: Market, series: BarSeries, train: tuple[int, int], config: EngineConfig, timesteps: int,
             risk_penalty: float, seed: int, models_dir: Path | None = None) -> RLPolicy:
    """Train PPO on the training split (market holding nothing after it) and save it with the run."""
    import torch
    from stable_baselines3 import PPO

    view = Market(bars=market.bars.iloc[: train[1]], chains=market.chains, truth=None, meta=market.meta,
                  quoter=market.quoter)
    env = EntryEnv(view, series, config, train, risk_penalty)
    with torch.random.fork_rng():
        model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=4, learning_rate=3e-4, gamma=0.99,
                    seed=seed, device="cpu", verbose=0, policy_kwargs={"net_arch": [32, 32]})
        model.learn(total_timesteps=timesteps)
    if models_dir is not None:
        models_dir.mkdir(parents=True, exist_ok=True)
        model.save(str(models_dir / MODEL_FILE))
    return RLPolicy(model, config.max_positions)
