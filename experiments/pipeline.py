"""From a spec to the engine's parts: config, strategy, per-bar series and exit model, fitted on train only."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.spec import INTERVAL_MINUTES, ExperimentSpec
from trader.broker.base import CostModel
from trader.engine import EngineConfig, ExitModel
from trader.errors import SpecError
from trader.exit_rules import HardExitRules
from trader.market.base import Market
from trader.strategies.base import BarSeries, Strategy
from trader.strategies.baselines import MomentumStrategy, RandomStrategy

log = logging.getLogger("gaussian.pipeline")


@dataclass
class Pipeline:
    """Everything the engine needs for one experiment, plus figures about the fitted models."""

    strategy: Strategy
    series: BarSeries = field(default_factory=lambda: BarSeries({}))
    exit_model: ExitModel | None = None
    report: dict[str, Any] = field(default_factory=dict)


def engine_config(spec: ExperimentSpec) -> EngineConfig:
    """Map the spec's exits, trading and costs sections onto the engine's settings."""
    x, t, c = spec.exits, spec.trading, spec.costs
    rules = HardExitRules(
        stop_loss_pct=x.stop_loss_pct, take_profit_pct=x.take_profit_pct,
        trailing_activation_pct=x.trailing_activation_pct, trailing_distance_pct=x.trailing_distance_pct,
        max_hold_minutes=x.max_hold_minutes, flat_by_eod=x.flat_by_eod,
        eod_minutes_before_close=x.eod_minutes_before_close,
        close_before_expiry_minutes=x.close_before_expiry_minutes,
    )
    costs = CostModel(c.commission_per_contract, c.fees_per_contract, c.latency_bars, c.spread_multiplier)
    return EngineConfig(
        rules=rules, costs=costs, initial_balance=t.initial_balance, max_positions=t.max_positions,
        sizing=t.sizing, contracts=t.contracts, equity_fraction=t.equity_fraction, max_contracts=t.max_contracts,
        min_dte=t.min_dte, max_dte=t.max_dte, selection=t.selection, target_delta=t.target_delta,
        moneyness=t.moneyness, cooldown_bars=spec.entry.cooldown_bars,
        interval_minutes=INTERVAL_MINUTES[spec.data.interval], symbol=t.symbol,
    )


def baseline_strategy(name: str, spec: ExperimentSpec) -> Strategy:
    """The momentum or random-entry baseline with the spec's parameters."""
    if name == "momentum":
        m = spec.entry.momentum
        return MomentumStrategy(m.lookback_bars, m.threshold_sigma)
    if name == "random":
        return RandomStrategy(spec.entry.random.entry_probability, seed=spec.seed)
    raise SpecError(f"unknown baseline '{name}'")


def build_pipeline(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path) -> Pipeline:
    """Fit what the spec's entry controller needs on the train bars and return the engine's parts."""
    kind = spec.entry.type
    if kind in ("momentum", "random"):
        return Pipeline(strategy=baseline_strategy(kind, spec))
    raise SpecError(f"entry.type '{kind}' is not available in this build")
