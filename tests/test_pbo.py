"""PBO by CSCV: known answers on constructed trial matrices, the trial matrix of a home, and the gate's check."""
from __future__ import annotations

import numpy as np
import pytest

from experiments.promotion.gate import PromotionGate, pbo_check
from trader.pbo import cscv_pbo


def test_a_truly_better_trial_is_not_overfit() -> None:
    rng = np.random.default_rng(1)
    m = rng.normal(0.0, 0.01, (64, 10))
    m[:, 3] += 0.01  # one trial earns a Sharpe of 1 per period in every block
    res = cscv_pbo(m)
    assert res is not None and res.pbo == 0.0 and res.n_blocks == 16


def test_pure_noise_gives_about_one_half() -> None:
    rng = np.random.default_rng(2)
    pbos = [cscv_pbo(rng.normal(0.0, 0.01, (48, 12)), n_blocks=8).pbo for _ in range(12)]
    assert 0.3 < float(np.mean(pbos)) < 0.7


def test_luck_that_reverses_is_overfit() -> None:
    """Each trial wins in half the blocks and loses as much in the others: the in-sample best is out-of-sample
    the worst, so selecting it always overfits."""
    rng = np.random.default_rng(3)
    s, per, n = 8, 4, 10
    pattern = np.array([rng.permutation([1.0] * (s // 2) + [-1.0] * (s // 2)) for _ in range(n)]).T  # s x n
    m = 0.01 * np.repeat(pattern, per, axis=0) + rng.normal(0.0, 1e-6, (s * per, n))
    res = cscv_pbo(m, n_blocks=s)
    assert res is not None and res.pbo > 0.9


def test_too_small_matrices_have_no_pbo() -> None:
    assert cscv_pbo(np.zeros((30, 1))) is None
    assert cscv_pbo(np.zeros((3, 5))) is None
    with pytest.raises(ValueError, match="T x N"):
        cscv_pbo(np.zeros(5))


def test_the_gate_check_refuses_above_max_pbo_and_says_when_undefined() -> None:
    gate = PromotionGate(max_pbo=0.4)
    bad = pbo_check({"pbo": 0.6, "runs": 5, "days": 20, "splits": 70}, gate)
    assert bad.passed is False and "exceeds 0.4" in bad.detail
    assert pbo_check({"pbo": 0.2, "runs": 5, "days": 20, "splits": 70}, gate).passed
    undefined = pbo_check({"pbo": None, "runs": 1, "days": 12}, gate)
    assert undefined.passed is True and "1 runs x 12 days share the window" in undefined.detail


def test_the_stored_pbo_is_read_without_numpy_and_marked_stale_when_runs_finish(tmp_path) -> None:
    import json
    import subprocess
    import sys

    from experiments.home import set_home
    from experiments.promotion.pbo import refresh_pbo
    from experiments.promotion.pbo_store import pbo_sentence, read_pbo

    set_home(tmp_path)
    try:
        assert read_pbo() is None and "not computed yet" in pbo_sentence(None)
        (tmp_path / "runs" / "r1").mkdir(parents=True)
        (tmp_path / "runs" / "r1" / "metrics.json").write_text("{}")
        doc = refresh_pbo()
        assert doc["pbo"] is None and doc["finished_runs"] == 1 and read_pbo()["stale"] is False
        (tmp_path / "runs" / "r2").mkdir()
        (tmp_path / "runs" / "r2" / "metrics.json").write_text("{}")
        assert read_pbo()["stale"] is True and "as of" in pbo_sentence(read_pbo())
    finally:
        set_home(None)
    code = ("import sys; from experiments.home import set_home; set_home(sys.argv[1]); "
            "from experiments.promotion.pbo_store import read_pbo; import json; print(json.dumps(read_pbo())); "
            "print(sorted(m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    first, loaded = out.stdout.splitlines()
    assert json.loads(first)["finished_runs"] == 1 and loaded == "[]"
