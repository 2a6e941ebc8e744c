"""The rendered report: golden file, zero trades, missing inputs, plots, no holdout leak, backfill."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis.backfill import backfill, finished_runs
from analysis.plots import PLOT_FILES
from analysis.report import ANALYSIS_VERSION, analyze_run, needs_analysis
from tests.analysis_fixtures import RUN_ID, fixed_trades, write_run
from trader.domain import TRADE_COLUMNS, trades_frame
from trader.errors import GaussianError, StateError

GOLDEN = Path(__file__).parent / "data" / "golden_ANALYSIS.md"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    run_dir = write_run(tmp_path_factory.mktemp("runs"), fixed_trades())
    return run_dir, analyze_run(run_dir)


def test_golden_report(analyzed: tuple[Path, dict]) -> None:
    run_dir, _ = analyzed
    text = (run_dir / "ANALYSIS.md").read_text(encoding="utf-8")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.exists(), "golden file missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == GOLDEN.read_text(encoding="utf-8"), "report changed: review, then UPDATE_GOLDEN=1 to accept"


def test_report_is_deterministic(analyzed: tuple[Path, dict], tmp_path: Path) -> None:
    run_dir, first = analyzed
    again = analyze_run(run_dir)
    assert again == first
    other = write_run(tmp_path, fixed_trades())
    analyze_run(other)
    assert (other / "ANALYSIS.md").read_text() == (run_dir / "ANALYSIS.md").read_text()
    assert (other / "analysis.json").read_text() == (run_dir / "analysis.json").read_text()


def test_analysis_json_holds_the_same_facts(analyzed: tuple[Path, dict]) -> None:
    run_dir, result = analyzed
    doc = json.loads((run_dir / "analysis.json").read_text())
    assert doc == result
    assert doc["analysis_version"] == ANALYSIS_VERSION and doc["split"] == "validation"
    text = (run_dir / "ANALYSIS.md").read_text()
    for f in doc["findings"]:
        assert f["text"] in text
    for r in doc["recommendations"]:
        assert f"`{r['field']}`" in text
        assert r["finding"] and r["evidence"]
    assert doc["metrics"]["trades"] == 48
    assert set(doc["breakdowns"]) >= {"signal", "strategy", "exit_reason", "regime_label", "regime_trend", "hour"}
    exit_groups = [g["group"] for g in doc["breakdowns"]["exit_reason"]["groups"]]
    assert set(exit_groups) <= {"stop_loss", "take_profit", "max_hold", "end_of_day"}


def test_findings_below_minimum_are_marked(analyzed: tuple[Path, dict]) -> None:
    _, result = analyzed
    weak = [f for f in result["findings"] if not f["conclusive"]]
    assert weak and all(f["caveat"] for f in weak)
    for f in result["findings"]:
        n = f["evidence"].get("trades")
        if f["conclusive"] and isinstance(n, int) and f["topic"] not in ("confidence", "baselines"):
            assert n >= result["min_trades"]
    for r in result["insufficient"]:
        assert r["reason"]


def test_plots_written_and_linked(analyzed: tuple[Path, dict]) -> None:
    run_dir, result = analyzed
    assert set(result["plots"]) == set(PLOT_FILES)
    text = (run_dir / "ANALYSIS.md").read_text()
    for rel in result["plots"].values():
        data = (run_dir / rel).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 2000
        assert f"]({rel})" in text


def test_zero_trade_run_gets_a_short_correct_report(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, trades_frame([]))
    result = analyze_run(run_dir)
    text = (run_dir / "ANALYSIS.md").read_text()
    assert "## No trades" in text and "opened no position" in text
    assert "## P&L breakdowns" not in text and "## Is confidence predictive?" not in text
    assert len(text.splitlines()) < 70
    assert result["metrics"]["trades"] == 0 and result["breakdowns"] == {}
    assert result["plots"] == {"equity": "plots/equity_drawdown.png"}
    assert any(r["rule"] == "too_few_trades" for r in result["recommendations"])
    assert "0 trades" in text


def test_missing_trade_columns_and_empty_parquet_read_back(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, trades_frame([]))
    pd.DataFrame(columns=TRADE_COLUMNS).to_parquet(run_dir / "trades.parquet")
    analyze_run(run_dir)
    pd.DataFrame({"pnl": [1.0]}).to_parquet(run_dir / "trades.parquet")
    with pytest.raises(StateError, match="trades.parquet lacks the trade columns"):
        analyze_run(run_dir)


@pytest.mark.parametrize("name", ["spec.json", "metrics.json", "trades.parquet", "equity.parquet"])
def test_missing_input_gives_a_clear_error(tmp_path: Path, name: str) -> None:
    run_dir = write_run(tmp_path, fixed_trades(12))
    (run_dir / name).unlink()
    with pytest.raises(GaussianError) as err:
        analyze_run(run_dir)
    assert str(run_dir / name) in str(err.value) and "missing" in str(err.value)
    assert not (run_dir / "ANALYSIS.md").exists()


def test_broken_inputs_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="does not exist"):
        analyze_run(tmp_path / "nope")
    run_dir = write_run(tmp_path, fixed_trades(12))
    (run_dir / "metrics.json").write_text("{not json")
    with pytest.raises(StateError, match=r"metrics.json is not valid JSON"):
        analyze_run(run_dir)
    (run_dir / "metrics.json").write_text(json.dumps({"split": "holdout", "metrics": {}}))
    with pytest.raises(StateError, match="validation only"):
        analyze_run(run_dir)
    (run_dir / "trades.parquet").write_text("garbage")
    (run_dir / "metrics.json").write_text(json.dumps({"split": "validation", "metrics": {}}))
    with pytest.raises(StateError, match="could not be read as Parquet"):
        analyze_run(run_dir)


def test_holdout_figures_never_appear(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, fixed_trades())
    secret = {"split": "holdout", "metrics": {"pnl": 987654.321, "sharpe": 31.4159265, "trades": 424242},
              "baselines": {"buy_and_hold": {"pnl_pct": 77.7123}}}
    (run_dir / "holdout.json").write_text(json.dumps(secret))
    analyze_run(run_dir)
    blob = (run_dir / "ANALYSIS.md").read_text() + (run_dir / "analysis.json").read_text()
    for needle in ("987654", "987,654", "31.41", "424242", "77.71", "holdout"):
        assert needle not in blob


def test_needs_analysis_and_backfill(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    a = write_run(root, fixed_trades(24), run_id="20240101-000000-aaaaaa-0001")
    b = write_run(root, trades_frame([]), run_id="20240102-000000-bbbbbb-0002")
    broken = write_run(root, fixed_trades(6), run_id="20240103-000000-cccccc-0003")
    (broken / "equity.parquet").unlink()
    (root / "20240104-000000-dddddd-0004").mkdir()  # unfinished: no metrics.json
    assert [p.name for p in finished_runs(root)] == [a.name, b.name, broken.name]
    assert needs_analysis(a) and needs_analysis(b)
    assert not needs_analysis(root / "20240104-000000-dddddd-0004")

    failures: dict[str, str] = {}
    assert backfill(root, failures=failures) == [a.name, b.name]
    assert list(failures) == [broken.name] and "equity.parquet is missing" in failures[broken.name]
    assert not needs_analysis(a) and not needs_analysis(b)
    assert backfill(root) == []
    assert backfill(root, force=True) == [a.name, b.name]

    doc = json.loads((a / "analysis.json").read_text())
    doc["analysis_version"] = ANALYSIS_VERSION - 1
    (a / "analysis.json").write_text(json.dumps(doc))
    assert needs_analysis(a)
    (b / "ANALYSIS.md").unlink()
    assert backfill(root) == [a.name, b.name]
    assert backfill(tmp_path / "absent") == []


def test_rerender_removes_stale_plots(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, fixed_trades(30))
    analyze_run(run_dir)
    assert (run_dir / "plots" / PLOT_FILES["signal"]).exists()
    shutil.copy(run_dir / "trades.parquet", tmp_path / "keep.parquet")
    trades_frame([]).to_parquet(run_dir / "trades.parquet")
    analyze_run(run_dir)
    assert not (run_dir / "plots" / PLOT_FILES["signal"]).exists()
    assert (run_dir / "plots" / PLOT_FILES["equity"]).exists()
    assert RUN_ID in (run_dir / "ANALYSIS.md").read_text()


def test_analysis_imports_only_trader_and_third_party() -> None:
    import ast

    root = Path(__file__).resolve().parents[1] / "analysis"
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in ("experiments", "agents"), f"{path.name} imports {name}"
