"""From a spec to the engine's parts: models fitted on train only, per-bar arrays, strategy and exit model.

`fit_models` trains what the spec's entry controller needs on the training bars and saves it under the run's
models/; `load_models` reads it back (holdout evaluation, paper trading). `FittedModels.arrays` turns any
market view into the causal per-bar arrays the strategies read (predictions, regime probabilities, the eight
signals): the same function serves a backtest window and a growing live series.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments.spec.model import INTERVAL_MINUTES, ExperimentSpec
from trader.broker.base import CostModel
from trader.chain_features import chain_arrays
from trader.engine import EngineConfig, ExitModel
from trader.entry.consensus import ConsensusConfig, ConsensusController
from trader.errors import SpecError, StateError
from trader.exit_rules import HardExitRules
from trader.features import build_features
from trader.market.base import Market
from trader.signals import (
    PREDICTOR_MIN_STRENGTH,
    PREDICTOR_STRENGTH_QUANTILE,
    agreement_strength,
    compute_signals,
)
from trader.strategies.base import BarSeries, Strategy
from trader.strategies.baselines import MomentumStrategy, RandomStrategy
from trader.strategies.predictor_strategy import PredictorStrategy

log = logging.getLogger("gaussian.pipeline")
MODEL_FREE = ("momentum", "random")
SUPPORTED_ENTRY_TYPES = ("consensus", "predictor", "bandit", "rl", "q_scorer", "momentum", "random")
TRAINED_CONTROLLERS = ("rl", "q_scorer")


@dataclass
class Pipeline:
    """Everything the engine needs for one experiment, plus figures about the fitted models."""

    strategy: Strategy
    series: BarSeries = field(default_factory=lambda: BarSeries({}))
    exit_model: ExitModel | None = None
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class FittedModels:
    """The models of one run (any may be absent) and what the strategies need to know about costs."""

    spec: ExperimentSpec
    predictor: Any = None
    regime: Any = None
    exit_model: Any = None
    cost_per_share: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def predictor_min_strength(self) -> float:
        """The predictor_agreement signal's pass threshold, calibrated on the predictor's own held-out output."""
        value = (self.predictor.report or {}).get("agreement_threshold") if self.predictor is not None else None
        return float(value) if value is not None else PREDICTOR_MIN_STRENGTH

    def arrays(self, market: Market, start: int = 0) -> dict[str, np.ndarray]:
        """Causal per-bar arrays over the market's bars; predictions are computed from bar `start` on."""
        bars = market.bars
        n = len(bars)
        features = build_features(bars) if self.predictor is None else self.predictor.features(bars)
        out: dict[str, np.ndarray] = {}
        pred_arrays: dict[str, np.ndarray] | None = None
        horizons: tuple[int, ...] = ()
        if self.predictor is not None:
            from trader.models.predictor import series_arrays

            horizons = self.predictor.horizons
            pred = self.predictor.predict_all(features, start=max(0, start), end=n)
            pred_arrays = series_arrays(pred, horizons)
            out.update(pred_arrays)
        probs = None
        if self.regime is not None:
            from trader.regime import regime_arrays

            probs = self.regime.filter(bars)
            out.update(regime_arrays(probs))
        chain = chain_arrays(market.chains, bars.index)
        out.update(compute_signals(bars["close"].to_numpy(dtype=float), features, pred_arrays, horizons,
                                   probs, chain, self.predictor_min_strength))
        return out


def truncated(market: Market, end: int) -> Market:
    """The market cut at bar `end` (exclusive): later bars, chains and truth are simply not there."""
    bars = market.bars.iloc[:end]
    chains = None
    if market.chains is not None and len(bars):
        chains = market.chains[market.chains["timestamp"] <= bars.index[-1]]
    truth = market.truth.iloc[:end] if market.truth is not None else None  # for reports only, never strategies
    return Market(bars=bars, chains=chains, truth=truth, meta=dict(market.meta), quoter=market.quoter)


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


