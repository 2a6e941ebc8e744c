"""Bandit, PPO policy and Q-scorer: they train, decide, are seeded, causal, and find nothing in a null market."""
from __future__ import annotations

import numpy as np
import pytest

from experiments.backtest import evaluate, truncated
from experiments.pipeline import engine_config
from experiments.spec_io import load_spec
from trader.chain_features import chain_arrays
from trader.entry.bandit import BanditController
from trader.entry.q_scorer import QScorer, train_q_scorer
from trader.entry.rl import RLPolicy, train_rl
from trader.features import build_features
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


@pytest.fixture(scope="module")
def world():
    return _world()


def _q(market, train) -> QScorer:
    return train_q_scorer(market, BarSeries(_arrays(market)), train, engine_config(SPEC), threshold=-100.0, seed=1)


def _rl(market, train, seed: int = 1) -> RLPolicy:
    return train_rl(market, BarSeries(_arrays(market)), train, engine_config(SPEC), timesteps=512,
                    risk_penalty=0.1, seed=seed)


def test_bandit_decides_learns_only_from_closed_trades_and_is_seeded(world) -> None:
    market, _, start, n = world
    runs = []
    for _ in range(2):
        bandit = BanditController("thompson", seed=7)
        res = evaluate(SPEC, market, start, n, bandit, series=BarSeries(_arrays(market)))
        runs.append([(t.entry_time, t.strategy, t.pnl) for t in res.trades])
        assert res.trades
        closed = [t for t in res.trades if t.strategy.startswith("bandit:")]
        assert bandit.updates == len(closed)
        counts = sum(v["wins"] + v["losses"] for v in bandit.summary().values())
        assert counts == len(closed)
    assert runs[0] == runs[1]
    eg = evaluate(SPEC, market, start, n, BanditController("epsilon_greedy", 0.5, seed=7),
                  series=BarSeries(_arrays(market)))
    assert eg.trades


def test_q_scorer_trains_decides_and_round_trips(world, tmp_path) -> None:
    market, train, start, n = world
    scorer = _q(market, train)
    assert scorer.report["samples"] > 50 and np.isfinite(scorer.report["mean_label_usd"])
    res = evaluate(SPEC, market, start, n, scorer, series=BarSeries(_arrays(market)))
    assert res.trades
    scorer.save(tmp_path)
    again = evaluate(SPEC, market, start, n, QScorer.load(tmp_path), series=BarSeries(_arrays(market)))
    assert [t.pnl for t in again.trades] == [t.pnl for t in res.trades]
    second = _q(market, train)
    assert evaluate(SPEC, market, start, n, second, series=BarSeries(_arrays(market))).decisions == res.decisions


def test_q_scorer_labels_ignore_bars_after_the_training_end(world) -> None:
    market, train, start, n = world
    cut = truncated(market, train[1])
    a = _q(market, train)
    b = train_q_scorer(cut, BarSeries(_arrays(cut)), train, engine_config(SPEC), threshold=-100.0, seed=1)
    x = np.zeros((3, len(a.names) + 2), dtype=np.float32)
    np.testing.assert_allclose(a.booster.predict(x), b.booster.predict(x))


def test_rl_policy_trains_decides_and_is_seeded(world, tmp_path) -> None:
    market, train, start, n = world
    p1, p2 = _rl(market, train), _rl(market, train)
    r1 = evaluate(SPEC, market, start, n, p1, series=BarSeries(_arrays(market)))
    r2 = evaluate(SPEC, market, start, n, p2, series=BarSeries(_arrays(market)))
    assert r1.decisions and r1.decisions == r2.decisions
    p1.model.save(str(tmp_path / "ppo.zip"))
    r3 = evaluate(SPEC, market, start, n, RLPolicy.load(tmp_path, 3), series=BarSeries(_arrays(market)))
    assert r3.decisions == r1.decisions


@pytest.mark.parametrize("kind", ["bandit", "q_scorer", "rl"])
def test_lookahead(world, kind: str) -> None:
    market, train, start, n = world
    t = start + (n - start) // 2
    ctl = {"bandit": lambda: BanditController(seed=2), "q_scorer": lambda: _q(market, train),
           "rl": lambda: _rl(market, train)}[kind]
    full = evaluate(SPEC, market, start, n, ctl(), series=BarSeries(_arrays(market)))
    cut_market = truncated(market, t + 1)
    cut = evaluate(SPEC, cut_market, start, t + 1, ctl(), series=BarSeries(_arrays(cut_market)))
    assert _decisions(full, t) == _decisions(cut, t)


@pytest.mark.slow
def test_no_money_on_the_null_market_on_average() -> None:
    totals = {"bandit": [], "q_scorer": [], "rl": []}
    for seed in (11, 12):
        market, train, start, n = _world(seed=seed, edge=0.0, sessions=6)
        arrays = _arrays(market)
        controllers = {"bandit": BanditController(seed=seed), "q_scorer": _q(market, train),
                       "rl": _rl(market, train, seed)}
        for name, ctl in controllers.items():
            res = evaluate(SPEC, market, start, n, ctl, series=BarSeries(arrays))
            totals[name].append(sum(t.pnl for t in res.trades))
    for name, pnls in totals.items():
        assert np.mean(pnls) <= 0, (name, pnls)
