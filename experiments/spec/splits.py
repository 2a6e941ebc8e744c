"""Time splits: train, validation and a sealed holdout by session, with an embargo between them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trader.errors import SpecError

if TYPE_CHECKING:
    from experiments.spec.model import SplitSpec


@dataclass(frozen=True)
class Splits:
    """Bar ranges [start, end) of each split; embargoed bars belong to none."""

    train: tuple[int, int]
    validation: tuple[int, int]
    holdout: tuple[int, int]

    def as_dict(self, stamps: pd.DatetimeIndex) -> dict[str, dict[str, str | int]]:
        """Start/end timestamps and bar counts of train and validation (the holdout's are not reported)."""
        out: dict[str, dict[str, str | int]] = {}
        for name in ("train", "validation"):
            a, b = getattr(self, name)
            out[name] = {"start": str(stamps[a]), "end": str(stamps[b - 1]), "bars": b - a}
        return out


def split_bars(stamps: pd.DatetimeIndex, spec: SplitSpec) -> Splits:
    """Split by whole sessions into train / validation / holdout, dropping `spec.embargo_bars` after each boundary.

    Validation and the holdout each get their fraction of the sessions rounded half up (at least one session);
    train takes what rounding leaves. The embargo then drops bars from the start of validation and of the holdout.
    """
    dates = np.array(stamps.date)
    sessions = sorted(set(dates))
    n = len(sessions)
    n_val, n_hold = (max(1, math.floor(f * n + 0.5 + 1e-9)) for f in (spec.validation, spec.holdout))
    n_train = n - n_val - n_hold
    embargo_bars = spec.embargo_bars
    if n_train < 1:
        raise SpecError(f"{n} sessions are too few to split into train ({n_train}), validation ({n_val}) and "
                        f"holdout ({n_hold})")
    first_val = sessions[n_train]
    first_hold = sessions[n_train + n_val]
    a = int(np.argmax(dates >= first_val))
    b = int(np.argmax(dates >= first_hold))
    total = len(stamps)
    val_start = min(a + embargo_bars, b)
    hold_start = min(b + embargo_bars, total)
    if b - val_start < 10:
        raise SpecError(
            f"the validation split has {b - val_start} bars after the embargo of {embargo_bars}: "
            "lower splits.embargo_bars or give validation more sessions"
        )
    return Splits(train=(0, a), validation=(val_start, b), holdout=(hold_start, total))
