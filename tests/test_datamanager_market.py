"""`gaussian data collect` against the local Tradier server (incremental, idempotent, scheduled) into SQLite or
PostgreSQL, and GET /api/v1/market/{symbol}/bars serving what was stored as JSON, CSV and Parquet."""
from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.cli.main import cli
from tests.datamanager_fixtures import ADMIN, backend_fixture, pg_fixture  # noqa: F401 - fixtures
from tests.dm_server import ThreadServer, build_app
from trader.broker.tradier_sim import TradierSim
from trader.errors import GaussianError
from trader.market.synthetic import generate_synthetic

TOKEN = "collect-SECRET-7781"
START = 100


@pytest.fixture(name="sim")
def sim_fixture(monkeypatch: pytest.MonkeyPatch):
    market = generate_synthetic(sessions=2, seed=11)
    with TradierSim(market, token=TOKEN, account_id="VA0000009", start_index=START, rate_limit=10**6) as server:
        monkeypatch.setenv("TRADIER_TOKEN", TOKEN)
        monkeypatch.setenv("TRADIER_ACCOUNT_ID", "VA0000009")
        monkeypatch.setenv("TRADIER_BASE_URL", server.url)
        yield server, market


def _collect(home: Path, db_url: str | None, *args: str) -> list[dict]:
    cmd = ["--home", str(home), "data", "collect", "--symbols", "SPY", "--interval", "1min", "--json", *args]
    if db_url:
        cmd += ["--db", db_url]
    r = CliRunner().invoke(cli, cmd)
    assert r.exit_code == 0, (r.output, r.exception)
    return [json.loads(line)[0] for line in r.output.splitlines() if line.startswith("[")]


def test_collect_adds_only_what_is_new_and_serves_it(sim, tmp_path: Path, db_url: str | None) -> None:
    server, market = sim
    first = _collect(tmp_path, db_url, "--chains")[0]
    assert first["bars_added"] == START + 1 and first["chain_rows_added"] > 0
    again = _collect(tmp_path, db_url, "--chains")[0]
    assert again["bars_added"] == 0 and again["chain_rows_added"] == 0  # nothing new: nothing added
    server.advance(30)
    later = _collect(tmp_path, db_url)[0]
    assert later["bars_added"] == 30
    stored = START + 31
    truth = market.bars.iloc[:stored]

    dm = ThreadServer(build_app(tmp_path, db_url, ADMIN)).start()
    try:
        with httpx.Client(base_url=dm.url, timeout=10) as http:
            doc = http.get("/api/v1/market/spy/bars").json()
            assert doc["symbol"] == "SPY" and len(doc["bars"]) == stored
            assert [b["close"] for b in doc["bars"]] == pytest.approx(truth["close"].tolist())
            assert pd.Timestamp(doc["bars"][0]["time"]) == truth.index[0]
            lo, hi = truth.index[10], truth.index[19]
            window = http.get("/api/v1/market/SPY/bars", params={
                "start": lo.tz_localize(None).isoformat(), "end": hi.isoformat()}).json()["bars"]
            assert len(window) == 10 and pd.Timestamp(window[0]["time"]) == lo
            csv = http.get("/api/v1/market/SPY/bars", headers={"Accept": "text/csv"})
            assert csv.headers["content-type"].startswith("text/csv")
            frame = pd.read_csv(io.StringIO(csv.text), index_col=0)
            assert len(frame) == stored and frame["volume"].tolist() == truth["volume"].astype(int).tolist()
            pq = http.get("/api/v1/market/SPY/bars", headers={"Accept": "application/vnd.apache.parquet"})
            got = pd.read_parquet(io.BytesIO(pq.content))
            assert got.index.equals(truth.index) and got["high"].tolist() == pytest.approx(truth["high"].tolist())
            for params, headers, status, field in [({}, {"Accept": "image/png"}, 406, "Accept"),
                                                   ({"interval": "2sec"}, {}, 422, "interval"),
                                                   ({"start": "yesterday"}, {}, 422, "start"),
                                                   ({"start": hi.isoformat(), "end": lo.isoformat()}, {}, 422, "end")]:
                r = http.get("/api/v1/market/SPY/bars", params=params, headers=headers)
                assert r.status_code == status and r.json()["error"]["field"] == field, r.text
            assert http.get("/api/v1/market/QQQ/bars").json()["bars"] == []
    finally:
        dm.stop()


@pytest.mark.usefixtures("sim")
def test_collect_every_keeps_collecting(tmp_path: Path) -> None:
    passes = _collect(tmp_path, None, "--every", "1s", "--runs", "2")
    assert [p["bars_added"] for p in passes] == [START + 1, 0]


@pytest.mark.usefixtures("sim")
def test_collect_refuses_bad_options(tmp_path: Path) -> None:
    for args, words in [(["--interval", "7sec"], "--interval"), (["--every", "soon"], "--every"),
                        (["--symbols", ","], "--symbols"), (["--db", "mysql://x/y"], "mysql")]:
        r = CliRunner().invoke(cli, ["--home", str(tmp_path), "data", "collect", *args])
        assert isinstance(r.exception, GaussianError) and words in str(r.exception), (args, r.output, r.exception)
