"""The exit trigger never hides a bar where the hard rules fire: whenever `check` returns a reason, the trigger
says to look (marks, peaks and times drawn at random and placed on every threshold and its neighbouring floats),
and the engine trades exactly as it does when it checks every position at every bar."""
from __future__ import annotations

import math
import random
from dataclasses import asdict
from typing import Any

import pandas as pd
import pytest

from trader.broker.sim import SimBroker
from trader.clock import BarClock
from trader.domain import EntryContext, Position
from trader.engine import Engine, EngineConfig
from trader.exit_rules import HardExitRules, exit_trigger
from trader.feed import ReplayFeed
from trader.market.base import Market
from trader.market.synthetic import generate_synthetic
from trader.strategies.baselines import MomentumStrategy, RandomStrategy

ENTRY = pd.Timestamp("2024-03-04 10:00", tz="America/New_York")
EXPIRY_NS = pd.Timestamp("2024-03-05 16:00", tz="America/New_York").value


def _position(entry_price: float, peak: float) -> Position:
    return Position(position_id=1, symbol="SPY240305C00500000", right="C", strike=500.0,
                    expiry=pd.Timestamp("2024-03-05").date(), contracts=1, entry_price=entry_price,
                    entry_time=ENTRY, entry_fees=0.0, context=EntryContext(strategy="t", direction=1),
                    peak_price=peak, last_mark=entry_price)


def _looks(rules: HardExitRules, pos: Position, mark: float, end_ns: int, to_close: float) -> bool:
    """What the engine asks of the trigger before it runs check (as in Engine._mark_and_exit)."""
    t = exit_trigger(rules, pos, EXPIRY_NS)
    eod = rules.flat_by_eod and to_close <= rules.eod_minutes_before_close
    return eod or end_ns >= t.time_ns or mark <= t.stop_mark or mark >= t.take_mark or pos.peak_price >= t.trail_peak


def _near(x: float) -> list[float]:
    """x and the floats next to it."""
    return [math.nextafter(x, -math.inf), x, math.nextafter(x, math.inf)]


def _rules(rng: random.Random) -> HardExitRules:
    pick = lambda v: v if rng.random() < 0.8 else None
    return HardExitRules(stop_loss_pct=pick(rng.choice([8.0, 25.0, 3.3, 50.0, 100.0])),
                         take_profit_pct=pick(rng.choice([15.0, 40.0, 7.7, 200.0])),
                         trailing_activation_pct=pick(rng.choice([5.0, 12.5, 0.0])),
                         trailing_distance_pct=rng.choice([3.0, 5.0, 0.5]),
                         max_hold_minutes=pick(rng.choice([45, 1, 30.5, 390])),
                         flat_by_eod=rng.random() < 0.5, eod_minutes_before_close=rng.choice([5, 0, 15]),
                         close_before_expiry_minutes=pick(rng.choice([10.0, 0.0, 60.0, 1.0 / 3.0])))


@pytest.mark.parametrize("seed", range(4))
def test_the_trigger_looks_wherever_a_rule_fires(seed: int) -> None:
    rng = random.Random(seed)
    fired = 0
    for _ in range(400):
        rules = _rules(rng)
        entry = rng.choice([0.01, 0.37, 1.05, 2.5, 13.99, 123.45]) * rng.choice([1.0, 1.0 + 1e-12])
        marks = [entry * (1.0 + k / 100.0) for k in (-100.0, -50.0, -8.0, -3.3, 0.0, 7.7, 15.0, 40.0, 200.0)]
        for pct in (rules.stop_loss_pct, rules.take_profit_pct):
            if pct is not None:
                marks += _near(entry * (1.0 - pct / 100.0)) + _near(entry * (1.0 + pct / 100.0))
        ends = [ENTRY.value + int(m * 60e9) for m in (0.0, 0.5, 29.0, 45.0, 390.0, 1000.0)]
        if rules.max_hold_minutes is not None:
            ends += [ENTRY.value + int(rules.max_hold_minutes * 60e9) + d for d in (-2, -1, 0, 1)]
        if rules.close_before_expiry_minutes is not None:
            ends += [EXPIRY_NS - int(rules.close_before_expiry_minutes * 60e9) + d for d in (-2, -1, 0, 1)]
        for mark in rng.sample(marks, min(len(marks), 8)):
            peak = max(mark, entry * rng.choice([1.0, 1.03, 1.05, 1.125, 1.2]))
            if rules.trailing_activation_pct is not None and rng.random() < 0.3:
                peak = rng.choice(_near(entry * (1.0 + rules.trailing_activation_pct / 100.0)))
            pos = _position(entry, peak)
            for end in rng.sample(ends, min(len(ends), 5)):
                to_close = rng.choice([0.0, 4.999, 5.0, 15.0, 200.0])
                held = (end - pos.entry_time.value) / 1e9 / 60.0
                reason = rules.check(pos, mark, held, to_close, (EXPIRY_NS - end) / 1e9 / 60.0)
                if reason is not None:
                    fired += 1
                    assert _looks(rules, pos, mark, end, to_close), (rules, entry, mark, peak, end, reason)
    assert fired > 1000  # the draws reach every rule often


