"""The look-ahead and null checks: a planted leak is named, causal arrays pass, a null market shows no profit."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.runs.checks import check_null, null_spec, truncation_leaks
from experiments.spec.io import load_spec
from trader.features import build_features
from trader.market.synthetic import generate_synthetic
from trader.signals import compute_signals


@pytest.fixture(scope="module")
def market():
    return generate_synthetic(sessions=6, seed=3, edge=1.0, max_dte=1, strikes_each_side=3)


def _causal(view) -> dict[str, np.ndarray]:
    bars = view.bars
    return compute_signals(bars["close"].to_numpy(), build_features(bars))


def _leaky(view) -> dict[str, np.ndarray]:
    close = pd.Series(view.bars["close"].to_numpy())
    return {"centred_mean": close.rolling(9, center=True, min_periods=1).mean().to_numpy(),
            "fine": close.rolling(9, min_periods=1).mean().to_numpy()}


def test_causal_signals_pass_the_truncation_check(market) -> None:
    full = _causal(market)
    bars = list(range(400, len(market.bars), 97))
    assert truncation_leaks(_causal, market, full, bars) == []


def test_a_centred_window_is_named_as_a_leak(market) -> None:
    full = _leaky(market)
    leaks = truncation_leaks(_leaky, market, full, [500, 900, 1300])
    assert {leak["array"] for leak in leaks} == {"centred_mean"}
    assert [leak["bar"] for leak in leaks] == [500, 900, 1300]


def test_null_spec_replaces_the_market_and_keeps_the_rest() -> None:
    spec = load_spec(None, ["data.source=cache", "data.name=demo", "entry.type=momentum", "trading.contracts=2"])
    ns = null_spec(spec, 4)
    assert (ns.data.source, ns.data.edge, ns.data.seed, ns.data.name) == ("synthetic", 0.0, 4, None)
    assert ns.trading.contracts == 2 and ns.entry.type == "momentum"


def test_momentum_shows_no_profit_on_null_markets(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GAUSSIAN_HOME", str(tmp_path))
    spec = load_spec(None, ["entry.type=momentum", "data.sessions=8", "exits.model.enabled=false", "cycles=1500"])
    doc = check_null(spec, seeds=3)
    assert doc["seeds"] == 3 and len(doc["markets"]) == 3
    low, high = doc["ci95"]
    assert low <= doc["mean_pnl_pct"] <= high
    assert doc["leak"] is False and doc["verdict"] == "no profit on null markets"
