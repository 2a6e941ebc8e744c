"""Tradier's JSON quirks: decoded from the documented payloads and from the local server's answers."""
from __future__ import annotations

import datetime as dt

import httpx
import pandas as pd
import pytest

from tests.tradier_fixtures import ACCOUNT, TOKEN, make_client, market_fixture, pick_option, sim_fixture  # noqa: F401
from trader.broker.tradier_errors import TradierError
from trader.broker.tradier_frames import history_frame, timesales_frame
from trader.broker.tradier_models import Balances, MarketClock, Quote, TradierOrder, TradierPosition
from trader.broker.tradier_sim import TradierSim
from trader.broker.tradier_wire import (
    as_list,
    error_text,
    from_epoch_ms,
    from_epoch_s,
    quota_expiry_ms,
    rate_category,
    to_float,
)
from trader.market.synthetic import generate_synthetic

NY = "America/New_York"
VXX_PUT = {  # the documented chain item of an option that has not traded (nullable numbers, trade_date 0)
    "symbol": "VXX190517P00016000", "description": "VXX May 17 2019 $16.00 Put", "exch": "Z", "type": "option",
    "last": None, "change": None, "volume": 0, "open": None, "high": None, "low": None, "close": None,
    "bid": 0.0, "ask": 0.01, "underlying": "VXX", "strike": 16.0, "change_percentage": None, "average_volume": 0,
    "last_volume": 0, "trade_date": 0, "prevclose": None, "week_52_high": 0.0, "week_52_low": 0.0, "bidsize": 0,
    "bidexch": "J", "bid_date": 1557171657000, "asksize": 611, "askexch": "Z", "ask_date": 1557172096000,
    "open_interest": 10, "contract_size": 100, "expiration_date": "2019-05-17", "expiration_type": "standard",
    "option_type": "put", "root_symbol": "VXX",
    "greeks": {"delta": 1.0, "gamma": 1.95546e-10, "theta": -0.00204837, "vega": 3.54672e-9, "rho": 0.106077,
               "phi": -0.28801, "bid_iv": 0.0, "mid_iv": 0.0, "ask_iv": 0.0, "smv_vol": 0.380002,
               "updated_at": "2019-08-29 14:59:08"},
}


