"""The engine's decisions and fills stay byte-identical: three strategies on a fixed synthetic market against
golden logs recorded from the engine before it was optimised (tests/data/engine_golden.json).

Each run logs every decision, fill, rejection and closed trade in full (floats by their exact repr), and hashes
what is too long to keep: the equity curve, what the strategy saw at every bar (the snapshot's fields) and
every call of an exit model. The momentum run is also fed bar by bar through a LiveFeed (as paper trading
does), which must give the same log. Regenerate deliberately with UPDATE_GOLDEN=1 (only when a change of
behaviour is intended, and say so in the commit).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from trader.broker.base import CostModel
from trader.broker.sim import SimBroker
from trader.clock import BarClock
from trader.domain import EntryContext, ExitReason, Intent
from trader.engine import Engine, EngineConfig
from trader.exit_rules import HardExitRules
from trader.feed import ReplayFeed
from trader.live_feed import LiveFeed
from trader.market.base import Market
from trader.market.synthetic import generate_synthetic
from trader.strategies.base import Snapshot
from trader.strategies.baselines import MomentumStrategy, RandomStrategy

GOLDEN = Path(__file__).parent / "data" / "engine_golden.json"
SESSIONS, SEED = 8, 23


class RecordingBroker(SimBroker):
    """The simulated broker, logging every fill and rejection it reports."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.log: list[dict] = []

    def poll(self, bar: int):
        fills, rejects = super().poll(bar)
        self.log += [{"bar": bar, **asdict(f)} for f in fills]
        self.log += [{"bar": bar, "rejected": asdict(o)} for o in rejects]
        return fills, rejects


