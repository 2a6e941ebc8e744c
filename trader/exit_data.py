"""Training data of the exit model: features of every held bar the hard rules kept, labelled in hindsight.

The engine runs over the training bars only (a market cut at the training end) with a baseline strategy and the
hard rules; a recorder in the exit-model slot never exits and writes down, for every consultation, the features
and the contract. A consultation at bar i is labelled 1 ("exit now") when holding did worse than exiting now:

* exiting now sells at the bid of bar ``i + latency`` (the bar the close order would fill at);
* holding ends either at the position's eventual hard-rule exit (its actual fill, settlement or end-of-data
  price; ``horizon_bars=None``) or, with ``horizon_bars=N``, at an exit decided at bar ``i + N`` (sold at the
  bid of ``i + N + latency``) unless the hard rules closed it first.

Both sides sell at a bid, so the label is net of the exit spread; commissions are equal on both sides.
Every price used comes from a bar before the training end.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from trader.broker.base import CostModel
from trader.broker.sim import SimBroker
from trader.clock import BarClock
from trader.domain import Position
from trader.engine import Engine, EngineConfig
from trader.errors import DataError
from trader.feed import ReplayFeed
from trader.market.base import Market, MissingQuoteError, OptionQuote
from trader.market.calendar import session_close_times
from trader.strategies.base import Strategy

BASE_FEATURES: tuple[str, ...] = (
    "pnl_pct", "bid_pnl_pct", "spread_pct", "peak_pct", "giveback_pct", "held_minutes", "minutes_to_expiry",
    "iv", "delta", "gamma", "theta_pct", "vega_pct", "is_call", "underlying_move_pct", "moneyness",
    "trend_15_pct", "trend_60_pct", "realized_vol_30", "minutes_to_close",
)
"""Features of a held position at a bar, computed the same way in training and in use."""


def extra_names(extras: Mapping[str, np.ndarray] | None) -> list[str]:
    """Feature names of per-bar arrays: `name` for a 1-D array, `name_k` for column k of a 2-D one."""
    names: list[str] = []
    for name, arr in (extras or {}).items():
        a = np.asarray(arr)
        names += [name] if a.ndim == 1 else [f"{name}_{k}" for k in range(a.shape[1])]
    return names


def market_context(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    """Causal per-bar context: close, 15/60-bar log returns (%), 30-bar realized vol (% per bar), minutes to close."""
    close = bars["close"].to_numpy(dtype=float)
    logc = pd.Series(np.log(close))
    r1 = logc.diff().fillna(0.0)
    stamps = pd.DatetimeIndex(bars.index)
    step = pd.Timedelta(np.median(np.diff(stamps.asi8))) if len(stamps) > 1 else pd.Timedelta(minutes=1)
    if step >= pd.Timedelta(hours=6):
        to_close = np.zeros(len(stamps))
    else:
        dates = np.array(stamps.date)
        closes_at = session_close_times(sorted(set(dates)))
        ends = stamps + step
        to_close = np.array([(closes_at[d] - e).total_seconds() / 60.0 if d in closes_at else 0.0
                             for d, e in zip(dates, ends)])
    return {
        "close": close,
        "trend_15": ((logc - logc.shift(15)).fillna(0.0) * 100.0).to_numpy(),
        "trend_60": ((logc - logc.shift(60)).fillna(0.0) * 100.0).to_numpy(),
        "rv_30": (np.sqrt((r1 * r1).rolling(30, min_periods=1).mean()) * 100.0).to_numpy(),
        "to_close": to_close,
    }


def base_features(pos: Position, quote: OptionQuote, held_minutes: float, minutes_to_expiry: float,
                  ctx: Mapping[str, np.ndarray], i: int) -> list[float]:
    """The BASE_FEATURES of one held position at bar i, in that order (context read at row i only)."""
    spot = float(ctx["close"][i])
    entry = pos.entry_price if pos.entry_price > 0 else float("nan")
    mid = quote.mid
    sign = 1.0 if pos.right == "C" else -1.0
    per_mid = 100.0 / mid if mid > 0 else float("nan")
    peak = max(pos.peak_price, mid)
    move = (spot / pos.entry_underlying - 1.0) * 100.0 * sign if pos.entry_underlying > 0 else float("nan")
    money = sign * math.log(pos.strike / spot) if spot > 0 and pos.strike > 0 else float("nan")
    return [
        (mid / entry - 1.0) * 100.0,
        (quote.bid / entry - 1.0) * 100.0,
        (quote.ask - quote.bid) * per_mid,
        (peak / entry - 1.0) * 100.0,
        (1.0 - mid / peak) * 100.0 if peak > 0 else 0.0,
        float(held_minutes),
        float(minutes_to_expiry),
        float(quote.iv),
        float(quote.delta),
        float(quote.gamma),
        float(quote.theta) * per_mid,
        float(quote.vega) * per_mid,
        1.0 if pos.right == "C" else 0.0,
        move,
        money,
        float(ctx["trend_15"][i]) * sign,
        float(ctx["trend_60"][i]) * sign,
        float(ctx["rv_30"][i]),
        float(ctx["to_close"][i]),
    ]


class FeatureSource:
    """Builds the feature row of a consultation from the position, the quote and per-bar arrays read at bar i."""

    def __init__(self, bars: pd.DataFrame, extras: Mapping[str, np.ndarray] | None = None) -> None:
        self.ctx = market_context(bars)
        n = len(bars)
        self.extras = {k: np.asarray(v, dtype=float) for k, v in (extras or {}).items()}
        for name, arr in self.extras.items():
            if len(arr) != n:
                raise DataError(f"exit-model input '{name}' has {len(arr)} rows for {n} bars")
        self.names = list(BASE_FEATURES) + extra_names(self.extras)

    def row(self, pos: Position, quote: OptionQuote, i: int, held_minutes: float,
            minutes_to_expiry: float) -> np.ndarray:
        """The feature row at bar i (only row i of each per-bar array is read)."""
        vals = base_features(pos, quote, held_minutes, minutes_to_expiry, self.ctx, i)
        for arr in self.extras.values():
            v = arr[i]
            vals.extend(np.atleast_1d(v).tolist())
        return np.asarray(vals, dtype=float)


@dataclass(frozen=True)
class _Consultation:
    """Which position was consulted at which bar, and its contract."""

    position_id: int
    bar: int
    symbol: str
    entry_time: Any
    expiry: Any
    strike: float
    right: str
    entry_price: float


class ExitRecorder:
    """An exit layer that never exits: it records every consultation (features, contract, bar) for training."""

    def __init__(self, source: FeatureSource) -> None:
        self.source = source
        self.rows: list[np.ndarray] = []
        self.meta: list[_Consultation] = []
        self.consulted = 0
        self.fired = 0

    def should_exit(self, pos: Position, quote: Any, i: int, held_minutes: float, minutes_to_expiry: float) -> bool:
        """Record and keep holding."""
        self.consulted += 1
        self.rows.append(self.source.row(pos, quote, i, held_minutes, minutes_to_expiry))
        self.meta.append(_Consultation(pos.position_id, i, pos.symbol, pos.entry_time, pos.expiry, pos.strike,
                                       pos.right, pos.entry_price))
        return False


@dataclass
class ExitDataset:
    """Consultation samples: features X, labels y (1 = exiting now beat holding), bar, position, advantage."""

    X: np.ndarray
    y: np.ndarray
    bar: np.ndarray
    position: np.ndarray
    entry_bar: np.ndarray  # the position's first consultation bar
    last_bar: np.ndarray  # the last bar whose price the label used
    advantage_pct: np.ndarray  # (exit now - hold) in percent of the premium paid
    feature_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    @staticmethod
    def concat(parts: list[ExitDataset]) -> ExitDataset:
        """Samples of several runs in one set (position ids made unique across runs)."""
        if not parts:
            raise DataError("no exit-model datasets to combine")
        offset, pos = 0, []
        for p in parts:
            pos.append(p.position + offset)
            offset += int(p.position.max()) + 1 if len(p.position) else 0
        info = dict(parts[0].info)
        for key in ("consultations", "samples", "positions", "trades"):
            info[key] = int(sum(p.info.get(key, 0) for p in parts))
        y = np.concatenate([p.y for p in parts])
        info["positive_rate"] = float(np.mean(y)) if len(y) else float("nan")
        info["runs"] = len(parts)
        return ExitDataset(
            np.vstack([p.X for p in parts]), y, np.concatenate([p.bar for p in parts]), np.concatenate(pos),
            np.concatenate([p.entry_bar for p in parts]), np.concatenate([p.last_bar for p in parts]),
            np.concatenate([p.advantage_pct for p in parts]), parts[0].feature_names, info,
        )

    def subset(self, mask: np.ndarray) -> ExitDataset:
        """The samples where mask is true."""
        return ExitDataset(self.X[mask], self.y[mask], self.bar[mask], self.position[mask], self.entry_bar[mask],
                           self.last_bar[mask], self.advantage_pct[mask], self.feature_names, dict(self.info))


def sell_price(quote: OptionQuote, costs: CostModel) -> float:
    """What a sell-to-close fills at for this quote (the simulated broker's rule: the bid, or a scaled spread)."""
    if costs.spread_multiplier == 1.0:
        return max(0.0, quote.bid)
    half = (quote.ask - quote.bid) / 2.0 * costs.spread_multiplier
    return max(0.0, round(quote.mid - half, 2))


def cut_market(market: Market, end: int) -> Market:
    """The market without the bars from `end` on (and without its hidden truth)."""
    bars = market.bars.iloc[:end]
    chains = None
    if market.chains is not None and len(bars):
        chains = market.chains[market.chains["timestamp"] <= bars.index[-1]]
    return Market(bars=bars, chains=chains, truth=None, meta=dict(market.meta), quoter=market.quoter)


def build_exit_dataset(market: Market, start: int, end: int, config: EngineConfig, strategy: Strategy, *,
                       horizon_bars: int | None = None,
                       extras: Mapping[str, np.ndarray] | None = None) -> ExitDataset:
    """Run the engine over bars [start, end) of a market cut at `end` and label every consultation in hindsight."""
    if not 0 <= start < end <= len(market.bars):
        raise DataError(f"exit-model data range [{start}, {end}) is outside the {len(market.bars)} bars")
    if horizon_bars is not None and horizon_bars < 1:
        raise DataError(f"horizon_bars must be at least 1 (or None), got {horizon_bars}")
    view = cut_market(market, end)
    cut_extras = {k: np.asarray(v)[:end] for k, v in (extras or {}).items()}
    source = FeatureSource(view.bars, cut_extras)
    recorder = ExitRecorder(source)
    clock = BarClock(view.bars.index, start)
    feed = ReplayFeed(view, clock)
    # ample cash: a losing baseline must not stop trading half-way and leave the later bars without samples
    config = replace(config, initial_balance=max(config.initial_balance, 1e9))
    broker = SimBroker(feed, config.costs, config.initial_balance)
    engine = Engine(feed, broker, strategy, config, exit_model=recorder)
    result = engine.run(start, end)

    trades = {(t.symbol, t.entry_time): t for t in result.trades}
    stamps = view.bars.index
    delta = pd.Timedelta(minutes=config.interval_minutes)  # the engine stamps a fill at its bar's end
    latency = config.costs.latency_bars
    quoter = view.quoter
    held_bars: dict[int, set[int]] = {}
    first_bar: dict[int, int] = {}
    for c in recorder.meta:
        held_bars.setdefault(c.position_id, set()).add(c.bar)
        first_bar.setdefault(c.position_id, c.bar)

    def sell_at(bar: int, c: _Consultation) -> float | None:
        try:
            return sell_price(quoter.quote(min(bar, end - 1), c.expiry, c.strike, c.right), config.costs)
        except MissingQuoteError:
            return None

    def exit_bar(t: Any) -> int:
        """The bar whose price closed the trade (exit times are bar ends)."""
        return int(min(end - 1, max(0, stamps.searchsorted(t.exit_time - delta))))

    keep, ys, adv, last = [], [], [], []
    for k, c in enumerate(recorder.meta):
        trade = trades.get((c.symbol, c.entry_time))
        if trade is None:
            continue
        now = sell_at(c.bar + latency, c)
        if now is None:
            continue
        hold, used = trade.exit_price, exit_bar(trade)
        if horizon_bars is not None and c.bar + horizon_bars in held_bars[c.position_id]:
            later = sell_at(c.bar + horizon_bars + latency, c)
            if later is None:
                continue
            hold, used = later, min(c.bar + horizon_bars + latency, end - 1)
        keep.append(k)
        ys.append(1 if hold < now else 0)
        adv.append((now - hold) / c.entry_price * 100.0 if c.entry_price > 0 else 0.0)
        last.append(max(used, min(c.bar + latency, end - 1)))
    picked = [recorder.meta[k] for k in keep]
    X = np.vstack([recorder.rows[k] for k in keep]) if keep else np.zeros((0, len(source.names)))
    info = {"bars": [int(start), int(end)], "consultations": recorder.consulted, "samples": len(keep),
            "positions": len({c.position_id for c in picked}), "trades": len(result.trades),
            "horizon_bars": horizon_bars, "strategy": getattr(strategy, "name", "?"),
            "positive_rate": float(np.mean(ys)) if ys else float("nan")}
    return ExitDataset(
        X=X, y=np.asarray(ys, dtype=np.int64), bar=np.asarray([c.bar for c in picked], dtype=np.int64),
        position=np.asarray([c.position_id for c in picked], dtype=np.int64),
        entry_bar=np.asarray([first_bar[c.position_id] for c in picked], dtype=np.int64),
        last_bar=np.asarray(last, dtype=np.int64), advantage_pct=np.asarray(adv, dtype=float),
        feature_names=source.names, info=info,
    )
