"""Feature families in a run: wired into the models, reported with per-family importance, bad input refused."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis.families import family_findings, family_summary
from analysis.importance import permutation_importance, ranked
from experiments.home import set_home
from experiments.runs.runner import evaluate_holdout, run_experiment
from experiments.spec.io import load_spec
from trader.errors import DataError
from trader.market.synthetic import generate_synthetic
from trader.market.synthetic_context import generate_context
from trader.regime import RegimeModel

SMALL = ["data.sessions=10", "splits.embargo_bars=45", "cycles=300", "model.training.epochs=1",
         "model.training.max_samples=300", "model.hidden=8", "model.mc_samples=4", "regime.n_iter=5"]


@pytest.fixture()
def home(tmp_path: Path):
    set_home(tmp_path)
    yield tmp_path
    set_home(None)


def test_permutation_importance_finds_the_group_the_model_reads() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 4))
    y = X[:, 0] + 0.5 * X[:, 1]

    def score(x: np.ndarray) -> float:
        return -float(np.mean((x[:, 0] + 0.5 * x[:, 1] - y) ** 2))

    res = permutation_importance(score, X, {"used": [0, 1], "ignored": [2, 3]}, repeats=2)
    groups = res["groups"]
    assert groups["used"]["importance"] > 1.0 and groups["ignored"]["importance"] == 0.0
    assert [name for name, _ in ranked(res)] == ["used", "ignored"]
    only_late = permutation_importance(score, X, {"used": [0]}, rows=np.arange(400, 500))
    assert 0 < only_late["groups"]["used"]["importance"] < groups["used"]["importance"]


def test_a_run_feeds_the_families_to_every_model_and_reports_their_importance(home: Path) -> None:
    spec = load_spec(None, [*SMALL, "entry.type=predictor", "features.families=[price,chain,macro,surface]",
                            "features.regime=true", "data.lead_lag=0.3"])
    res = run_experiment(spec, analyze=True)
    doc = json.loads((res.run_dir / "metrics.json").read_text())
    rep = doc["features"]
    assert rep["used"] == ["price", "chain", "macro", "surface"] and rep["warnings"] == []
    assert rep["columns"] == {"price": 26, "macro": 23, "surface": 8}
    assert set(rep["predictor_importance"]["groups"]) == {"price", "macro", "surface"}
    assert set(rep["exit_importance"]["groups"]) >= {"price", "macro", "surface"}
    saved = json.loads((res.run_dir / "models" / "predictor.json").read_text())
    assert "macro_rs_xlk" in saved["scaler"]["columns"]
    regime = json.loads((res.run_dir / "models" / "regime.json").read_text())
    assert "macro_vix9d_vix" in regime["context_columns"]
    assert "surface_atm_iv" in json.loads((res.run_dir / "models" / "exit_model_meta.json").read_text())[
        "feature_names"]
    text = (res.run_dir / "ANALYSIS.md").read_text()
    assert "## Feature families" in text and "| predictor (direction, minus Brier) | macro |" in text
    analysis = json.loads((res.run_dir / "analysis.json").read_text())
    assert any(f["topic"] == "feature_families" for f in analysis["findings"])
    holdout = evaluate_holdout(res.run_dir)  # reloads every model and rebuilds the same inputs
    assert holdout["split"] == "holdout"


def _write_file_market(root: Path) -> tuple[Path, Path]:
    m = generate_synthetic(sessions=10, seed=2)
    bars = root / "bars.csv"
    m.bars.reset_index(names="timestamp").to_csv(bars, index=False)
    btc = generate_context(m, seed=2)["BTC-USD"]
    ctx = root / "context.csv"
    btc.reset_index(names="timestamp").assign(symbol="BTC-USD").to_csv(ctx, index=False)
    return bars, ctx


def test_missing_series_fail_the_run_or_drop_the_family_with_a_warning(home: Path) -> None:
    bars, ctx = _write_file_market(home)
    base = ["entry.type=momentum", "exits.model.enabled=false", "data.source=file", f"data.path={bars}",
            "data.sessions=10", "splits.embargo_bars=45", "cycles=300"]
    with pytest.raises(DataError, match=r"feature family 'crypto' needs series missing from the data: BTC-USD"):
        run_experiment(load_spec(None, [*base, "features.families=[price,chain,crypto]"]), analyze=False)
    res = run_experiment(load_spec(None, [*base, "features.families=[price,chain,crypto,breadth]",
                                          "features.required.crypto=false", "features.required.breadth=false"]),
                         analyze=True)
    rep = json.loads((res.run_dir / "metrics.json").read_text())["features"]
    assert rep["used"] == ["price", "chain"]
    assert rep["warnings"][0] == "feature family 'crypto' dropped: the data lacks BTC-USD"
    assert "feature family 'crypto' dropped" in (res.run_dir / "run.log").read_text()
    assert "feature family 'crypto' dropped" in (res.run_dir / "ANALYSIS.md").read_text()
    res = run_experiment(load_spec(None, [*base, "features.families=[price,chain,crypto]",
                                          f"data.context_path={ctx}"]), analyze=False)
    assert json.loads((res.run_dir / "metrics.json").read_text())["features"]["used"] == ["price", "chain", "crypto"]


def test_family_finding_reads_noise_as_no_effect() -> None:
    doc = {"features": {"requested": ["price", "macro"], "used": ["price", "macro"], "warnings": [],
                        "predictor_importance": {"groups": {
                            "price": {"importance": 0.01, "std": 0.001, "columns": 24},
                            "macro": {"importance": 0.0002, "std": 0.0005, "columns": 23}}}}}
    summary = family_summary(doc)
    verdicts = {r["family"]: r["verdict"] for r in summary["importance"]}
    assert verdicts == {"price": "helped", "macro": "no measurable effect"}
    (text,) = [f["text"] for f in family_findings(summary)]
    assert text.startswith("Feature families used: price, macro. Permutation importance") and "macro +0.0002" in text
    assert family_summary({}) is None and family_findings(None) == []


def test_regime_model_with_context_needs_it_to_filter_and_round_trips(tmp_path: Path) -> None:
    from trader.families.registry import context_frame

    m = generate_synthetic(sessions=6, seed=4)
    m.context = generate_context(m, seed=4)
    ctx = context_frame(m, ["macro"])[["macro_cyc_def_60", "macro_vix9d_vix"]]
    model = RegimeModel.fit(m.bars, seed=0, n_iter=5, context=ctx)
    assert model.context_columns == ["macro_cyc_def_60", "macro_vix9d_vix"]
    assert "trend_ctx_macro_cyc_def_60" in model.axes["trend"].features
    assert "vol_ctx_macro_vix9d_vix" in model.axes["volatility"].features
    probs = model.filter(m.bars, ctx)
    with pytest.raises(DataError, match="reads the context features macro_cyc_def_60"):
        model.filter(m.bars)
    with pytest.raises(DataError, match="streaming regime filter does not take context"):
        model.streaming()
    loaded = RegimeModel.load(model.save(tmp_path))
    np.testing.assert_allclose(loaded.filter(m.bars, ctx)["trend"], probs["trend"])
    # causal: the filtered probabilities at t do not change when the data after t is cut off
    t = 1000
    cut = model.filter(m.bars.iloc[: t + 1], ctx.iloc[: t + 1])
    np.testing.assert_allclose(cut["volatility"][t], probs["volatility"][t], atol=1e-9)


def test_paper_trading_refuses_a_run_that_reads_context_series(tmp_path: Path) -> None:
    from experiments.paper.venues import load_pipeline
    from trader.errors import StateError

    run_dir = tmp_path / "20260101-000000-abc"
    run_dir.mkdir()
    spec = load_spec(None, ["features.families=[price,chain,macro]"])
    (run_dir / "spec.json").write_text(json.dumps({"hash": "x", "spec": spec.model_dump(mode="json")}))
    with pytest.raises(StateError, match="reads the feature families macro; the paper loop streams"):
        load_pipeline(str(run_dir))
