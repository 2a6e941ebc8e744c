"""XGBoost exit layer: out-of-sample AUC, consulted by the engine, threshold behaviour, persistence,
labels built from training bars only."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trader.broker.sim import SimBroker
from trader.clock import BarClock
from trader.domain import ExitReason, trades_frame
from trader.engine import Engine, EngineConfig, EngineResult
from trader.errors import DataError, StateError
from trader.exit_data import build_exit_dataset, cut_market
from trader.exit_model import ExitTraining, XGBExitModel, exit_dataset, holdout_split, train_exit_model
from trader.feed import ReplayFeed
from trader.market.base import Market
from trader.market.quoter import ModelQuoter
from trader.market.synthetic import generate_synthetic
from trader.strategies.baselines import RandomStrategy

SETTINGS = ExitTraining(runs=1, rounds=60, entry_probability=0.25)
CONFIG = EngineConfig()


@pytest.fixture(scope="module")
def market() -> Market:
    return generate_synthetic(sessions=10, seed=5, edge=0.3)


@pytest.fixture(scope="module")
def split(market: Market) -> tuple[int, int]:
    dates = np.array(market.bars.index.date)
    return int(np.argmax(dates >= sorted(set(dates))[7])), len(market.bars)


@pytest.fixture(scope="module")
def model(market: Market, split: tuple[int, int]) -> XGBExitModel:
    return train_exit_model(market, (0, split[0]), CONFIG, threshold=0.5, seed=0, settings=SETTINGS)


def _run(market: Market, start: int, end: int, exit_model: XGBExitModel | None) -> EngineResult:
    clock = BarClock(market.bars.index, start)
    feed = ReplayFeed(market, clock)
    engine = Engine(feed, SimBroker(feed, CONFIG.costs, CONFIG.initial_balance), RandomStrategy(0.05, seed=9),
                    CONFIG, exit_model=exit_model)
    return engine.run(start, end)


def test_auc_is_measured_on_held_out_samples(model: XGBExitModel, market: Market, split: tuple[int, int]) -> None:
    rep = model.report
    assert rep["auc_source"] == "holdout"
    assert isinstance(rep["auc"], float) and 0.0 <= rep["auc"] <= 1.0
    ds = exit_dataset(market, (0, split[0]), CONFIG, seed=0, settings=SETTINGS)  # deterministic: the same samples
    fit, held, cut = holdout_split(ds, SETTINGS.holdout_fraction)
    assert cut == rep["holdout_cut_bar"] and fit.sum() == rep["fit_samples"]
    assert not np.any(fit & held) and held.sum() == rep["evaluation"]["samples"] > 50
    # purged: no fitted sample's label looks at a bar at or after the cut, every scored position starts after it
    assert ds.last_bar[fit].max() < cut <= ds.entry_bar[held].min()
    assert model.evaluate(ds.subset(held))["auc"] == pytest.approx(rep["auc"])
    in_sample = model.evaluate(ds.subset(fit))["auc"]
    assert in_sample > rep["auc"]  # the reported figure is not the (flattering) training-set one


def test_auc_on_validation_bars_when_given(market: Market, split: tuple[int, int]) -> None:
    m = train_exit_model(market, (0, split[0]), CONFIG, seed=1, validation=split, settings=SETTINGS)
    assert m.report["auc_source"] == "validation"
    assert m.report["validation_data"]["bars"] == list(split)
    assert m.report["fit_samples"] == m.report["data"]["samples"]
    assert m.report["auc"] is None or 0.0 <= m.report["auc"] <= 1.0


def test_engine_consults_the_model_and_it_changes_trades(model: XGBExitModel, market: Market,
                                                         split: tuple[int, int]) -> None:
    base = _run(market, *split, None)
    used = model.with_threshold(0.5)
    res = _run(market, *split, used)
    assert used.consulted > 0 and used.fired > 0
    reasons = {t.exit_reason for t in res.trades}
    assert ExitReason.MODEL_EXIT in reasons
    assert not trades_frame(res.trades).equals(trades_frame(base.trades))


def test_threshold_one_never_fires_and_near_zero_fires_often(model: XGBExitModel, market: Market,
                                                              split: tuple[int, int]) -> None:
    base = _run(market, *split, None)
    never = model.with_threshold(1.0)
    res = _run(market, *split, never)
    assert never.consulted > 0 and never.fired == 0
    assert trades_frame(res.trades).equals(trades_frame(base.trades))
    eager = model.with_threshold(0.01)
    _run(market, *split, eager)
    assert eager.consulted > 0 and eager.fired / eager.consulted > 0.9


def test_save_load_gives_identical_decisions(model: XGBExitModel, market: Market, split: tuple[int, int],
                                             tmp_path: Path) -> None:
    path = model.save(tmp_path / "models")
    assert json.loads(path.read_text())  # XGBoost's JSON model format
    meta = json.loads((tmp_path / "models" / "exit_model_meta.json").read_text())
    assert meta["threshold"] == 0.5 and meta["report"]["auc"] == model.report["auc"]
    assert json.loads(json.dumps(model.report, allow_nan=False))["auc_source"] == "holdout"
    loaded = XGBExitModel.load(tmp_path / "models").bind(market.bars)
    ds = exit_dataset(market, split, CONFIG, seed=3, settings=SETTINGS)
    np.testing.assert_array_equal(model.predict_proba(ds.X), loaded.predict_proba(ds.X))
    a, b = _run(market, *split, model.with_threshold(0.5)), _run(market, *split, loaded)
    assert trades_frame(a.trades).equals(trades_frame(b.trades))
    assert loaded.fired > 0
    (tmp_path / "models" / "exit_model_meta.json").write_text("{")
    with pytest.raises(StateError, match="unreadable"):
        XGBExitModel.load(tmp_path / "models")
    with pytest.raises(StateError, match="no exit model"):
        XGBExitModel.load(tmp_path / "elsewhere")


def test_training_samples_ignore_bars_after_the_training_end(market: Market, split: tuple[int, int]) -> None:
    end = split[0]
    ds = build_exit_dataset(market, 0, end, CONFIG, RandomStrategy(0.25, seed=4))
    assert len(ds) > 100 and ds.bar.max() < end and ds.last_bar.max() < end
    # a different future: later bars scrambled and scaled, the quoter rebuilt on them
    bars = market.bars.copy()
    tail = bars.iloc[end:].to_numpy()
    bars.iloc[end:] = tail[np.random.default_rng(1).permutation(len(tail))] * 1.3
    params = {k: v for k, v in market.meta["quoter"].items() if k != "kind"}
    other = Market(bars=bars, chains=None, truth=None, meta=market.meta, quoter=ModelQuoter(bars, **params))
    ds2 = build_exit_dataset(other, 0, end, CONFIG, RandomStrategy(0.25, seed=4))
    ds3 = build_exit_dataset(cut_market(market, end), 0, end, CONFIG, RandomStrategy(0.25, seed=4))
    for d in (ds2, ds3):
        np.testing.assert_array_equal(ds.X, d.X)
        np.testing.assert_array_equal(ds.y, d.y)
        np.testing.assert_array_equal(ds.advantage_pct, d.advantage_pct)


def test_per_bar_inputs_become_features(market: Market, split: tuple[int, int]) -> None:
    n = len(market.bars)
    rng = np.random.default_rng(0)
    extras = {"regime_p_volatility": rng.dirichlet(np.ones(3), size=n), "predicted_return": rng.normal(size=n)}
    m = train_exit_model(market, (0, split[0]), CONFIG, seed=0, extras=extras, settings=SETTINGS)
    assert m.feature_names[-4:] == ["regime_p_volatility_0", "regime_p_volatility_1", "regime_p_volatility_2",
                                    "predicted_return"]
    res = _run(market, *split, m)
    assert m.consulted > 0 and len(res.trades) > 0
    with pytest.raises(DataError, match="per-bar inputs"):
        m.bind(market.bars)
    with pytest.raises(StateError, match="bind"):
        XGBExitModel(m.booster, m.feature_names, 0.5).should_exit(None, None, 0, 0.0, 0.0)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="threshold"):
        m.with_threshold(1.5)
