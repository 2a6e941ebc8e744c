"""Spec fields that mean something only together are checked together: `model.window` against the encoder that
reads it, the embargo against the longest hold or label horizon on every bar interval (daily bars and no max hold
included), and `splits.holdout` as the sessions the sealed holdout gets."""
from __future__ import annotations

import pytest

from experiments.spec.io import load_spec
from experiments.spec.model import SplitSpec
from experiments.spec.splits import split_bars
from trader.errors import SpecError
from trader.market.synthetic import generate_synthetic
from trader.models.receptive import tcn_receptive_field


@pytest.mark.parametrize(("layers", "kernel"), [(2, 3), (3, 2), (4, 3), (1, 9)])
def test_a_tcn_window_beyond_its_receptive_field_is_refused(layers: int, kernel: int) -> None:
    field = tcn_receptive_field(layers, kernel)
    base = [f"model.layers={layers}", f"model.kernel_size={kernel}"]
    load_spec(None, [*base, f"model.window={field}"])  # all it can read: accepted
    with pytest.raises(SpecError) as err:
        load_spec(None, [*base, f"model.window={field + 1}"])
    msg = str(err.value)
    assert "model.window" in msg and f"receptive field ({field} bars" in msg and "\n" not in msg


def test_the_default_window_stays_valid_for_every_encoder() -> None:
    """64 is every spec's window since the start: on a TCN it means its whole receptive field (stored specs load)."""
    for encoder in ("tcn", "lstm", "transformer", "mamba2"):
        assert load_spec(None, [f"model.encoder={encoder}"]).model.window == 64


@pytest.mark.parametrize("encoder", ["lstm", "transformer", "mamba2"])
def test_encoders_without_a_bounded_field_take_any_window(encoder: str) -> None:
    assert load_spec(None, [f"model.encoder={encoder}", "model.window=512"]).model.window == 512


@pytest.mark.parametrize(
    ("overrides", "needed"),
    [
        # daily bars: the label horizon (45 bars) is 45 bars, the check is no longer skipped
        (["data.interval=1day", "splits.embargo_bars=5"], "17550 minutes"),
        # daily bars, no max hold: a position may live until its expiry settles (max_dte 2 -> 3 sessions)
        (["data.interval=1day", "splits.embargo_bars=2", "model.horizons=[1]", "exits.max_hold_minutes=null"],
         "1170 minutes"),
        # minute bars, no max hold, flat by the close: a position lives at most a session less the close margin
        (["exits.max_hold_minutes=null", "splits.embargo_bars=60"], "385 minutes"),
        # minute bars, no max hold, held overnight: until the longest-dated contract settles
        (["exits.max_hold_minutes=null", "exits.flat_by_eod=false", "splits.embargo_bars=400"], "1170 minutes"),
    ],
)
def test_the_embargo_covers_the_longest_hold_on_every_interval(overrides: list[str], needed: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(None, overrides)
    assert "must cover the longest hold or label horizon" in str(err.value) and needed in str(err.value)


@pytest.mark.parametrize(
    "overrides",
    [["data.interval=1day", "splits.embargo_bars=45"],
     ["exits.max_hold_minutes=null", "splits.embargo_bars=390"],
     ["exits.max_hold_minutes=null", "exits.flat_by_eod=false", "splits.embargo_bars=1170"],
     ["data.interval=1day", "model.horizons=[1]", "exits.max_hold_minutes=null", "splits.embargo_bars=3"]],
)
def test_an_embargo_that_covers_the_hold_is_accepted(overrides: list[str]) -> None:
    load_spec(None, overrides)


@pytest.mark.parametrize(("sessions", "train", "validation", "holdout"),
                         [(8, 0.6, 0.2, 0.2), (7, 0.6, 0.2, 0.2), (13, 0.5, 0.2, 0.3), (23, 0.3, 0.4, 0.3),
                          (100, 0.3, 0.4, 0.3), (9, 0.45, 0.35, 0.2)])
def test_the_holdout_gets_its_share_of_sessions(sessions: int, train: float, validation: float,
                                                 holdout: float) -> None:
    """Validation and holdout each get their fraction of the sessions, rounded half up (at least one); the train
    split takes what rounding leaves. Before, the holdout was whatever train and validation left."""
    market = generate_synthetic(sessions=sessions, seed=1, edge=0.0, max_dte=0, strikes_each_side=1)
    s = split_bars(market.bars.index, SplitSpec(train=train, validation=validation, holdout=holdout, embargo_bars=0))
    dates = market.bars.index.date
    count = [len(set(dates[a:b])) for a, b in (s.train, s.validation, s.holdout)]
    half_up = [max(1, int(f * sessions + 0.5)) for f in (validation, holdout)]
    assert count[1:] == half_up and sum(count) == sessions


def test_a_holdout_that_leaves_no_train_session_is_refused() -> None:
    market = generate_synthetic(sessions=3, seed=1, edge=0.0, max_dte=0, strikes_each_side=1)
    with pytest.raises(SpecError, match="too few"):
        split_bars(market.bars.index, SplitSpec(train=0.2, validation=0.3, holdout=0.5, embargo_bars=0))
