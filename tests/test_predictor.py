"""The predictor: purged labels, Bayesian heads, learning a planted signal, causality, save/load, streaming."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.synthetic_bars import minute_bars
from trader.errors import DataError, StateError
from trader.features import build_features
from trader.models.errors import ModelError
from trader.models.heads import BayesLinear, RBFLayer
from trader.models.labels import make_labels
from trader.models.predictor import OUTPUT_NAMES, Predictor, PredictorConfig, PredictorNet, series_arrays, windows
from trader.models.quality import evaluate_quality
from trader.models.stream import PredictorStream
from trader.models.training import TrainConfig, fit_predictor, make_targets, predictor_loss, target_stats

ENCODERS = ("tcn", "lstm", "transformer", "mamba2")


def tiny(encoder: str = "tcn", seed: int = 0, **kw: object) -> PredictorConfig:
    """A very small predictor configuration for fast tests."""
    base: dict[str, object] = {
        "encoder": encoder, "window": 16, "hidden": 8, "layers": 1, "heads": 2, "d_state": 4, "chunk_size": 8,
        "horizons": (5, 15), "rbf_centers": 4, "rbf_scales": (0.5, 2.0), "head_hidden": 8, "mc_samples": 4,
        "seed": seed,
    }
    base.update(kw)
    return PredictorConfig(**base)  # type: ignore[arg-type]


QUICK = TrainConfig(epochs=1, batch_size=64, max_samples=256)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return minute_bars(sessions=3, seed=7)


@pytest.fixture(scope="module")
def feats(bars: pd.DataFrame) -> pd.DataFrame:
    return build_features(bars)


@pytest.fixture(scope="module")
def fitted(bars: pd.DataFrame, feats: pd.DataFrame) -> Predictor:
    return fit_predictor(bars, feats, 700, tiny(), QUICK)


def test_labels_never_cross_the_split_end_or_a_session(bars: pd.DataFrame) -> None:
    end = 600
    lab = make_labels(bars, (5, 15), end=end)
    close = bars["close"].to_numpy()
    dates = bars.index.date
    for k, h in enumerate(lab.horizons):
        t = np.flatnonzero(lab.valid[:, k])
        assert (t + h < end).all()
        assert (dates[t] == dates[t + h]).all()
        assert np.allclose(lab.returns[t, k], np.log(close[t + h] / close[t]))
        assert not lab.valid[end - h:, k].any()
        assert np.isnan(lab.returns[~lab.valid[:, k], k]).all()
        # Inside a session and the split, every bar whose horizon fits has a label.
        assert lab.valid[400: end - h, k].all()
    assert not lab.valid[390 - 5: 390, 0].any()  # the last 5 bars of session 1 would cross the night
    with pytest.raises(DataError, match="range"):
        make_labels(bars, (5,), end=len(bars) + 1)


def test_fit_never_reads_bars_after_train_end(bars: pd.DataFrame, feats: pd.DataFrame, fitted: Predictor) -> None:
    shocked = bars.copy()
    shocked.iloc[700:, :4] *= 1.3
    again = fit_predictor(shocked, build_features(shocked), 700, tiny(), QUICK)
    assert fitted.scaler.to_dict() == again.scaler.to_dict()
    for key, value in fitted.net.state_dict().items():
        assert torch.equal(value, again.net.state_dict()[key]), key
    assert fitted.report["early_stop_cut"] == 700 - round(0.2 * 700)


def test_kl_is_positive_enters_the_loss_and_reaches_the_sigmas(bars: pd.DataFrame, feats: pd.DataFrame) -> None:
    layer = BayesLinear(6, 3, prior_sigma=0.1)
    assert float(layer.kl().detach()) > 0
    torch.manual_seed(0)
    cfg = tiny()
    net = PredictorNet(feats.shape[1], cfg)
    lab = make_labels(bars, cfg.horizons, end=700)
    pos = np.arange(100, 164)
    t = make_targets(lab, pos, target_stats(lab.rows(pos)))
    x = windows(torch.tensor(feats.to_numpy(np.float32)), pos, cfg.window)
    without, _ = predictor_loss(net, x, t, kl_weight=0.0, n_train=100, sample=False)
    with_kl, parts = predictor_loss(net, x, t, kl_weight=0.5, n_train=100, sample=False)
    assert parts["kl"] > 0 and float(with_kl.detach()) > float(without.detach())
    with_kl.backward()  # the posterior-mean pass: sigma gradients come from the KL term alone
    rho = [net.head.layer1.weight_rho, net.head.layer2.bias_rho]
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in rho)
    net.zero_grad()
    sampled, _ = predictor_loss(net, x, t, kl_weight=0.0, n_train=100, sample=True)
    sampled.backward()
    assert float(net.head.layer2.weight_rho.grad.abs().sum()) > 0


def test_rbf_layer_shapes_and_range() -> None:
    torch.manual_seed(0)
    rbf = RBFLayer(8, centers=5, scales=(0.5, 1.0, 2.0))
    with torch.no_grad():
        out = rbf(torch.randn(7, 8))
        at_centres = rbf(rbf.centers).view(5, 5, 3)[range(5), range(5)]
    assert out.shape == (7, 15) and float(out.min()) > 0 and float(out.max()) <= 1
    assert torch.allclose(at_centres, torch.ones(5, 3))
    with pytest.raises(ModelError):
        RBFLayer(8, centers=0)


def test_mc_samples_give_epistemic_spread_and_variances_add(feats: pd.DataFrame, fitted: Predictor) -> None:
    pred = fitted.predict(feats, np.arange(700, 760))
    assert set(pred) == set(OUTPUT_NAMES)
    assert (pred["epistemic_std"] > 0).all()
    assert np.allclose(pred["total_std"] ** 2, pred["aleatoric_std"] ** 2 + pred["epistemic_std"] ** 2)
    assert ((pred["p_up"] > 0) & (pred["p_up"] < 1)).all() and (pred["vol"] > 0).all()
    flat = series_arrays(pred, fitted.horizons)
    assert flat["pred_mean_15"].shape == (60,)


def test_beats_a_constant_gaussian_on_a_planted_signal() -> None:
    bars = minute_bars(sessions=12, seed=5, drift=0.3)
    f = build_features(bars)
    train_end = int(0.65 * len(bars))
    start = train_end + 60
    cfg = PredictorConfig(encoder="tcn", window=24, hidden=12, horizons=(5, 15), rbf_centers=8, head_hidden=12,
                          mc_samples=8, seed=1)
    model = fit_predictor(bars, f, train_end, cfg, TrainConfig(epochs=3, max_samples=1000, batch_size=64, lr=3e-3))
    quality = evaluate_quality(model.predict_all(f, start), make_labels(bars, cfg.horizons, start=start))
    for h in cfg.horizons:
        q = quality[f"h{h}"]
        assert q["n"] > 1000
        assert q["nll_gain"] > 0.05, q
        assert q["brier"] < q["brier_constant"], q
        assert q["direction_accuracy"] > 0.55, q
        assert 0.45 < q["coverage_68"] < 0.85 and 0.8 < q["coverage_95"] < 0.99, q


def test_save_load_round_trip_is_identical(tmp_path: Path, feats: pd.DataFrame, fitted: Predictor) -> None:
    fitted.save(tmp_path / "models")
    assert (tmp_path / "models" / "predictor.pt").is_file() and (tmp_path / "models" / "predictor.json").is_file()
    loaded = Predictor.load(tmp_path / "models")
    a, b = fitted.predict_all(feats, 700), loaded.predict_all(feats, 700)
    for key in OUTPUT_NAMES:
        assert np.array_equal(a[key], b[key], equal_nan=True), key
    assert loaded.config == fitted.config and loaded.feature_columns == fitted.feature_columns
    with pytest.raises(StateError, match="no saved predictor"):
        Predictor.load(tmp_path / "nothing")


@pytest.mark.parametrize("encoder", ENCODERS)
def test_predict_all_row_t_equals_prediction_on_data_cut_at_t(
    encoder: str, bars: pd.DataFrame, feats: pd.DataFrame
) -> None:
    model = fit_predictor(bars, feats, 700, tiny(encoder), QUICK)
    full = model.predict_all(feats, 0, len(bars))
    for t in (3, 15, 390, 391, 702, 950, len(bars) - 1):
        cut = model.predict(build_features(bars.iloc[: t + 1]), np.array([t]))
        for key in OUTPUT_NAMES:
            np.testing.assert_allclose(cut[key][0], full[key][t], rtol=1e-5, atol=1e-9, err_msg=f"{key} @ {t}")
    stream = PredictorStream(model, mode="window")
    stream.prime(feats.iloc[:800])
    for t in range(800, 805):
        got = stream.update(feats.iloc[t])
        for key in OUTPUT_NAMES:
            np.testing.assert_allclose(got[key], full[key][t], rtol=1e-5, atol=1e-9, err_msg=f"stream {key} @ {t}")


def test_step_stream_matches_for_tcn_and_runs_for_recurrent(bars: pd.DataFrame, feats: pd.DataFrame,
                                                            fitted: Predictor) -> None:
    full = fitted.predict_all(feats, 0, 60)
    stream = PredictorStream(fitted, mode="step")
    for t in range(60):
        got = stream.update(feats.iloc[t])
    np.testing.assert_allclose(got["mean"], full["mean"][59], rtol=1e-5, atol=1e-9)
    lstm = PredictorStream(fit_predictor(bars, feats, 700, tiny("lstm"), QUICK), mode="step")
    out = lstm.prime(feats.iloc[:30])
    assert out is not None and np.isfinite(out["total_std"]).all()
    with pytest.raises(ModelError, match="stream mode"):
        PredictorStream(fitted, mode="bogus")


def test_same_seed_same_model_and_global_rng_untouched(bars: pd.DataFrame, feats: pd.DataFrame,
                                                       fitted: Predictor) -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    threads = torch.get_num_threads()
    again = fit_predictor(bars, feats, 700, tiny(), QUICK)
    assert torch.equal(before, torch.get_rng_state()) and torch.get_num_threads() == threads
    other = fit_predictor(bars, feats, 700, tiny(seed=1), QUICK)
    a, b = fitted.net.state_dict(), again.net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], other.net.state_dict()[k]) for k in a)


def test_quality_figures_on_known_forecasts() -> None:
    rng = np.random.default_rng(0)
    n = 20000
    y = 1e-3 * rng.standard_normal((n, 1))
    lab = make_labels(minute_bars(sessions=1, short_last=False), (5,))
    lab = type(lab)((5,), y, np.abs(y) + 1e-4, np.ones((n, 1), dtype=bool))
    pred = {"mean": np.zeros((n, 1)), "aleatoric_std": np.full((n, 1), 1e-3), "epistemic_std": np.zeros((n, 1)),
            "total_std": np.full((n, 1), 1e-3), "p_up": np.full((n, 1), 0.5), "vol": np.abs(y) + 1e-4}
    q = evaluate_quality(pred, lab)["h5"]
    assert q["coverage_68"] == pytest.approx(0.6827, abs=0.01)
    assert q["coverage_95"] == pytest.approx(0.95, abs=0.01)
    assert q["brier"] == pytest.approx(0.25) and q["vol_log_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert abs(q["nll_gain"]) < 0.01 and q["epistemic_share"] == 0.0
    assert q["nll"] == pytest.approx(0.5 * math.log(2 * math.pi) + math.log(10.0) + 0.5, abs=0.02)


def test_bad_inputs_raise_clear_errors(bars: pd.DataFrame, feats: pd.DataFrame, fitted: Predictor) -> None:
    with pytest.raises(DataError, match="aligned"):
        fit_predictor(bars, feats.iloc[:-1], 700, tiny(), QUICK)
    with pytest.raises(DataError, match="positions"):
        fitted.predict(feats, np.array([len(feats)]))
    with pytest.raises(ModelError, match="encoder"):
        tiny("gru")
    with pytest.raises(ModelError, match="horizons"):
        tiny(horizons=(15, 5))
