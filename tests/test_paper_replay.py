"""Replaying a day through the paper loop against the local Tradier gives the backtest's decisions."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.paper.venues import session_bounds
from experiments.runs.backtest import evaluate
from experiments.runs.pipeline import baseline_strategy
from tests.paper_fixtures import MOMENTUM, TOKEN, decisions, local_server, market, session, spec
from trader.errors import DataError, LookaheadError


@pytest.fixture(scope="module")
def day():
    return market()


def test_a_replayed_day_gives_the_backtests_decisions_and_fills(day, tmp_path: Path) -> None:
    s = spec(*MOMENTUM)
    a, b = session_bounds(day)
    backtest = evaluate(s, day, a, b, baseline_strategy("momentum", s))
    sim = local_server(day, s, a)
    try:
        paper = session(tmp_path, day, s, baseline_strategy("momentum", s), sim)
        doc = paper.run()
    finally:
        sim.stop()
    expected = [(d["bar"], [list(x) for x in d["intents"]]) for d in backtest.decisions]
    assert len(expected) > 10 and decisions(paper) == expected
    fills = [(t.symbol, t.entry_price, t.exit_price, t.exit_reason) for t in paper.engine.trades]
    assert fills == [(t.symbol, t.entry_price, t.exit_price, t.exit_reason) for t in backtest.trades]
    assert doc["split"] == "paper" and doc["complete"] and doc["decisions"] == len(expected)
    assert doc["metrics"]["pnl"] == pytest.approx(sum(t.pnl for t in backtest.trades), abs=1e-6)
    # the broker's cash is the backtest's (the local server charges the spec's commission and fees)
    assert paper.broker.cash() == pytest.approx(float(backtest.equity["cash"].iloc[-1]), abs=1e-6)
    for name in ("journal.jsonl", "state.json", "trades.parquet", "equity.parquet", "metrics.json", "ANALYSIS.md"):
        assert (paper.dir / name).is_file(), name
    assert json.loads((paper.dir / "metrics.json").read_text())["split"] == "paper"
    assert "Paper-trading session" in (paper.dir / "ANALYSIS.md").read_text()
    kinds = {e["event"] for e in paper.journal.events()}
    assert {"session", "submit", "order", "fill", "decision", "trade", "bar"} <= kinds
    assert all(TOKEN.encode() not in f.read_bytes() for f in paper.dir.rglob("*") if f.is_file())


def test_simulated_fills_on_the_servers_quotes_give_the_same_decisions(day, tmp_path: Path) -> None:
    s = spec(*MOMENTUM)
    a, _ = session_bounds(day)
    b = a + 150
    backtest = evaluate(s, day, a, b, baseline_strategy("momentum", s))
    sim = local_server(day, s, a)
    try:
        paper = session(tmp_path, day, s, baseline_strategy("momentum", s), sim, broker="sim")
        paper.run(max_bars=150)
        assert not sim.account.orders  # nothing reached the server's account
    finally:
        sim.stop()
    expected = [(d["bar"], [list(x) for x in d["intents"]]) for d in backtest.decisions]
    assert expected and decisions(paper) == expected


def test_the_live_feed_hands_out_nothing_past_the_clock(day, tmp_path: Path) -> None:
    s = spec(*MOMENTUM)
    a, _ = session_bounds(day)
    sim = local_server(day, s, a)
    try:
        paper = session(tmp_path, day, s, baseline_strategy("momentum", s), sim)
        paper.catch_up(a)
        paper.receive(a)
        paper.feed.clock.advance_to(a)
        with pytest.raises(LookaheadError):
            paper.feed.bar(a + 1)
        with pytest.raises(DataError, match="has not arrived"):
            paper.feed.view(a + 1)
        with pytest.raises(DataError, match="next one expected"):
            paper.feed.put_bar(a + 5, dict(day.bars.iloc[a + 5]))
        assert paper.feed.view().bars.index[-1] == day.bars.index[a]
    finally:
        sim.stop()
