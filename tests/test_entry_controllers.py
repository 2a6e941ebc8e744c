"""Bandit, PPO policy and Q-scorer: they train, decide, are seeded, causal, and find nothing in a null market."""
from __future__ import annotations

import bisect
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from experiments.runs.backtest import evaluate
from experiments.runs.pipeline import engine_config, truncated
from experiments.spec.io import load_spec
from trader.broker.sim import SimBroker
from trader.chain_features import chain_arrays
from trader.clock import BarClock
from trader.domain import ExitReason
from trader.engine import Engine, EngineResult
from trader.entry.bandit import BanditController, load_bandit, train_bandit
from trader.entry.q_scorer import QScorer, load_q_scorer, train_q_scorer
from trader.entry.rl import RLPolicy, load_rl, train_rl
from trader.entry.scripted import ScriptedEntries, simulate_entries
from trader.errors import StateError
from trader.features import build_features
from trader.feed import ReplayFeed
from trader.market.base import Market
from trader.market.quoter import ModelQuoter
from trader.market.synthetic import generate_synthetic
from trader.signals import compute_signals
from trader.strategies.base import BarSeries

SPEC = load_spec(None, ["exits.model.enabled=false", "entry.cooldown_bars=3"])


def _arrays(market, bars=None) -> dict:
    bars = market.bars if bars is None else bars
    return compute_signals(bars["close"].to_numpy(), build_features(bars), None, (), None,
                           chain_arrays(market.chains, bars.index))


def _world(seed: int = 3, edge: float = 0.5, sessions: int = 8):
    market = generate_synthetic(sessions=sessions, seed=seed, edge=edge)
    n = len(market.bars)
    return market, (0, int(n * 0.6)), int(n * 0.6) + 30, n


def _decisions(res, upto: int) -> list:
    return [d for d in res.decisions if d["bar"] <= upto]


def _trades(res) -> list:
    return [(t.entry_time, t.exit_time, t.strategy, t.direction, t.pnl) for t in res.trades]


@pytest.fixture(scope="module")
def world():
    return _world()


def _q(market, train) -> QScorer:
    return train_q_scorer(market, BarSeries(_arrays(market)), train, engine_config(SPEC), threshold=-100.0, seed=1)


def _rl(market, train, seed: int = 1, models_dir=None) -> RLPolicy:
    return train_rl(market, BarSeries(_arrays(market)), train, engine_config(SPEC), timesteps=512,
                    risk_penalty=0.1, seed=seed, models_dir=models_dir)


