"""The promotion gate: checks in order with figures, refusal naming the failed check, promotion and demotion."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from experiments.home import set_home
from experiments.promotion.gate import (
    PromotionError,
    PromotionGate,
    current_promoted,
    holdout_check,
    load_gate,
    promote,
    promotion_history,
    validation_checks,
)
from experiments.runs import ledger

GOOD = {"trades": 80, "pnl": 900.0, "pnl_pct": 18.0, "sharpe": 4.0, "days": 120, "return_skew": 0.0,
        "return_kurtosis": 3.0, "win_rate": 0.55, "dsr": 0.99}
BASELINES = {"random_entry": {"pnl_pct": -3.0}, "buy_and_hold": {"pnl_pct": 5.0}}


@pytest.fixture()
def home(tmp_path: Path):
    set_home(tmp_path)
    yield tmp_path
    set_home(None)


def make_run(home: Path, run_id: str, metrics: dict[str, Any], holdout_sharpe: float | None = 3.0,
             baselines: dict[str, Any] | None = None) -> Path:
    """A finished run directory written by hand (spec, metrics, and a holdout.json to read back)."""
    d = home / "runs" / run_id
    d.mkdir(parents=True)
    (d / "spec.json").write_text(json.dumps({"hash": run_id[-6:], "spec": {"name": run_id, "entry": {
        "type": "momentum"}}, "idea_id": None}))
    (d / "metrics.json").write_text(json.dumps({"run_id": run_id, "metrics": metrics,
                                                "baselines": baselines or BASELINES}))
    if holdout_sharpe is not None:
        (d / "holdout.json").write_text(json.dumps({"split": "holdout", "metrics": {
            "sharpe": holdout_sharpe, "pnl_pct": 6.0, "trades": 30}, "baselines": BASELINES}))
    ledger.record(run_id, run_id[-6:], "done", metrics)
    return d


def test_checks_are_ordered_and_carry_figures() -> None:
    gate = PromotionGate()
    checks = validation_checks({"metrics": GOOD, "baselines": BASELINES}, gate, n_trials=3)
    assert [c.name for c in checks] == ["min_trades", "min_dsr", "max_pbo", "beats_random", "beats_buy_and_hold"]
    assert all(c.passed for c in checks)
    assert checks[1].figures["n_trials"] == 3 and checks[1].figures["dsr"] > 0.95
    hold = holdout_check({"metrics": GOOD}, {"metrics": {"sharpe": 1.5}}, gate)
    assert hold.passed is False and hold.figures["holdout_floor"] == pytest.approx(2.0)
    assert holdout_check({"metrics": GOOD}, {"metrics": {"sharpe": 2.5}}, gate).passed


def test_dsr_deflates_with_more_trials() -> None:
    gate = PromotionGate(min_dsr=0.9)
    m = {**GOOD, "sharpe": 2.5, "days": 120}
    few = validation_checks({"metrics": m, "baselines": BASELINES}, gate, n_trials=1)[1]
    many = validation_checks({"metrics": m, "baselines": BASELINES}, gate, n_trials=500)[1]
    assert few.figures["dsr"] > many.figures["dsr"]
    assert few.passed and not many.passed


def test_refusal_names_the_failed_check_and_keeps_the_holdout_sealed(home: Path) -> None:
    d = make_run(home, "20250101-000000-aaaaaa-0001", {**GOOD, "trades": 12}, holdout_sharpe=None)
    decision = promote(d.name, by="test")
    assert not decision.promoted and decision.failed == ["min_trades"]
    assert "min_trades" in decision.message and "12 validation trades < 30" in decision.message
    assert [c.passed for c in decision.checks][-1] is None  # the holdout was not evaluated
    assert not (d / "holdout.json").exists() and current_promoted() is None
    assert promotion_history()[-1]["action"] == "refuse"


def test_beating_the_baselines_is_required(home: Path) -> None:
    d = make_run(home, "20250101-000000-bbbbbb-0001", {**GOOD, "pnl_pct": 4.0})
    decision = promote(d.name)
    assert decision.failed == ["beats_buy_and_hold"]
    assert "does not beat buy & hold 5.00%" in decision.message


def test_holdout_margin_failure_is_named(home: Path) -> None:
    d = make_run(home, "20250101-000000-cccccc-0001", GOOD, holdout_sharpe=0.5)
    decision = promote(d.name)
    assert not decision.promoted and decision.failed == ["holdout"]
    assert "holdout Sharpe 0.50 < floor 2.00" in decision.message


def test_promote_then_a_new_winner_demotes_the_first(home: Path) -> None:
    a = make_run(home, "20250101-000000-dddddd-0001", GOOD)
    first = promote(a.name, by="test")
    assert first.promoted and first.previous is None and not first.forced
    doc = current_promoted()
    assert doc["run_id"] == a.name and doc["forced"] is False and doc["previous"] is None
    assert doc["holdout"]["metrics"]["sharpe"] == 3.0 and doc["gate"]["min_trades"] == 30
    assert {c["name"] for c in doc["checks"]} >= {"min_trades", "min_dsr", "holdout"}

    weaker = make_run(home, "20250101-000000-eeeeee-0001", {**GOOD, "sharpe": 3.5})
    auto = promote(weaker.name, auto=True, by="optimizer")
    assert not auto.promoted and auto.failed == ["beats_promoted"]

    b = make_run(home, "20250101-000000-ffffff-0001", {**GOOD, "sharpe": 4.5})
    second = promote(b.name, auto=True, by="optimizer")
    assert second.promoted and second.previous == a.name
    assert current_promoted()["run_id"] == b.name
    actions = [(h["action"], h["run_id"]) for h in promotion_history()]
    assert ("demote", a.name) in actions and actions[-1] == ("promote", b.name)


def test_force_is_recorded(home: Path) -> None:
    d = make_run(home, "20250101-000000-999999-0001", {**GOOD, "trades": 3})
    decision = promote(d.name, force=True, by="human:alice")
    assert decision.promoted and decision.forced and decision.failed == ["min_trades"]
    assert current_promoted()["forced"] is True and "forced past: min_trades" in decision.message


def test_gate_settings_file_is_validated(home: Path) -> None:
    (home / "promotion.yaml").write_text("min_trades: 5\nmin_dsr: 0.5\n")
    assert load_gate() == PromotionGate(min_trades=5, min_dsr=0.5)
    (home / "promotion.yaml").write_text("min_trades: 5\nmax_leverage: 3\n")
    with pytest.raises(PromotionError, match="max_leverage"):
        load_gate()


def test_unfinished_or_abandoned_runs_cannot_be_promoted(home: Path) -> None:
    d = home / "runs" / "20250101-000000-123456-0001"
    d.mkdir(parents=True)
    (d / "spec.json").write_text("{}")
    with pytest.raises(PromotionError, match="no metrics.json"):
        promote(d.name)
    e = make_run(home, "20250101-000000-654321-0001", GOOD)
    (e / "ABANDONED.json").write_text("{}")
    with pytest.raises(PromotionError, match="abandoned"):
        promote(e.name)


def test_promote_cli_refuses_in_one_line(home: Path) -> None:
    import typer

    from experiments.cli.main import app as _entry  # noqa: F401 - the real entry point's error handling
    from experiments.cli.optimize_cmd import register

    d = make_run(home, "20250101-000000-777777-0001", {**GOOD, "trades": 2})
    cli = typer.Typer()
    register(cli)
    res = CliRunner().invoke(cli, ["promote", d.name, "--by", "tester"])
    assert res.exit_code != 0 and isinstance(res.exception, PromotionError)
    assert "min_trades" in str(res.exception) and "\n" not in str(res.exception)
