"""Feature families: each one causal (truncation test), as-of alignment over weekends and holidays, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.runs.pipeline import truncated
from trader.errors import DataError
from trader.families import breadth, crypto, macro, surface
from trader.families.registry import (
    CONTEXT_FAMILIES,
    column_groups,
    context_frame,
    feature_frame,
    resolve_families,
)
from trader.market.base import Market
from trader.market.synthetic import generate_synthetic
from trader.market.synthetic_context import generate_context
from trader.market.universe import aligned_close, close_times

FAMILY_MODULES = {"breadth": breadth, "macro": macro, "crypto": crypto, "surface": surface}


@pytest.fixture(scope="module")
def market() -> Market:
    # Thursday 2024-03-28, then Good Friday and a weekend: BTC trades through all of it.
    m = generate_synthetic(sessions=5, start="2024-03-26", seed=3)
    m.context = generate_context(m, seed=3)
    return m


@pytest.fixture(scope="module")
def full(market: Market) -> pd.DataFrame:
    return context_frame(market, list(CONTEXT_FAMILIES))


def test_every_family_has_named_finite_columns(market: Market, full: pd.DataFrame) -> None:
    groups = column_groups(full.columns)
    assert set(groups) == set(CONTEXT_FAMILIES)
    assert np.isfinite(full.to_numpy()).all()
    assert full.index.equals(market.bars.index)
    for name, module in FAMILY_MODULES.items():
        assert module.__doc__ and len(module.__doc__) > 100, name
        assert module.inputs(market) == []
        # every column moves: a constant column would be a family that computes nothing
        assert (full[groups[name]].std() > 0).all(), name


@pytest.mark.parametrize("family", sorted(FAMILY_MODULES))
def test_truncation_row_t_uses_data_known_at_t_only(market: Market, full: pd.DataFrame, family: str) -> None:
    cols = column_groups(full.columns)[family]
    first_monday = int(np.flatnonzero(market.bars.index.date == pd.Timestamp("2024-04-01").date())[0])
    for t in (5, 389, 390, 700, first_monday, first_monday + 1, len(market.bars) - 2):
        cut = truncated(market, t + 1)
        part = context_frame(cut, [family])
        np.testing.assert_allclose(part[cols].to_numpy(), full[cols].iloc[: t + 1].to_numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=f"{family} at bar {t}")


@pytest.mark.parametrize("family", sorted(FAMILY_MODULES))
def test_future_context_changes_do_not_move_the_past(market: Market, full: pd.DataFrame, family: str) -> None:
    t = 1000
    known_at = close_times(pd.DatetimeIndex(market.bars.index))[t]
    changed = {}
    rng = np.random.default_rng(0)
    for sym, frame in market.context.items():
        f = frame.copy()
        later = close_times(pd.DatetimeIndex(f.index), continuous=sym == "BTC-USD") > known_at
        bump = rng.lognormal(0.0, 0.05, int(later.sum()))  # a different future path, not just a rescaled one
        for col in ("open", "high", "low", "close"):
            f.loc[later, col] = f.loc[later, col].to_numpy() * bump
        changed[sym] = f
    chains = market.chains.copy()
    chains.loc[chains["timestamp"] > market.bars.index[t], "iv"] *= 2.0
    other = Market(bars=market.bars, chains=chains, truth=None, meta=market.meta, quoter=market.quoter,
                   context=changed)
    cols = column_groups(full.columns)[family]
    after = context_frame(other, [family])
    np.testing.assert_allclose(after[cols].to_numpy()[: t + 1], full[cols].to_numpy()[: t + 1], atol=1e-12)
    assert not np.allclose(after[cols].to_numpy()[t + 400:], full[cols].to_numpy()[t + 400:])


def test_btc_over_a_holiday_weekend_reaches_the_next_open_and_no_further(market: Market) -> None:
    idx = pd.DatetimeIndex(market.bars.index)
    btc = market.context["BTC-USD"]["close"]
    monday = int(np.flatnonzero(idx.date == pd.Timestamp("2024-04-01").date())[0])
    aligned = aligned_close(market.context, "BTC-USD", idx)
    # the bar 09:30-09:31 closes at 09:31: the last 5-minute BTC bar closed by then started at 09:25
    assert aligned[monday] == btc.loc[pd.Timestamp("2024-04-01 09:25", tz="America/New_York")]
    thursday_close = btc.loc[pd.Timestamp("2024-03-28 15:55", tz="America/New_York")]
    frame = context_frame(market, ["crypto"])
    assert frame["crypto_since_close"].iloc[monday] == pytest.approx(np.log(aligned[monday] / thursday_close))
    assert frame["crypto_ret_1"].iloc[monday] == pytest.approx(np.log(aligned[monday] / thursday_close))


def test_daily_context_is_known_at_the_session_close_only() -> None:
    m = generate_synthetic(sessions=2, start="2024-01-02", seed=1)
    days = pd.DatetimeIndex(["2024-01-02 09:30", "2024-01-03 09:30"], tz="America/New_York")
    ctx = {"XLK": pd.DataFrame({"open": [1.0, 2.0], "high": [1.0, 2.0], "low": [1.0, 2.0], "close": [1.0, 2.0],
                                "volume": [0.0, 0.0]}, index=days)}
    got = aligned_close(ctx, "XLK", pd.DatetimeIndex(m.bars.index))
    assert np.isnan(got[:389]).all()  # Jan 2 bars before the 16:00 close do not see Jan 2's daily bar
    assert got[389] == 1.0 and (got[390:779] == 1.0).all() and got[779] == 2.0


def test_price_features_are_unchanged_and_families_append(market: Market) -> None:
    from trader.features import build_features

    price = build_features(market.bars)
    both = feature_frame(market, ["price", "chain", "macro"])
    pd.testing.assert_frame_equal(both[price.columns], price)
    assert set(column_groups(both.columns)) == {"price", "macro"}
    assert list(feature_frame(market, ["price", "chain"]).columns) == list(price.columns)


def test_missing_series_name_the_family_and_symbols(market: Market) -> None:
    bare = Market(bars=market.bars, chains=market.chains, truth=None, meta=market.meta, quoter=market.quoter,
                  context={k: v for k, v in market.context.items() if k not in ("TLT", "UUP", "BTC-USD")})
    with pytest.raises(DataError, match=r"feature family 'macro' needs series missing from the data: TLT, UUP"):
        resolve_families(bare, ["price", "macro"])
    with pytest.raises(DataError, match=r"'crypto'.*BTC-USD"):
        resolve_families(bare, ["price", "crypto"])
    used, warnings = resolve_families(bare, ["price", "chain", "crypto", "breadth"], {"crypto": False})
    assert used == ["price", "chain", "breadth"]
    assert warnings == ["feature family 'crypto' dropped: the data lacks BTC-USD"]
    nothing = Market(bars=market.bars, chains=None, truth=None, meta=market.meta)
    with pytest.raises(DataError, match=r"'breadth'.*at least 5 constituent series \(found 0\)"):
        resolve_families(nothing, ["breadth"])
    with pytest.raises(DataError, match=r"'surface'.*option snapshots"):
        resolve_families(nothing, ["surface"])


def test_vix_comes_from_the_bars_when_no_context_series(market: Market) -> None:
    assert "VIX" not in market.context and "vix" in market.bars.columns
    no_vix = Market(bars=market.bars.drop(columns=["vix"]), chains=None, truth=None, meta=market.meta,
                    context=market.context)
    assert macro.inputs(no_vix) == ["VIX"]
