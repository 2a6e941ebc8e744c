"""Offline Q-regression: an XGBoost regressor of each action's net P&L at a decision point.

Labels come from the training split only: at every `every`-th bar the engine itself simulates buying a call and,
separately, a put (one contract, the run's fills, costs and exit rules); a trade that has not closed by the
training end gets no label. Holding is worth 0. At decision time the controller enters the action with the best
predicted P&L when it clears `threshold` dollars per contract.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trader.domain import EntryContext, Intent
from trader.engine import EngineConfig, ExitModel
from trader.entry.consensus import regime_context
from trader.entry.scripted import simulate_entries
from trader.entry.state import state_names, state_vector
from trader.errors import StateError
from trader.market.base import Market
from trader.strategies.base import BarSeries, Snapshot

MODEL_FILE, META_FILE = "q_scorer.json", "q_scorer_meta.json"


class QScorer:
    """Enters the best action when its predicted net P&L clears the threshold."""

    name = "q_scorer"

    def __init__(self, booster, names: list[str], threshold: float, report: dict | None = None) -> None:
        self.booster = booster
        self.names = names
        self.threshold = threshold
        self.report = report or {}

    def q_values(self, state: np.ndarray) -> tuple[float, float]:
        """Predicted net P&L of buying a call and of buying a put."""
        x = np.vstack([np.r_[state, 1.0, 0.0], np.r_[state, 0.0, 1.0]]).astype(np.float32)
        q = self.booster.get_booster().inplace_predict(x)
        return float(q[0]), float(q[1])

    def decide(self, snap: Snapshot) -> list[Intent]:
        """Enter the action with the best Q when it clears the threshold."""
        state = state_vector(snap.series, snap.i, 0, 1, snap.minutes_to_close)
        if len(state) != len(self.names):
            raise StateError(f"the Q-scorer was trained on {len(self.names)} state inputs but the run provides "
                             f"{len(state)}: the predictor or regime settings differ from the ones it was trained with")
        q_call, q_put = self.q_values(state)
        best, direction = (q_call, 1) if q_call >= q_put else (q_put, -1)
        if best < self.threshold:
            return []
        ctx = EntryContext(strategy=self.name, direction=direction, confidence=float(1 / (1 + np.exp(-best / 10))),
                           signals=("q_scorer",), predicted_return=None, **regime_context(snap.series, snap.i))
        return [Intent("open", direction=direction, context=ctx)]

    def on_trade_closed(self, trade: object) -> None:
        """The Q-scorer learns offline only."""

    def save(self, directory: Path) -> None:
        """Write the regressor (XGBoost JSON) and its metadata."""
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / MODEL_FILE))
        (directory / META_FILE).write_text(json.dumps({"names": self.names, "threshold": self.threshold,
                                                       "report": self.report}, indent=2))

    @classmethod
    def load(cls, directory: Path, threshold: float | None = None) -> QScorer:
        """Read a saved Q-scorer back."""
        from xgboost import XGBRegressor

        if not (directory / MODEL_FILE).exists():
            raise StateError(f"{directory / MODEL_FILE} is missing: the run's Q-scorer was not saved")
        meta = json.loads((directory / META_FILE).read_text())
        booster = XGBRegressor(n_jobs=1)
        booster.load_model(str(directory / MODEL_FILE))
        booster.get_booster().set_param({"nthread": 1})
        return cls(booster, meta["names"], meta["threshold"] if threshold is None else threshold, meta["report"])


def load_q_scorer(models_dir: Path, threshold: float | None = None) -> QScorer:
    """The run's saved Q-scorer (with the spec's threshold when given)."""
    return QScorer.load(models_dir, threshold)


def train_q_scorer(market: Market, series: BarSeries, train: tuple[int, int], config: EngineConfig,
                   threshold: float, seed: int = 0, every: int = 5, warmup: int = 60,
                   models_dir: Path | None = None, exit_model: ExitModel | None = None) -> QScorer:
    """Label decision points on the training bars by simulation and fit the regressor (time-ordered holdout R2).

    `exit_model` (optional) is the run's exit layer 2, so the labels see the exits the evaluation will apply; pass a
    copy when its consulted/fired counters matter."""
    from xgboost import XGBRegressor

    from trader.market.base import Market as _Market

    a, b = train
    view = _Market(bars=market.bars.iloc[:b], chains=market.chains, truth=None, meta=market.meta,
                   quoter=market.quoter)
    points = np.arange(a + warmup, b, every)
    labels = {d: simulate_entries(view, a, b, config, series, points, d, exit_model) for d in (1, -1)}
    rows, targets, order = [], [], []
    minutes = _minutes_to_close(view, config)
    for d, onehot in ((1, (1.0, 0.0)), (-1, (0.0, 1.0))):
        for bar, pnl in labels[d].items():
            series.now = bar
            state = state_vector(series, bar, 0, 1, float(minutes[bar]))
            rows.append(np.r_[state, onehot])
            targets.append(pnl)
            order.append(bar)
    if len(rows) < 20:
        raise StateError(f"only {len(rows)} simulated outcomes on the training split: too few to fit a Q-scorer")
    X, y, order = np.asarray(rows, dtype=np.float32), np.asarray(targets), np.asarray(order)
    cut = np.quantile(order, 0.8)
    fit, held = order < cut, order >= cut
    params = {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.05, "subsample": 0.8, "random_state": seed,
              "n_jobs": 1}
    model = XGBRegressor(**params).fit(X[fit], y[fit])
    pred = model.predict(X[held])
    ss = float(np.sum((y[held] - y[held].mean()) ** 2))
    r2 = 1 - float(np.sum((y[held] - pred) ** 2)) / ss if ss > 0 else float("nan")
    model = XGBRegressor(**params).fit(X, y)
    names = state_names(series)
    report = {"samples": len(y), "mean_label_usd": float(y.mean()), "holdout_r2": r2,
              "holdout_samples": int(held.sum()), "every_bars": every}
    scorer = QScorer(model, names, threshold, report)
    if models_dir is not None:
        scorer.save(models_dir)
    return scorer


def _minutes_to_close(market: Market, config: EngineConfig) -> np.ndarray:
    from trader.broker.sim import SimBroker
    from trader.clock import BarClock
    from trader.engine import Engine
    from trader.feed import ReplayFeed
    from trader.strategies.baselines import RandomStrategy

    feed = ReplayFeed(market, BarClock(market.bars.index, 0))
    engine = Engine(feed, SimBroker(feed, config.costs, 1.0), RandomStrategy(0.0), config)
    return engine._to_close
