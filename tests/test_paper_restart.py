"""Orders are never duplicated by a retry, and a restart with open positions reconciles them with the broker."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.paper.venues import session_bounds
from experiments.runs.pipeline import baseline_strategy
from tests.paper_fixtures import HOLDING, drive, local_server, market, session, spec
from trader.broker.tradier_client import TradierClient
from trader.strategies.baselines import RandomStrategy


@pytest.fixture(scope="module")
def day():
    return market()


@pytest.mark.parametrize("fault", ["fail_after_accept", "500"])
def test_a_500_on_order_placement_then_a_retry_does_not_duplicate_the_order(day, tmp_path: Path,
                                                                            fault: str) -> None:
    s = spec(*HOLDING, "entry.random.entry_probability=1.0")
    a, _ = session_bounds(day)
    sim = local_server(day, s, a)
    try:
        paper = session(tmp_path, day, s, baseline_strategy("random", s), sim)
        sim.inject("/accounts", fault, method="POST")  # the first order POST: placed (or not), then a 500
        drive(paper, 3)
        server_orders = list(sim.account.orders.values())
        held = {p.symbol: p.quantity for p in paper.venue.client.positions()}
    finally:
        sim.stop()
    submits = paper.journal.events("submit")
    assert len(submits) == 1  # one entry (then the cooldown), sent once
    assert len(server_orders) == 1 and server_orders[0].tag == f"{paper.inner.prefix}-o1"
    acks = paper.journal.events("order")
    assert len(acks) == 1 and acks[0]["recovered"] is (fault == "fail_after_accept")
    assert held == {submits[0]["symbol"]: 1.0}
    assert [p.symbol for p in paper.engine.positions.values()] == [submits[0]["symbol"]]


def test_a_restart_with_open_positions_reconciles_them_with_the_broker(day, tmp_path: Path) -> None:
    s = spec(*HOLDING, "entry.cooldown_bars=3", "trading.max_positions=4")
    a, _ = session_bounds(day)
    sim = local_server(day, s, a)
    try:
        first = session(tmp_path, day, s, RandomStrategy(0.5, seed=3), sim)
        drive(first, 30)
        client: TradierClient = first.venue.client
        held = {p.symbol: int(p.quantity) for p in client.positions()}
        assert len(held) >= 2
        assert {p.symbol: p.contracts for p in first.engine.positions.values()} == held
        saved = json.loads((first.dir / "state.json").read_text())
        assert saved["bar"] == a + 29 and len(saved["positions"]) == len(held)
        # While the loop is down, someone sells one position by hand and buys another contract.
        gone = min(held)
        client.place_option_order(gone, "sell_to_close", held[gone], tag="by-hand-1")
        chain = sim.view.market.quoter.chain(sim.index, 1)
        extra = str(chain[(chain["right"] == "P") & ~chain["symbol"].isin(list(held))]["symbol"].iloc[5])
        client.place_option_order(extra, "buy_to_open", 2, tag="by-hand-2")
        first.venue.close()
        del first  # the process dies here; a new one starts from the session directory
        second = session(tmp_path, day, s, RandomStrategy(0.5, seed=3), sim)
        second.run(max_bars=5)
        broker = {p.symbol: int(p.quantity) for p in second.venue.client.positions()}
    finally:
        sim.stop()
    assert second.journal.events("resume")[0]["bar"] == a + 30
    mine = {}
    for p in second.engine.positions.values():
        mine[p.symbol] = mine.get(p.symbol, 0) + p.contracts
    assert mine == broker  # the broker is the truth
    notes = {(e["symbol"], e["action"]) for e in second.journal.events("reconcile")}
    assert (gone, "dropped") in notes and (extra, "adopted") in notes
    adopted = [p for p in second.engine.positions.values() if p.symbol == extra]
    assert adopted and adopted[0].contracts == 2 and adopted[0].context.strategy == "reconciled"
    tags = [o.tag for o in sim.account.orders.values() if o.tag]
    assert len(tags) == len(set(tags))  # the new process never reused an order tag


def test_a_working_order_the_broker_does_not_know_is_dropped_on_resume(day, tmp_path: Path) -> None:
    s = spec(*HOLDING, "entry.random.entry_probability=1.0", "costs.latency_bars=1")
    a, _ = session_bounds(day)
    sim = local_server(day, s, a)
    try:
        first = session(tmp_path, day, s, baseline_strategy("random", s), sim)
        drive(first, 1)  # the entry is sent; its fill is taken at the next bar, so it is working in state.json
        first.venue.close()
    finally:
        sim.stop()
    saved = json.loads((first.dir / "state.json").read_text())
    assert [w["tradier_id"] for w in saved["working"]] != [None] and len(saved["working"]) == 1
    fresh = local_server(day, s, a)  # a new account: it never saw that order (GET /orders/<id> is a 404)
    try:
        second = session(tmp_path, day, s, baseline_strategy("random", s), fresh)
        second.run(max_bars=3)
    finally:
        fresh.stop()
    unknown = [e for e in second.journal.events("reconcile") if e["action"] == "order_unknown"]
    assert [e["order_id"] for e in unknown] == [saved["working"][0]["order_id"]]
    assert second.journal.events("resume") and second.last_bar == a + 3
