"""From a spec to the engine's parts: models fitted on train only, per-bar arrays, strategy and exit model.

`fit_models` trains what the spec's entry controller needs on the training bars and saves it under the run's
models/; `load_models` reads it back (holdout evaluation, paper trading). `FittedModels.arrays` turns any
market view into the causal per-bar arrays the strategies read (predictions, regime probabilities, the eight
signals): the same function serves a backtest window and a growing live series.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.runs.importance import features_report
from experiments.runs.model_cache import ModelCache, data_identity, model_key
from experiments.spec.model import INTERVAL_MINUTES, ExperimentSpec
from trader.broker.base import CostModel
from trader.chain_features import chain_arrays
from trader.engine import EngineConfig, ExitModel
from trader.entry.consensus import ConsensusConfig, ConsensusController
from trader.errors import SpecError, StateError
from trader.exit_rules import HardExitRules
from trader.families.registry import (
    DEFAULT_FAMILIES,
    context_arrays,
    context_frame,
    feature_frame,
    resolve_families,
)
from trader.features import build_features
from trader.market.base import Market
from trader.market.universe import close_times, truncate_context
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
Report = Callable[[str, int, "int | None", str], None]


def _quiet(phase: str, done: int, total: int | None, info: str = "") -> None:
    """The progress report used when nobody listens."""


def _step(report: Report, phase: str) -> Callable[[], None]:
    """Announce a one-step phase now; call the result when it is done."""
    report(phase, 0, 1, "")
    return lambda: report(phase, 1, 1, "")


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
    families: list[str] = field(default_factory=lambda: list(DEFAULT_FAMILIES))

    def features(self, market: Market) -> pd.DataFrame:
        """The predictor's input frame: price features plus the context families in use (row t known at t)."""
        if self.predictor is None:
            return build_features(market.bars)
        return feature_frame(market, self.families, intraday=self.predictor.config.intraday)

    @property
    def predictor_min_strength(self) -> float:
        """The predictor_agreement signal's pass threshold, calibrated on the predictor's own held-out output."""
        value = (self.predictor.report or {}).get("agreement_threshold") if self.predictor is not None else None
        return float(value) if value is not None else PREDICTOR_MIN_STRENGTH

    def arrays(self, market: Market, start: int = 0) -> dict[str, np.ndarray]:
        """Causal per-bar arrays over the market's bars; predictions are computed from bar `start` on."""
        bars = market.bars
        n = len(bars)
        features = self.features(market)
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

            probs = self.regime.filter(bars, regime_context(market, self.regime))
            out.update(regime_arrays(probs))
        chain = chain_arrays(market.chains if "chain" in self.families else None, bars.index)
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
    context = market.context
    if context and len(bars):
        context = truncate_context(context, close_times(pd.DatetimeIndex(bars.index))[-1])
    return Market(bars=bars, chains=chains, truth=truth, meta=dict(market.meta), quoter=market.quoter,
                  context=context)


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


def fit_models(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path,
               cache: ModelCache | None = None, progress: Report | None = None) -> FittedModels:
    """Fit the predictor, the regime HMM and the exit model the spec asks for, on train bars only; save them.

    With a cache, a model whose key (everything its fit reads) is cached is loaded instead of fitted, and
    `models/cache.json` names each model's key and whether it was a hit."""
    report = progress or _quiet
    models_dir.mkdir(parents=True, exist_ok=True)
    fitted = FittedModels(spec=spec, cost_per_share=round_trip_cost(spec, market, train))
    fitted.families, warnings = resolve_families(market, spec.features.families, dict(spec.features.required))
    for text in warnings:
        log.warning(text)
    fitted.report["features"] = {"requested": list(spec.features.families), "used": fitted.families,
                                 "warnings": warnings}
    through = _CacheUse(cache, spec, market, train, models_dir)
    if _needs_predictor(spec):
        from trader.models.predictor import CONFIG_FILE, WEIGHTS_FILE, Predictor

        fitted.predictor = through("predictor", (WEIGHTS_FILE, CONFIG_FILE),
                                   lambda: _fit_predictor(spec, market, train, models_dir, fitted.families, report),
                                   lambda: Predictor.load(models_dir))
        fitted.report["predictor_training"] = fitted.predictor.report
    if _needs_regime(spec):
        from trader.regime import MODEL_FILE, RegimeModel

        done = _step(report, "regime HMMs")
        fitted.regime = through("regime", (MODEL_FILE,),
                                lambda: _fit_regime(spec, market, train, models_dir, fitted.families),
                                lambda: RegimeModel.load(models_dir))
        fitted.report["regime_fit"] = fitted.regime.summary()
        done()
    if spec.exits.model.enabled:
        from trader.exit_model import META_FILE, XGBExitModel
        from trader.exit_model import MODEL_FILE as EXIT_FILE

        extras = context_arrays(market, fitted.families)
        done = _step(report, "exit model")
        fitted.exit_model = through("exit_model", (EXIT_FILE, META_FILE),
                                    lambda: _fit_exit_model(spec, market, train, models_dir, extras),
                                    lambda: XGBExitModel.load(models_dir).bind(market.bars, extras))
        done()
    through.record()
    return fitted


