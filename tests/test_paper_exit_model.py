"""The exit model in the paper loop, on every session of a small market, with both brokers, with fills on the
session's first and last bars: it reads the bars of the feed up to the bar decided, never a stale binding."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from experiments.paper.session import PaperSession
from experiments.paper.venues import replay_venue, session_bounds
from experiments.runs.pipeline import baseline_strategy, fit_models
from tests.paper_fixtures import OFF, TOKEN, local_server, spec
from trader.market.synthetic import generate_synthetic

# Default latency (an order fills at the next bar), an entry on every bar the cooldown allows, and positions
# held one bar: positions close and new ones fill inside the same bar all day long, the first one on the
# session's first bar, and the last bar settles whatever is still open.
CHURN = ["entry.type=random", "entry.random.entry_probability=1.0", "entry.cooldown_bars=0",
         "trading.max_positions=2", "exits.max_hold_minutes=1", "exits.model.enabled=true",
         "exits.model.threshold=0.99"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    # a full session, a half day (2024-07-03 closes at 13:00), a full session
    m = generate_synthetic(sessions=3, start="2024-07-02", seed=8, edge=0.3)
    s = spec(*CHURN)
    a, _ = session_bounds(m, dt.date(2024, 7, 3))
    fitted = fit_models(s, m, (0, a), tmp_path_factory.mktemp("models"))
    # the run's models are bound to the run's market when loaded; the paper feed is another, growing, series
    fitted.exit_model.bind(m.bars.iloc[: a // 2])
    return m, s, fitted


@pytest.mark.parametrize(("day", "broker"), [(dt.date(2024, 7, 3), "tradier"), (dt.date(2024, 7, 3), "sim"),
                                             (dt.date(2024, 7, 5), "sim")])
def test_the_exit_model_reads_the_feed_on_every_bar_of_every_session(setup, tmp_path: Path, broker: str,
                                                                   day: dt.date) -> None:
    m, s, fitted = setup
    a, b = session_bounds(m, day)
    spy = _Spy(fitted.exit_model)
    sim = local_server(m, s, a)
    try:
        venue, feed, _ = replay_venue(m, s, day, sim=sim, token=TOKEN, broker=broker)
        paper = PaperSession(tmp_path / "paper" / "s1", tmp_path, s, baseline_strategy("random", s), feed, venue,
                             OFF, fitted=fitted, exit_model=spy)
        spy.feed = paper.feed
        doc = paper.run()
    finally:
        sim.stop()
    assert doc["complete"] and paper.last_bar == b - 1
    opens = [e["bar"] for e in paper.journal.events("submit") if e["side"] == "buy_to_open"]
    assert opens[0] == a and opens[-1] >= b - 15  # entries from the first bar to the close
    assert spy.consulted and spy.consulted[0] <= a + 10 and max(spy.consulted) >= b - 30
    assert all(a <= i < b for i in spy.consulted) and np.all(np.diff(spy.consulted) >= 0)
    assert not spy.wrong, spy.wrong[:5]


class _Spy:
    """The fitted exit model, noting each consultation and whether its binding reached the feed's bar i."""

    def __init__(self, model) -> None:
        self.model = model
        self.feed = None
        self.consulted: list[int] = []
        self.wrong: list[tuple[int, int]] = []

    def bind(self, bars):
        self.model.bind(bars)
        return self

    def should_exit(self, pos, quote, i, held, to_expiry) -> bool:
        self.consulted.append(i)
        ctx = self.model._source.ctx
        if len(ctx["close"]) <= i or ctx["close"][i] != self.feed._close[i]:
            self.wrong.append((i, len(ctx["close"])))
            return False
        return self.model.should_exit(pos, quote, i, held, to_expiry)
