"""The local Tradier server as a replay: nothing past the current bar, the clock controls, the history source, CLI."""
from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.cli.tradier import app
from tests.tradier_fixtures import ACCOUNT, TOKEN, make_client, market_fixture, sim_fixture  # noqa: F401
from trader.broker.tradier_sim import TradierSim
from trader.errors import DataError, GaussianError
from trader.market.base import HistorySource
from trader.market.resample import resample_bars
from trader.market.tradier_history import TradierHistorySource

AUTH = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
COLS = ["open", "high", "low", "close", "volume"]


def test_replay_never_reveals_bars_after_the_current_one(sim, tradier_market):
    client = make_client(sim)
    bars = tradier_market.bars
    for i in (60, 61, 137, 400):
        sim.set_index(i)
        stamp = bars.index[i]
        far = {"start": "2024-01-01 00:00", "end": "2024-12-31 23:59"}
        one = client.timesales("SPY", "1min", **far)
        assert one.index[-1] == stamp and len(one) == i + 1
        assert one["close"].to_numpy() == pytest.approx(bars["close"].iloc[: i + 1].to_numpy())
        five = client.timesales("SPY", "5min", **far)
        assert five.index[-1] <= stamp and five["close"].iloc[-1] == pytest.approx(bars["close"].iloc[i])
        bucket = bars.iloc[: i + 1][bars.index[: i + 1] >= five.index[-1]]
        assert five["volume"].iloc[-1] == pytest.approx(bucket["volume"].sum())
        assert five["high"].iloc[-1] == pytest.approx(bucket["high"].max())
        daily = client.history("SPY", start="2024-01-01", end="2024-12-31")
        assert daily.index[-1].date() == stamp.date() and daily["close"].iloc[-1] == pytest.approx(bars["close"].iloc[i])
        quote = client.quote("SPY")
        assert quote.last == pytest.approx(bars["close"].iloc[i])
        session = bars.iloc[: i + 1][bars.index[: i + 1].date == stamp.date()]
        assert quote.high == pytest.approx(session["high"].max()) and quote.volume == session["volume"].sum()
        assert client.clock().timestamp == stamp + pd.Timedelta(minutes=1)
    today = client.timesales("SPY", "1min")  # default window: today's session so far
    assert today.index[0] == bars.index[390] and today.index[-1] == bars.index[400]


def test_option_quotes_follow_the_clock(sim, tradier_market):
    client = make_client(sim)
    expiry = client.option_expirations("SPY")[1]
    first = {q.symbol: q.bid for q in client.option_chain("SPY", expiry)}
    sim.advance(30)
    later = {q.symbol: q.bid for q in client.option_chain("SPY", expiry)}
    truth = tradier_market.quoter.chain(sim.index, 5).set_index("symbol")["bid"]
    assert later != first
    assert all(later[s] == pytest.approx(truth[s], abs=0.005) for s in later)


def test_advance_endpoint_state_and_exhaustion(sim):
    response = httpx.post(sim.url + "/sim/advance", data={"n": "5"}, headers=AUTH)
    assert response.status_code == 200 and response.json()["sim"]["index"] == 65 == sim.index
    assert httpx.post(sim.url + "/sim/advance", headers={"Accept": "application/json"}).status_code == 401
    assert httpx.post(sim.url + "/sim/advance", data={"n": "x"}, headers=AUTH).status_code == 400
    state = httpx.get(sim.url + "/sim/state", headers=AUTH).json()["sim"]
    assert state["bars"] == 780 and not state["exhausted"]
    assert sim.advance(10_000) == 779 and sim.exhausted
    assert make_client(sim).clock().state == "closed"
    with pytest.raises(GaussianError, match="outside the market's 780 bars"):
        sim.set_index(780)
    with pytest.raises(GaussianError, match="Unknown fault kind"):
        sim.inject("/markets", "teapot")


def test_autoplay_advances_on_its_own(tradier_market):
    with TradierSim(tradier_market, token=TOKEN, account_id=ACCOUNT) as sim:
        sim.autoplay(0.02)
        time.sleep(0.3)
        assert sim.index >= 3


def test_history_source_fetches_bars_through_the_client(tradier_market):
    with TradierSim(tradier_market, token=TOKEN, account_id=ACCOUNT, start_index=779) as sim:
        source = TradierHistorySource(make_client(sim), chunk_days=1)
        assert isinstance(source, HistorySource)
        start, end = dt.date(2024, 1, 2), dt.date(2024, 1, 3)
        bars = tradier_market.bars[COLS]
        one = source.fetch("SPY", start, end, "1min")
        assert one.index.equals(bars.index) and np.allclose(one.to_numpy(), bars.to_numpy())
        for interval in ("5min", "30min", "1day"):
            got = source.fetch("SPY", start, end, interval)
            want = resample_bars(bars, interval)
            assert got.index.equals(want.index), interval
            assert np.allclose(got.to_numpy(), want[COLS].to_numpy()), interval
        just_one_day = source.fetch("SPY", end, end, "15min")
        assert set(just_one_day.index.date) == {end} and len(just_one_day) == 26
        with pytest.raises(DataError, match="no bars"):
            source.fetch("QQQ", start, end, "1day")
        with pytest.raises(DataError, match="ends .* before it starts"):
            source.fetch("SPY", end, start, "1min")


def test_cli_serves_and_stops(tradier_market, tmp_path, monkeypatch):
    monkeypatch.setenv("GAUSSIAN_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["serve", "--sessions", "1", "--port", "0", "--max-seconds", "0.2", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output.strip().splitlines()[-1])
    assert info["url"].startswith("http://127.0.0.1:") and info["url"].endswith("/v1") and info["bars"] == 390
    result = CliRunner().invoke(app, ["serve", "--market", "missing", "--port", "0", "--max-seconds", "0.1"])
    assert result.exit_code != 0 and "No market named 'missing'" in str(result.exception)
