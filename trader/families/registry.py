"""Which feature families exist, what each needs from the market, and the joined causal frame of a choice.

Families: `price` (the underlying's bars, `trader.features`; always on), `chain` (the option-chain statistics
the signals read, `trader.chain_features`), and the context families `breadth`, `macro`, `crypto` and
`surface`, whose columns are appended to the predictor's (and, if asked, the regime model's and the exit
model's) inputs. Columns are prefixed by their family name.
"""
from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.families import breadth, crypto, macro, surface
from trader.features import build_features, infer_intraday
from trader.market.base import Market

FAMILIES: tuple[str, ...] = ("price", "chain", "breadth", "macro", "crypto", "surface")
DEFAULT_FAMILIES: tuple[str, ...] = ("price", "chain")
"""What runs used before families existed: bar features for the models, chain statistics for the signals."""
CONTEXT_FAMILIES: dict[str, ModuleType] = {"breadth": breadth, "macro": macro, "crypto": crypto,
                                           "surface": surface}
NEEDS_CONTEXT: tuple[str, ...] = ("breadth", "macro", "crypto")
"""Families that read context series (the others read the bars or the option chains)."""


def missing_inputs(market: Market, family: str) -> list[str]:
    """What the market lacks for a family (empty when it can be built)."""
    if family not in FAMILIES:
        raise DataError(f"unknown feature family '{family}'; known: {', '.join(FAMILIES)}")
    module = CONTEXT_FAMILIES.get(family)
    return module.inputs(market) if module is not None else []


def resolve_families(market: Market, families: Iterable[str],
                     required: dict[str, bool] | None = None) -> tuple[list[str], list[str]]:
    """The families that can be built, and a warning per optional family dropped for missing inputs.

    A required family (the default) with missing inputs raises one DataError naming the family and what is
    missing; with ``required[family] = False`` it is dropped and the warning says why.
    """
    required = required or {}
    used, warnings = [], []
    for family in families:
        missing = missing_inputs(market, family)
        if not missing:
            used.append(family)
        elif required.get(family, True):
            raise DataError(f"feature family '{family}' needs series missing from the data: {', '.join(missing)}"
                            f" (set features.required.{family}: false to drop the family instead)")
        else:
            warnings.append(f"feature family '{family}' dropped: the data lacks {', '.join(missing)}")
    return used, warnings


def context_frame(market: Market, families: Iterable[str], intraday: bool | None = None) -> pd.DataFrame:
    """The context families' columns for every bar (an empty frame when none is chosen)."""
    index = market.bars.index
    chosen = [f for f in families if f in CONTEXT_FAMILIES]
    if not chosen:
        return pd.DataFrame(index=index)
    if intraday is None:
        intraday = infer_intraday(pd.DatetimeIndex(index))
    return pd.concat([CONTEXT_FAMILIES[f].build(market, intraday) for f in chosen], axis=1)


def feature_frame(market: Market, families: Iterable[str], intraday: bool | None = None) -> pd.DataFrame:
    """The price features joined with the chosen context families' columns (row t uses data known at t)."""
    price = build_features(market.bars, intraday=intraday)
    extra = context_frame(market, families, intraday)
    return pd.concat([price, extra], axis=1) if len(extra.columns) else price


def family_of(column: str) -> str:
    """The family a feature column belongs to (by prefix; unprefixed columns are price features)."""
    head = column.split("_", 1)[0]
    return head if head in CONTEXT_FAMILIES else "price"


def column_groups(columns: Iterable[str]) -> dict[str, list[str]]:
    """Feature columns grouped by family, in first-seen order."""
    groups: dict[str, list[str]] = {}
    for col in columns:
        groups.setdefault(family_of(str(col)), []).append(str(col))
    return groups


def context_arrays(market: Market, families: Iterable[str]) -> dict[str, np.ndarray] | None:
    """The context families' columns as per-bar arrays (the exit model's extra inputs); None when none is used."""
    frame = context_frame(market, families)
    if not len(frame.columns):
        return None
    return {str(c): frame[c].to_numpy(dtype=float) for c in frame.columns}
