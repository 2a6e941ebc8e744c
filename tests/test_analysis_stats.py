"""The analysis' statistics: group tables, rank tests, Holm, reliability bins, drawdown periods, formatting."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis import fmt
from analysis.compare import _chi_square, holm, numeric_comparison
from analysis.confidence import confidence_analysis, reliability_table
from analysis.drawdowns import drawdown_periods, drawdown_series
from analysis.groups import breakdown, group_row, regime_name, signal_keys, signal_set, welch_p
from tests.analysis_fixtures import fixed_trades, run_inputs

NY = "America/New_York"


def test_regime_names_cover_the_27_labels() -> None:
    assert regime_name(0) == "00 bear / low vol / high liq"
    assert regime_name(13) == "13 neutral / normal vol / normal liq"
    assert regime_name(26) == "26 bull / high vol / low liq"
    assert len({regime_name(i) for i in range(27)}) == 27


def test_holm_adjustment() -> None:
    # sorted p: 0.01*3, 0.02*2, 0.04*1 -> 0.03, 0.04, 0.04 (kept monotone); None is skipped
    out = holm([0.04, 0.01, None, 0.02])
    assert out[1] == pytest.approx(0.03) and out[3] == pytest.approx(0.04) and out[0] == pytest.approx(0.04)
    assert out[2] is None
    assert holm([0.9, 0.8]) == [1.0, 1.0]


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 12), rng.normal(0.8, 2, 30)
    assert welch_p(a, b) == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert welch_p(a[:1], b) is None
    assert welch_p(np.ones(3), np.ones(4)) is None


def test_group_row_verdicts() -> None:
    losing = group_row("x", np.array([-5.0, -6.0, -4.0, -5.5] * 6), min_trades=20)
    assert losing["verdict"] == "loses (95% CI below 0)" and losing["enough"]
    few = group_row("y", np.array([-5.0, -6.0]), min_trades=20)
    assert few["verdict"] == "too few trades" and not few["enough"]
    flat = group_row("z", np.array([-1.0, 1.0] * 12), min_trades=20)
    assert flat["verdict"] == "not distinguishable from 0"
    assert flat["win_rate"] == 0.5 and flat["pnl_total"] == 0.0


def test_signal_breakdown_counts_each_signal_and_tests_against_the_rest() -> None:
    signals = pd.Series(["a,b", "a", "", "b"])
    pnl = pd.Series([1.0, 2.0, 3.0, 4.0])
    keys = signal_keys(signals)
    assert list(keys) == ["a", "b", "a", "(none)", "b"]
    b = breakdown(keys, pnl, min_trades=1)
    rows = {r["group"]: r for r in b["groups"]}
    assert rows["a"]["trades"] == 2 and rows["a"]["pnl_total"] == 3.0 and rows["a"]["rest_pnl_mean"] == 3.5
    assert rows["b"]["trades"] == 2 and rows["b"]["pnl_total"] == 5.0
    assert [r["group"] for r in b["groups"]][-1] == "(none)"
    assert list(signal_set(signals)) == ["a+b", "a", "(none)", "b"]


def test_reliability_bins() -> None:
    conf = np.array([0.52, 0.55, 0.61, 0.99, 1.0])
    pnl = np.array([-1.0, 2.0, 3.0, 4.0, -5.0])
    rows = reliability_table(conf, pnl)
    assert [r["bin"] for r in rows] == ["0.5-0.6", "0.6-0.7", "0.9-1.0"]
    assert [r["trades"] for r in rows] == [2, 1, 2]
    assert rows[0]["win_rate"] == 0.5 and rows[2]["mean_confidence"] == pytest.approx(0.995)


def test_confidence_verdicts() -> None:
    df = run_inputs(fixed_trades()).trades
    assert confidence_analysis(df, 20)["verdict"] == "predictive"
    assert confidence_analysis(df, 100)["verdict"] == "too few trades"
    flat = df.assign(confidence=0.5)
    res = confidence_analysis(flat, 20)
    assert res["verdict"] == "not testable" and "same for every trade" in res["reason"]
    assert confidence_analysis(df.iloc[:2], 20)["verdict"] == "not testable"


def test_numeric_comparison_uses_rank_tests() -> None:
    df = run_inputs(fixed_trades()).trades
    rows = {r["feature"]: r for r in numeric_comparison(df, 20)}
    win, loss = df[df["pnl"] > 0]["confidence"], df[df["pnl"] <= 0]["confidence"]
    assert rows["confidence"]["p_value"] == pytest.approx(sps.mannwhitneyu(win, loss).pvalue)
    assert rows["confidence"]["significant"]
    assert rows["confidence"]["p_holm"] >= rows["confidence"]["p_value"]


def test_chi_square_needs_five_expected_per_cell() -> None:
    small = [{"group": "a", "trades": 4, "wins": 1}, {"group": "b", "trades": 4, "wins": 3}]
    assert _chi_square(small)[0] is None
    big = [{"group": "a", "trades": 40, "wins": 10}, {"group": "b", "trades": 40, "wins": 30}]
    p, method = _chi_square(big)
    table = np.array([[10, 30], [30, 10]])
    assert p == pytest.approx(sps.chi2_contingency(table, correction=False).pvalue) and "chi-square" in method


def test_drawdown_periods_on_a_known_curve() -> None:
    idx = pd.date_range("2024-01-02 09:30", periods=8, freq="1min", tz=NY)
    eq = pd.Series([100, 110, 99, 105, 112, 100.8, 95.2, 100], index=idx, dtype=float)
    dd = drawdown_periods(eq, 100.0)
    assert dd["count"] == 2
    first, second = dd["periods"]
    assert first["depth"] == pytest.approx(0.15) and first["depth_usd"] == pytest.approx(16.8)
    assert first["peak_time"] == str(idx[4]) and first["trough_time"] == str(idx[6])
    assert first["recovery_time"] is None and first["bars_to_recovery"] is None
    assert second["depth"] == pytest.approx(0.1) and second["recovery_time"] == str(idx[4])
    assert second["bars_to_recovery"] == 3
    series = drawdown_series(eq, 100.0)
    assert series.max() == pytest.approx(0.15) and series.iloc[0] == 0.0
    assert drawdown_periods(eq.iloc[:0], 100.0) == {"count": 0, "periods": []}


def test_formatting_is_fixed_and_signed() -> None:
    assert fmt.money(-1234.5) == "-$1,234.50" and fmt.money(-0.001) == "$0.00" and fmt.money(None) == "n/a"
    assert fmt.pct(0.1234) == "12.3%" and fmt.pct(1) == "100.0%"
    assert fmt.pct_points(1.5) == "+1.50%" and fmt.pct_points(-0.0001) == "+0.00%"
    assert fmt.pval(0.0004) == "p<0.001" and fmt.pval(0.04321) == "p=0.043"
    assert fmt.num(-0.00001, 3) == "0.000" and fmt.num(7) == "7" and fmt.num(float("nan")) == "n/a"
    assert fmt.value(["a", "b"]) == "[a, b]" and fmt.value(None) == "null" and fmt.value(8.0) == "8"
    assert fmt.ci([1, 2], "money") == "$1.00 .. $2.00" and fmt.ci(None) == "n/a"
