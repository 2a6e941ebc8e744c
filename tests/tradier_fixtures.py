"""Shared pieces of the Tradier tests: a small synthetic market, the local server, and a fast client.

Import the fixtures into a test module with
`from tests.tradier_fixtures import market_fixture, sim_fixture  # noqa: F401`.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from trader.broker.tradier_client import TradierClient
from trader.broker.tradier_sim import TradierSim
from trader.market.base import Market
from trader.market.synthetic import generate_synthetic

TOKEN = "tok-SECRET-5f3a9c17"
ACCOUNT = "VA00000001"
START = 60  # 10:30 of the first session


@pytest.fixture(scope="session", name="tradier_market")
def market_fixture() -> Market:
    """Two synthetic sessions of 1-minute bars with modeled options."""
    return generate_synthetic(sessions=2, seed=7)


@pytest.fixture(name="sim")
def sim_fixture(tradier_market: Market) -> Iterator[TradierSim]:
    """A started local Tradier server at bar START."""
    with TradierSim(tradier_market, token=TOKEN, account_id=ACCOUNT, start_index=START) as server:
        yield server


def make_client(sim: TradierSim, token: str = TOKEN, **kwargs: Any) -> TradierClient:
    """A client for the local server with short backoffs (tests stay fast)."""
    params: dict[str, Any] = {"timeout": 2.0, "backoff_s": 0.01, "max_backoff_s": 0.05, "max_retries": 3,
                              "lookup_delay_s": 0.05, "max_rate_wait_s": 5.0}
    params.update(kwargs)
    return TradierClient(token, ACCOUNT, base_url=sim.url, **params)


def pick_option(sim: TradierSim, right: str = "C", dte: int = 1) -> str:
    """A listed near-the-money contract with a positive bid at the server's current bar."""
    chain = sim.view.market.quoter.chain(sim.index, dte)
    spot = float(sim.view.market.bars["close"].iloc[sim.index])
    rows = chain[(chain["right"] == right) & (chain["dte"] == dte) & (chain["bid"] > 0.5)]
    row = rows.iloc[(rows["strike"] - spot).abs().argsort().iloc[0]]
    return str(row["symbol"])


def posts(sim: TradierSim, suffix: str = "/orders") -> list[Any]:
    """The POST requests the server got on paths ending with `suffix`."""
    return [r for r in sim.requests if r.method == "POST" and r.path.endswith(suffix)]


def order_lookups(sim: TradierSim) -> list[Any]:
    """The GET requests listing the account's orders (tag lookups)."""
    return [r for r in sim.requests if r.method == "GET" and r.path.endswith("/orders")]
