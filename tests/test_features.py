"""Causal features: truncation test, session rules, warm-up fill, and the train-only scaler."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.synthetic_bars import daily_bars, minute_bars
from trader.errors import DataError
from trader.features import WARMUP_BARS, FeatureScaler, build_features, feature_names, infer_intraday


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return minute_bars(sessions=4, seed=3)


@pytest.fixture(scope="module")
def feats(bars: pd.DataFrame) -> pd.DataFrame:
    return build_features(bars)


def test_same_index_no_nan_and_expected_columns(bars: pd.DataFrame, feats: pd.DataFrame) -> None:
    assert feats.index.equals(bars.index)
    values = feats.to_numpy(dtype=np.float32)
    assert np.isfinite(values).all()
    for col in ("ret_1", "ret_5", "ret_15", "ret_30", "gap", "rv_5", "rv_60", "range", "atr", "volume_z",
                "vwap_dist", "open_dist", "tod_sin", "tod_cos", "rsi", "macd_hist", "bb_pctb", "hma_slope",
                "vix", "vix_chg", "spread_bp", "quote_size"):
        assert col in feats.columns
    assert list(feats.columns) == feature_names(bars.columns)
    plain = build_features(bars[["open", "high", "low", "close", "volume"]])
    assert list(plain.columns) == feature_names(["open", "high", "low", "close", "volume"])
    assert not {"vix", "vix_chg", "spread_bp", "quote_size"} & set(plain.columns)


def test_truncation_row_t_uses_data_up_to_t_only(bars: pd.DataFrame, feats: pd.DataFrame) -> None:
    rng = np.random.default_rng(11)
    firsts = np.flatnonzero(np.r_[True, bars.index.date[1:] != bars.index.date[:-1]])
    picks = np.unique(np.r_[rng.integers(0, len(bars), 40), firsts, firsts[1:] - 1, np.arange(20), WARMUP_BARS])
    for t in picks:
        cut = build_features(bars.iloc[: t + 1], intraday=True)
        assert np.array_equal(cut.iloc[-1].to_numpy(), feats.iloc[t].to_numpy()), f"row {t} differs when cut"


def test_future_changes_do_not_move_the_past(bars: pd.DataFrame, feats: pd.DataFrame) -> None:
    t = 500
    shocked = bars.copy()
    shocked.iloc[t + 1:, :4] *= 1.5
    shocked.iloc[t + 1:, 4] *= 10
    again = build_features(shocked)
    assert np.array_equal(again.iloc[: t + 1].to_numpy(), feats.iloc[: t + 1].to_numpy())


def test_session_features_reset_and_gap_is_separate(bars: pd.DataFrame, feats: pd.DataFrame) -> None:
    t = 390  # first bar of the second session
    row, prev_close = bars.iloc[t], bars["close"].iloc[t - 1]
    assert feats["ret_1"].iloc[t] == pytest.approx(math.log(row["close"] / row["open"]))
    assert feats["gap"].iloc[t] == pytest.approx(math.log(row["open"] / prev_close))
    assert feats["gap"].iloc[t + 100] == feats["gap"].iloc[t]
    assert feats["gap"].iloc[:390].eq(0.0).all()
    assert feats["open_dist"].iloc[t] == pytest.approx(math.log(row["close"] / row["open"]))
    typical = (row["high"] + row["low"] + row["close"]) / 3
    assert feats["vwap_dist"].iloc[t] == pytest.approx(math.log(row["close"] / typical))
    # Time of day: 09:30 is angle 0.
    assert feats["tod_sin"].iloc[t] == pytest.approx(0.0, abs=1e-12)
    assert feats["tod_cos"].iloc[t] == pytest.approx(1.0)


def test_warmup_rows_are_filled_with_neutral_values(feats: pd.DataFrame) -> None:
    assert feats["volume_z"].iloc[0] == 0.0
    assert feats["bb_pctb"].iloc[0] == 0.0
    assert feats["vix_chg"].iloc[:5].eq(0.0).all()
    assert feats["rv_60"].iloc[1] > 0


def test_missing_optional_values_forward_fill_then_zero(bars: pd.DataFrame) -> None:
    holes = bars.copy()
    holes.loc[holes.index[:3], "vix"] = np.nan
    holes.loc[holes.index[100:110], "vix"] = np.nan
    f = build_features(holes)
    assert f["vix"].iloc[:3].eq(0.0).all()
    assert f["vix"].iloc[105] == pytest.approx(holes["vix"].iloc[99] / 100)


def test_daily_bars_use_close_to_close_returns() -> None:
    d = daily_bars(60)
    assert not infer_intraday(d.index)
    f = build_features(d)
    assert f["ret_1"].iloc[10] == pytest.approx(math.log(d["close"].iloc[10] / d["close"].iloc[9]))
    cut = build_features(d.iloc[:31], intraday=False)
    assert np.array_equal(cut.iloc[-1].to_numpy(), f.iloc[30].to_numpy())


def test_tiny_frames_work(bars: pd.DataFrame) -> None:
    for k in (1, 2, 3):
        assert np.isfinite(build_features(bars.iloc[:k]).to_numpy()).all()
    empty = build_features(bars.iloc[:0])
    assert len(empty) == 0 and list(empty.columns) == feature_names(bars.columns)


def test_bad_bars_raise_clear_errors(bars: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="volume"):
        build_features(bars.drop(columns="volume"))
    bad = bars.copy()
    bad.iloc[5, 3] = -1.0
    with pytest.raises(DataError, match="positive"):
        build_features(bad)


def test_scaler_is_fitted_on_train_rows_only(feats: pd.DataFrame) -> None:
    split = 600
    scaler = FeatureScaler().fit(feats.iloc[:split])
    altered = feats.copy()
    altered.iloc[split:] = altered.iloc[split:] * 7 + 3
    assert FeatureScaler().fit(altered.iloc[:split]).to_dict() == scaler.to_dict()
    train = scaler.transform(feats.iloc[:split])
    assert train.dtypes.eq(np.float32).all()
    moving = np.asarray(scaler.std) != 1.0
    assert np.allclose(train.to_numpy().mean(axis=0)[moving], 0.0, atol=0.05)
    back = FeatureScaler.from_dict(scaler.to_dict())
    assert np.array_equal(back.transform_array(feats), scaler.transform_array(feats))
    assert np.abs(scaler.transform_array(altered)).max() <= scaler.clip
    with pytest.raises(DataError, match="ret_1"):
        scaler.transform(feats.drop(columns="ret_1"))
    with pytest.raises(DataError, match="not fitted"):
        FeatureScaler().transform(feats)
