"""The experiment spec: everything one experiment can vary, validated, with bounds on every field.

A spec is the unit the optimizer queues, the agent proposes and the runner executes. Its canonical hash
(cosmetic fields excluded) recognises the same experiment however it was written.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trader.models.receptive import tcn_receptive_field
from trader.signal_names import SIGNAL_NAMES

Encoder = Literal["tcn", "lstm", "transformer", "mamba2"]
EntryType = Literal["consensus", "bandit", "rl", "q_scorer", "predictor", "momentum", "random"]
Interval = Literal["1min", "5min", "15min", "30min", "1day"]
Family = Literal["price", "chain", "breadth", "macro", "crypto", "surface"]
DEFAULT_FAMILIES: tuple[str, ...] = ("price", "chain")
INTERVAL_MINUTES = {"1min": 1, "5min": 5, "15min": 15, "30min": 30, "1day": 390}
SESSION_MINUTES = 390
DEFAULT_WINDOW = 64


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSpec(_Section):
    """Which market the experiment trades and at what bar interval."""

    source: Literal["synthetic", "real_daily", "file", "cache"] = Field(
        "synthetic", description="synthetic generator, arch's real daily S&P 500, user files, or a cached dataset"
    )
    name: str | None = Field(
        None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
        description="cached dataset name under the home's data/ (source=cache)",
    )
    path: str | None = Field(None, max_length=500, description="bars file, CSV or Parquet (source=file)")
    options_path: str | None = Field(None, max_length=500, description="option snapshots file (source=file)")
    timezone: str | None = Field(None, max_length=64, description="zone of naive timestamps in user files")
    sessions: int = Field(60, ge=5, le=2000, description="synthetic sessions to generate")
    start: dt.date = Field(dt.date(2024, 1, 2), description="first session (synthetic) or window start")
    end: dt.date | None = Field(None, description="window end (real_daily, file); None = all")
    edge: float = Field(1.0, ge=0.0, le=2.0, description="strength of the synthetic planted component; 0 = null market "
                        "(see `gaussian data edge` for it in basis points, Sharpe and against costs)")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="synthetic generator seed; None = the spec seed")
    max_dte: int = Field(5, ge=0, le=30, description="listed expiries 0..max_dte trading days (synthetic/modeled)")
    interval: Interval = Field("1min", description="bar interval the engine runs on (bars are aggregated)")
    context_path: str | None = Field(
        None, max_length=500, description="context series: one long file (symbol,timestamp,...) or a folder with one "
        "file per symbol (source=file)",
    )
    lead_lag: float = Field(
        0.0, ge=0.0, le=0.9, description="synthetic context: correlation of context shocks with the underlying's "
        "move lead_bars later (0 = none planted)",
    )
    lead_bars: int = Field(5, ge=1, le=390, description="synthetic context: how many bars the planted lead is")

    @model_validator(mode="after")
    def _needs(self) -> DataSpec:
        if self.source == "file" and not self.path:
            raise ValueError("data.path is required when data.source is 'file'")
        if self.context_path and self.source != "file":
            raise ValueError("data.context_path applies to data.source 'file' only")
        if self.source == "cache" and not self.name:
            raise ValueError("data.name is required when data.source is 'cache'")
        if self.end is not None and self.end < self.start:
            raise ValueError("data.end must not be before data.start")
        return self


class SplitSpec(_Section):
    """Time splits: train, validation (walk-forward) and a sealed holdout, with an embargo between them."""

    train: float = Field(0.6, ge=0.2, le=0.9, description="fraction of sessions for training")
    validation: float = Field(0.2, ge=0.05, le=0.6, description="fraction of sessions for validation")
    holdout: float = Field(0.2, ge=0.05, le=0.5, description="fraction of sessions sealed for promotion")
    embargo_bars: int = Field(60, ge=0, le=5000, description="bars dropped after train and after validation")
    refit_every: int | None = Field(
        None, ge=100, le=100_000, description="walk-forward: refit the predictor and regime model every K evaluation bars on all data up "
        "to that point less the embargo (None = fit once on train; the exit model is always fit once)"
    )

    @model_validator(mode="after")
    def _sum(self) -> SplitSpec:
        total = self.train + self.validation + self.holdout
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"splits.train + validation + holdout must be 1.0, got {total:.3f}")
        return self


class TrainingSpec(_Section):
    """How the predictor is trained (CPU-friendly defaults)."""

    epochs: int = Field(6, ge=1, le=200)
    batch_size: int = Field(128, ge=8, le=4096)
    lr: float = Field(2e-3, ge=1e-5, le=0.1)
    weight_decay: float = Field(1e-4, ge=0.0, le=0.1)
    patience: int = Field(2, ge=1, le=50, description="early-stopping patience in epochs")
    early_stop_fraction: float = Field(0.2, ge=0.05, le=0.5, description="last part of train used for early stopping")
    max_samples: int = Field(6000, ge=200, le=1_000_000, description="training windows drawn from the train split")
    kl_weight: float = Field(1e-3, ge=0.0, le=1.0, description="weight of the Bayesian heads' KL term")


class ModelSpec(_Section):
    """The predictor: a temporal encoder, RBF kernels and Bayesian heads."""

    encoder: Encoder = Field("tcn", description="temporal encoder")
    window: int = Field(DEFAULT_WINDOW, ge=8, le=1024, description="bars of history the encoder reads (a TCN reads at "
                        "most its receptive field: a larger window is refused, the default 64 means all of it)")
    hidden: int = Field(32, ge=8, le=256)
    layers: int = Field(2, ge=1, le=8)
    heads: int = Field(2, ge=1, le=8, description="attention heads (transformer) / SSM heads (mamba2)")
    d_state: int = Field(16, ge=4, le=128, description="Mamba2 state size")
    chunk_size: int = Field(16, ge=4, le=256, description="Mamba2 SSD chunk length")
    kernel_size: int = Field(3, ge=2, le=9, description="TCN kernel size")
    dropout: float = Field(0.0, ge=0.0, le=0.5)
    horizons: list[int] = Field(default_factory=lambda: [5, 15, 30, 45], min_length=1, max_length=6)
    rbf_centers: int = Field(16, ge=2, le=128)
    rbf_scales: list[float] = Field(default_factory=lambda: [0.5, 1.0, 2.0], min_length=1, max_length=6)
    mc_samples: int = Field(16, ge=1, le=200, description="Monte Carlo samples for epistemic spread")
    prior_sigma: float = Field(0.1, gt=0.0, le=5.0, description="Bayesian heads' prior standard deviation")
    training: TrainingSpec = Field(default_factory=TrainingSpec)

    @model_validator(mode="after")
    def _horizons(self) -> ModelSpec:
        if any(h < 1 or h > 390 for h in self.horizons):
            raise ValueError("model.horizons must each be between 1 and 390 bars")
        if sorted(set(self.horizons)) != self.horizons:
            raise ValueError("model.horizons must be strictly increasing")
        if any(s <= 0 or s > 10 for s in self.rbf_scales):
            raise ValueError("model.rbf_scales must each be in (0, 10]")
        field = tcn_receptive_field(self.layers, self.kernel_size)
        if self.encoder == "tcn" and self.window > field and self.window != DEFAULT_WINDOW:
            raise ValueError(
                f"model.window ({self.window}) is more than the TCN can read: its receptive field ({field} bars at "
                f"model.layers {self.layers}, model.kernel_size {self.kernel_size}); "
                + (f"set model.window <= {field}, " if field >= 8 else "")
                + "raise model.layers or model.kernel_size, or leave model.window at its default (all of the field)"
            )
        return self


class RegimeSpec(_Section):
    """The 3x3x3 regime HMM."""

    enabled: bool = True
    n_iter: int = Field(50, ge=5, le=1000, description="EM iterations per axis")
    covariance_type: Literal["diag", "full"] = "diag"
    fit_max_bars: int = Field(20_000, ge=500, le=1_000_000, description="train bars used to fit (most recent)")


class ConsensusSpec(_Section):
    """Consensus entry: trade when enough signals agree with enough weighted confidence and no veto."""

    min_signals_to_trade: int = Field(5, ge=1, le=8)
    min_weighted_confidence: float = Field(0.55, ge=0.0, le=1.0)
    weights: dict[str, float] = Field(default_factory=dict, description="per-signal weight (default 1.0)")
    blocked_signals: list[str] = Field(default_factory=list, description="signals ignored entirely")

    @model_validator(mode="after")
    def _names(self) -> ConsensusSpec:
        for name in list(self.weights) + list(self.blocked_signals):
            if name not in SIGNAL_NAMES:
                raise ValueError(f"unknown signal '{name}'; allowed: {', '.join(SIGNAL_NAMES)}")
        for name, w in self.weights.items():
            if not 0.0 <= w <= 5.0:
                raise ValueError(f"entry.consensus.weights.{name} must be between 0 and 5, got {w}")
        return self


class BanditSpec(_Section):
    algorithm: Literal["epsilon_greedy", "thompson"] = "thompson"
    epsilon: float = Field(0.1, ge=0.0, le=1.0)


class RLSpec(_Section):
    timesteps: int = Field(20_000, ge=1_000, le=2_000_000)
    risk_penalty: float = Field(0.1, ge=0.0, le=10.0)


class QScorerSpec(_Section):
    threshold: float = Field(5.0, ge=-100.0, le=1000.0, description="minimum predicted net P&L ($) to enter")


class PredictorEntrySpec(_Section):
    min_confidence: float = Field(0.55, ge=0.5, le=1.0, description="direction probability needed to enter")
    cost_multiple: float = Field(1.5, ge=0.0, le=20.0, description="predicted move must beat this many x costs")


class MomentumSpec(_Section):
    lookback_bars: int = Field(120, ge=2, le=500, description="two hours: a multi-session trend shows over hours")
    threshold_sigma: float = Field(1.0, ge=0.0, le=10.0, description="entry when the move exceeds this many sigmas")


class RandomSpec(_Section):
    entry_probability: float = Field(0.02, ge=0.0, le=1.0, description="chance of an entry each bar")


class EntrySpec(_Section):
    """Which entry controller decides, and its parameters."""

    type: EntryType = Field("consensus", description="entry controller (momentum and random are the baselines)")
    cooldown_bars: int = Field(5, ge=0, le=1000, description="bars skipped after an entry's bar before the next entry (0: the next bar may enter)")
    consensus: ConsensusSpec = Field(default_factory=ConsensusSpec)
    bandit: BanditSpec = Field(default_factory=BanditSpec)
    rl: RLSpec = Field(default_factory=RLSpec)
    q_scorer: QScorerSpec = Field(default_factory=QScorerSpec)
    predictor: PredictorEntrySpec = Field(default_factory=PredictorEntrySpec)
    momentum: MomentumSpec = Field(default_factory=MomentumSpec)
    random: RandomSpec = Field(default_factory=RandomSpec)


class ExitModelSpec(_Section):
    """Exit layer 2: an XGBoost model of whether holding on does worse than exiting now."""

    enabled: bool = True
    threshold: float = Field(0.65, ge=0.0, le=1.0, description="exit when P(holding is worse) exceeds this")


class ExitSpec(_Section):
    """Layered exits: hard rules first, then an optional model."""

    stop_loss_pct: float | None = Field(
        50.0, gt=0.0, le=100.0, description="None disables; a catastrophe stop by default (an 8% stop on an "
        "at-the-money option is a few basis points of SPY, inside one bar's noise, and cut every trend trade)")
    take_profit_pct: float | None = Field(
        None, gt=0.0, le=1000.0, description="None disables (the default: a trend edge pays in the right tail)")
    trailing_activation_pct: float | None = Field(None, gt=0.0, le=1000.0, description="gain that arms the trail")
    trailing_distance_pct: float = Field(5.0, gt=0.0, le=100.0, description="give-back from the peak that exits")
    max_hold_minutes: int | None = Field(45, ge=1, le=20_000, description="None disables")
    flat_by_eod: bool = True
    eod_minutes_before_close: int = Field(5, ge=1, le=120)
    close_before_expiry_minutes: int | None = Field(
        None, ge=1, le=390, description="force a close this long before expiry (None: hold to settlement)"
    )
    model: ExitModelSpec = Field(default_factory=ExitModelSpec)


class TradingSpec(_Section):
    """Account, sizing and contract selection."""

    symbol: Literal["SPY"] = "SPY"
    initial_balance: float = Field(5000.0, ge=100.0, le=10_000_000.0)
    max_positions: int = Field(3, ge=1, le=50)
    sizing: Literal["fixed", "fraction"] = "fixed"
    contracts: int = Field(1, ge=1, le=1000, description="contracts per entry (sizing=fixed)")
    equity_fraction: float = Field(0.05, gt=0.0, le=1.0, description="premium as a fraction of equity (fraction)")
    max_contracts: int = Field(10, ge=1, le=1000, description="cap on contracts per entry")
    min_dte: int = Field(0, ge=0, le=30)
    max_dte: int = Field(2, ge=0, le=30)
    selection: Literal["delta", "moneyness"] = "delta"
    target_delta: float = Field(0.5, ge=0.05, le=0.95)
    moneyness: float = Field(0.0, ge=-0.1, le=0.1, description="strike offset, positive = out of the money")

    @model_validator(mode="after")
    def _dte(self) -> TradingSpec:
        if self.max_dte < self.min_dte:
            raise ValueError("trading.max_dte must be >= trading.min_dte")
        return self


class FeaturesSpec(_Section):
    """Which feature families the models read (price and chain are what runs used before families existed)."""

    families: list[Family] = Field(
        default_factory=lambda: list(DEFAULT_FAMILIES), min_length=1, max_length=6,
        description="price (always), chain (signals), breadth, macro, crypto, surface (model inputs)",
    )
    required: dict[Family, bool] = Field(
        default_factory=dict, description="family -> false: drop it with a warning when its series are missing",
    )
    regime: bool = Field(False, description="the regime model reads the context families too")

    @model_validator(mode="after")
    def _families(self) -> FeaturesSpec:
        if "price" not in self.families:
            raise ValueError("features.families must include 'price' (the underlying's own bars)")
        if len(set(self.families)) != len(self.families):
            raise ValueError("features.families lists a family twice")
        return self


class CostSpec(_Section):
    """What trading costs: commission, fees, spread and latency."""

    commission_per_contract: float = Field(0.35, ge=0.0, le=10.0)
    fees_per_contract: float = Field(0.05, ge=0.0, le=5.0, description="regulatory and exchange fees")
    latency_bars: int = Field(1, ge=0, le=10, description="orders fill at the quote this many bars later")
    spread_multiplier: float = Field(1.0, ge=0.5, le=10.0, description="scales quoted spreads (stress test)")


class ExperimentSpec(_Section):
    """One experiment, complete: data, splits, model, regimes, entry, exits, trading, costs, cycles and seed."""

    name: str = Field("experiment", max_length=80, description="cosmetic: not part of the hash")
    notes: str = Field("", max_length=4000, description="cosmetic: not part of the hash")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    cycles: int | None = Field(
        5000, ge=10, le=10_000_000, description="bound on evaluation bars (None = the whole validation split)"
    )
    data: DataSpec = Field(default_factory=DataSpec)
    splits: SplitSpec = Field(default_factory=SplitSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    regime: RegimeSpec = Field(default_factory=RegimeSpec)
    entry: EntrySpec = Field(default_factory=EntrySpec)
    exits: ExitSpec = Field(default_factory=ExitSpec)
    trading: TradingSpec = Field(default_factory=TradingSpec)
    costs: CostSpec = Field(default_factory=CostSpec)
    features: FeaturesSpec = Field(default_factory=FeaturesSpec)

    @model_validator(mode="after")
    def _embargo(self) -> ExperimentSpec:
        minutes = INTERVAL_MINUTES[self.data.interval]
        longest = max(max(self.model.horizons) * minutes, longest_hold_minutes(self))
        if self.splits.embargo_bars * minutes < longest:
            raise ValueError(
                f"splits.embargo_bars ({self.splits.embargo_bars} bars of {self.data.interval}) must cover the "
                f"longest hold or label horizon ({longest} minutes)"
            )
        return self


def longest_hold_minutes(spec: ExperimentSpec) -> int:
    """The longest a position can be held under the spec's exits, in minutes (a daily bar counts a session).

    A position settles at the latest when its contract expires: trading.max_dte sessions after the entry's, so
    max_dte + 1 sessions. Flat by the close (intraday bars; the engine turns it off on daily bars, where one bar
    is the whole session) ends it within its session, eod_minutes_before_close before the close. A max hold
    ends it sooner when shorter. The embargo must cover this, whatever the interval."""
    x = spec.exits
    bounds = [(spec.trading.max_dte + 1) * SESSION_MINUTES]
    if x.flat_by_eod and spec.data.interval != "1day":
        bounds.append(SESSION_MINUTES - x.eod_minutes_before_close)
    if x.max_hold_minutes is not None:
        bounds.append(x.max_hold_minutes)
    return min(bounds)