def regime_context(market: Market, regime: Any) -> pd.DataFrame | None:
    """The context columns a fitted regime model reads (None when it reads none)."""
    names = getattr(regime, "context_columns", [])
    if not names:
        return None
    families = sorted({name.split("_", 1)[0] for name in names})
    return context_frame(market, families)[names]


class _CacheUse:
    """Fits through the model cache (or straight, without one), remembering each model's key and hit."""

    def __init__(self, cache: ModelCache | None, spec: ExperimentSpec, market: Market, train: tuple[int, int],
                 models_dir: Path) -> None:
        self.cache, self.spec, self.train, self.models_dir = cache, spec, train, models_dir
        self.data_id = data_identity(spec, market, train[1]) if cache is not None else ""
        self.used: dict[str, dict[str, Any]] = {}

    def __call__(self, kind: str, files: tuple[str, ...], fit: Callable[[], Any], load: Callable[[], Any]) -> Any:
        if self.cache is None:
            return fit()
        key = model_key(kind, self.spec, self.train, self.data_id)
        if self.cache.fetch(kind, key, self.models_dir):
            log.info("%s loaded from the model cache (key %s)", kind, key)
            self.used[kind] = {"key": key, "hit": True}
            return load()
        model = fit()
        self.cache.store(kind, key, [self.models_dir / f for f in files])
        self.used[kind] = {"key": key, "hit": False}
        return model

    def record(self) -> None:
        """Add this use's keys and hits to `models/cache.json` (the models first, then the controller)."""
        if self.cache is None or not self.used:
            return
        path = self.models_dir / "cache.json"
        known = json.loads(path.read_text()) if path.is_file() else {}
        path.write_text(json.dumps({**known, **self.used}, indent=1, sort_keys=True) + "\n")


def _fit_predictor(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path,
                   families: list[str], report: Report) -> Any:
    from trader.models.predictor import PredictorConfig
    from trader.models.training import TrainConfig, fit_predictor

    a, b = train
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
    train_market = truncated(market, b)
    done = _step(report, "features")
    features = feature_frame(train_market, families, intraday=cfg.intraday)
    done()
    phase = f"predictor training ({m.encoder})"
    report(phase, 0, tr.epochs, "")

    def on_epoch(epoch: int, epochs: int, loss: float, es: float | None) -> None:
        report(phase, epoch, epochs, f"loss {loss:.4f}" + (f", early-stop {es:.4f}" if es is not None else ""))

    predictor = fit_predictor(train_market.bars, features, b, cfg, tcfg, train_start=a, on_epoch=on_epoch)
    ran = predictor.report.get("epochs_run", tr.epochs)
    report(phase, ran, ran, f"best epoch {predictor.report.get('best_epoch')}")
    predictor.report["agreement_threshold"] = calibrate_agreement(predictor, features, b)
    predictor.save(models_dir)
    return predictor


def _fit_regime(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path,
                families: list[str]) -> Any:
    from trader.regime import RegimeModel

    a, b = train
    r = spec.regime
    log.info("fitting the regime HMMs on %d train bars", b - a)
    context = None
    if spec.features.regime:
        context = context_frame(truncated(market, b), families).iloc[a:b]
    regime = RegimeModel.fit(market.bars.iloc[a:b], seed=spec.seed, n_iter=r.n_iter,
                             covariance_type=r.covariance_type, fit_max_bars=r.fit_max_bars,
                             context=context if context is not None and len(context.columns) else None)
    regime.save(models_dir)
    return regime


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


def _fit_exit_model(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path,
                    extras: dict[str, np.ndarray] | None = None) -> Any:
    from trader.exit_model import train_exit_model

    model = train_exit_model(market, train, engine_config(spec), threshold=spec.exits.model.threshold,
                             seed=spec.seed, extras=extras)
    model.save(models_dir)
    return model


