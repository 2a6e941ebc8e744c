"""A model-based pipeline (predictor, regime HMM, exit model) replayed through the paper loop: the streaming
per-bar arrays equal the backtest's, and so do the decisions."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.paper.venues import session_bounds
from experiments.runs.backtest import evaluate
from experiments.runs.pipeline import fit_models, make_strategy, truncated
from tests.paper_fixtures import decisions, drive, local_server, market, session, spec
from trader.strategies.base import BarSeries

TINY = ["entry.type=predictor", "costs.latency_bars=0", "model.hidden=8", "model.layers=1",
        "model.training.epochs=1", "model.training.max_samples=300", "model.mc_samples=4", "regime.n_iter=5",
        "model.horizons=[5,15]", "entry.predictor.min_confidence=0.5", "entry.predictor.cost_multiple=0.0",
        "exits.model.enabled=true"]
BARS = 120


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    m = market()
    s = spec(*TINY)
    a, _ = session_bounds(m)
    fitted = fit_models(s, m, (0, a), tmp_path_factory.mktemp("models"))
    return m, s, fitted, a


def _backtest(m, s, fitted, a: int, b: int):
    arrays = fitted.arrays(truncated(m, b), start=max(0, a - s.model.window))
    exit_model = fitted.exit_model.bind(truncated(m, b).bars)
    return arrays, evaluate(s, m, a, b, make_strategy(s, fitted), BarSeries(arrays), exit_model)


def test_a_replayed_model_pipeline_gives_the_backtests_decisions(setup, tmp_path: Path) -> None:
    m, s, fitted, a = setup
    b = a + BARS
    arrays, backtest = _backtest(m, s, fitted, a, b)
    sim = local_server(m, s, a)
    try:
        paper = session(tmp_path, m, s, make_strategy(s, fitted), sim, fitted=fitted,
                        exit_model=fitted.exit_model)
        paper.run(max_bars=BARS)
    finally:
        sim.stop()
    expected = [(d["bar"], [list(x) for x in d["intents"]]) for d in backtest.decisions]
    assert len(expected) >= 3 and decisions(paper) == expected
    assert fitted.exit_model.consulted > 0
    assert (paper.dir / "ANALYSIS.md").is_file() and not paper.journal.events("analysis_failed")
    live = paper.arrays.arrays
    assert set(arrays) == set(live)
    for key in arrays:  # float32 encoder passes over one window vs a batch agree to rounding
        np.testing.assert_allclose(np.asarray(live[key][a:b], float), np.asarray(arrays[key][a:b], float),
                                   rtol=1e-5, atol=1e-6, err_msg=key)


def test_recomputing_the_arrays_each_bar_gives_the_same_rows(setup, tmp_path: Path) -> None:
    m, s, fitted, a = setup
    b = a + 15
    arrays = fitted.arrays(truncated(m, b), start=max(0, a - s.model.window))
    sim = local_server(m, s, a)
    try:
        paper = session(tmp_path, m, s, make_strategy(s, fitted), sim, fitted=fitted, arrays_mode="recompute")
        drive(paper, b - a)
    finally:
        sim.stop()
    regime = [k for k in arrays if k.startswith("regime_")]
    assert regime
    for key in arrays:
        np.testing.assert_allclose(np.asarray(paper.arrays.arrays[key][:b], float),
                                   np.asarray(arrays[key][:b], float), rtol=1e-5, atol=1e-6, err_msg=key)
    for key in regime:  # the HMM forward filter is computed the same way, bar by bar: exactly equal
        assert np.array_equal(paper.arrays.arrays[key][a:b], arrays[key][a:b])
