"""Paper trading against the local Tradier: same decisions as the backtest, no duplicate orders, restarts
reconcile, kill switches stop trading, and `gaussian live` refuses."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.backtest import evaluate
from experiments.cli.main import cli
from experiments.paper import KillSwitches, PaperSession, decisions_of, session_bounds
from experiments.spec_io import load_spec
from trader.broker.tradier_client import TradierClient
from trader.broker.tradier_sim import TradierSim
from trader.market.synthetic import generate_synthetic
from trader.strategies.baselines import MomentumStrategy, RandomStrategy

SPEC = load_spec(None, ["entry.type=momentum", "costs.latency_bars=0", "exits.model.enabled=false"])
HOLD = load_spec(None, ["entry.type=random", "costs.latency_bars=0", "exits.model.enabled=false",
                        "exits.stop_loss_pct=null", "exits.take_profit_pct=null", "exits.max_hold_minutes=null"])
OFF = dict(max_daily_loss=None, max_open_positions=None, max_orders_per_minute=None)
BARS = 100


@pytest.fixture(scope="module")
def market():
    return generate_synthetic(sessions=5, seed=4, edge=0.5)


def _session(tmp: Path, market, spec, strategy, sim, kill=None, name="s1") -> PaperSession:
    client = TradierClient("t", "VA1", base_url=sim.url)
    return PaperSession(tmp / "paper" / name, tmp, spec, None, strategy, market, client,
                        kill or KillSwitches(**OFF), advance=sim.set_index)


def _sim(market, a: int) -> TradierSim:
    return TradierSim(market, token="t", account_id="VA1", cash=5000.0, start_index=a, rate_limit=1_000_000)


def test_replayed_day_gives_the_backtests_decisions(market, tmp_path: Path) -> None:
    a, _ = session_bounds(market, None)
    b = a + BARS
    backtest = evaluate(SPEC, market, a, b, MomentumStrategy(5, 0.5))
    with _sim(market, a) as sim:
        ps = _session(tmp_path, market, SPEC, MomentumStrategy(5, 0.5), sim)
        ps.run(a, b)
    paper = [(d["bar"], [list(x) for x in d["intents"]]) for d in decisions_of(ps.dir)]
    bt = [(d["bar"], [list(x) for x in d["intents"]]) for d in backtest.decisions]
    assert bt and paper == bt
    closed = [(t.symbol, t.entry_price, t.exit_price) for t in ps.engine.trades]
    assert closed == [(t.symbol, t.entry_price, t.exit_price) for t in backtest.trades[: len(closed)]]
    doc = json.loads((ps.dir / "metrics.json").read_text())
    assert doc["split"] == "paper" and (ps.dir / "ANALYSIS.md").exists()


def test_a_500_after_the_order_was_accepted_does_not_duplicate_it(market, tmp_path: Path) -> None:
    a, _ = session_bounds(market, None)
    with _sim(market, a) as sim:
        sim.inject("/accounts", "fail_after_accept", method="POST")
        ps = _session(tmp_path, market, HOLD, RandomStrategy(1.0, seed=1), sim)
        ps.run(a, a + 3)
        orders = sim.account.orders
        tags = [o.tag for o in orders.values()] if isinstance(orders, dict) else [o.tag for o in orders]
    assert len(tags) == len(set(tags)) == len(ps.broker.orders_sent)
    journal = [json.loads(x) for x in (ps.dir / "journal.jsonl").read_text().splitlines()]
    assert any(e.get("recovered") for e in journal if e["event"] == "order")


def test_a_restart_with_open_positions_reconciles_them(market, tmp_path: Path) -> None:
    a, _ = session_bounds(market, None)
    with _sim(market, a) as sim:
        first = _session(tmp_path, market, HOLD, RandomStrategy(0.2, seed=3), sim)
        for i in range(a, a + 40):
            sim.set_index(i)
            first.step(i)
        held = {p.symbol for p in first.client.positions()}
        assert held and {p.symbol for p in first.engine.positions.values()} == held
        del first  # the process "dies" here
        second = _session(tmp_path, market, HOLD, RandomStrategy(0.2, seed=3), sim)
        nxt = second.resume()
        assert nxt == a + 40
        assert {p.symbol for p in second.engine.positions.values()} == held
        for i in range(nxt, nxt + 5):
            sim.set_index(i)
            second.step(i)


@pytest.mark.parametrize("switch", ["halt", "daily_loss", "open_positions", "orders_per_minute"])
def test_each_kill_switch_stops_trading(market, tmp_path: Path, switch: str) -> None:
    a, _ = session_bounds(market, None)
    kill = {"halt": KillSwitches(**OFF, halt_file="HALT"),
            "daily_loss": KillSwitches(**{**OFF, "max_daily_loss": 5.0}),
            "open_positions": KillSwitches(**{**OFF, "max_open_positions": 1}),
            "orders_per_minute": KillSwitches(**{**OFF, "max_orders_per_minute": 1})}[switch]
    spec = HOLD if switch != "orders_per_minute" else load_spec(None, [
        "entry.type=random", "costs.latency_bars=0", "exits.model.enabled=false", "entry.cooldown_bars=0",
        "trading.max_positions=10"])
    with _sim(market, a) as sim:
        ps = _session(tmp_path, market, spec, RandomStrategy(0.5, seed=5), sim, kill)
        for i in range(a, a + 30):
            if switch == "halt" and i == a + 10:
                (tmp_path / "HALT").write_text("stop")
            sim.set_index(i)
            ps.step(i)
        n_open = [row[4] for row in ps.equity]
    journal = [json.loads(x) for x in (ps.dir / "journal.jsonl").read_text().splitlines()]
    if switch in ("halt", "daily_loss"):
        kills = [e for e in journal if e["event"] == "kill_switch"]
        assert kills and ps.stopped
        after = [e for e in journal if e["event"] == "decision" and e["bar"] > kills[0]["bar"]]
        assert not after and n_open[-1] == 0
    elif switch == "open_positions":
        assert max(n_open) <= 1 and any(e["event"] == "blocked" for e in journal)
    else:
        opens = pd.Series([pd.Timestamp(t) for t in ps.broker.orders_sent])
        assert any(e["event"] == "blocked" for e in journal)
        entries = [e for e in journal if e["event"] == "decision"]
        assert all(len(e["intents"]) <= 1 for e in entries) and len(opens) > 0


def test_live_refuses_without_token_flag_and_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.delenv("TRADIER_TOKEN", raising=False)
    r = runner.invoke(cli, ["live", "--live", "--confirm", "I accept real-money risk"])
    assert r.exit_code != 0 and "TRADIER_TOKEN" in str(r.exception)
    monkeypatch.setenv("TRADIER_TOKEN", "live-token-123456")
    monkeypatch.setenv("TRADIER_ENV", "live")
    r = runner.invoke(cli, ["live", "--confirm", "I accept real-money risk"])
    assert "--live" in str(r.exception)
    r = runner.invoke(cli, ["live", "--live", "--confirm", "yes"])
    assert "--confirm" in str(r.exception)
    r = runner.invoke(cli, ["live", "--live", "--confirm", "I accept real-money risk"])
    assert "not available in this build" in str(r.exception) and "live-token-123456" not in str(r.exception)
