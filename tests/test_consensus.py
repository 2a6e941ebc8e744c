"""The eight signals and the consensus controller: causal, and every parameter really acts."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from experiments.runs.backtest import evaluate
from experiments.spec.io import load_spec
from trader.chain_features import chain_arrays
from trader.entry.consensus import ConsensusConfig, ConsensusController
from trader.features import build_features
from trader.market.synthetic import generate_synthetic
from trader.regime import RegimeModel
from trader.signals import SIGNAL_NAMES, compute_signals
from trader.strategies.base import BarSeries, Snapshot


@pytest.fixture(scope="module")
def world():
    market = generate_synthetic(sessions=12, seed=5, edge=0.5)
    n = len(market.bars)
    train_end = n // 2
    regime = RegimeModel.fit(market.bars.iloc[:train_end], seed=0, n_iter=20)
    return market, regime, train_end


def _arrays(market, regime, bars=None):
    bars = market.bars if bars is None else bars
    feats = build_features(bars)
    probs = regime.filter(bars)
    chain = chain_arrays(market.chains, bars.index)
    out = compute_signals(bars["close"].to_numpy(), feats, None, (), probs, chain)
    from trader.regime import regime_arrays

    out.update(regime_arrays(probs))
    return out


def test_signals_are_causal(world) -> None:
    market, regime, _ = world
    full = _arrays(market, regime)
    t = len(market.bars) - 700
    cut = _arrays(market, regime, market.bars.iloc[: t + 1])
    for name in SIGNAL_NAMES:
        for part in ("status", "dir", "strength"):
            key = f"sig_{name}_{part}"
            np.testing.assert_allclose(full[key][: t + 1], cut[key], err_msg=key, atol=1e-9)


def test_each_signal_has_activity_except_the_predictor(world) -> None:
    market, regime, _ = world
    arr = _arrays(market, regime)
    for name in SIGNAL_NAMES:
        passing = (arr[f"sig_{name}_status"] == 1).mean()
        if name == "predictor_agreement":
            assert passing == 0  # no predictor given: it fails everywhere
        else:
            assert passing > 0.01, name


def _trade_bars(arrays, cfg: ConsensusConfig, start: int) -> int:
    series = BarSeries(arrays)
    ctl = ConsensusController(cfg)
    n = len(arrays["sig_momentum_status"])
    count = 0
    for i in range(start, n):
        series.now = i
        snap = Snapshot(i=i, time=None, closes=np.ones(1), positions=(), cash=0, equity=0, minutes_to_close=60,
                        series=series)
        count += ctl.verdict(snap).trade
    return count


def test_raising_min_signals_never_increases_entries(world) -> None:
    market, regime, start = world
    arr = _arrays(market, regime)
    counts = [_trade_bars(arr, ConsensusConfig(k, 0.0), start) for k in range(1, 9)]
    assert all(a >= b for a, b in itertools.pairwise(counts)), counts
    assert counts[0] > counts[4]


def test_raising_min_signals_never_increases_trades_in_the_engine(world) -> None:
    market, regime, start = world
    arr = _arrays(market, regime)
    spec = load_spec(None, ["trading.max_positions=50", "entry.cooldown_bars=0", "trading.initial_balance=1000000",
                            "exits.model.enabled=false"])
    trades = []
    for k in (1, 2, 3, 4, 5):
        res = evaluate(spec, market, start, len(market.bars), ConsensusController(ConsensusConfig(k, 0.0)),
                       series=BarSeries(arr))
        trades.append(len(res.trades))
    assert all(a >= b for a, b in itertools.pairwise(trades)), trades
    assert trades[0] > trades[-1]


@pytest.mark.parametrize(
    "cfg",
    [
        ConsensusConfig(3, 0.75),
        ConsensusConfig(4, 0.3),
        ConsensusConfig(3, 0.3, weights={"momentum": 3.0}),
        ConsensusConfig(3, 0.3, blocked_signals=("technical",)),
    ],
)
def test_each_consensus_parameter_changes_entries(world, cfg: ConsensusConfig) -> None:
    market, regime, start = world
    arr = _arrays(market, regime)
    base = ConsensusConfig(3, 0.3)
    series = BarSeries(arr)
    differs = False
    for i in range(start, len(market.bars)):
        series.now = i
        snap = Snapshot(i=i, time=None, closes=np.ones(1), positions=(), cash=0, equity=0, minutes_to_close=60,
                        series=series)
        if ConsensusController(base).verdict(snap).trade != ConsensusController(cfg).verdict(snap).trade:
            differs = True
            break
    assert differs


def test_a_veto_blocks_the_bar(world) -> None:
    market, regime, start = world
    arr = _arrays(market, regime)
    vetoed = np.flatnonzero(np.any([arr[f"sig_{s}_status"] == -1 for s in SIGNAL_NAMES], axis=0))
    vetoed = vetoed[vetoed >= start]
    assert len(vetoed) > 0
    series = BarSeries(arr)
    ctl = ConsensusController(ConsensusConfig(1, 0.0))
    for i in vetoed[:50]:
        series.now = int(i)
        snap = Snapshot(i=int(i), time=None, closes=np.ones(1), positions=(), cash=0, equity=0,
                        minutes_to_close=60, series=series)
        v = ctl.verdict(snap)
        assert v.vetoed_by and not v.trade


def test_min_signals_binds_at_the_default_confidence(world) -> None:
    """Confidence divided by all eight weights made every count below six trade alike at 0.55 (the bug class: a
    parameter that cannot act at the defaults); over the agreeing signals' own weights, the count binds."""
    market, regime, start = world
    arr = _arrays(market, regime)
    default = ConsensusConfig()
    counts = [_trade_bars(arr, ConsensusConfig(k, default.min_weighted_confidence), start) for k in range(1, 6)]
    assert all(a >= b for a, b in itertools.pairwise(counts)), counts
    assert len(set(counts)) >= 3, counts


def test_the_predictor_threshold_follows_its_calibration(world) -> None:
    """A predictor whose up-probabilities stay near 0.5 passes nothing at a fixed 0.10 but passes its most
    confident bars at a threshold taken from its own output."""
    market, _, _ = world
    bars = market.bars
    n = len(bars)
    rng = np.random.default_rng(0)
    lean = 0.5 + 0.04 * np.tanh(rng.standard_normal(n))
    pred = {f"pred_p_up_{h}": lean for h in (5, 15)}
    feats = build_features(bars)
    fixed = compute_signals(bars["close"].to_numpy(), feats, pred, (5, 15))
    assert (fixed["sig_predictor_agreement_status"] == 1).mean() == 0
    from trader.signals import agreement_strength

    q80 = float(np.quantile(agreement_strength(pred, (5, 15)), 0.8))
    scaled = compute_signals(bars["close"].to_numpy(), feats, pred, (5, 15), predictor_min_strength=q80)
    assert 0.15 < (scaled["sig_predictor_agreement_status"] == 1).mean() < 0.25