def raw(sim: TradierSim, path: str, **params: str) -> dict:
    """The server's JSON answer as sent on the wire (no client decoding)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
    response = httpx.get(sim.url + path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# ----------------------------------------------------------------------------------------- pure decoding
@pytest.mark.parametrize("envelope, expected", [
    (None, []), ("null", []), ({"position": None}, []), ({"position": "null"}, []), ({}, []),
    ({"position": {"id": 1}}, [{"id": 1}]), ({"position": [{"id": 1}, {"id": 2}]}, [{"id": 1}, {"id": 2}]),
    ([{"id": 3}], [{"id": 3}]),
])
def test_as_list_accepts_every_collection_shape(envelope, expected):
    assert as_list(envelope, "position") == expected


def test_nullable_numbers_and_option_quote_without_trades():
    assert [to_float(x) for x in (None, "null", "", "1.50", 2, float("nan"))] == [None, None, None, 1.5, 2.0, None]
    q = Quote.model_validate(VXX_PUT)
    assert q.last is None and q.change is None and q.prevclose is None and q.change_percentage is None
    assert q.trade_date is None  # 0 means never traded
    assert q.bid_date == pd.Timestamp(1557171657000, unit="ms", tz="UTC").tz_convert(NY)
    assert q.right == "P" and q.expiration_date == dt.date(2019, 5, 17) and q.mid == pytest.approx(0.005)
    assert q.greeks is not None and q.greeks.iv == pytest.approx(0.380002)  # mid_iv 0 falls back to smv_vol


def test_milliseconds_versus_seconds():
    ms, s = from_epoch_ms(1705089600000), from_epoch_s(1705089600)
    assert ms == s == pd.Timestamp("2024-01-12 15:00", tz=NY)
    assert from_epoch_ms(0) is None and from_epoch_s("null") is None
    clock = MarketClock.model_validate({"date": "2019-05-06", "description": "Market is open from 09:30 to 16:00",
                                        "state": "open", "timestamp": 1557156988, "next_change": "16:00",
                                        "next_state": "postmarket"})
    assert clock.timestamp == pd.Timestamp(1557156988, unit="s", tz="UTC") and clock.date == dt.date(2019, 5, 6)


def test_orders_positions_balances_models():
    order = TradierOrder.model_validate({
        "id": 228749, "type": "market", "symbol": "SPY", "side": "buy_to_open", "quantity": 1.0,
        "status": "filled", "duration": "day", "avg_fill_price": 3.07, "exec_quantity": 1.0,
        "create_date": "2024-01-12T15:02:11.342Z", "class": "option", "option_symbol": "SPY240119C00470000",
        "tag": "bot-entry-1", "leg": [{"ignored": True}]})
    assert order.order_class == "option" and order.is_final
    assert order.create_date == pd.Timestamp("2024-01-12 10:02:11.342", tz=NY)
    pos = TradierPosition.model_validate({"cost_basis": 305.0, "date_acquired": "2024-01-12T15:02:11.405Z",
                                          "id": 130089, "quantity": 1.0, "symbol": "SPY240119C00470000"})
    assert pos.quantity == 1.0 and pos.date_acquired.tzinfo is not None
    cash = Balances.model_validate({"account_number": "VA1", "account_type": "cash", "total_cash": 5000.0,
                                    "cash": {"cash_available": 4343.38, "sweep": 0, "unsettled_funds": 1310.0}})
    assert cash.option_buying_power == pytest.approx(4343.38)
    margin = Balances.model_validate({"account_type": "margin", "total_equity": "17798.360000000000000000000000",
                                      "margin": {"option_buying_power": 6363.86}})
    assert margin.option_buying_power == pytest.approx(6363.86) and margin.total_equity == pytest.approx(17798.36)


def test_error_texts_and_quota_and_buckets():
    assert error_text({"errors": {"error": "You do not have enough buying power for this trade."}}).startswith("You")
    assert error_text({"errors": {"error": ["type is invalid", "price missing"]}}) == "type is invalid | price missing"
    fault = {"fault": {"faultstring": "Invalid Access Token",
                       "detail": {"errorcode": "keymanagement.service.invalid_access_token"}}}
    assert error_text(fault) == "Invalid Access Token (keymanagement.service.invalid_access_token)"
    assert error_text("<html>  502 Bad\nGateway </html>") == "<html> 502 Bad Gateway </html>"
    assert quota_expiry_ms("Quota Violation ... 1717000000000") == 1717000000000
    assert quota_expiry_ms("Internal Server Error") is None
    assert rate_category("GET", "/v1/markets/quotes") == "market"
    assert rate_category("POST", "/accounts/VA1/orders") == "trading"
    assert rate_category("GET", "/accounts/VA1/orders") == "standard"


def test_timesales_and_history_frames_from_documented_rows():
    rows = [{"time": "2019-05-09T09:30:00", "timestamp": 1557408600, "price": 199.645, "open": 200.46,
             "high": 200.53, "low": 198.76, "close": 200.1154, "volume": 1273841, "vwap": 199.77806},
            {"time": "2019-05-09T09:31:00", "timestamp": 1557408660, "price": 200.2, "open": 200.15,
             "high": 200.54, "low": 199.86, "close": 200.49, "volume": 228068, "vwap": 200.17588}]
    bars = timesales_frame(rows)
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.index.name == "timestamp" and str(bars.index.tz) == NY
    assert bars.index[0] == pd.Timestamp("2019-05-09 09:30", tz=NY)
    assert bars["close"].iloc[1] == 200.49 and bars.dtypes.eq("float64").all()
    ticks = timesales_frame([{"time": "2019-05-09T09:30:01", "price": 200.0, "volume": 100}])
    assert ticks.iloc[0].tolist() == [200.0, 200.0, 200.0, 200.0, 100.0]
    day = history_frame(as_list({"day": {"date": "2024-01-10", "open": 472.2, "high": 474.6, "low": 471.49,
                                         "close": 473.88, "volume": 65723500}}, "day"))
    assert day.index[0] == pd.Timestamp("2024-01-10 09:30", tz=NY) and day["close"].iloc[0] == 473.88


# ------------------------------------------------------------------------------------ over the wire
def test_single_position_is_an_object_and_two_are_a_list(sim):
    client = make_client(sim)
    first, second = pick_option(sim, "C"), pick_option(sim, "P")
    client.place_option_order(first, "buy_to_open", 1)
    assert isinstance(raw(sim, f"/accounts/{ACCOUNT}/positions")["positions"]["position"], dict)
    assert isinstance(raw(sim, f"/accounts/{ACCOUNT}/orders")["orders"]["order"], dict)
    assert [p.symbol for p in client.positions()] == [first]
    client.place_option_order(second, "buy_to_open", 1)
    assert isinstance(raw(sim, f"/accounts/{ACCOUNT}/positions")["positions"]["position"], list)
    assert sorted(p.symbol for p in client.positions()) == sorted([first, second])
    assert len(client.orders()) == 2


@pytest.mark.parametrize("style, wire", [("string", "null"), ("null", None), ("inner_null", "inner")])
def test_empty_collections_in_every_style(tradier_market, style, wire):
    with TradierSim(tradier_market, token=TOKEN, account_id=ACCOUNT, start_index=5, empty_style=style) as sim:
        client = make_client(sim)
        body = raw(sim, f"/accounts/{ACCOUNT}/positions")
        assert body["positions"] == ({"position": None} if wire == "inner" else wire)
        assert client.positions() == [] and client.orders() == []
        assert client.history("QQQ").empty  # unknown symbol
        assert client.timesales("SPY240102C00470000").empty  # an option symbol has no series here
        assert client.option_chain("SPY", "2023-12-29") == []  # a past date has no chain
        assert client.option_expirations("QQQ") == []


def test_unmatched_symbols(sim):
    client = make_client(sim)
    body = raw(sim, "/markets/quotes", symbols="SPY,XXXX")
    assert isinstance(body["quotes"]["quote"], dict) and body["quotes"]["unmatched_symbols"] == {"symbol": "XXXX"}
    batch = client.quotes(["SPY", "XXXX"])
    assert [q.symbol for q in batch.quotes] == ["SPY"] and batch.unmatched == ["XXXX"]
    body = raw(sim, "/markets/quotes", symbols="XXXX,SPY990101C00100000")
    assert "quote" not in body["quotes"] and isinstance(body["quotes"]["unmatched_symbols"]["symbol"], list)
    batch = client.quotes(["XXXX", "SPY990101C00100000"])
    assert batch.quotes == [] and batch.unmatched == ["XXXX", "SPY990101C00100000"]
    with pytest.raises(TradierError, match="no quote for symbol 'XXXX'"):
        client.quote("XXXX")


def test_timestamps_on_the_wire_decode_to_the_simulated_time(sim, tradier_market):
    client = make_client(sim)
    body = raw(sim, "/markets/quotes", symbols="SPY")
    assert body["quotes"]["quote"]["trade_date"] > 10**12  # milliseconds
    assert raw(sim, "/markets/clock")["clock"]["timestamp"] < 10**10  # seconds
    now = tradier_market.bars.index[sim.index] + pd.Timedelta(minutes=1)
    assert client.quote("SPY").trade_date == now == client.clock().timestamp
    series = raw(sim, "/markets/timesales", symbol="SPY", interval="1min")["series"]["data"]
    assert series[-1]["timestamp"] < 10**10 and series[-1]["time"] == f"{tradier_market.bars.index[sim.index]:%Y-%m-%dT%H:%M:%S}"


def test_option_quote_has_null_prices_and_greeks(sim):
    client = make_client(sim)
    symbol = pick_option(sim)
    q = client.quote(symbol, greeks=True)
    assert q.last is None and q.open is None and q.bid > 0 and q.ask > q.bid and q.right == "C"
    assert q.greeks is not None and 0 < q.greeks.delta < 1 and q.greeks.iv > 0
    assert client.quote(symbol).greeks is None


def test_single_expiration_is_a_string(tmp_path):
    market = generate_synthetic(sessions=1, seed=3, max_dte=0)
    with TradierSim(market, token=TOKEN, account_id=ACCOUNT) as sim:
        assert raw(sim, "/markets/options/expirations", symbol="SPY") == {"expirations": {"date": "2024-01-02"}}
        assert make_client(sim).option_expirations("SPY") == [dt.date(2024, 1, 2)]
        detailed = raw(sim, "/markets/options/expirations", symbol="SPY", strikes="true")
        assert isinstance(detailed["expirations"]["expiration"], dict)
        assert make_client(sim).option_strikes("SPY", dt.date(2024, 1, 2))[:2] == [450.0, 451.0]
