"""The fitted-model cache: hits only where nothing a model reads changed, identical results, bounded, atomic."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from experiments.home import set_home
from experiments.runs.market_loader import load_market_for
from experiments.runs.model_cache import ModelCache, data_identity, model_key
from experiments.runs.runner import run_experiment
from experiments.spec.io import load_spec
from trader.errors import SpecError

# A consensus run with the predictor, the regime HMM and the exit model, each as small as a test allows.
SMALL = ["entry.type=consensus", "data.sessions=10", "splits.embargo_bars=45", "cycles=300", "model.hidden=8",
         "model.layers=1", "model.training.epochs=1", "model.training.max_samples=300",
         "model.mc_samples=4", "model.horizons=[5,15]", "regime.n_iter=5", "exits.model.enabled=true"]


@pytest.fixture()
def home(tmp_path: Path):
    set_home(tmp_path)
    _warm_data()
    yield tmp_path
    set_home(None)


def _warm_data() -> None:
    """Generate the market into the home's data cache first, so every run below reads it the same way."""
    load_market_for(load_spec(None, SMALL))


def _used(res) -> dict:
    return json.loads((res.run_dir / "models" / "cache.json").read_text())


def _metrics(res) -> str:
    text = (res.run_dir / "metrics.json").read_text()
    return text.replace(res.run_id, "RUN")


def _without_timings(text: str) -> dict:
    doc = json.loads(text)

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if not k.endswith("seconds")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(doc)


def test_a_repeated_spec_loads_every_model_and_gives_identical_metrics(home: Path) -> None:
    first = run_experiment(load_spec(None, SMALL), analyze=False)
    second = run_experiment(load_spec(None, SMALL), analyze=False)
    assert {k: v["hit"] for k, v in _used(first).items()} == {"predictor": False, "regime": False,
                                                               "exit_model": False}
    assert {k: v["hit"] for k, v in _used(second).items()} == {"predictor": True, "regime": True,
                                                                "exit_model": True}
    assert _used(first) == {k: {**v, "hit": False} for k, v in _used(second).items()}
    for name in ("predictor.pt", "predictor.json", "regime.json", "exit_model.json", "exit_model_meta.json"):
        assert (second.run_dir / "models" / name).read_bytes() == (first.run_dir / "models" / name).read_bytes()
    # The only difference a fresh fit could show is its own fit time; the DSR counts one more trial.
    a, b = _without_timings(_metrics(first)), _without_timings(_metrics(second))
    for doc in (a, b):
        doc["metrics"].pop("dsr", None)
        doc["metrics"].pop("n_trials", None)
    assert a == b


def test_a_cache_hit_gives_the_metrics_of_a_fresh_fit_byte_for_byte(tmp_path: Path) -> None:
    docs = []
    for name in ("fresh", "cached"):
        set_home(tmp_path / name)
        try:
            _warm_data()
            if name == "cached":  # warm this home's cache in a throw-away run, then clear the ledger's trial
                warm = run_experiment(load_spec(None, SMALL), analyze=False)
                (tmp_path / name / "runs" / "ledger.jsonl").unlink()
                (tmp_path / name / "runs" / warm.run_id / "metrics.json").unlink()
            res = run_experiment(load_spec(None, SMALL), analyze=False)
        finally:
            set_home(None)
        docs.append((res, _metrics(res)))
    assert all(v["hit"] for v in _used(docs[1][0]).values())
    assert _without_timings(docs[0][1]) == _without_timings(docs[1][1])


def test_only_the_models_whose_inputs_changed_are_refitted(home: Path) -> None:
    run_experiment(load_spec(None, SMALL), analyze=False)
    exits = run_experiment(load_spec(None, [*SMALL, "exits.stop_loss_pct=30"]), analyze=False)
    assert {k: v["hit"] for k, v in _used(exits).items()} == {"predictor": True, "regime": True,
                                                               "exit_model": False}
    model = run_experiment(load_spec(None, [*SMALL, "model.hidden=12"]), analyze=False)
    assert {k: v["hit"] for k, v in _used(model).items()} == {"predictor": False, "regime": True,
                                                               "exit_model": True}
    entry = run_experiment(load_spec(None, [*SMALL, "entry.consensus.min_signals_to_trade=2", "name=other"]),
                           analyze=False)
    assert all(v["hit"] for v in _used(entry).values())
    data = run_experiment(load_spec(None, [*SMALL, "data.seed=5"]), analyze=False)
    assert not any(v["hit"] for v in _used(data).values())


