"""Metrics: textbook values, the PSR/DSR formulas, drawdowns and accounting consistency."""
from __future__ import annotations

import datetime as dt
import json
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from trader.domain import ExitReason, Trade, trades_frame
from trader.metrics import (
    bootstrap_ci,
    compute_metrics,
    daily_returns,
    default_trials_variance,
    deflated_sharpe,
    expected_max_sharpe,
    max_drawdown,
    max_drawdown_usd,
    mean_ci,
    probabilistic_sharpe,
    sharpe,
    sortino,
    trials_variance,
    wilson_interval,
)

NY = "America/New_York"


def _trade(i: int, pnl: float, hold: float = 10.0, fees: float = 1.0) -> Trade:
    t0 = pd.Timestamp("2024-01-02 10:00", tz=NY) + pd.Timedelta(days=i)
    return Trade(
        trade_id=i, symbol="SPY240119C00470000", right="C", strike=470.0, expiry=dt.date(2024, 1, 19), contracts=1,
        entry_time=t0, exit_time=t0 + pd.Timedelta(minutes=hold), entry_price=1.0, exit_price=1.0 + pnl / 100,
        fees=fees, pnl=pnl, pnl_pct=pnl, exit_reason=ExitReason.TAKE_PROFIT if pnl > 0 else ExitReason.STOP_LOSS,
        hold_minutes=hold, strategy="momentum", direction=1, confidence=0.6, regime=None, regime_trend=None,
        regime_volatility=None, regime_liquidity=None,
    )


def _equity(values: list[float], days: int = 1, n_open: list[int] | None = None) -> pd.DataFrame:
    per_day = len(values) // days
    stamps = []
    for d in range(days):
        base = pd.Timestamp("2024-01-02 09:30", tz=NY) + pd.Timedelta(days=d)
        stamps += [base + pd.Timedelta(minutes=m) for m in range(per_day)]
    idx = pd.DatetimeIndex(stamps, name="timestamp")
    n_open = n_open if n_open is not None else [0] * len(values)
    return pd.DataFrame({"equity": values, "cash": values, "open_value": 0.0, "n_open": n_open}, index=idx)


# ----------------------------------------------------------------------------------------- textbook values
def test_wilson_interval_8_of_10() -> None:
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4)
    assert hi == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-4)


