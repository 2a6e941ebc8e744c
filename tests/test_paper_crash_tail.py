"""A paper session that dies right after any journal line of a bar, before that bar's state.json, resumes with
nothing counted twice and nothing sent twice: for the SimBroker (the replay venue's `--broker sim`, and the
sim-on-tradier venue, whose account outlives the process) the finished session equals an uninterrupted one (trades,
cash); for a real broker (Tradier's API, here the local server) no order goes out twice and each close is one trade.
Every order id (hence tag) is used once, voided or not."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from experiments.files import read_jsonl
from experiments.paper.session import PaperSession
from experiments.paper.venues import replay_venue, session_bounds
from experiments.runs.pipeline import baseline_strategy
from tests.paper_fixtures import OFF, TOKEN, local_server, market, spec

BARS = 24
# entries often (momentum, one-bar cooldown), exits a bar or two later: fills, trades and submits in most bars
TRADING = ["entry.type=momentum", "entry.momentum.threshold_sigma=0.0", "entry.cooldown_bars=1",
           "exits.max_hold_minutes=2", "exits.model.enabled=false", "trading.max_positions=2"]


class Killed(BaseException):
    """The process dying (nothing below catches a BaseException that is not an Exception)."""


@pytest.fixture(scope="module")
def day():
    return market()


def _open(tmp: Path, day, s, broker: str, sim) -> PaperSession:
    """A new process's session: a fresh venue and strategy over the same session directory (and account)."""
    venue, feed, _ = replay_venue(day, s, sim=sim, token=TOKEN if sim else None, broker=broker)
    return PaperSession(tmp / "paper" / "s", tmp, s, baseline_strategy("momentum", s), feed, venue, OFF)


def _finish(paper: PaperSession, end: int) -> None:
    state = paper.dir / "state.json"
    start = json.loads(state.read_text())["bar"] + 1 if state.exists() else paper.feed.first_session_bar
    try:
        paper.run(max_bars=max(1, end - start))
    finally:
        paper.venue.close()


def _session(tmp: Path, day, s, broker: str, kept: bool, kill_at: int | None = None) -> dict:
    a, _ = session_bounds(day)
    sim = local_server(day, s, a) if kept else None
    try:
        paper = _open(tmp, day, s, broker, sim)
        if kill_at is not None:
            written = [0]

            def die(event: dict) -> None:
                written[0] += 1
                if written[0] == kill_at:
                    raise Killed(event["event"])
            paper.journal.listeners.append(die)
            try:
                _finish(paper, a + BARS)
            except Killed:
                pass
            else:
                raise AssertionError(f"no journal line {kill_at}")
            paper = _open(tmp, day, s, broker, sim)
        _finish(paper, a + BARS)
        server_orders = [(o.tag, o.option_symbol, o.side, o.quantity, o.status) for o in sim.account.orders.values()
                         ] if sim else []
    finally:
        if sim is not None:
            sim.stop()
    metrics = json.loads((paper.dir / "metrics.json").read_text())
    trades = pd.read_parquet(paper.dir / "trades.parquet")
    return {"every": read_jsonl(paper.journal.path), "trades": list(zip(trades["symbol"], trades["pnl"].round(6))),
            "server_orders": server_orders, "metrics": metrics, "cash": paper.inner.cash(),
            "equity": pd.read_parquet(paper.dir / "equity.parquet")}


def _kill_points(events: list[dict]) -> list[int]:
    """Journal lines (1-based) to die after: the first two of each kind a bar writes (fill, trade, submit, ...)."""
    seen: dict[str, int] = {}
    points = []
    for n, e in enumerate(events, 1):
        kind = e["event"]
        if kind == "session" or seen.get(kind, 0) >= 2:
            continue
        seen[kind] = seen.get(kind, 0) + 1
        points.append(n)
    return points


def _check_common(run: dict) -> None:
    ids = [e["order_id"] for e in run["every"] if e["event"] == "submit"]
    assert ids and len(ids) == len(set(ids))  # each order id, hence each tag, used once, voided or not
    tags = [o[0] for o in run["server_orders"]]
    assert len(tags) == len(set(tags))
    assert len(run["equity"]) == BARS and run["equity"].index.is_unique


@pytest.mark.slow
@pytest.mark.parametrize("kept", [True, False], ids=["account-kept", "fresh-server"])
def test_the_sim_broker_killed_after_any_journal_line_finishes_like_an_uninterrupted_session(
        day, tmp_path: Path, kept: bool) -> None:
    s = spec(*TRADING)
    whole = _session(tmp_path / "whole", day, s, "sim", kept)
    assert len(whole["trades"]) >= 3
    points = _kill_points(whole["every"])
    assert {"submit", "fill", "trade", "bar", "decision"} <= {whole["every"][n - 1]["event"] for n in points}
    for k in points:
        run = _session(tmp_path / f"k{k}", day, s, "sim", kept, kill_at=k)
        _check_common(run)
        assert run["trades"] == whole["trades"], k  # no trade counted twice or lost
        assert run["cash"] == pytest.approx(whole["cash"]), k
        assert run["metrics"]["orders"] == whole["metrics"]["orders"], k


@pytest.mark.slow
def test_a_real_broker_killed_after_any_journal_line_sends_no_order_twice(day, tmp_path: Path) -> None:
    s = spec(*TRADING)
    whole = _session(tmp_path / "whole", day, s, "tradier", True)
    assert len(whole["trades"]) >= 3
    for k in _kill_points(whole["every"]):
        run = _session(tmp_path / f"k{k}", day, s, "tradier", True, kill_at=k)
        _check_common(run)
        orders = run["server_orders"]
        for symbol in {o[1] for o in orders}:  # no close sent twice: never more sold than bought, per contract
            bought = sum(o[3] for o in orders if o[1] == symbol and o[2] == "buy_to_open" and o[4] == "filled")
            assert sum(o[3] for o in orders if o[1] == symbol and o[2] == "sell_to_close") <= bought, (k, symbol)
        closes = sum(1 for o in orders if o[2] == "sell_to_close" and o[4] == "filled")
        assert closes - 1 <= len(run["trades"]) <= closes, k  # each close one trade (the last bar's still out)
        if whole["every"][k - 1]["event"] == "submit":
            continue  # died between the order's journal line and its sending: it is looked up, never sent again
        # otherwise the session is the uninterrupted one: the same orders at the server, each close one trade
        assert len(orders) == len(whole["server_orders"]), k
        assert len(run["trades"]) == len(whole["trades"]), k
        assert sum(p for _, p in run["trades"]) == pytest.approx(sum(p for _, p in whole["trades"])), k