class _WatchedBandit(BanditController):
    """A real bandit that notes how many updates it had seen at each bar it decided on."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[object, int]] = []

    def decide(self, snap):
        self.seen.append((snap.time, self.updates))
        return super().decide(snap)


# ------------------------------------------------------------------------------------------------ bandit
def test_bandit_decides_learns_only_from_closed_trades_and_is_seeded(world) -> None:
    market, _, start, n = world
    runs = []
    for _ in range(2):
        bandit = _WatchedBandit("thompson", seed=7)
        res = evaluate(SPEC, market, start, n, bandit, series=BarSeries(_arrays(market)))
        runs.append(_trades(res))
        assert res.trades
        closed = [t for t in res.trades if t.strategy.startswith("bandit:")]
        assert bandit.updates == len(closed)
        assert sum(v["wins"] + v["losses"] for v in bandit.summary().values()) == len(closed)
        assert all(k.startswith("none:") for k in bandit.summary())  # no regime model: one context
        # at each decision the posteriors hold exactly the trades that had closed by the end of that bar
        exits = sorted(t.exit_time for t in res.trades if t.exit_reason is not ExitReason.END_OF_DATA)
        for when, updates in bandit.seen:
            assert updates == bisect.bisect_right(exits, when + pd.Timedelta(minutes=1))
    assert runs[0] == runs[1]
    eg = evaluate(SPEC, market, start, n, BanditController("epsilon_greedy", 0.5, seed=7),
                  series=BarSeries(_arrays(market)))
    assert eg.trades


def test_bandit_warm_start_on_train_round_trips(world, tmp_path) -> None:
    market, train, start, n = world
    warm = train_bandit(market, BarSeries(_arrays(market)), train, engine_config(SPEC), "thompson", 0.1, seed=4,
                        models_dir=tmp_path)
    assert warm.updates == warm.report["warm_start_trades"] > 0
    loaded = load_bandit(tmp_path, "thompson", 0.1, seed=4)
    assert loaded.summary() == warm.summary()
    a = evaluate(SPEC, market, start, n, warm, series=BarSeries(_arrays(market)))
    b = evaluate(SPEC, market, start, n, loaded, series=BarSeries(_arrays(market)))
    assert _trades(a) == _trades(b)
    with pytest.raises(StateError, match="bandit.json"):
        load_bandit(tmp_path / "absent", "thompson", 0.1, seed=4)


# ---------------------------------------------------------------------------------------------- Q-scorer
def test_simulated_labels_agree_with_one_position_engine_runs(world) -> None:
    market, train, _, _ = world
    a, b = train
    view = truncated(market, b)
    cfg = engine_config(SPEC)
    series = BarSeries(_arrays(view))
    points = np.arange(a + 60, b, 5)
    labels = simulate_entries(view, a, b, cfg, series, points, -1)
    for bar in list(labels)[3:200:40]:
        feed = ReplayFeed(view, BarClock(view.bars.index, int(bar)))
        one = replace(cfg, max_positions=1)
        engine = Engine(feed, SimBroker(feed, one.costs, one.initial_balance), ScriptedEntries({int(bar)}, -1), one,
                        series=BarSeries(_arrays(view)))
        trades = engine.run(int(bar), b).trades
        assert len(trades) == 1 and trades[0].exit_reason is not ExitReason.END_OF_DATA
        assert trades[0].pnl == pytest.approx(labels[bar], abs=1e-9)


def test_q_scorer_trains_decides_and_round_trips(world, tmp_path) -> None:
    market, train, start, n = world
    scorer = train_q_scorer(market, BarSeries(_arrays(market)), train, engine_config(SPEC), threshold=-100.0, seed=1,
                            models_dir=tmp_path)
    assert scorer.report["samples"] > 50 and np.isfinite(scorer.report["mean_label_usd"])
    res = evaluate(SPEC, market, start, n, scorer, series=BarSeries(_arrays(market)))
    assert res.trades and all(t.strategy == "q_scorer" for t in res.trades)
    again = evaluate(SPEC, market, start, n, load_q_scorer(tmp_path), series=BarSeries(_arrays(market)))
    assert _trades(again) == _trades(res)
    second = _q(market, train)
    assert evaluate(SPEC, market, start, n, second, series=BarSeries(_arrays(market))).decisions == res.decisions
    strict = evaluate(SPEC, market, start, n, load_q_scorer(tmp_path, threshold=1000.0),
                      series=BarSeries(_arrays(market)))
    assert not strict.trades


def test_q_scorer_labels_ignore_bars_after_the_training_end(world) -> None:
    market, train, _, _ = world
    cut = truncated(market, train[1])
    a = _q(market, train)
    b = train_q_scorer(cut, BarSeries(_arrays(cut)), train, engine_config(SPEC), threshold=-100.0, seed=1)
    assert a.report == b.report
    x = np.random.default_rng(0).normal(size=(5, len(a.names) + 2)).astype(np.float32)
    np.testing.assert_allclose(a.booster.predict(x), b.booster.predict(x))


def test_q_scorer_refuses_a_series_with_other_inputs(world) -> None:
    market, train, start, n = world
    scorer = _q(market, train)
    scorer.names = scorer.names + ["p_up_15"]  # as if it had been trained with a predictor
    with pytest.raises(StateError, match="state inputs"):
        evaluate(SPEC, market, start, n, scorer, series=BarSeries(_arrays(market)))


# ------------------------------------------------------------------------------------------------ PPO
def test_rl_policy_trains_decides_and_is_seeded(world, tmp_path) -> None:
    market, train, start, n = world
    p1, p2 = _rl(market, train, models_dir=tmp_path), _rl(market, train)
    assert p1.report["timesteps"] == 512 and p1.report["episodes"] >= 1
    r1 = evaluate(SPEC, market, start, n, p1, series=BarSeries(_arrays(market)))
    r2 = evaluate(SPEC, market, start, n, p2, series=BarSeries(_arrays(market)))
    assert r1.decisions and r1.decisions == r2.decisions
    assert all(t.strategy == "rl" for t in r1.trades)
    loaded = load_rl(tmp_path, engine_config(SPEC))
    assert loaded.report == p1.report
    r3 = evaluate(SPEC, market, start, n, loaded, series=BarSeries(_arrays(market)))
    assert r3.decisions == r1.decisions


# ------------------------------------------------------------------------------------- shared properties
def _scrambled(market: Market, t: int) -> Market:
    """The market with its bars after t shuffled, quoter and chains rebuilt from them (the past is unchanged)."""
    bars = market.bars.copy()
    tail = bars.iloc[t + 1:].to_numpy()
    bars.iloc[t + 1:] = tail[np.random.default_rng(0).permutation(len(tail))]
    params = {k: v for k, v in market.quoter.params().items() if k != "kind"}
    quoter = ModelQuoter(bars, **params)
    return Market(bars=bars, chains=quoter.session_chains(dte_max=params["max_dte"]), truth=None,
                  meta=dict(market.meta), quoter=quoter)


@pytest.mark.parametrize("kind", ["bandit", "q_scorer", "rl"])
def test_lookahead(world, kind: str) -> None:
    market, train, start, n = world
    t = start + (n - start) // 2

    def run(m: Market, end: int) -> EngineResult:
        ctl = {"bandit": lambda: BanditController(seed=2), "q_scorer": lambda: _q(m, train),
               "rl": lambda: _rl(m, train)}[kind]()
        return evaluate(SPEC, m, start, end, ctl, series=BarSeries(_arrays(m)))

    full = run(market, n)
    cut_market = truncated(market, t + 1)
    cut = run(cut_market, t + 1)
    scrambled = run(_scrambled(market, t), n)
    assert _decisions(full, t)
    assert _decisions(full, t) == _decisions(cut, t) == _decisions(scrambled, t)
    assert _decisions(full, n) != _decisions(scrambled, n)


@pytest.mark.slow
def test_no_money_on_the_null_market_on_average() -> None:
    totals: dict[str, list[float]] = {"bandit": [], "bandit_warm": [], "q_scorer": [], "rl": []}
    cfg = engine_config(SPEC)
    for seed in (11, 12, 13):
        market, train, start, n = _world(seed=seed, edge=0.0, sessions=6)
        arrays = _arrays(market)
        controllers = {"bandit": BanditController(seed=seed),
                       "bandit_warm": train_bandit(market, BarSeries(arrays), train, cfg, "thompson", 0.1, seed),
                       "q_scorer": train_q_scorer(market, BarSeries(arrays), train, cfg, threshold=0.0, seed=seed),
                       "rl": _rl(market, train, seed)}
        for name, ctl in controllers.items():
            res = evaluate(SPEC, market, start, n, ctl, series=BarSeries(arrays))
            totals[name].append(sum(t.pnl for t in res.trades))
    for name, pnls in totals.items():
        assert np.mean(pnls) <= 0, (name, pnls)