class Watched:
    """A strategy wrapper hashing what the strategy saw at every bar (the snapshot's fields)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.seen = hashlib.sha256()

    def decide(self, snap: Snapshot) -> list[Intent]:
        row = (snap.i, str(snap.time), len(snap.closes), float(snap.closes[-1]), snap.close, snap.cash, snap.equity,
               snap.minutes_to_close, snap.pending_opens, [p.position_id for p in snap.positions])
        self.seen.update(repr(row).encode())
        return self.inner.decide(snap)

    def on_trade_closed(self, trade: Any) -> None:
        self.inner.on_trade_closed(trade)


class Scripted:
    """Fixed entries and exits: opens at `opens` (bar -> direction), closes everything held at `closes`."""

    name = "scripted"

    def __init__(self, opens: dict[int, int], closes: set[int]) -> None:
        self.opens, self.closes = opens, closes

    def decide(self, snap: Snapshot) -> list[Intent]:
        out = []
        if snap.i in self.closes:
            out += [Intent("close", position_id=p.position_id, reason=ExitReason.MODEL_EXIT) for p in snap.positions]
        if snap.i in self.opens:
            d = self.opens[snap.i]
            out.append(Intent("open", direction=d, context=EntryContext("scripted", d, 0.7, signals=("script",))))
        return out

    def on_trade_closed(self, trade: Any) -> None:
        """Nothing to learn."""


class DeltaExit:
    """An exit model that closes a position once its delta is small and it is held long enough; logs its calls."""

    def __init__(self) -> None:
        self.calls = hashlib.sha256()

    def should_exit(self, pos: Any, quote: Any, i: int, held: float, to_expiry: float) -> bool:
        self.calls.update(repr((i, pos.position_id, held, to_expiry, quote.mid, quote.delta)).encode())
        return held >= 5.0 and abs(quote.delta) < 0.45


def _market() -> Market:
    return generate_synthetic(sessions=SESSIONS, seed=SEED, edge=0.3)


def _market_hash(market: Market) -> str:
    """The bars (every column and the timestamps) and a quote per bar, hashed."""
    h = hashlib.sha256(market.bars.index.asi8.tobytes())
    for c in market.bars.columns:
        h.update(market.bars[c].to_numpy(dtype=float).tobytes())
    q = market.quoter
    for i in range(0, len(market.bars), 97):
        h.update(repr(q.quote(i, q.expiries(i)[0], float(q.strikes(i)[20]), "C")).encode())
    return h.hexdigest()


def _cases(n: int) -> dict[str, tuple[Any, EngineConfig, Any]]:
    """Strategy, engine settings and exit model of each run (fresh objects every call)."""
    base = EngineConfig(rules=HardExitRules(stop_loss_pct=25.0, take_profit_pct=40.0, max_hold_minutes=None))
    trailing = replace(base, rules=HardExitRules(stop_loss_pct=None, take_profit_pct=30.0, trailing_activation_pct=5.0,
                                                   trailing_distance_pct=3.0, max_hold_minutes=30,
                                                   close_before_expiry_minutes=10.0),
                       max_positions=2, cooldown_bars=2, initial_balance=600.0)
    held = replace(base, rules=HardExitRules(stop_loss_pct=None, take_profit_pct=None, max_hold_minutes=None,
                                             flat_by_eod=False),
                   costs=CostModel(latency_bars=0, spread_multiplier=1.5), sizing="fraction", equity_fraction=0.1,
                   cooldown_bars=0, max_dte=1)
    opens = {0: 1, 1: -1, 200: 1, 390: -1, 391: 1, 1000: -1, 1500: 1, 2300: -1, n - 2: 1, n - 1: -1}
    return {
        "momentum": (MomentumStrategy(), base, None),
        "random": (RandomStrategy(0.03, seed=7), trailing, DeltaExit()),
        "scripted": (Scripted(opens, {150, 395, 1700, n - 1}), held, None),
    }


def _dump(x: Any) -> Any:
    """JSON-ready with exact floats: timestamps and dates as strings, tuples as lists."""
    return json.loads(json.dumps(x, default=str))


def _rows(records: list[dict]) -> list[list]:
    """Records as rows under one header row (the golden file stays small and one record per line)."""
    if not records:
        return []
    keys = sorted(records[0])
    return [keys, *([r.get(k) for k in keys] for r in _dump(records))]


def _log(engine: Engine, broker: RecordingBroker, result: Any, watched: Watched, exit_model: Any) -> dict:
    eq = result.equity if result is not None else None
    doc = {
        "decisions": _dump(engine.decisions),
        "fills": [_rows([f for f in broker.log if "rejected" not in f]),
                  _dump([f for f in broker.log if "rejected" in f])],
        "trades": _rows([asdict(t) for t in engine.trades]),
        "fees": repr(float(broker.fees_paid)),
        "cash": repr(float(broker.cash())),
        "seen_sha256": watched.seen.hexdigest(),
        "exit_model_sha256": exit_model.calls.hexdigest() if exit_model is not None else None,
    }
    if eq is not None:
        doc["equity_sha256"] = {c: hashlib.sha256(eq[c].to_numpy().tobytes()).hexdigest() for c in eq.columns}
        doc["equity_index_sha256"] = hashlib.sha256(eq.index.asi8.tobytes()).hexdigest()
        doc["equity_last"] = _dump([float(eq[c].iloc[-1]) for c in eq.columns])
    return doc


def _run_backtest(market: Market, name: str) -> dict:
    n = len(market.bars)
    strategy, cfg, exit_model = _cases(n)[name]
    feed = ReplayFeed(market, BarClock(market.bars.index, 0))
    broker = RecordingBroker(feed, cfg.costs, cfg.initial_balance)
    watched = Watched(strategy)
    engine = Engine(feed, broker, watched, cfg, exit_model=exit_model)
    result = engine.run(0, n)
    return _log(engine, broker, result, watched, exit_model)


def _run_live(market: Market, name: str) -> dict:
    """The same run with bars arriving one at a time through a LiveFeed, stepped as the paper loop does."""
    n = len(market.bars)
    strategy, cfg, exit_model = _cases(n)[name]
    bars = market.bars
    feed = LiveFeed(bars.iloc[:0], bars.index, market.quoter, market.meta)
    broker = RecordingBroker(feed, cfg.costs, cfg.initial_balance)
    watched = Watched(strategy)
    engine = Engine(feed, broker, watched, cfg, exit_model=exit_model)
    rows = bars.to_dict("records")
    for i in range(n):
        feed.put_bar(i, rows[i])
        engine.prepare(i)
        engine.decide(i)
    engine.close_all(n - 1, ExitReason.END_OF_DATA)
    return _log(engine, broker, None, watched, exit_model)


def _lines(doc: dict) -> str:
    """JSON with one list item per line."""
    out = ["{"]
    for k, (name, run) in enumerate(sorted(doc.items())):
        end = "," if k < len(doc) - 1 else ""
        if not isinstance(run, dict):
            out.append(f"{json.dumps(name)}: {json.dumps(run)}{end}")
            continue
        out.append(f"{json.dumps(name)}: {{")
        for j, (key, value) in enumerate(sorted(run.items())):
            sep = "," if j < len(run) - 1 else ""
            if isinstance(value, list) and value and key != "equity_last":
                items = [json.dumps(v) for v in value]
                out.append(f"{json.dumps(key)}: [\n" + ",\n".join(items) + f"\n]{sep}")
            else:
                out.append(f"{json.dumps(key)}: {json.dumps(value)}{sep}")
        out.append("}" + end)
    return "\n".join(out) + "\n}\n"


@pytest.fixture(scope="module")
def market() -> Market:
    return _market()


@pytest.fixture(scope="module")
def golden(market: Market) -> dict:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        doc = {name: _run_backtest(market, name) for name in ("momentum", "random", "scripted")}
        doc["market_sha256"] = _market_hash(market)
        GOLDEN.write_text(_lines(doc))
    assert GOLDEN.exists(), "golden file missing: run with UPDATE_GOLDEN=1 to create it"
    return json.loads(GOLDEN.read_text())


def _same(got: dict, want: dict, what: str) -> None:
    for key, expected in want.items():
        if key not in got:
            continue
        value = got[key]
        if isinstance(expected, list) and value != expected:
            first = next((k for k, (a, b) in enumerate(zip(value, expected)) if a != b), min(len(value), len(expected)))
            raise AssertionError(f"{what}: {key} differ first at item {first} (lengths {len(value)} vs "
                                 f"{len(expected)}): got {value[first:first + 1]}, want {expected[first:first + 1]}")
        assert value == expected, f"{what}: {key} differ"


@pytest.mark.parametrize("name", ["momentum", "random", "scripted"])
def test_backtest_log_identical_to_golden(market: Market, golden: dict, name: str) -> None:
    got = _run_backtest(market, name)
    _same(got, golden[name], name)


def test_golden_runs_exercise_every_path(golden: dict) -> None:
    """The fixed runs cover what the refactor could break: fills on the first and last bar, every exit kind."""
    n = SESSIONS * 390
    header, *rows = golden["scripted"]["fills"][0]
    bar = header.index("bar")
    assert rows[0][bar] == 0 and rows[-1][bar] == n - 1
    runs = [golden[name] for name in ("momentum", "random", "scripted")]
    reasons = {t[g["trades"][0].index("exit_reason")] for g in runs for t in g["trades"][1:]}
    assert {"stop_loss", "take_profit", "trailing_stop", "max_hold", "end_of_day", "model_exit", "end_of_data",
            "before_expiry", "expiry_itm", "expiry_otm"} <= reasons, reasons
    assert all(len(g["trades"]) > 10 for g in runs)
    assert golden["random"]["fills"][1], "no rejected order"


@pytest.mark.parametrize("name", ["momentum", "scripted"])
def test_bars_arriving_one_at_a_time_give_the_same_log(market: Market, golden: dict, name: str) -> None:
    got = _run_live(market, name)
    _same(got, golden[name], f"{name} (live feed)")


def test_market_is_the_fixed_one(market: Market, golden: dict) -> None:
    """The golden logs stand on this market: if the generator changes, regenerate them in the same commit."""
    assert _market_hash(market) == golden["market_sha256"]
