"""`gaussian data ...` subcommands against a temporary home."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from experiments.cli.data import app, market_dir
from experiments.home import set_home
from trader.errors import DataError
from trader.market.files import EXAMPLES_DIR

runner = CliRunner()


@pytest.fixture()
def home(tmp_path, monkeypatch):
    set_home(None)
    monkeypatch.setenv("GAUSSIAN_HOME", str(tmp_path))
    return tmp_path


def test_generate_list_show(home):
    res = runner.invoke(app, ["generate", "--name", "tiny", "--sessions", "2", "--seed", "3", "--edge", "0"])
    assert res.exit_code == 0, res.output
    assert (home / "data" / "tiny" / "bars.parquet").is_file()
    res = runner.invoke(app, ["list", "--json"])
    items = json.loads(res.output)
    assert [m["name"] for m in items] == ["tiny"] and items[0]["edge"] == 0.0 and items[0]["bars"] == 780
    res = runner.invoke(app, ["show", "tiny", "--json"])
    info = json.loads(res.output)
    assert info["sessions"] == 2 and info["chain_rows"] > 0 and info["gaps"] == 0
    assert set(info["regime_occupancy"]) == {"trend", "volatility", "liquidity"}
    res = runner.invoke(app, ["show", "tiny"])
    assert res.exit_code == 0 and "volatility regimes" in res.output
    assert runner.invoke(app, ["list"]).exit_code == 0


def test_import_and_real(home):
    res = runner.invoke(app, ["import", str(EXAMPLES_DIR / "spy_bars_1min.csv"), "--options",
                              str(EXAMPLES_DIR / "spy_options_snapshot.csv"), "--name", "ex"])
    assert res.exit_code == 0, res.output
    assert "gap" in res.output
    res = runner.invoke(app, ["real", "--start", "2017-01-01", "--end", "2017-06-30"])
    assert res.exit_code == 0, res.output
    info = json.loads(runner.invoke(app, ["show", "spx-daily", "--json"]).output)
    assert info["interval"] == "1day" and info["options_modeled"] is True


def test_user_errors_are_gaussian_errors(home, tmp_path):
    naive = tmp_path / "naive.csv"
    naive.write_text("time,open,high,low,close,volume\n2024-03-04 09:30,1,1,1,1,1\n")
    res = runner.invoke(app, ["import", str(naive)])
    assert isinstance(res.exception, DataError) and "naive" in str(res.exception)
    res = runner.invoke(app, ["show", "nope"])
    assert isinstance(res.exception, DataError) and "No market named 'nope'" in str(res.exception)
    with pytest.raises(DataError, match="not allowed"):
        market_dir("../escape")


def test_datasets_keep_their_context_series(home, tmp_path):
    res = runner.invoke(app, ["generate", "--name", "uni", "--sessions", "2", "--context", "--lead-lag", "0.2"])
    assert res.exit_code == 0, res.output
    info = json.loads(runner.invoke(app, ["show", "uni", "--json"]).output)
    assert "BTC-USD" in info["context_symbols"] and len(info["context_symbols"]) == 55
    ctx = tmp_path / "ctx.csv"
    ctx.write_text("symbol,timestamp,open,high,low,close,volume\n"
                   "TLT,2024-01-02T09:30:00-05:00,95,95.5,94.8,95.1,50\n"
                   "TLT,2024-01-02T09:30:00-05:00,95,95.5,94.8,95.1,50\n")
    res = runner.invoke(app, ["import", str(EXAMPLES_DIR / "spy_bars_1min.csv"), "--context", str(ctx)])
    assert isinstance(res.exception, DataError)
    assert "ctx.csv: line 3" in str(res.exception) and "TLT: duplicate timestamp" in str(res.exception)
