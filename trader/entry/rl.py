"""An entry policy learned with PPO (stable-baselines3) in the gymnasium environment over the engine (`rl_env`).

`train_rl` trains on the training split only (the environment's market holds nothing after it), with a small MLP,
on the CPU, seeded; the policy is saved as models/ppo.zip and decides deterministically (the most probable action)
from the same state vector the environment observed.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trader.domain import EntryContext, Intent
from trader.engine import EngineConfig, ExitModel
from trader.entry.consensus import regime_context
from trader.entry.rl_env import ACTIONS, EntryEnv, action_direction
from trader.entry.state import snapshot_state
from trader.errors import StateError
from trader.market.base import Market
from trader.strategies.base import BarSeries, Snapshot

MODEL_FILE, META_FILE = "ppo.zip", "ppo_meta.json"
PPO_SETTINGS = {"n_steps": 256, "batch_size": 64, "n_epochs": 4, "learning_rate": 3e-4, "gamma": 0.99}
NET_ARCH = [32, 32]

# Re-exported for callers that imported the environment from here.
__all__ = ["ACTIONS", "EntryEnv", "RLPolicy", "load_rl", "train_rl"]


class RLPolicy:
    """The trained PPO policy as an entry controller (it does not learn during evaluation)."""

    name = "rl"

    def __init__(self, model, max_positions: int, report: dict | None = None) -> None:
        self.model = model
        self.max_positions = max_positions
        self.report = report or {}
        self._size = int(model.observation_space.shape[0])

    def decide(self, snap: Snapshot) -> list[Intent]:
        """The policy's deterministic action at this bar."""
        state = snapshot_state(snap, self.max_positions)
        if len(state) != self._size:
            raise StateError(f"the RL policy was trained on {self._size} state inputs but the run provides "
                             f"{len(state)}: the predictor or regime settings differ from the ones it was trained with")
        action, _ = self.model.predict(state, deterministic=True)
        d = action_direction(int(action))
        if d == 0:
            return []
        ctx = EntryContext(strategy=self.name, direction=d, confidence=0.5, signals=("rl",),
                           **regime_context(snap.series, snap.i))
        return [Intent("open", direction=d, context=ctx)]

    def on_trade_closed(self, trade: object) -> None:
        """The policy does not learn during evaluation."""

    def save(self, directory: Path) -> None:
        """Write models/ppo.zip and its training report."""
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(str(directory / MODEL_FILE))
        (directory / META_FILE).write_text(json.dumps({"report": self.report}, indent=2))

    @classmethod
    def load(cls, directory: Path, max_positions: int) -> RLPolicy:
        """Read models/ppo.zip back."""
        from stable_baselines3 import PPO

        if not (directory / MODEL_FILE).exists():
            raise StateError(f"{directory / MODEL_FILE} is missing: the run's RL policy was not saved")
        meta = directory / META_FILE
        report = json.loads(meta.read_text())["report"] if meta.exists() else {}
        return cls(PPO.load(str(directory / MODEL_FILE), device="cpu"), max_positions, report)


def load_rl(models_dir: Path, config: EngineConfig) -> RLPolicy:
    """The run's saved PPO policy."""
    return RLPolicy.load(models_dir, config.max_positions)


def train_rl(market: Market, series: BarSeries, train: tuple[int, int], config: EngineConfig, timesteps: int,
             risk_penalty: float, seed: int, models_dir: Path | None = None,
             exit_model: ExitModel | None = None) -> RLPolicy:
    """Train PPO for `timesteps` bars on the training split (market cut at its end) and save it with the run.

    `exit_model` (optional) is the run's exit layer 2 inside the training engine; pass a copy when its counters
    matter."""
    import torch
    from stable_baselines3 import PPO

    view = Market(bars=market.bars.iloc[: train[1]], chains=market.chains, truth=None, meta=market.meta,
                  quoter=market.quoter)
    env = EntryEnv(view, series, config, train, risk_penalty, exit_model=exit_model)
    with torch.random.fork_rng():
        model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, policy_kwargs={"net_arch": NET_ARCH},
                    **PPO_SETTINGS)
        model.learn(total_timesteps=timesteps)
    returns = env.episode_returns
    k = max(1, len(returns) // 5)
    report = {"timesteps": int(timesteps), "risk_penalty": float(risk_penalty), "sessions": len(env.sessions),
              "episodes": len(returns),
              "mean_return_first_episodes": round(float(np.mean(returns[:k])), 4) if returns else None,
              "mean_return_last_episodes": round(float(np.mean(returns[-k:])), 4) if returns else None}
    policy = RLPolicy(model, config.max_positions, report)
    if models_dir is not None:
        policy.save(models_dir)
    return policy
