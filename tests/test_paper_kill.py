"""Each kill switch stops new entries (and the daily-loss one closes every position), journaled."""
from __future__ import annotations

from pathlib import Path

import pytest

from experiments.paper.guard import PaperLimits, load_limits
from experiments.paper.venues import session_bounds
from tests.paper_fixtures import HOLDING, drive, local_server, market, session, spec
from trader.errors import SpecError
from trader.strategies.baselines import RandomStrategy

OFF = {"max_daily_loss": None, "max_open_positions": None, "max_orders_per_minute": None}


@pytest.fixture(scope="module")
def day():
    return market()


def _entries(paper, after: int = -1) -> list[dict]:
    return [e for e in paper.journal.events("submit") if e["side"] == "buy_to_open" and e["bar"] > after]


def _run(day, tmp_path: Path, limits: PaperLimits, bars: int, before=None, *extra: str):
    s = spec(*HOLDING, "entry.cooldown_bars=2", "trading.max_positions=5", *extra)
    a, _ = session_bounds(day)
    sim = local_server(day, s, a)
    try:
        paper = session(tmp_path, day, s, RandomStrategy(0.6, seed=11), sim, limits)
        drive(paper, bars, before)
        held = {p.symbol: p.quantity for p in paper.venue.client.positions()}
    finally:
        sim.stop()
    return paper, held, a


def test_the_halt_file_stops_new_entries(day, tmp_path: Path) -> None:
    halt = tmp_path / "HALT"
    a, _ = session_bounds(day)
    paper, _, _ = _run(day, tmp_path, PaperLimits(**OFF), 40, lambda i: halt.write_text("stop") if i == a + 12 else None)
    trips = [e for e in paper.journal.events("kill_switch") if e["switch"] == "halt_file"]
    assert trips and trips[0]["bar"] == a + 12
    assert _entries(paper, a + 11) == [] and _entries(paper)
    assert paper.journal.events("blocked")


def test_the_halt_file_lifts_when_removed(day, tmp_path: Path) -> None:
    halt = tmp_path / "HALT"
    halt.write_text("stop")
    a, _ = session_bounds(day)
    paper, _, _ = _run(day, tmp_path, PaperLimits(**OFF), 30, lambda i: halt.unlink() if i == a + 10 else None)
    assert _entries(paper, a + 9) and not _entries(paper)[0]["bar"] < a + 10
    assert paper.journal.events("halt_cleared")


def test_the_daily_loss_switch_closes_everything_and_stops_entries(day, tmp_path: Path) -> None:
    paper, held, _ = _run(day, tmp_path, PaperLimits(**{**OFF, "max_daily_loss": 15.0}), 60)
    (trip,) = paper.journal.events("kill_switch")
    assert trip["switch"] == "max_daily_loss"
    assert _entries(paper, trip["bar"]) == []
    assert held == {} and not paper.engine.positions  # liquidated at the broker too
    assert paper.journal.events("liquidate_order")
    assert any(t["trade"]["exit_reason"] == "kill_switch" for t in paper.journal.events("trade"))
    assert paper.state()["stopped"].startswith("max_daily_loss")


def test_max_open_positions_caps_entries(day, tmp_path: Path) -> None:
    paper, _, _ = _run(day, tmp_path, PaperLimits(**{**OFF, "max_open_positions": 1}), 40)
    assert max(e["n_open"] for e in paper.journal.events("bar")) == 1
    blocked = paper.journal.events("blocked")
    assert blocked and all("max_open_positions" in e["reason"] for e in blocked)


def test_max_orders_per_minute_stops_entries(day, tmp_path: Path) -> None:
    paper, _, _ = _run(day, tmp_path, PaperLimits(**{**OFF, "max_orders_per_minute": 1}), 40, None,
                       "entry.cooldown_bars=1", "exits.max_hold_minutes=1")
    (trip,) = paper.journal.events("kill_switch")
    assert trip["switch"] == "max_orders_per_minute"
    assert _entries(paper, trip["bar"] - 1) == [] and _entries(paper)


def test_kill_switch_settings_come_from_paper_yaml_then_flags(tmp_path: Path) -> None:
    (tmp_path / "paper.yaml").write_text("kill_switches:\n  max_daily_loss: 250\n  max_open_positions: 2\n")
    limits = load_limits(tmp_path, {"max_open_positions": 4, "halt_file": None})
    assert (limits.max_daily_loss, limits.max_open_positions, limits.halt_file) == (250.0, 4, "HALT")
    (tmp_path / "paper.yaml").write_text("max_orders_per_minute: 0\n")
    with pytest.raises(SpecError, match="max_orders_per_minute"):
        load_limits(tmp_path)
    (tmp_path / "paper.yaml").write_text("max_loss: 5\n")
    with pytest.raises(SpecError, match="max_loss"):
        load_limits(tmp_path)