def test_the_wilson_interval_always_holds_its_proportion() -> None:
    """0 of 11 gave a lower bound of 3e-17 and 6 of 6 an upper bound below 1 (rounding): a negative error bar
    that stopped a run's analysis (the reliability plot) mid-benchmark."""
    for n in range(1, 300):
        for k in range(n + 1):
            lo, hi = wilson_interval(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0, (k, n, lo, hi)


def test_mean_ci_t_interval() -> None:
    m, lo, hi = mean_ci([1, 2, 3, 4, 5])
    assert m == 3.0
    # t(0.975, 4) = 2.7764, se = sqrt(2.5 / 5)
    assert lo == pytest.approx(3 - 2.776445 * math.sqrt(0.5), abs=1e-5)
    assert hi == pytest.approx(3 + 2.776445 * math.sqrt(0.5), abs=1e-5)
    assert mean_ci([4.0]) == (4.0, None, None)
    assert mean_ci([]) == (None, None, None)


def test_bootstrap_ci_is_seeded_and_brackets_the_mean() -> None:
    vals = np.arange(1.0, 21.0)
    a = bootstrap_ci(vals, seed=3)
    assert a == bootstrap_ci(vals, seed=3)
    assert a[0] < vals.mean() < a[1]
    assert bootstrap_ci([1.0]) == (None, None)


def test_sharpe_and_sortino_known_returns() -> None:
    r = [0.01, -0.01, 0.02, 0.0]
    sd = math.sqrt((0.005**2 + 0.015**2 + 0.015**2 + 0.005**2) / 3)
    assert sharpe(r) == pytest.approx(0.005 / sd * math.sqrt(252))
    assert sortino(r) == pytest.approx(0.005 / math.sqrt(0.0001 / 4) * math.sqrt(252))
    assert sharpe([0.01]) is None
    assert sharpe([0.01, 0.01, 0.01]) is None
    assert sortino([0.01, 0.02]) is None


def test_max_drawdown_on_known_curve() -> None:
    curve = [100, 120, 90, 110, 130, 104]
    assert max_drawdown(curve) == pytest.approx(0.25)
    assert max_drawdown_usd(curve) == pytest.approx(30.0)
    assert max_drawdown([100, 101, 102]) == 0.0
    assert max_drawdown([90, 95], initial=100) == pytest.approx(0.10)
    assert max_drawdown([]) == 0.0


def test_daily_returns_use_last_value_per_session() -> None:
    eq = _equity([1000, 990, 1010, 1020, 1030, 1050], days=3)
    # session closes 990, 1020, 1050
    r = daily_returns(eq, initial=1000)
    assert list(r.round(10)) == [round(990 / 1000 - 1, 10), round(1020 / 990 - 1, 10), round(1050 / 1020 - 1, 10)]
    assert len(daily_returns(eq)) == 2


# ----------------------------------------------------------------------------------------- PSR and DSR
def _psr_by_hand(sr: float, n: int, skew: float, kurt: float, sr0: float) -> float:
    z = (sr - sr0) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    return NormalDist().cdf(z)


def test_psr_against_hand_computation() -> None:
    # (0.1 * sqrt(252)) / sqrt(1 + 0.05 + 0.75 * 0.01) = 1.54369 -> Phi = 0.93867
    assert probabilistic_sharpe(0.1, 253, -0.5, 4.0) == pytest.approx(0.93867, abs=1e-5)
    assert probabilistic_sharpe(0.1, 253, -0.5, 4.0) == pytest.approx(_psr_by_hand(0.1, 253, -0.5, 4.0, 0.0))
    assert probabilistic_sharpe(0.0, 100) == pytest.approx(0.5)
    assert probabilistic_sharpe(0.1, 1) is None


def test_expected_max_sharpe_formula() -> None:
    g = 0.5772156649015329
    nd = NormalDist()
    v = 0.002
    expect = math.sqrt(v) * ((1 - g) * nd.inv_cdf(1 - 1 / 100) + g * nd.inv_cdf(1 - 1 / (100 * math.e)))
    assert expected_max_sharpe(100, v) == pytest.approx(expect)
    assert expected_max_sharpe(100, v) == pytest.approx(0.1132, abs=1e-4)
    assert expected_max_sharpe(1, v) == 0.0
    assert expected_max_sharpe(10, v) < expected_max_sharpe(100, v)


def test_dsr_matches_bailey_lopez_de_prado_example() -> None:
    # The Deflated Sharpe Ratio (2014), numerical example: N=100 trials, V[SR] = 1/2 annualized, T = 1250 days,
    # SR = 2.5 annualized, skew -3, kurtosis 10 -> DSR ~= 0.9004.
    dsr = deflated_sharpe(2.5 / math.sqrt(250), 1250, -3.0, 10.0, 100, 0.5 / 250)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_dsr_default_variance_and_trials() -> None:
    assert default_trials_variance(101) == pytest.approx(0.01)
    sr = 0.15
    one = deflated_sharpe(sr, 101, 0.0, 3.0, 1)
    assert one == pytest.approx(probabilistic_sharpe(sr, 101, 0.0, 3.0))
    many = deflated_sharpe(sr, 101, 0.0, 3.0, 50)
    sr0 = expected_max_sharpe(50, 0.01)
    assert many == pytest.approx(_psr_by_hand(sr, 101, 0.0, 3.0, sr0))
    assert many < one


def test_trials_variance_converts_annualized_sharpes() -> None:
    trials = [1.0, -0.5, 0.3]
    expect = float(np.var(np.array(trials) / math.sqrt(252), ddof=1))
    assert trials_variance(trials) == pytest.approx(expect)
    assert trials_variance([1.0]) is None
    assert trials_variance(None) is None


# ----------------------------------------------------------------------------------------- compute_metrics
def test_compute_metrics_fixed_trades() -> None:
    pnls = [30.0, -10.0, 20.0, -20.0, 40.0]
    trades = trades_frame([_trade(i, p, hold=10.0 * (i + 1)) for i, p in enumerate(pnls)])
    curve = [5000, 5030, 5020, 5040, 5020, 5060]
    eq = _equity(curve, days=3, n_open=[0, 1, 1, 0, 0, 1])
    m = compute_metrics(trades, eq, 5000.0)
    json.dumps(m)  # JSON-able
    assert m["trades"] == 5 and m["wins"] == 3 and m["losses"] == 2
    assert m["win_rate"] == pytest.approx(0.6)
    assert m["win_rate_ci95"] == pytest.approx(list(wilson_interval(3, 5)))
    assert m["avg_win"] == pytest.approx(30.0)
    assert m["avg_loss"] == pytest.approx(-15.0)
    assert m["profit_factor"] == pytest.approx(90.0 / 30.0)
    assert m["expectancy"] == pytest.approx(12.0)
    assert m["realized_pnl"] == pytest.approx(60.0)
    assert m["pnl"] == pytest.approx(60.0)  # equity end - initial; nothing open at the end
    assert m["pnl_pct"] == pytest.approx(1.2)
    assert m["fees"] == pytest.approx(5.0)
    assert m["avg_hold_minutes"] == pytest.approx(30.0)
    assert m["exposure"] == pytest.approx(0.5)
    assert m["max_drawdown_usd"] == pytest.approx(20.0)
    assert m["max_drawdown"] == pytest.approx(20.0 / 5040.0)
    rets = [5030 / 5000 - 1, 5040 / 5030 - 1, 5060 / 5040 - 1]  # session closes 5030, 5040, 5060
    assert m["sharpe"] == pytest.approx(sharpe(rets))
    assert m["sortino"] == pytest.approx(sortino(rets))
    assert m["n_trials"] == 1
    assert m["dsr"] == pytest.approx(m["psr"])
    assert 0.0 <= m["psr"] <= 1.0


def test_compute_metrics_dsr_uses_trial_sharpes() -> None:
    trades = trades_frame([_trade(0, 10.0)])
    rng = np.random.default_rng(0)
    curve = list(5000 * np.cumprod(1 + rng.normal(0.002, 0.01, 40)))
    eq = _equity(curve, days=40)
    base = compute_metrics(trades, eq, 5000.0)
    trials = [0.5, -1.0, 2.0, 0.1]
    m = compute_metrics(trades, eq, 5000.0, n_trials=20, sharpe_trials=trials)
    sr = m["sharpe"] / math.sqrt(252)
    expect = deflated_sharpe(sr, m["days"], m["return_skew"], m["return_kurtosis"], 20, trials_variance(trials))
    assert m["dsr"] == pytest.approx(expect)
    assert m["dsr"] < base["dsr"]
    assert m["n_trials"] == 20


def test_compute_metrics_empty_trades() -> None:
    eq = _equity([5000.0] * 6, days=2)
    m = compute_metrics(trades_frame([]), eq, 5000.0)
    json.dumps(m)
    assert m["trades"] == 0 and m["wins"] == 0 and m["losses"] == 0
    assert m["win_rate"] is None and m["win_rate_ci95"] is None
    assert m["profit_factor"] is None and m["expectancy"] is None and m["avg_hold_minutes"] is None
    assert m["pnl"] == 0.0 and m["max_drawdown"] == 0.0 and m["exposure"] == 0.0
    assert m["sharpe"] is None and m["sortino"] is None and m["psr"] is None and m["dsr"] is None


def test_compute_metrics_empty_equity_frame() -> None:
    eq = pd.DataFrame(columns=["equity", "cash", "open_value", "n_open"],
                      index=pd.DatetimeIndex([], tz=NY, name="timestamp"))
    m = compute_metrics(trades_frame([]), eq, 1000.0)
    assert m["pnl"] == 0.0 and m["sharpe"] is None and m["exposure"] == 0.0


def test_compute_metrics_all_wins_has_no_profit_factor() -> None:
    trades = trades_frame([_trade(i, 10.0 + i) for i in range(4)])
    eq = _equity([5000, 5010, 5021, 5033, 5046, 5046], days=2)
    m = compute_metrics(trades, eq, 5000.0)
    assert m["losses"] == 0 and m["profit_factor"] is None and m["avg_loss"] is None
    assert m["win_rate"] == 1.0 and m["max_drawdown"] == 0.0


def test_accounting_consistency_with_the_engine() -> None:
    from experiments.runs.backtest import evaluate
    from experiments.spec.io import load_spec
    from trader.market.synthetic import generate_synthetic
    from trader.strategies.baselines import RandomStrategy

    market = generate_synthetic(sessions=5, seed=7, edge=0.3)
    spec = load_spec(None, ["entry.type=random"])
    res = evaluate(spec, market, 200, len(market.bars), RandomStrategy(0.03, seed=2))
    trades = trades_frame(res.trades)
    assert len(trades) > 3
    m = compute_metrics(trades, res.equity, spec.trading.initial_balance)
    assert res.equity["n_open"].iloc[-1] == 0
    assert m["pnl"] == pytest.approx(res.equity["equity"].iloc[-1] - spec.trading.initial_balance)
    assert m["pnl"] == pytest.approx(m["realized_pnl"], abs=1e-6)
    assert m["fees"] == pytest.approx(res.fees)
    assert m["wins"] + m["losses"] + m["breakeven"] == m["trades"] == len(res.trades)


def test_break_even_trades_are_neither_wins_nor_losses() -> None:
    trades = trades_frame([_trade(i, p) for i, p in enumerate([25.0, 0.0, 0.0, -5.0])])
    eq = _equity([5000, 5025, 5025, 5025, 5020, 5020], days=2)
    m = compute_metrics(trades, eq, 5000.0)
    assert (m["wins"], m["losses"], m["breakeven"]) == (1, 1, 2)
    assert m["avg_loss"] == pytest.approx(-5.0) and m["win_rate"] == pytest.approx(0.25)
