"""Windows cropped to the encoder's receptive field: the TCN reads only the bars it can use, with the same
outputs (to float32 rounding), in batch, training and streaming; encoders without a bounded field read the whole window."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.synthetic_bars import minute_bars
from trader.features import build_features
from trader.models.predictor import PredictorConfig, gather_windows, input_window, pad_rows
from trader.models.registry import build_encoder
from trader.models.stream import PredictorStream
from trader.models.training import TrainConfig, fit_predictor


@pytest.mark.parametrize(("layers", "kernel", "window", "expected"), [(2, 3, 64, 13), (3, 2, 64, 15),
                                                                         (2, 3, 8, 8), (4, 3, 16, 16)])
def test_tcn_windows_are_cropped_and_outputs_are_identical(layers: int, kernel: int, window: int,
                                                           expected: int) -> None:
    torch.manual_seed(0)
    enc = build_encoder("tcn", n_features=6, hidden=8, layers=layers, kernel_size=kernel).eval()
    assert input_window(window, enc) == expected
    x = torch.randn(400, 6)
    pos = np.arange(400)
    with torch.no_grad():
        full = enc(gather_windows(pad_rows(x, window), pos, window))
        cropped = enc(gather_windows(pad_rows(x, expected), pos, expected))
    # The same arithmetic up to the convolution's summation order (float32 rounding, never more).
    torch.testing.assert_close(full, cropped, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["lstm", "transformer", "mamba2"])
def test_unbounded_encoders_read_the_whole_window(name: str) -> None:
    enc = build_encoder(name, n_features=4, hidden=8, layers=1, heads=2, d_state=4, chunk_size=8)
    assert enc.receptive_field is None and input_window(48, enc) == 48


def test_a_fitted_tcn_predicts_exactly_what_full_windows_give() -> None:
    bars = minute_bars(sessions=3, seed=7)
    feats = build_features(bars)
    cfg = PredictorConfig(encoder="tcn", window=64, hidden=8, layers=2, kernel_size=3, horizons=(5, 15),
                          rbf_centers=4, rbf_scales=(0.5, 2.0), head_hidden=8, mc_samples=4, seed=0)
    p = fit_predictor(bars, feats, 700, cfg, TrainConfig(epochs=1, batch_size=64, max_samples=256))
    assert p.input_window == 13
    got = p.predict(feats, np.arange(600, 700))
    x = p.scaled(feats)
    with torch.no_grad():
        h = p.net.encoder(gather_windows(pad_rows(x, 64), np.arange(600, 700), 64))
    want = p.predict_encoded(h)
    for k in got:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-7)
    stream = PredictorStream(p, mode="window")
    last = None
    for i in range(700):
        last = stream.update(feats.iloc[[i]])
    np.testing.assert_allclose(last["mean"], got["mean"][-1], rtol=1e-6, atol=1e-9)