@pytest.mark.parametrize("controller", ["q_scorer", "rl"])
def test_the_learning_controllers_are_cached_like_the_models(home: Path, controller: str) -> None:
    small = [*SMALL, f"entry.type={controller}", "entry.rl.timesteps=1000", "entry.q_scorer.threshold=-50"]
    first = run_experiment(load_spec(None, small), analyze=False)
    # Only the threshold changes: the Q-scorer's fit never reads it; the PPO policy's fit never reads it either.
    second = run_experiment(load_spec(None, [*small, "entry.q_scorer.threshold=-40"]), analyze=False)
    assert _used(first)[controller]["hit"] is False
    assert {k: v["hit"] for k, v in _used(second).items()} == {"predictor": True, "regime": True,
                                                                "exit_model": True, controller: True}
    names = {"q_scorer": ("q_scorer.json",), "rl": ("ppo.zip",)}[controller]
    for name in names:
        assert (second.run_dir / "models" / name).read_bytes() == (first.run_dir / "models" / name).read_bytes()
    # The same spec again: a cache hit gives the metrics of the first, fresh fit (the DSR counts more trials).
    third = run_experiment(load_spec(None, small), analyze=False)
    a, b = _without_timings(_metrics(first)), _without_timings(_metrics(third))
    for doc in (a, b):
        doc["metrics"].pop("dsr", None)
        doc["metrics"].pop("n_trials", None)
    assert a == b
    # A change the controller's simulation reads refits it, and only it.
    exits = run_experiment(load_spec(None, [*small, "trading.max_contracts=3"]), analyze=False)
    assert _used(exits)[controller]["hit"] is False and _used(exits)["predictor"]["hit"] is True


def test_controller_keys_follow_what_each_controller_reads() -> None:
    base = load_spec(None, SMALL)
    for kind, own, other in (("rl", "entry.rl.risk_penalty=0.5", "entry.q_scorer.threshold=9"),
                             ("q_scorer", "exits.stop_loss_pct=31", "entry.rl.timesteps=5000")):
        key = model_key(kind, base, (0, 100), "d")
        assert model_key(kind, load_spec(None, [*SMALL, own]), (0, 100), "d") != key
        assert model_key(kind, load_spec(None, [*SMALL, other]), (0, 100), "d") == key
        assert model_key(kind, load_spec(None, [*SMALL, "entry.momentum.lookback_bars=30"]), (0, 100), "d") == key
        assert model_key(kind, load_spec(None, [*SMALL, "model.hidden=12"]), (0, 100), "d") != key
        assert model_key(kind, load_spec(None, [*SMALL, "entry.cooldown_bars=9"]), (0, 100), "d") != key
    assert model_key("q_scorer", load_spec(None, [*SMALL, "entry.q_scorer.threshold=9"]), (0, 100), "d") == \
        model_key("q_scorer", base, (0, 100), "d")


def test_keys_follow_what_each_model_reads() -> None:
    base = load_spec(None, SMALL)

    def keys(over: list[str], data: str = "d") -> dict[str, str]:
        spec = load_spec(None, [*SMALL, *over])
        return {k: model_key(k, spec, (0, 100), data) for k in ("predictor", "regime", "exit_model")}

    same = keys([])
    assert same == {k: model_key(k, base, (0, 100), "d") for k in same}
    assert keys(["entry.cooldown_bars=7"]) == {**same, "exit_model": keys(["entry.cooldown_bars=7"])["exit_model"]}
    assert keys(["entry.cooldown_bars=7"])["exit_model"] != same["exit_model"]
    assert keys(["regime.n_iter=9"])["regime"] != same["regime"]
    assert keys(["regime.n_iter=9"])["predictor"] == same["predictor"]
    assert keys(["seed=3"]) != same and all(keys(["seed=3"])[k] != same[k] for k in same)
    assert all(keys([], data="other")[k] != same[k] for k in same)
    assert model_key("predictor", base, (0, 101), "d") != same["predictor"]
    with pytest.raises(SpecError, match="unknown model kind"):
        model_key("oracle", base, (0, 100), "d")


def _entry_files(tmp: Path, name: str, size: int) -> list[Path]:
    f = tmp / name
    f.write_bytes(b"x" * size)
    return [f]