def load_models(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path) -> FittedModels:
    """Read a run's saved models back (nothing is refitted); a missing model is an error naming the file."""
    fitted = FittedModels(spec=spec, cost_per_share=round_trip_cost(spec, market, train))
    fitted.families, _ = resolve_families(market, spec.features.families, dict(spec.features.required))
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

        fitted.exit_model = XGBoostExitModel.load(models_dir).bind(market.bars, context_arrays(market, fitted.families))
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
                  window: tuple[int, int], every: int, arrays: dict[str, np.ndarray], report: Report,
                  cache: ModelCache | None = None) -> None:
    """Refit the predictor and regime model every `every` evaluation bars on all bars up to the chunk start less
    the embargo, and overwrite the chunk's rows of `arrays` with the refitted models' (causal) arrays."""

    start, end = window
    chunks = list(range(start + every, end, every))
    report("walk-forward refits", 0, len(chunks), "")
    for n, chunk_start in enumerate(chunks, start=1):
        chunk_end = min(chunk_start + every, end)
        refit_train = (train[0], max(train[1], chunk_start - spec.splits.embargo_bars))
        view = truncated(market, chunk_end)
        log.info("walk-forward refit %d on bars [%d, %d)", n, *refit_train)
        refit = fit_models(spec.model_copy(update={"exits": spec.exits.model_copy(
            update={"model": spec.exits.model.model_copy(update={"enabled": False})})}),
            view, refit_train, models_dir / f"refit-{n}", cache)
        part = refit.arrays(view, start=max(0, chunk_start - spec.model.window))
        for key, values in part.items():
            if key in arrays:
                arrays[key][chunk_start:chunk_end] = values[chunk_start:chunk_end]
        report("walk-forward refits", n, len(chunks), "")


def build_pipeline(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path,
                   window: tuple[int, int] | None = None, reuse: bool = False,
                   cache: ModelCache | None = None, progress: Report | None = None) -> Pipeline:
    """Fit (or, with reuse, load) the models, compute the per-bar arrays and build the strategy.

    `market` must hold nothing after the evaluation window; `window` is the evaluation range (for the
    out-of-sample quality report); `progress(phase, done, total, info)` hears of every phase; `cache` is the
    fitted-model cache (None: fit every model)."""
    tell = progress or _quiet
    if reuse:
        done = _step(tell, "load models")
        fitted = load_models(spec, market, train, models_dir)
        done()
    else:
        fitted = fit_models(spec, market, train, models_dir, cache, tell)
    start, end = window if window is not None else (0, len(market.bars))
    needs_arrays = spec.entry.type not in MODEL_FREE or spec.exits.model.enabled
    first = train[0] if spec.entry.type in TRAINED_CONTROLLERS else max(0, start - spec.model.window)
    if needs_arrays:
        done = _step(tell, "per-bar arrays")
        arrays = fitted.arrays(market, start=first)
        done()
    else:
        arrays = {}
    controller = None
    if spec.entry.type in TRAINED_CONTROLLERS:
        done = _step(tell, {"rl": "PPO entry policy", "q_scorer": "Q-scorer"}[spec.entry.type])
        controller = _controller(spec, market, train, models_dir, arrays, reuse, cache)
        done()
    k = spec.splits.refit_every
    if k and needs_arrays and not reuse and spec.entry.type not in MODEL_FREE:
        _walk_forward(spec, market, train, models_dir, (start, end), k, arrays, tell, cache)
    report = window_report(fitted, arrays, market, start, end) if needs_arrays else {}
    if not reuse:
        report["features"] = features_report(fitted, market, start, end, predictor_horizon(spec),
                                             engine_config(spec))
    if controller is not None and getattr(controller, "report", None):
        report[spec.entry.type] = controller.report
    return Pipeline(strategy=make_strategy(spec, fitted, controller), series=BarSeries(arrays),
                    exit_model=fitted.exit_model, report=report)


def _controller(spec: ExperimentSpec, market: Market, train: tuple[int, int], models_dir: Path,
                arrays: dict[str, np.ndarray], reuse: bool, cache: ModelCache | None = None) -> Strategy:
    """Train (or load: the run's own with reuse, a cached one when its key is cached) the RL policy or the
    Q-scorer on the training split."""
    cfg = engine_config(spec)
    kind = spec.entry.type
    if kind == "rl":
        from trader.entry import rl

        files = (rl.MODEL_FILE, rl.META_FILE)

        def load() -> Strategy:
            return rl.RLPolicy.load(models_dir, cfg.max_positions)

        def fit() -> Strategy:
            log.info("training the PPO entry policy for %d steps", spec.entry.rl.timesteps)
            return rl.train_rl(market, BarSeries(arrays), train, cfg, spec.entry.rl.timesteps,
                               spec.entry.rl.risk_penalty, spec.seed, models_dir)
    else:
        from trader.entry import q_scorer as q

        files = (q.MODEL_FILE, q.META_FILE)

        def load() -> Strategy:
            return q.QScorer.load(models_dir, spec.entry.q_scorer.threshold)

        def fit() -> Strategy:
            log.info("simulating outcomes and fitting the Q-scorer on the training split")
            scorer = q.train_q_scorer(market, BarSeries(arrays), train, cfg, spec.entry.q_scorer.threshold,
                                      seed=spec.seed)
            scorer.save(models_dir)
            return scorer

    if reuse:
        return load()
    through = _CacheUse(cache, spec, market, train, models_dir)
    controller = through(kind, files, fit, load)
    through.record()
    return controller
