"""Recommendations: every one names a real ExperimentSpec field with a valid value, and only from enough trades."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.recommend import BOUNDS, LIST_FIELDS, MAX_STEP, SIGNAL_NAMES, in_bounds
from analysis.report import build_analysis
from experiments.spec.io import apply_overrides, validate_spec
from experiments.spec.model import SIGNAL_NAMES as SPEC_SIGNAL_NAMES
from tests.analysis_fixtures import fixed_trades, run_inputs, spec_dict
from trader.domain import trades_frame

ENTRY_TYPES = ("consensus", "bandit", "rl", "q_scorer", "predictor", "momentum", "random")


def _get(spec: dict[str, Any], dotted: str) -> Any:
    node: Any = spec
    for part in dotted.split("."):
        node = node[part]
    return node


def assert_valid(spec: dict[str, Any], analysis: dict[str, Any]) -> None:
    """Each recommendation changes a real field from its current value to one the spec model accepts."""
    for r in analysis["recommendations"]:
        assert r["field"] in BOUNDS or r["field"] in LIST_FIELDS
        assert _get(spec, r["field"]) == r["current"], r
        assert r["value"] != r["current"], r
        assert r["finding"] and isinstance(r["evidence"], dict)
        validate_spec(apply_overrides(spec, {r["field"]: r["value"]}), f"recommendation {r['field']}={r['value']}")
    assert len({r["field"] for r in analysis["recommendations"]}) == len(analysis["recommendations"])


def _recs(analysis: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["field"]: r for r in analysis["recommendations"]}


def test_signal_names_mirror_the_spec() -> None:
    assert SIGNAL_NAMES == SPEC_SIGNAL_NAMES


@pytest.mark.parametrize("field", sorted(BOUNDS))
def test_bounds_table_lies_inside_the_spec(field: str) -> None:
    lo, hi, is_int = BOUNDS[field]
    base = {"data": {"interval": "1day"}}  # daily bars: no embargo coupling with exits.max_hold_minutes
    for v in (lo, hi, (lo + hi) / 2):
        v = int(v) if is_int else v
        validate_spec(apply_overrides(base, {field: v}), f"{field}={v}")
    assert in_bounds(field, int(lo) if is_int else lo)
    assert not in_bounds(field, hi + 1)
    if field in MAX_STEP:
        assert MAX_STEP[field] > 0


def test_fixture_recommendations_validate_and_say_why() -> None:
    spec = spec_dict()
    a = build_analysis(run_inputs(fixed_trades(), spec))
    assert_valid(spec, a)
    recs = _recs(a)
    assert recs["entry.consensus.blocked_signals"]["value"] == ["technical"]
    assert recs["exits.stop_loss_pct"]["value"] == 75.0
    # confidence is predictive: the threshold rises, by at most one capped step
    assert recs["entry.consensus.min_weighted_confidence"]["value"] == pytest.approx(0.65)
    held = {(h["field"], str(h["value"])) for h in a["insufficient"]}
    assert ("entry.consensus.blocked_signals", "['momentum']") in held  # one block at a time
    assert all(h["reason"] for h in a["insufficient"])


def test_nothing_is_recommended_from_too_few_trades() -> None:
    spec = spec_dict()
    a = build_analysis(run_inputs(fixed_trades(), spec), min_trades=100)
    assert_valid(spec, a)
    assert {r["rule"] for r in a["recommendations"]} == {"too_few_trades"}
    assert {"widen_stop_loss", "block_signal"} <= {h["rule"] for h in a["insufficient"]}


@pytest.mark.parametrize("entry_type", ENTRY_TYPES)
def test_too_few_trades_lowers_the_entry_threshold(entry_type: str) -> None:
    spec = spec_dict({"entry.type": entry_type})
    a = build_analysis(run_inputs(fixed_trades(5), spec))
    assert_valid(spec, a)
    recs = [r for r in a["recommendations"] if r["rule"] == "too_few_trades"]
    assert len(recs) == 1
    expected = {"consensus": "entry.consensus.min_signals_to_trade", "predictor": "entry.predictor.min_confidence",
                "momentum": "entry.momentum.threshold_sigma", "random": "entry.random.entry_probability",
                "q_scorer": "entry.q_scorer.threshold", "bandit": "entry.cooldown_bars", "rl": "entry.cooldown_bars"}
    assert recs[0]["field"] == expected[entry_type]
    assert recs[0]["value"] < recs[0]["current"] or entry_type == "random"


def test_capped_window_recommends_more_cycles() -> None:
    spec = spec_dict({"cycles": 600})
    a = build_analysis(run_inputs(fixed_trades(4), spec, window_bars=600))
    assert_valid(spec, a)
    assert _recs(a)["cycles"]["value"] == 1200


def test_zero_trades_recommendations_validate() -> None:
    spec = spec_dict({"entry.type": "momentum"})
    a = build_analysis(run_inputs(trades_frame([]), spec))
    assert_valid(spec, a)
    assert _recs(a)["entry.momentum.threshold_sigma"]["value"] == pytest.approx(0.75)


def test_max_hold_losers_lower_the_max_hold() -> None:
    df = trades_frame(fixed_trades(80, seed=3))
    losers = df["pnl"] <= 0
    df.loc[losers, "exit_reason"] = "max_hold"
    df.loc[losers, "hold_minutes"] = 45.0
    spec = spec_dict()
    a = build_analysis(run_inputs(df, spec))
    assert_valid(spec, a)
    r = _recs(a)["exits.max_hold_minutes"]
    assert 22.5 <= r["value"] < 45 and r["evidence"]["max_hold_trades"] >= 20
    assert "exits.stop_loss_pct" not in _recs(a)


def test_expiring_worthless_closes_before_expiry() -> None:
    df = trades_frame(fixed_trades(80, seed=4))
    df.loc[df["pnl"] <= 0, "exit_reason"] = "expiry_otm"
    spec = spec_dict()
    a = build_analysis(run_inputs(df, spec))
    assert_valid(spec, a)
    assert _recs(a)["exits.close_before_expiry_minutes"]["value"] == 60


def test_no_stop_and_deep_losses_sets_a_stop() -> None:
    df = trades_frame(fixed_trades(60, seed=5))
    df.loc[df["pnl"] <= 0, "pnl_pct"] = -70.0
    df.loc[df["pnl"] <= 0, "exit_reason"] = "end_of_day"
    spec = spec_dict({"exits.stop_loss_pct": None})
    a = build_analysis(run_inputs(df, spec))
    assert_valid(spec, a)
    assert _recs(a)["exits.stop_loss_pct"]["value"] == 35.0


def test_inverted_confidence_is_reported_but_never_raises_a_threshold() -> None:
    df = trades_frame(fixed_trades())
    df["confidence"] = 1.45 - df["confidence"]
    spec = spec_dict()
    a = build_analysis(run_inputs(df, spec))
    assert_valid(spec, a)
    assert a["confidence"]["verdict"] == "inverted"
    assert not any(r["rule"] == "raise_confidence" for r in a["recommendations"])
    assert any("Confidence is inverted" in f["text"] for f in a["findings"])


def test_confidence_not_significant_claims_no_direction() -> None:
    df = trades_frame(fixed_trades())
    rng = np.random.default_rng(0)
    df["confidence"] = rng.permutation(df["confidence"].to_numpy())
    a = build_analysis(run_inputs(df))
    if a["confidence"]["p_value"] >= 0.05:
        assert a["confidence"]["verdict"] == "no evidence"
        texts = [f["text"] for f in a["findings"]]
        assert not any(t.startswith(("Confidence predicts", "Confidence is inverted")) for t in texts)
        assert any(t.startswith("No evidence that confidence predicts P&L") for t in texts)


@pytest.mark.parametrize(("entry_type", "field", "cap"), [
    ("momentum", "entry.momentum.threshold_sigma", 0.5),
    ("predictor", "entry.predictor.min_confidence", 0.05),
])
def test_predictive_confidence_maps_to_the_entry_type(entry_type: str, field: str, cap: float) -> None:
    spec = spec_dict({"entry.type": entry_type})
    a = build_analysis(run_inputs(fixed_trades(), spec))
    assert_valid(spec, a)
    r = _recs(a)[field]
    assert r["current"] < r["value"] <= r["current"] + cap + 1e-9


def test_blocking_keeps_enough_signals_to_trade() -> None:
    spec = spec_dict({"entry.consensus.blocked_signals": ["options_flow", "advanced", "regime_quality",
                                                         "predictor_agreement"],
                      "entry.consensus.min_signals_to_trade": 4})
    a = build_analysis(run_inputs(fixed_trades(), spec))
    assert_valid(spec, a)
    assert "entry.consensus.blocked_signals" not in _recs(a)
    assert any("min_signals_to_trade" in h["reason"] for h in a["insufficient"])


def test_non_consensus_entries_never_block_signals() -> None:
    spec = spec_dict({"entry.type": "momentum"})
    a = build_analysis(run_inputs(fixed_trades(), spec))
    assert "entry.consensus.blocked_signals" not in _recs(a)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_recommendation_validates_across_specs_and_trades(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reasons = np.array(["stop_loss", "max_hold", "expiry_otm", "end_of_day", "take_profit"])
    for n in (0, 8, 30, 50):
        df = trades_frame(fixed_trades(n, seed=seed)) if n else trades_frame([])
        if n:
            df["exit_reason"] = rng.choice(reasons, size=n)
            df["hold_minutes"] = rng.integers(1, 90, size=n).astype(float)
        for entry_type in ENTRY_TYPES:
            overrides = {
                "entry.type": entry_type,
                "exits.stop_loss_pct": [None, 2.0, 80.0][int(rng.integers(0, 3))],
                "exits.max_hold_minutes": [None, 10, 45][int(rng.integers(0, 3))],
                "exits.close_before_expiry_minutes": [None, 30][int(rng.integers(0, 2))],
                "entry.consensus.min_signals_to_trade": int(rng.integers(1, 9)),
                "entry.consensus.min_weighted_confidence": float(rng.choice([0.0, 0.5, 0.95])),
                "entry.predictor.min_confidence": float(rng.choice([0.5, 0.97])),
                "entry.momentum.threshold_sigma": float(rng.choice([0.0, 9.8])),
                "entry.random.entry_probability": float(rng.choice([0.0, 0.7])),
                "entry.cooldown_bars": int(rng.integers(0, 3)),
                "splits.embargo_bars": 390,  # covers a position held to the close (no max hold)
            }
            spec = spec_dict(overrides)
            a = build_analysis(run_inputs(df, spec), min_trades=int(rng.choice([5, 20])))
            assert_valid(spec, a)
            assert isinstance(pd.Series(a["findings"]).size, int)
