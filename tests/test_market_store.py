"""The Parquet market cache: round trip, listing, atomic replacement."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from trader.errors import DataError
from trader.market import generate_synthetic, list_markets, load_market, load_market_files, save_market
from trader.market.base import Market
from trader.market.files import EXAMPLES_DIR


@pytest.fixture(scope="module")
def market():
    return generate_synthetic(sessions=3, seed=4, edge=0.5)


def test_round_trip(tmp_path, market):
    folder = save_market(market, tmp_path / "data" / "syn")
    assert sorted(p.name for p in folder.iterdir()) == ["bars.parquet", "chains.parquet", "meta.json",
                                                        "truth.parquet"]
    back = load_market(folder)
    pd.testing.assert_frame_equal(back.bars, market.bars)
    pd.testing.assert_frame_equal(back.chains, market.chains)
    pd.testing.assert_frame_equal(back.truth, market.truth)
    for key in ("source", "seed", "edge", "interval", "options_modeled", "quoter"):
        assert back.meta[key] == market.meta[key]
    assert back.meta["bars"] == len(market.bars) and back.meta["sessions"] == 3
    i, e = 500, market.quoter.expiries(500)[1]
    assert back.quoter.quote(i, e, 470.0, "P") == market.quoter.quote(i, e, 470.0, "P")
    pd.testing.assert_frame_equal(back.quoter.chain(i, 5), market.quoter.chain(i, 5))


def test_round_trip_snapshot_market(tmp_path):
    m = load_market_files(EXAMPLES_DIR / "spy_bars_1min.csv", EXAMPLES_DIR / "spy_options_snapshot.csv")
    back = load_market(save_market(m, tmp_path / "files"))
    assert back.truth is None and back.meta["quoter"] == {"kind": "snapshot"}
    row = m.chains.iloc[3]
    args = (2, row["expiry"].date(), row["strike"], row["right"])
    assert back.quoter.quote(*args) == m.quoter.quote(*args)


def test_list_markets(tmp_path, market):
    data = tmp_path / "data"
    assert list_markets(data) == []
    save_market(market, data / "b")
    save_market(market, data / "a")
    (data / "junk").mkdir()
    names = [m["name"] for m in list_markets(data)]
    assert names == ["a", "b"]
    assert list_markets(data)[0]["source"] == "synthetic"


def test_atomic_replace_keeps_old_data_on_failure(tmp_path, market):
    target = tmp_path / "data" / "m"
    save_market(market, target)
    before = (target / "meta.json").read_text()
    bad_truth = market.truth.copy()
    bad_truth["trend"] = pd.Series([[1, 2]] + [1] * (len(bad_truth) - 1), index=bad_truth.index, dtype=object)
    # pyarrow refuses a list among ints, half way through writing the dataset
    broken = Market(bars=market.bars, chains=market.chains, truth=bad_truth, meta=dict(market.meta, seed=99),
                    quoter=market.quoter)
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises, the old dataset must survive
        save_market(broken, target)
    assert (target / "meta.json").read_text() == before
    assert [p.name for p in target.parent.iterdir()] == ["m"]  # no temporary folder left behind
    load_market(target)
    newer = Market(bars=market.bars, chains=None, truth=None, meta=dict(market.meta, seed=123), quoter=market.quoter)
    save_market(newer, target)
    assert json.loads((target / "meta.json").read_text())["seed"] == 123
    assert not (target / "chains.parquet").exists() and not (target / "truth.parquet").exists()


def test_load_errors(tmp_path, market):
    with pytest.raises(DataError, match="no stored market"):
        load_market(tmp_path / "nothing")
    folder = save_market(market, tmp_path / "m")
    (folder / "meta.json").write_text("{broken")
    with pytest.raises(DataError, match="not valid JSON"):
        load_market(folder)
    folder = save_market(market, tmp_path / "m2")
    bars = market.bars.copy()
    bars.iloc[5, bars.columns.get_loc("high")] = 1.0
    bars.to_parquet(folder / "bars.parquet")
    with pytest.raises(DataError, match=r"bars\.parquet: row 6 .*high 1 is below low"):
        load_market(folder)
