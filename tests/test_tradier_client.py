"""The Tradier client against the local server: auth, retries, rate limits, timeouts, secrecy of the token."""
from __future__ import annotations

import logging
import time

import httpx
import pytest

from tests.tradier_fixtures import ACCOUNT, TOKEN, make_client, market_fixture, sim_fixture  # noqa: F401
from trader.broker.tradier_client import TradierClient
from trader.broker.tradier_errors import TradierAuthError, TradierConfigError, TradierError, TradierRateLimitError
from trader.broker.tradier_sim import TradierSim
from trader.errors import GaussianError


def clock_calls(sim: TradierSim) -> int:
    return sum(1 for r in sim.requests if r.path == "/v1/markets/clock")


def test_auth_is_required_and_401_is_not_retried(sim):
    client = make_client(sim, token="wrong-token-SECRET")
    with pytest.raises(TradierAuthError) as err:
        client.clock()
    assert err.value.status == 401 and "Invalid Access Token" in str(err.value)
    assert "GET /markets/clock" in str(err.value) and "wrong-token-SECRET" not in str(err.value)
    assert clock_calls(sim) == 1
    response = httpx.get(sim.url + "/markets/clock", headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.json()["fault"]["faultstring"] == "Invalid Access Token"


def test_json_must_be_asked_for(sim):
    response = httpx.get(sim.url + "/markets/clock", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 406
    assert make_client(sim).clock().state == "open"  # the client sends Accept: application/json


def test_rate_limit_headers_on_every_response(sim):
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
    for path in ("/markets/clock", f"/accounts/{ACCOUNT}/balances", "/nope"):
        response = httpx.get(sim.url + path, headers=headers)
        if path != "/nope":
            assert {"x-ratelimit-allowed", "x-ratelimit-used", "x-ratelimit-available",
                    "x-ratelimit-expiry"} <= set(response.headers)
            assert int(response.headers["x-ratelimit-expiry"]) > time.time() * 1000
    assert response.status_code == 404


@pytest.mark.parametrize("kind", [500, 502, 503, 404])
def test_get_is_retried_on_transient_errors(sim, kind):
    sim.inject("/markets/clock", kind, count=2)
    assert make_client(sim).clock().state == "open"
    assert clock_calls(sim) == 3


@pytest.mark.parametrize("kind", ["429", "quota400"])
def test_quota_violation_waits_for_the_window_and_retries(sim, kind):
    sim.inject("/markets/quotes", kind, count=1, expiry_ms=200)
    client = make_client(sim)
    start = time.monotonic()
    assert client.quote("SPY").last is not None
    assert time.monotonic() - start >= 0.15
    assert client.rate_limiter.waited_s > 0


def test_retries_give_up_with_a_clear_error(sim):
    sim.inject("/markets/clock", 500, count=10)
    with pytest.raises(TradierError) as err:
        make_client(sim, max_retries=2).clock()
    text = str(err.value)
    assert "GET /markets/clock" in text and "HTTP 500" in text and "gave up after 3 attempts" in text
    assert err.value.status == 500 and clock_calls(sim) == 3


def test_persistent_quota_violation_raises_rate_limit_error(sim):
    sim.inject("/markets/clock", "429", count=10, expiry_ms=20)
    with pytest.raises(TradierRateLimitError, match="Quota Violation"):
        make_client(sim, max_retries=1).clock()


def test_client_waits_when_available_reaches_zero(tradier_market):
    with TradierSim(tradier_market, token=TOKEN, account_id=ACCOUNT, rate_limit=3, rate_window_s=0.6) as sim:
        client = make_client(sim)
        start = time.monotonic()
        for _ in range(5):
            client.clock()
        elapsed = time.monotonic() - start
        assert sim.quota_violations == 0  # the client never ran into the limit
        assert elapsed >= 0.4 and client.rate_limiter.waited_s > 0
        state = client.rate_limiter.state("market")
        assert state.allowed == 3 and state.used == 2


def test_rate_wait_is_bounded(tradier_market):
    with TradierSim(tradier_market, token=TOKEN, account_id=ACCOUNT, rate_limit=1, rate_window_s=30) as sim:
        client = make_client(sim, max_rate_wait_s=0.1, max_retries=0)
        client.clock()
        start = time.monotonic()
        with pytest.raises(TradierRateLimitError):
            client.clock()  # waits at most 0.1 s, then the server still refuses
        assert time.monotonic() - start < 2.0


def test_get_timeout_is_retried(sim):
    sim.inject("/markets/clock", "timeout", count=1, delay_s=1.0)
    client = make_client(sim, timeout=0.3)
    assert client.clock().state == "open"
    assert clock_calls(sim) == 2


def test_get_timeouts_give_up_with_a_clear_error(sim):
    sim.inject("/markets/clock", "timeout", count=2, delay_s=1.0)
    with pytest.raises(TradierError, match=r"timed out after 0.3 s.*gave up after 2 attempts"):
        make_client(sim, timeout=0.3, max_retries=1).clock()


def test_connection_refused_is_a_clear_error():
    client = TradierClient(TOKEN, ACCOUNT, base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.01)
    with pytest.raises(TradierError, match="could not connect to http://127.0.0.1:9/v1"):
        client.clock()


def test_token_never_appears_in_errors_reprs_or_logs(sim, caplog):
    caplog.set_level(logging.DEBUG)
    sim.inject("/markets/quotes", "reject", count=1, message=f"bad request for Bearer {TOKEN}")
    client = make_client(sim)
    with pytest.raises(TradierError) as err:
        client.quotes(["SPY"])
    assert TOKEN not in str(err.value) and "***" in str(err.value) and TOKEN not in repr(err.value)
    sim.inject("/markets/clock", 500, count=10)
    with pytest.raises(TradierError) as err2:
        client.clock()
    for exc in (err.value, err2.value):
        chain = [exc, exc.__cause__, exc.__context__]
        assert all(TOKEN not in f"{e!s} {e!r}" for e in chain if e is not None)
    assert TOKEN not in repr(client) and "***" in repr(client)
    assert TOKEN not in caplog.text and "retry" in caplog.text


def test_from_env(sim, monkeypatch):
    for name in ("TRADIER_TOKEN", "TRADIER_ACCOUNT_ID", "TRADIER_ENV", "TRADIER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(TradierConfigError, match="TRADIER_TOKEN is not set"):
        TradierClient.from_env()
    monkeypatch.setenv("TRADIER_TOKEN", TOKEN)
    with pytest.raises(TradierConfigError, match="TRADIER_ACCOUNT_ID"):
        TradierClient.from_env()
    monkeypatch.setenv("TRADIER_ACCOUNT_ID", ACCOUNT)
    assert TradierClient.from_env().base_url == "https://sandbox.tradier.com/v1"
    monkeypatch.setenv("TRADIER_ENV", "live")
    assert TradierClient.from_env().base_url == "https://api.tradier.com/v1"
    monkeypatch.setenv("TRADIER_ENV", "paper")
    with pytest.raises(TradierConfigError, match="'paper' is not one of sandbox, live"):
        TradierClient.from_env()
    monkeypatch.setenv("TRADIER_ENV", "sandbox")
    monkeypatch.setenv("TRADIER_BASE_URL", sim.url)
    with TradierClient.from_env(backoff_s=0.01) as client:
        assert client.balances().account_number == ACCOUNT
    assert isinstance(TradierConfigError("x"), GaussianError)


def test_market_data_endpoints(sim, tradier_market):
    client = make_client(sim)
    clock = client.clock()
    assert clock.state == "open" and clock.next_state == "postmarket" and clock.next_change == "16:00"
    expiries = client.option_expirations("SPY")
    assert expiries == sim.view.market.quoter.expiries(sim.index)
    chain = client.option_chain("SPY", expiries[1])
    assert len(chain) == 82 and chain[0].right == "P" and chain[1].right == "C"  # interleaved in strike order
    assert chain[0].strike == chain[1].strike < chain[2].strike
    frame = client.option_chain_frame("SPY", expiries[1])
    truth = tradier_market.quoter.chain(sim.index, 5).set_index("symbol")
    got = frame.set_index("symbol")
    assert (got["dte"] == 1).all() and str(got["timestamp"].dt.tz) == "America/New_York"
    assert got["bid"].to_numpy() == pytest.approx(truth.loc[got.index, "bid"].to_numpy(), abs=0.005)
    assert got["delta"].to_numpy() == pytest.approx(truth.loc[got.index, "delta"].to_numpy(), abs=1e-5)
    profile = client.profile()
    assert [a.account_number for a in profile.accounts] == [ACCOUNT]


def test_bad_arguments_are_clear(sim):
    client = make_client(sim)
    with pytest.raises(TradierError, match="interval 'hourly'"):
        client.timesales("SPY", interval="hourly")
    with pytest.raises(TradierConfigError, match="account id"):
        TradierClient(TOKEN, "VA-0001")
    with pytest.raises(TradierConfigError, match="token"):
        TradierClient("  ", ACCOUNT)
