"""Orders through the client and the local server: fills at bid/ask, balances, and no duplicate orders ever."""
from __future__ import annotations

import numpy as np
import pytest

from tests.tradier_fixtures import (  # noqa: F401
    ACCOUNT,
    TOKEN,
    make_client,
    market_fixture,
    order_lookups,
    pick_option,
    posts,
    sim_fixture,
)
from trader.broker.tradier_errors import TradierError, TradierOrderRejected, TradierOrderUncertain
from trader.broker.tradier_sim import TradierSim
from trader.options import parse_occ


def test_market_orders_fill_at_ask_and_bid_and_update_the_account(sim):
    client = make_client(sim)
    symbol = pick_option(sim)
    bid, ask = sim.view.option_bid_ask(sim.index, symbol)
    c = parse_occ(symbol)
    model = sim.view.market.quoter.quote(sim.index, c.expiry, c.strike, c.right)
    assert (bid, ask) == pytest.approx((model.bid, model.ask))
    ack = client.place_option_order(symbol, "buy_to_open", 2)
    assert ack.status == "ok" and not ack.recovered
    order = client.order(ack.id)
    assert order.status == "filled" and order.avg_fill_price == pytest.approx(ask) and order.tag == ack.tag
    assert order.exec_quantity == 2 and order.remaining_quantity == 0 and order.option_symbol == symbol
    [pos] = client.positions()
    assert pos.symbol == symbol and pos.quantity == 2 and pos.cost_basis == pytest.approx(ask * 200)
    bal = client.balances()
    assert bal.total_cash == pytest.approx(100_000 - ask * 200)
    assert bal.option_buying_power == pytest.approx(100_000 - ask * 200)
    assert bal.option_long_value == pytest.approx((bid + ask) / 2 * 200, abs=0.01)

    sim.advance(10)
    bid2 = sim.view.option_bid_ask(sim.index, symbol)[0]
    sell = client.place_option_order(symbol, "sell_to_close", 2, tag="exit-1")
    assert sell.tag == "exit-1" and client.order(sell.id).avg_fill_price == pytest.approx(bid2)
    assert client.positions() == []
    bal = client.balances()
    assert bal.total_cash == pytest.approx(100_000 + (bid2 - ask) * 200)
    assert bal.close_pl == pytest.approx((bid2 - ask) * 200, abs=0.01)
    assert [o.status for o in client.orders()] == ["filled", "filled"]


def test_fail_after_accept_does_not_duplicate_the_order(sim):
    client = make_client(sim)
    symbol = pick_option(sim)
    sim.inject("/accounts", "fail_after_accept", method="POST")
    ack = client.place_option_order(symbol, "buy_to_open", 1)
    assert ack.recovered and ack.status == "ok"
    assert len(sim.account.orders) == 1 and len(posts(sim)) == 1
    assert len(order_lookups(sim)) >= 1
    assert sim.account.orders[ack.id].tag == ack.tag and client.positions()[0].quantity == 1


def test_500_before_accept_is_resubmitted_once_after_the_tag_check(sim):
    client = make_client(sim)
    sim.inject("/accounts", 500, method="POST")
    ack = client.place_option_order(pick_option(sim), "buy_to_open", 1)
    assert not ack.recovered
    assert len(sim.account.orders) == 1 and len(posts(sim)) == 2 and len(order_lookups(sim)) == 1


def test_quota_violation_on_an_order_waits_checks_and_resubmits(sim):
    client = make_client(sim)
    sim.inject("/accounts", "429", method="POST", expiry_ms=100)
    ack = client.place_option_order(pick_option(sim), "buy_to_open", 1)
    assert len(sim.account.orders) == 1 and ack.id in sim.account.orders and len(posts(sim)) == 2


def test_a_reject_is_not_retried(sim):
    client = make_client(sim)
    sim.inject("/accounts", "reject", method="POST", message="DayTraderPatternRestriction: not allowed")
    with pytest.raises(TradierOrderRejected, match="DayTraderPatternRestriction") as err:
        client.place_option_order(pick_option(sim), "buy_to_open", 1)
    assert err.value.status == 200
    assert len(posts(sim)) == 1 and order_lookups(sim) == [] and sim.account.orders == {}


def test_business_and_parameter_rejections(sim):
    client = make_client(sim)
    symbol = pick_option(sim)
    with pytest.raises(TradierOrderRejected, match="more than the 0 contract"):
        client.place_option_order(symbol, "sell_to_close", 1)
    with pytest.raises(TradierOrderRejected, match="side is invalid"):
        client.place_option_order(symbol, "sell_to_open", 1)
    with pytest.raises(TradierOrderRejected, match="symbol not found"):
        client.place_option_order("SPY230120C00400000", "buy_to_open", 1)
    assert len(posts(sim)) == 3 and order_lookups(sim) == []
    with pytest.raises(TradierError, match="positive whole number"):
        client.place_option_order(symbol, "buy_to_open", 0)
    with pytest.raises(TradierError, match="needs a positive price"):
        client.place_option_order(symbol, "buy_to_open", 1, order_type="limit")


def test_not_enough_buying_power(tradier_market):
    with TradierSim(tradier_market, token=TOKEN, account_id=ACCOUNT, start_index=60, cash=50.0) as sim:
        client = make_client(sim)
        with pytest.raises(TradierOrderRejected, match="enough buying power"):
            client.place_option_order(pick_option(sim), "buy_to_open", 1)
        assert sim.account.orders == {} and len(posts(sim)) == 1