def predictor_horizon(spec: ExperimentSpec) -> int:
    """The forecast horizon that matches the holding period: the one closest to max hold (the longest if none)."""
    hs = spec.model.horizons
    if spec.exits.max_hold_minutes is None:
        return hs[-1]
    bars = spec.exits.max_hold_minutes / INTERVAL_MINUTES[spec.data.interval]
    return min(hs, key=lambda h: (abs(h - bars), h))


def round_trip_cost(spec: ExperimentSpec, market: Market, train: tuple[int, int]) -> float:
    """Typical round-trip cost per share of an at-the-money contract over the training bars: spread plus fees."""
    from trader.selection import choose_contract

    a, b = train
    picks = np.linspace(a + (b - a) // 10, b - 1, num=min(40, max(1, b - a)), dtype=int)
    spreads = []
    dates = market.bars.index.date
    for i in picks:
        spot = float(market.bars["close"].iloc[i])
        choice = choose_contract(market.quoter, int(i), dates[i], "C", spot, spec.trading.min_dte,
                                 spec.trading.max_dte, target_delta=spec.trading.target_delta)
        if choice is not None:
            spreads.append((choice.quote.ask - choice.quote.bid) * spec.costs.spread_multiplier)
    spread = float(np.median(spreads)) if spreads else 0.05
    c = spec.costs
    return spread + 2 * (c.commission_per_contract + c.fees_per_contract) / 100.0


def _needs_predictor(spec: ExperimentSpec) -> bool:
    return spec.entry.type not in MODEL_FREE


def _needs_regime(spec: ExperimentSpec) -> bool:
    return spec.entry.type not in MODEL_FREE and spec.regime.enabled


def fit_models(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path) -> FittedModels:
    """Fit the predictor, the regime HMM and the exit model the spec asks for, on train bars only; save them."""
    models_dir.mkdir(parents=True, exist_ok=True)
    a, b = train
    train_bars = market.bars.iloc[a:b]
    fitted = FittedModels(spec=spec, cost_per_share=round_trip_cost(spec, market, train))
    if _needs_predictor(spec):
        from trader.models.predictor import PredictorConfig
        from trader.models.training import TrainConfig, fit_predictor

        m, tr = spec.model, spec.model.training
        cfg = PredictorConfig(
            encoder=m.encoder, window=m.window, hidden=m.hidden, layers=m.layers, heads=m.heads,
            d_state=m.d_state, chunk_size=m.chunk_size, kernel_size=m.kernel_size, dropout=m.dropout,
            horizons=tuple(m.horizons), rbf_centers=m.rbf_centers, rbf_scales=tuple(m.rbf_scales),
            mc_samples=m.mc_samples, prior_sigma=m.prior_sigma, seed=spec.seed,
            intraday=spec.data.interval != "1day",
        )
        tcfg = TrainConfig(epochs=tr.epochs, batch_size=tr.batch_size, lr=tr.lr, weight_decay=tr.weight_decay,
                           patience=tr.patience, early_stop_fraction=tr.early_stop_fraction,
                           max_samples=tr.max_samples, kl_weight=tr.kl_weight)
        log.info("training the %s predictor on %d train bars", m.encoder, b - a)
        train_market_bars = market.bars.iloc[:b]
        features = build_features(train_market_bars, intraday=cfg.intraday)
        fitted.predictor = fit_predictor(train_market_bars, features, b, cfg, tcfg, train_start=a)
        fitted.predictor.report["agreement_threshold"] = calibrate_agreement(fitted.predictor, features, b)
        fitted.predictor.save(models_dir)
        fitted.report["predictor_training"] = fitted.predictor.report
    if _needs_regime(spec):
        from trader.regime import RegimeModel

        r = spec.regime
        log.info("fitting the regime HMMs on %d train bars", b - a)
        fitted.regime = RegimeModel.fit(train_bars, seed=spec.seed, n_iter=r.n_iter,
                                        covariance_type=r.covariance_type, fit_max_bars=r.fit_max_bars)
        fitted.regime.save(models_dir)
        fitted.report["regime_fit"] = fitted.regime.summary()
    if spec.exits.model.enabled:
        fitted.exit_model = _fit_exit_model(spec, market, train, models_dir)
    return fitted


def calibrate_agreement(predictor: Any, features: Any, train_end: int) -> float | None:
    """The predictor's PREDICTOR_STRENGTH_QUANTILE of agreement strength on the held-out (early-stopping) end of
    train: the pass threshold of its agreement signal, so the signal passes on its most confident fifth of bars
    whatever its calibration. None when that part is empty."""
    from trader.models.predictor import series_arrays

    cut = int(predictor.report.get("early_stop_cut", train_end))
    if cut >= train_end:
        return None
    pred = series_arrays(predictor.predict_all(features, start=cut, end=train_end), predictor.horizons)
    strength = agreement_strength(pred, predictor.horizons)[cut:train_end]
    strength = strength[np.isfinite(strength)]
    return round(float(np.quantile(strength, PREDICTOR_STRENGTH_QUANTILE)), 6) if len(strength) else None


def _fit_exit_model(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path) -> Any:
    from trader.exit_model import train_exit_model

    model = train_exit_model(market, train, engine_config(spec), threshold=spec.exits.model.threshold,
                             seed=spec.seed)
    model.save(models_dir)
    return model


def load_models(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path) -> FittedModels:
    """Read a run's saved models back (nothing is refitted); a missing model is an error naming the file."""
    fitted = FittedModels(spec=spec, cost_per_share=round_trip_cost(spec, market, train))
    if _needs_predictor(spec):
        from trader.models.predictor import Predictor

        if not (models_dir / "predictor.pt").exists():
            raise StateError(f"{models_dir / 'predictor.pt'} is missing: the run's predictor was not saved")
        fitted.predictor = Predictor.load(models_dir)
    if _needs_regime(spec):
        from trader.regime import RegimeModel

        fitted.regime = RegimeModel.load(models_dir)
    if spec.exits.model.enabled:
        from trader.exit_model import XGBoostExitModel

        fitted.exit_model = XGBoostExitModel.load(models_dir).bind(market.bars)
    return fitted


def make_strategy(spec: ExperimentSpec, fitted: FittedModels, controller: Strategy | None = None) -> Strategy:
    """The entry controller the spec names, built on fitted models (rl and q_scorer come trained)."""
    kind = spec.entry.type
    if controller is not None:
        return controller
    if kind in MODEL_FREE:
        return baseline_strategy(kind, spec)
    if kind == "predictor":
        p = spec.entry.predictor
        return PredictorStrategy(predictor_horizon(spec), p.min_confidence, p.cost_multiple, fitted.cost_per_share)
    if kind == "consensus":
        c = spec.entry.consensus
        cfg = ConsensusConfig(c.min_signals_to_trade, c.min_weighted_confidence, dict(c.weights),
                              tuple(c.blocked_signals))
        return ConsensusController(cfg, horizon=predictor_horizon(spec))
    if kind == "bandit":
        from trader.entry.bandit import BanditController

        return BanditController(spec.entry.bandit.algorithm, spec.entry.bandit.epsilon, seed=spec.seed)
    raise SpecError(f"entry.type '{kind}' is not available in this build")


def window_report(fitted: FittedModels, arrays: dict[str, np.ndarray], market: Market, start: int,
                  end: int) -> dict[str, Any]:
    """Out-of-sample quality over the evaluation window: predictor NLL/accuracy/Brier/coverage, regime recovery."""
    out: dict[str, Any] = {}
    if fitted.predictor is not None:
        from trader.models.labels import make_labels
        from trader.models.predictor import OUTPUT_NAMES
        from trader.models.quality import evaluate_quality

        hs = fitted.predictor.horizons
        pred = {k: np.stack([arrays[f"pred_{k}_{h}"][start:end] for h in hs], axis=1) for k in OUTPUT_NAMES}
        labels = make_labels(market.bars.iloc[:end], hs, end=end, start=start).rows(np.arange(start, end))
        out["predictor"] = {"encoder": fitted.spec.model.encoder, "split": "validation",
                            **evaluate_quality(pred, labels)}
    if fitted.regime is not None:
        out["regime"] = {"fit": fitted.report.get("regime_fit")}
        if market.truth is not None:
            from trader.regime import recovery

            probs = {a: arrays[f"regime_p_{a}"][start:end] for a in ("trend", "volatility", "liquidity")}
            out["regime"]["recovery"] = recovery(market.truth.iloc[start:end], probs)
    if fitted.exit_model is not None:
        out["exit_model"] = dict(fitted.exit_model.report)
    return out


def _walk_forward(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path,
                  window: tuple[int, int], every: int, arrays: dict[str, np.ndarray]) -> None:
    """Refit the predictor and regime model every `every` evaluation bars on all bars up to the chunk start less
    the embargo, and overwrite the chunk's rows of `arrays` with the refitted models' (causal) arrays."""

    start, end = window
    for n, chunk_start in enumerate(range(start + every, end, every), start=1):
        chunk_end = min(chunk_start + every, end)
        refit_train = (train[0], max(train[1], chunk_start - spec.splits.embargo_bars))
        view = truncated(market, chunk_end)
        log.info("walk-forward refit %d on bars [%d, %d)", n, *refit_train)
        refit = fit_models(spec.model_copy(update={"exits": spec.exits.model_copy(
            update={"model": spec.exits.model.model_copy(update={"enabled": False})})}),
            view, refit_train, models_dir / f"refit-{n}")
        part = refit.arrays(view, start=max(0, chunk_start - spec.model.window))
        for key, values in part.items():
            if key in arrays:
                arrays[key][chunk_start:chunk_end] = values[chunk_start:chunk_end]


def build_pipeline(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path,
                   window: tuple[int, int] | None = None, reuse: bool = False) -> Pipeline:
    """Fit (or, with reuse, load) the models, compute the per-bar arrays and build the strategy.

    `market` must hold nothing after the evaluation window; `window` is the evaluation range (for the
    out-of-sample quality report)."""
    fitted = load_models(spec, market, train, models_dir) if reuse else fit_models(spec, market, train, models_dir)
    start, end = window if window is not None else (0, len(market.bars))
    needs_arrays = spec.entry.type not in MODEL_FREE or spec.exits.model.enabled
    first = train[0] if spec.entry.type in TRAINED_CONTROLLERS else max(0, start - spec.model.window)
    arrays = fitted.arrays(market, start=first) if needs_arrays else {}
    controller = _controller(spec, market, train, models_dir, arrays, reuse) if (
        spec.entry.type in TRAINED_CONTROLLERS) else None
    k = spec.splits.refit_every
    if k and needs_arrays and not reuse and spec.entry.type not in MODEL_FREE:
        _walk_forward(spec, market, train, models_dir, (start, end), k, arrays)
    report = window_report(fitted, arrays, market, start, end) if needs_arrays else {}
    if controller is not None and getattr(controller, "report", None):
        report[spec.entry.type] = controller.report
    return Pipeline(strategy=make_strategy(spec, fitted, controller), series=BarSeries(arrays),
                    exit_model=fitted.exit_model, report=report)


def _controller(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path,
                arrays: dict[str, np.ndarray], reuse: bool) -> Strategy:
    """Train (or load) the RL policy or the Q-scorer on the training split."""
    cfg = engine_config(spec)
    if spec.entry.type == "rl":
        from trader.entry.rl import RLPolicy, train_rl

        if reuse:
            return RLPolicy.load(models_dir, cfg.max_positions)
        log.info("training the PPO entry policy for %d steps", spec.entry.rl.timesteps)
        return train_rl(market, BarSeries(arrays), train, cfg, spec.entry.rl.timesteps, spec.entry.rl.risk_penalty,
                        spec.seed, models_dir)
    from trader.entry.q_scorer import QScorer, train_q_scorer

    if reuse:
        return QScorer.load(models_dir, spec.entry.q_scorer.threshold)
    log.info("simulating outcomes and fitting the Q-scorer on the training split")
    scorer = train_q_scorer(market, BarSeries(arrays), train, cfg, spec.entry.q_scorer.threshold, seed=spec.seed)
    scorer.save(models_dir)
    return scorer
