"""The wall-clock Tradier venues (sandbox, sim-on-tradier), built against the local Tradier server through the
environment variables a real sandbox would use; paper refuses a live environment."""
from __future__ import annotations

import pandas as pd
import pytest

from experiments.paper.venues import env_client, session_bounds, wall_venue
from tests.paper_fixtures import ACCOUNT, TOKEN, local_server, market, spec
from trader.broker.tradier_errors import TradierConfigError


@pytest.fixture()
def sandbox_env(monkeypatch: pytest.MonkeyPatch):
    m = market()
    s = spec("entry.type=momentum")
    a, _ = session_bounds(m)
    sim = local_server(m, s, a)
    monkeypatch.setenv("TRADIER_TOKEN", TOKEN)
    monkeypatch.setenv("TRADIER_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("TRADIER_ENV", "sandbox")
    monkeypatch.setenv("TRADIER_BASE_URL", sim.url)
    yield m, s, a, sim
    sim.stop()


def test_paper_refuses_a_live_environment_and_live_a_sandbox_one(sandbox_env, monkeypatch) -> None:
    with pytest.raises(TradierConfigError, match="sandbox only"):
        monkeypatch.setenv("TRADIER_ENV", "live")
        env_client(live=False)
    monkeypatch.setenv("TRADIER_ENV", "sandbox")
    with pytest.raises(TradierConfigError, match="live token"):
        env_client(live=True)
    monkeypatch.delenv("TRADIER_TOKEN")
    with pytest.raises(TradierConfigError, match="TRADIER_TOKEN"):
        env_client(live=False)


@pytest.mark.parametrize("kind", ["sandbox", "sim-on-tradier"])
def test_a_wall_clock_venue_builds_its_day_from_tradier(sandbox_env, kind: str) -> None:
    m, s, a, _ = sandbox_env
    day = m.bars.index[a].date()
    client = env_client(live=False)
    venue, feed = wall_venue(kind, s, client, ["vix", "spread", "quote_size"], history_sessions=1, today=day,
                             max_wait_s=0.0)
    try:
        assert venue.broker == ("sim" if kind == "sim-on-tradier" else "tradier")
        assert list(feed.timestamps[feed.first_session_bar:]) == list(m.bars.index[a:a + 390])  # the calendar
        history = feed.market.bars.iloc[: feed.first_session_bar]
        pd.testing.assert_frame_equal(history[["open", "high", "low", "close", "volume"]],
                                      m.bars.iloc[:a][["open", "high", "low", "close", "volume"]],
                                      check_freq=False, check_index_type=False)
        assert history["vix"].isna().all()  # not in Tradier's history: filled the way training filled gaps
        assert venue.first_live_bar() == feed.n  # the day is long over on the wall clock
        assert venue.fetch_bar(feed.first_session_bar + 1) is None  # not served yet: the server is at bar a
        bar = venue.fetch_bar(feed.first_session_bar)
        assert bar is not None and bar["close"] == m.bars["close"].iloc[a]
        assert bar["spread"] > 0 and bar["quote_size"] > 0 and bar["vix"] != bar["vix"]  # VIX unmatched: NaN
        snap = venue.chains_until(feed.first_session_bar)
        assert snap is not None and len(snap) and (snap["timestamp"] == feed.timestamps[a]).all()
    finally:
        venue.close()
