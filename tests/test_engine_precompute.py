"""The engine's shortcuts give the numbers they replace, bit for bit: the per-bar clock arrays, the boxed
timestamps, the feed's log returns (at once or bar by bar), the block-drawn random entries, the cent-grid
rounding of the spread model and the strike search."""
from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from trader.broker.sim import SimBroker
from trader.clock import BarClock
from trader.engine import Engine, EngineConfig
from trader.feed import ReplayFeed, Stamps
from trader.live_feed import LiveFeed
from trader.market import model
from trader.market.calendar import session_close_times
from trader.market.synthetic import generate_synthetic
from trader.options import expiry_close
from trader.selection import _nearest
from trader.strategies.base import BarSeries, Snapshot
from trader.strategies.baselines import RandomStrategy


@pytest.fixture(scope="module")
def market():
    return generate_synthetic(sessions=3, seed=4, edge=0.3)


def test_clock_arrays_equal_the_timestamp_arithmetic(market) -> None:
    """Minutes to the close, bar ends and session dates, as the Timestamp arithmetic they replace gives them."""
    feed = ReplayFeed(market, BarClock(market.bars.index, 0))
    engine = Engine(feed, SimBroker(feed, EngineConfig().costs, 5000.0), RandomStrategy(0.0), EngineConfig())
    stamps = market.bars.index
    ends = list(stamps + pd.Timedelta(minutes=1))
    closes = session_close_times(sorted(set(stamps.date)))
    want = [(closes[e.date()] - e).total_seconds() / 60.0 for e in ends]
    assert engine._to_close == want
    assert [engine._ends[i] for i in range(len(ends))] == ends
    assert list(engine._session) == list(stamps.date)
    e = ends[100]
    expiry = stamps[100].date()
    assert (engine._expiry_close_ns(expiry) - engine._end_ns[100]) / 1e9 / 60.0 == \
        (expiry_close(expiry) - e).total_seconds() / 60.0


@pytest.mark.parametrize("unit", ["ns", "us", "s"])
@pytest.mark.parametrize("tz", ["America/New_York", "UTC", None])
def test_stamps_box_what_indexing_gives(unit: str, tz: str | None) -> None:
    index = pd.date_range("2024-03-08 09:30", periods=3000, freq="min", tz=tz).as_unit(unit)
    boxed = Stamps(index)
    for i in range(0, len(index), 37):
        a, b = index[i], boxed[i]
        assert (a, a.unit, str(a), repr(a)) == (b, b.unit, str(b), repr(b)) and a.tz is b.tz


def test_log_returns_at_once_and_bar_by_bar_equal_the_per_window_logs(market) -> None:
    bars = market.bars
    closes = bars["close"].to_numpy()
    replay = ReplayFeed(market, BarClock(bars.index, len(bars) - 1))
    live = LiveFeed(bars.iloc[:0], bars.index, market.quoter, market.meta)
    rows = bars.to_dict("records")
    for i in range(len(bars)):
        live.put_bar(i, rows[i])
        live.clock.advance_to(i)
        got = live.log_returns_until(i)
        assert len(got) == i
        if i > 121:
            want = np.diff(np.log(closes[i - 120: i + 1]))
            assert got[-120:].tobytes() == want.tobytes()
            assert replay.log_returns_until(i)[-120:].tobytes() == want.tobytes()


def test_random_entries_drawn_in_blocks_equal_two_draws_a_bar() -> None:
    strategy = RandomStrategy(0.5, seed=3)
    rng = np.random.default_rng(3)
    snap = Snapshot(0, None, np.ones(1), (), 0.0, 0.0, 60.0, BarSeries({}))
    for _ in range(3 * RandomStrategy.BLOCK):
        u, d = rng.random(2)
        intents = strategy.decide(snap)
        assert bool(intents) == (u < 0.5)
        if intents:
            assert intents[0].direction == (1 if d < 0.5 else -1)


def _bid_ask_by_decimal_rounding(theo: float, widen: float) -> tuple[float, float]:
    """The spread model with Python's decimal rounding at every step (what bid_ask_scalar stands for)."""
    t = model.TICK
    width = t * math.ceil(round((model.SPREAD_BASE + model.SPREAD_PCT * theo) * widen / t, 9))
    bid = max(math.floor(round((theo - width / 2.0) / t, 9)) * t, 0.0)
    ask = max(math.ceil(round((theo + width / 2.0) / t, 9)) * t, bid + t)
    return round(bid, 2), round(ask, 2)


def test_scalar_bid_ask_equals_decimal_rounding_everywhere() -> None:
    rng = random.Random(0)
    for _ in range(200_000):
        kind = rng.random()
        if kind < 0.4:
            theo = rng.uniform(0.0, 60.0)
        elif kind < 0.8:  # on and next to the tick grid, where the rounding decides
            theo = round(rng.uniform(0.0, 60.0), 2) + rng.choice([0.0, 1e-12, -1e-12, 5e-10, -5e-10, 0.005])
        else:
            theo = rng.expovariate(1.0) * 0.05
        widen = rng.choice([1.0, 1.5, 2.0, rng.uniform(1.0, 12.0)])
        assert repr(model.bid_ask_scalar(theo, widen)) == repr(_bid_ask_by_decimal_rounding(theo, widen))
    for x in (0.0, -0.0, 1e300, -1e300, 0.125, 2.675, 1.005, -3.14159, math.nan, math.inf):
        assert repr(model._round_cents(x)) == repr(round(x, 2))


def test_nearest_strike_is_the_first_minimum() -> None:
    rng = random.Random(1)
    for _ in range(5000):
        strikes = sorted(rng.choice([rng.uniform(400, 500), float(rng.randint(400, 500))]) for _ in range(rng.randint(1, 30)))
        target = rng.choice([rng.uniform(390, 510), float(rng.randint(400, 500)) + 0.5, strikes[0]])
        assert _nearest(strikes, target) == min(range(len(strikes)), key=lambda j: abs(strikes[j] - target))
