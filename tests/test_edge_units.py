"""The planted edge in basis points, oracle Sharpe and against costs, checked against a generated market."""
from __future__ import annotations

import numpy as np
import pytest

from trader.market.edge_units import edge_for_oracle_sharpe, edge_units
from trader.market.synthetic import generate_synthetic


def test_units_scale_linearly_and_invert() -> None:
    one = edge_units(1.0, horizon=45, cost_per_share=0.05)
    half = edge_units(0.5, horizon=45, cost_per_share=0.05)
    assert half.drift_bps_per_bar == pytest.approx(one.drift_bps_per_bar / 2)
    assert one.drift_bps_at_horizon == pytest.approx(45 * one.drift_bps_per_bar)
    assert edge_for_oracle_sharpe(one.oracle_sharpe_annual) == pytest.approx(1.0)
    assert one.break_even_edge == half.break_even_edge
    assert 0.05 < one.break_even_edge < 0.2
    assert edge_units(0.0).oracle_sharpe_annual == 0.0
    with pytest.raises(ValueError, match="edge"):
        edge_units(-1.0)


def test_the_stated_drift_and_oracle_sharpe_match_a_generated_market() -> None:
    m = generate_synthetic(sessions=120, seed=11, edge=2.0, max_dte=0, strikes_each_side=1)
    c = np.log(m.bars["close"].to_numpy())
    r = np.diff(c)
    sign = m.truth["trend"].to_numpy()[1:] - 1.0
    first = np.r_[False, m.bars.index.date[1:] != m.bars.index.date[:-1]][1:]
    intraday = ~first & (sign != 0)
    units = edge_units(2.0)
    drift_bps = float(np.mean(sign[intraday] * r[intraday])) * 1e4
    assert drift_bps == pytest.approx(units.drift_bps_per_bar, rel=0.3)
    pnl = sign * r
    sharpe = pnl.mean() / pnl.std() * np.sqrt(252 * 390)
    assert sharpe == pytest.approx(units.oracle_sharpe_annual, rel=0.35)