def test_least_recently_used_entries_are_evicted_past_the_bound(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "cache", max_bytes=2500)
    src = tmp_path / "src"
    src.mkdir()
    for key in ("a", "b"):
        cache.store("predictor", key, _entry_files(src, f"{key}.bin", 1000))
        time.sleep(0.02)
    assert cache.fetch("predictor", "a", tmp_path / "out")  # a is now the most recently used
    os.utime(cache.root / "predictor-a" / "entry.json", (time.time() + 5, time.time() + 5))
    cache.store("predictor", "c", _entry_files(src, "c.bin", 1000))
    assert sorted(e.key for e in cache.entries()) == ["a", "c"]
    assert not cache.fetch("predictor", "b", tmp_path / "out")
    assert (tmp_path / "out" / "a.bin").read_bytes() == b"x" * 1000
    assert cache.clear() == 2 and cache.entries() == []


def _store_same(root: str, src: str, n: int) -> None:
    cache = ModelCache(Path(root), max_bytes=10**9)
    for _ in range(n):
        cache.store("regime", "same", [Path(src)])


def test_concurrent_writers_of_one_key_leave_one_whole_entry(tmp_path: Path) -> None:
    src = tmp_path / "regime.json"
    src.write_text(json.dumps({"x": list(range(20000))}))
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_store_same, args=(str(tmp_path / "c"), str(src), 5)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    left = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert left == ["regime-same"]
    assert (tmp_path / "c" / "regime-same" / "regime.json").read_text() == src.read_text()


def test_the_cache_is_bounded_by_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAUSSIAN_MODEL_CACHE_MB", "0")
    assert ModelCache.from_home() is None
    monkeypatch.setenv("GAUSSIAN_MODEL_CACHE_MB", "1.5")
    assert ModelCache.from_home().max_bytes == int(1.5 * 1024 * 1024)
    for bad in ("lots", "-1"):
        monkeypatch.setenv("GAUSSIAN_MODEL_CACHE_MB", bad)
        with pytest.raises(SpecError, match="GAUSSIAN_MODEL_CACHE_MB"):
            ModelCache.from_home()


def test_cache_list_and_clear_commands(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from experiments.cli.main import cli

    src = home / "m.bin"
    src.write_bytes(b"y" * 300)
    ModelCache.from_home().store("exit_model", "k1", [src])
    runner = CliRunner()
    out = runner.invoke(cli, ["--home", str(home), "cache", "list", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert [(e["kind"], e["key"], e["bytes"] > 300) for e in doc["entries"]] == [("exit_model", "k1", True)]
    out = runner.invoke(cli, ["--home", str(home), "cache", "clear"])
    assert out.exit_code == 0 and "removed 1 cached model" in out.output
    assert ModelCache.from_home().entries() == []
    monkeypatch.setenv("GAUSSIAN_MODEL_CACHE_MB", "0")
    out = runner.invoke(cli, ["--home", str(home), "cache", "list"])
    assert out.exit_code == 0 and "off" in out.output


def test_the_data_identity_covers_bars_and_context_series() -> None:
    from trader.market.synthetic import generate_synthetic

    spec = load_spec(None, SMALL)
    market = generate_synthetic(sessions=3, seed=0)
    base = data_identity(spec, market, 500)
    assert data_identity(spec, market, 500) == base
    assert data_identity(spec, market, 501) != base
    moved = market.bars.copy()
    moved.iloc[10, moved.columns.get_loc("close")] += 0.01
    assert data_identity(spec, type(market)(bars=moved, chains=market.chains, truth=market.truth,
                                            meta=dict(market.meta), quoter=market.quoter), 500) != base
    ctx = {"XLK": market.bars.iloc[:200].copy()}
    with_ctx = type(market)(bars=market.bars, chains=market.chains, truth=market.truth, meta=dict(market.meta),
                            quoter=market.quoter, context=ctx)
    assert data_identity(spec, with_ctx, 500) != base
    ctx2 = {"XLK": ctx["XLK"].assign(close=ctx["XLK"]["close"] * 1.001)}
    assert data_identity(spec, type(market)(bars=market.bars, chains=market.chains, truth=market.truth,
                                            meta=dict(market.meta), quoter=market.quoter, context=ctx2),
                         500) != data_identity(spec, with_ctx, 500)
