"""Running one experiment: the run directory, determinism, the ledger, the sealed holdout, no secrets."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from experiments.home import set_home
from experiments.runs import ledger
from experiments.runs.runner import evaluate_holdout, run_experiment
from experiments.spec.io import load_spec
from experiments.spec.model import SplitSpec
from experiments.spec.splits import split_bars
from trader.errors import DataError, SpecError
from trader.market.synthetic import generate_synthetic

SMALL = ["entry.type=momentum", "exits.model.enabled=false", "data.sessions=10", "splits.embargo_bars=45", "cycles=600"]


@pytest.fixture()
def home(tmp_path: Path):
    set_home(tmp_path)
    yield tmp_path
    set_home(None)


def test_run_directory_layout_and_ledger(home: Path) -> None:
    res = run_experiment(load_spec(None, SMALL), analyze=False)
    d = res.run_dir
    for name in ("spec.json", "metrics.json", "trades.parquet", "equity.parquet", "SUMMARY.txt", "run.log",
                 "environment.json"):
        assert (d / name).exists(), name
    assert (d / "models").is_dir()
    spec = json.loads((d / "spec.json").read_text())
    assert len(spec["hash"]) == 16 and spec["spec"]["entry"]["type"] == "momentum"
    env = json.loads((d / "environment.json").read_text())
    assert {"python", "torch", "git_commit", "seed"} <= set(env)
    doc = json.loads((d / "metrics.json").read_text())
    assert doc["split"] == "validation" and doc["window"]["bars"] == 600
    assert {"buy_and_hold", "random_entry"} == set(doc["baselines"])
    trades = pd.read_parquet(d / "trades.parquet")
    assert len(trades) == doc["metrics"]["trades"]
    lines = ledger.entries()
    assert len(lines) == 1 and lines[0]["run_id"] == res.run_id and lines[0]["status"] == "done"
    assert "validation" in (d / "SUMMARY.txt").read_text()


def test_same_spec_gives_byte_identical_metrics(tmp_path: Path) -> None:
    docs = []
    for k in range(2):
        set_home(tmp_path / f"h{k}")
        try:
            res = run_experiment(load_spec(None, SMALL), analyze=False)
        finally:
            set_home(None)
        docs.append((res.run_dir / "metrics.json").read_text())
    strip = [json.loads(d) for d in docs]
    for d in strip:
        d.pop("run_id")
    assert strip[0] == strip[1]
    assert docs[0].replace(json.loads(docs[0])["run_id"], "X") == docs[1].replace(json.loads(docs[1])["run_id"], "X")


def test_metrics_json_does_not_depend_on_the_cache_or_the_clock(tmp_path: Path) -> None:
    """Whatever differs between two places a run may happen (market generated or read from the cache, wall-clock
    fit times) must stay out of metrics.json: the Dask path compares it byte for byte with the local path."""
    import shutil

    spec = [s for s in SMALL if not s.startswith("exits.model")] + ["exits.model.enabled=true"]
    docs = []
    for k in range(2):
        if k == 1:  # the second home has the first one's market cache but an empty ledger
            shutil.copytree(tmp_path / "h0" / "data", tmp_path / "h1" / "data")
        set_home(tmp_path / f"h{k}")
        try:
            res = run_experiment(load_spec(None, spec), analyze=False)
        finally:
            set_home(None)
        text = (res.run_dir / "metrics.json").read_text()
        docs.append(text.replace(res.run_id, "X"))
        timings = json.loads((res.run_dir / "timings.json").read_text())
        assert "exit_model.train_seconds" in timings and "_seconds" not in text
    assert docs[0] == docs[1]


def test_failed_run_is_counted_in_the_ledger(home: Path) -> None:
    with pytest.raises(DataError):
        run_experiment(load_spec(None, [*SMALL, "data.source=file", "data.path=missing-bars.csv"]), analyze=False)
    (line,) = ledger.entries()
    assert line["status"] == "failed" and "missing-bars.csv" in line["error"]
    assert ledger.trial_count() == 1


def test_no_secret_reaches_the_run_directory(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"ANTHROPIC_API_KEY": "sk-ant-test-SECRET-123456", "TRADIER_TOKEN": "tradier-SECRET-987654",
               "TRADIER_ACCOUNT_ID": "VA-SECRET-424242"}
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    res = run_experiment(load_spec(None, SMALL), analyze=False)
    blobs = [p.read_bytes() for p in res.run_dir.rglob("*") if p.is_file()]
    blobs.append((home / "runs" / "ledger.jsonl").read_bytes())
    for blob in blobs:
        for value in secrets.values():
            assert value.encode() not in blob
    assert os.environ["TRADIER_TOKEN"] == secrets["TRADIER_TOKEN"]


def test_holdout_is_sealed_until_asked(home: Path) -> None:
    spec = load_spec(None, SMALL)
    res = run_experiment(spec, analyze=False)
    doc = json.loads((res.run_dir / "metrics.json").read_text())
    market = generate_synthetic(sessions=10, seed=0, edge=spec.data.edge)
    splits = split_bars(market.bars.index, SplitSpec(embargo_bars=45))
    holdout_start = market.bars.index[splits.holdout[0]]
    assert pd.Timestamp(doc["window"]["end"]) < holdout_start
    assert not (res.run_dir / "holdout.json").exists()
    hold = evaluate_holdout(res.run_dir)
    assert hold["split"] == "holdout" and pd.Timestamp(hold["window"]["start"]) == holdout_start
    again = evaluate_holdout(res.run_dir)
    assert again == hold  # evaluated once, then read back


def test_splits_respect_embargo_and_order() -> None:
    market = generate_synthetic(sessions=10, seed=1, edge=0.3)
    s = split_bars(market.bars.index, SplitSpec(embargo_bars=45))
    assert s.train[0] == 0 and s.train[1] + 45 == s.validation[0]
    assert s.validation[1] + 45 == s.holdout[0] and s.holdout[1] == len(market.bars)
    dates = market.bars.index.date
    assert dates[s.train[1] - 1] < dates[s.validation[0]] < dates[s.holdout[0]]
    with pytest.raises(SpecError, match="too few"):
        split_bars(market.bars.index[:390 * 2], SplitSpec(embargo_bars=45))


def test_walk_forward_refits_models_inside_the_window(home: Path) -> None:
    spec = load_spec(None, ["entry.type=predictor", "data.sessions=10", "splits.embargo_bars=45", "cycles=600",
                            "splits.refit_every=300", "exits.model.enabled=false", "model.training.epochs=1",
                            "model.training.max_samples=400", "regime.enabled=false"])
    res = run_experiment(spec, analyze=False)
    assert (res.run_dir / "models" / "refit-1" / "predictor.pt").exists()
    doc = json.loads((res.run_dir / "metrics.json").read_text())
    assert doc["predictor"]["split"] == "validation"


def test_a_run_from_the_cache_writes_the_same_metrics_as_the_first(tmp_path: Path) -> None:
    """The first run on a new market generates and caches it, the next reads the cache: same metrics.json (the
    market description and the exit model included); wall times live in timings.json."""
    import shutil

    spec = ["entry.type=momentum", "data.sessions=10", "splits.embargo_bars=45", "cycles=600"]
    docs = []
    for k in range(2):
        home = tmp_path / f"h{k}"
        if k == 1:
            shutil.copytree(tmp_path / "h0" / "data", home / "data")
        set_home(home)
        try:
            res = run_experiment(load_spec(None, spec), analyze=False)
        finally:
            set_home(None)
        docs.append(json.loads((res.run_dir / "metrics.json").read_text()))
        timings = json.loads((res.run_dir / "timings.json").read_text())
        assert "exit_model.train_seconds" in timings
    for d in docs:
        d.pop("run_id")
    assert docs[0] == docs[1]
    assert docs[0]["data"]["bars"] == 3900 and "train_seconds" not in json.dumps(docs[0])


def test_the_dsr_in_metrics_is_the_gates_dsr(home: Path) -> None:
    """metrics.json (and so SUMMARY.txt and ANALYSIS.md) and the gate deflate over the same trials: right after
    a run they show the same DSR (the run's own Sharpe used to be missing from the trials' variance)."""
    from experiments.promotion.gate import current_dsr

    checked = 0
    for seed in (1, 2, 3):
        res = run_experiment(load_spec(None, [*SMALL, f"seed={seed}", "entry.type=random",
                                             "entry.random.entry_probability=0.05"]), analyze=False)
        m = res.metrics
        if m["dsr"] is None:
            continue
        assert m["dsr"] == pytest.approx(current_dsr(m, ledger.trial_count(), ledger.trial_sharpes()), abs=1e-12)
        checked += 1
    assert ledger.trial_count() == 3 and checked >= 2


@pytest.mark.parametrize("error", [ValueError("a plot's limits are NaN"), DataError("the equity curve is empty")])
def test_a_failing_analysis_keeps_the_run(home: Path, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Any error in the analysis (a defect in a plot, not only our own errors) leaves the evaluated run standing,
    with its metrics and ledger line, and says what failed in ANALYSIS_FAILED.txt."""
    import analysis.report

    def broken(run_dir: Path) -> None:
        raise error

    monkeypatch.setattr(analysis.report, "analyze_run", broken)
    res = run_experiment(load_spec(None, SMALL), analyze=True)
    assert (res.run_dir / "metrics.json").is_file()
    assert str(error) in (res.run_dir / "ANALYSIS_FAILED.txt").read_text()
    assert [e["run_id"] for e in ledger.entries()] == [res.run_id]