def test_a_position_far_from_every_threshold_is_left_alone() -> None:
    rules = HardExitRules()  # stop 8 %, target 15 %, 45 minutes, flat 5 minutes before the close
    pos = _position(2.0, 2.0)
    assert not _looks(rules, pos, 2.05, ENTRY.value + int(10 * 60e9), 120.0)
    assert _looks(rules, pos, 1.84, ENTRY.value + int(10 * 60e9), 120.0)  # the stop: 2.00 * 0.92
    assert _looks(rules, pos, 2.30, ENTRY.value + int(10 * 60e9), 120.0)  # the target
    assert _looks(rules, pos, 2.05, ENTRY.value + int(45 * 60e9), 120.0)  # 45 minutes held
    assert _looks(rules, pos, 2.05, ENTRY.value + int(10 * 60e9), 5.0)  # flat by the end of the day


def test_rules_of_a_subclass_or_a_position_without_premium_are_looked_at_every_bar() -> None:
    class Mine(HardExitRules):
        pass

    assert _looks(Mine(), _position(2.0, 2.0), 2.0, ENTRY.value, 200.0)
    assert _looks(HardExitRules(), _position(0.0, 0.0), 2.0, ENTRY.value, 200.0)


class _EveryBar(HardExitRules):
    """The same rules, run at every bar (a subclass gets no trigger)."""


def _log(rules: HardExitRules, strategy: Any, market: Market) -> list:
    """Every trade, decision and the equity curve of one engine run."""
    clock = BarClock(market.bars.index, 0)
    feed = ReplayFeed(market, clock)
    cfg = EngineConfig(rules=rules, max_positions=4, cooldown_bars=2)
    res = Engine(feed, SimBroker(feed, cfg.costs, 1_000_000.0), strategy, cfg).run(0, len(market.bars))
    return [[asdict(t) for t in res.trades], res.decisions, res.equity.to_dict("list")]


@pytest.mark.parametrize("rules", [
    {"stop_loss_pct": 8.0, "take_profit_pct": 15.0, "max_hold_minutes": 45},
    {"stop_loss_pct": None, "take_profit_pct": 30.0, "trailing_activation_pct": 5.0, "trailing_distance_pct": 3.0,
     "max_hold_minutes": 30, "close_before_expiry_minutes": 10.0},
    {"stop_loss_pct": 3.0, "take_profit_pct": None, "max_hold_minutes": None, "flat_by_eod": False,
     "close_before_expiry_minutes": 200.0},
])
def test_the_engine_with_triggers_trades_as_it_does_checking_every_bar(rules: dict) -> None:
    market = generate_synthetic(sessions=6, seed=11, edge=0.3)
    for make in (lambda: MomentumStrategy(), lambda: RandomStrategy(0.05, seed=3)):
        fast = _log(HardExitRules(**rules), make(), market)
        every = _log(_EveryBar(**rules), make(), market)
        assert len(fast[0]) > 20
        assert fast == every