def test_order_timeout_checks_the_tag_and_raises_without_resubmitting(sim):
    client = make_client(sim, timeout=0.3, lookup_attempts=2)
    sim.inject("/accounts", "timeout", method="POST", delay_s=1.0)
    with pytest.raises(TradierOrderUncertain) as err:
        client.place_option_order(pick_option(sim), "buy_to_open", 1, tag="entry-42")
    text = str(err.value)
    assert "entry-42" in text and "timed out" in text and "not resubmitted" in text and err.value.tag == "entry-42"
    assert len(posts(sim)) == 1 and len(order_lookups(sim)) == 2 and sim.account.orders == {}
    post_time = posts(sim)[0].time
    assert all(r.time > post_time for r in order_lookups(sim))


def test_order_timeout_after_accept_returns_the_placed_order(sim):
    client = make_client(sim, timeout=0.3)
    sim.inject("/accounts", "timeout_after_accept", method="POST", delay_s=1.0)
    ack = client.place_option_order(pick_option(sim), "buy_to_open", 1)
    assert ack.recovered and len(sim.account.orders) == 1 and len(posts(sim)) == 1


def test_unreadable_success_is_checked_by_tag(sim):
    client = make_client(sim)
    sim.inject("/accounts", "garbled_after_accept", method="POST")
    ack = client.place_option_order(pick_option(sim), "buy_to_open", 1)
    assert ack.recovered and len(sim.account.orders) == 1 and len(posts(sim)) == 1


def test_failed_tag_lookup_is_uncertain_not_resubmitted(sim):
    client = make_client(sim, max_retries=1)
    sim.inject("/accounts", "fail_after_accept", method="POST")
    sim.inject("/accounts", 503, count=5, method="GET")
    with pytest.raises(TradierOrderUncertain, match="listing orders to check its tag failed"):
        client.place_option_order(pick_option(sim), "buy_to_open", 1)
    assert len(sim.account.orders) == 1 and len(posts(sim)) == 1


def test_limit_orders_rest_fill_later_cancel_and_expire(sim, tradier_market):
    client = make_client(sim)
    for right in ("C", "P"):  # a contract whose ask falls later in the session
        symbol = pick_option(sim, right)
        c = parse_occ(symbol)
        asks = np.array([tradier_market.quoter.quote(j, c.expiry, c.strike, c.right).ask
                         for j in range(sim.index, 389)])
        if (asks[1:] < asks[0] - 0.02).any():
            break
    later = int(np.argmax(asks[1:] < asks[0] - 0.02)) + 1
    assert asks[later] < asks[0] - 0.02
    limit = round(float(asks[later]), 2)
    ack = client.place_option_order(symbol, "buy_to_open", 1, order_type="limit", price=limit)
    assert client.order(ack.id).status == "open"
    assert client.balances().option_buying_power == pytest.approx(100_000 - limit * 100)
    sim.advance(later)
    order = client.order(ack.id)
    first = next(k for k in range(1, later + 1) if asks[k] <= limit + 1e-9)
    assert order.status == "filled" and order.avg_fill_price == pytest.approx(asks[first])

    resting = client.place_option_order(symbol, "buy_to_open", 1, order_type="limit", price=0.01)
    assert client.cancel_order(resting.id).status == "ok" and client.order(resting.id).status == "canceled"
    with pytest.raises(TradierError, match="order already in finalized state: canceled"):
        client.cancel_order(resting.id)
    ask_now = sim.view.option_bid_ask(sim.index, symbol)[1]
    marketable = client.place_option_order(symbol, "buy_to_open", 1, order_type="limit", price=ask_now + 0.5)
    assert client.order(marketable.id).avg_fill_price == pytest.approx(ask_now)  # at the ask, not the limit

    day = client.place_option_order(symbol, "buy_to_open", 1, order_type="limit", price=0.01)
    gtc = client.place_option_order(pick_option(sim, dte=2), "buy_to_open", 1, order_type="limit", price=0.01,
                                    duration="gtc")
    sim.set_index(390)  # the next session's first bar
    assert client.order(day.id).status == "expired" and client.order(gtc.id).status == "open"


def test_expired_positions_settle_at_intrinsic_value(sim, tradier_market):
    client = make_client(sim)
    symbol = pick_option(sim, "C", dte=0)
    ask = sim.view.option_bid_ask(sim.index, symbol)[1]
    client.place_option_order(symbol, "buy_to_open", 3)
    cash = client.balances().total_cash
    sim.advance(400)  # past the close of the expiry session
    assert client.positions() == []
    settle = max(float(tradier_market.bars["close"].iloc[389]) - parse_occ(symbol).strike, 0.0)
    assert client.balances().total_cash == pytest.approx(cash + settle * 300, abs=0.01)
    assert sim.account.events[0]["symbol"] == symbol
    assert client.balances().close_pl == pytest.approx((settle - ask) * 300, abs=0.02)


def test_preview_places_nothing(sim):
    client = make_client(sim)
    symbol = pick_option(sim)
    ask = sim.view.option_bid_ask(sim.index, symbol)[1]
    preview = client.preview_option_order(symbol, "buy_to_open", 2)
    assert preview.status == "ok" and preview.result is True and preview.order_cost == pytest.approx(ask * 200)
    assert preview.option_symbol == symbol and preview.order_class == "option"
    assert sim.account.orders == {}
    with pytest.raises(TradierOrderRejected, match="more than"):
        client.preview_option_order(symbol, "sell_to_close", 1)


def test_order_requests_are_form_encoded_with_a_tag(sim):
    client = make_client(sim)
    symbol = pick_option(sim)
    ack = client.place_option_order(symbol, "buy_to_open", 1)
    [request] = posts(sim)
    assert request.params == {"class": "option", "symbol": "SPY", "option_symbol": symbol, "side": "buy_to_open",
                              "quantity": "1", "type": "market", "duration": "day", "tag": ack.tag}
    assert client.find_order_by_tag(ack.tag).id == ack.id and client.find_order_by_tag("nope") is None
