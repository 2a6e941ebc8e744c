"""Choosing the contract to buy: nearest listed expiry in the DTE window, then the delta or strike target.

Quoters that list their strikes (`strikes(i)`) are searched with scalar quotes, which is two orders of magnitude
cheaper than building a chain frame for every entry; other quoters go through `chain()` and `select_contract`.
"""
from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trader.market.base import OptionQuote
from trader.options import select_contract


@dataclass(frozen=True)
class Choice:
    """A chosen contract with its quote at the decision bar."""

    expiry: dt.date
    strike: float
    right: str
    quote: OptionQuote
    dte: int


def choose_contract(quoter, i: int, day: dt.date, right: str, spot: float, min_dte: int, max_dte: int,
                    target_delta: float | None = None, moneyness: float | None = None) -> Choice | None:
    """The contract `select_contract` would pick from the chain at bar i, found with as few quotes as possible."""
    if not hasattr(quoter, "strikes"):
        return _from_chain(quoter, i, right, spot, min_dte, max_dte, target_delta, moneyness)
    strikes = np.sort(quoter.strikes(i)).tolist()
    if not strikes:
        return None
    for expiry in quoter.expiries(i):
        dte = (expiry - day).days
        if dte < min_dte or dte > max_dte:
            continue
        best = _best_strike(quoter, i, expiry, right, spot, strikes, target_delta, moneyness)
        if best is not None:
            return Choice(expiry, best[0], right, best[1], dte)
    return None


def _best_strike(quoter, i, expiry, right, spot, strikes, target_delta, moneyness):
    """Walk outward from the strike nearest the target: |delta| is monotone in strike, so the distance to the
    target is unimodal and the walk stops as soon as it grows (ties go to the further out-of-the-money strike)."""
    if target_delta is None:
        target_k = spot * (1 + moneyness) if right == "C" else spot * (1 - moneyness)
    else:
        target_k = spot
    start = _nearest(strikes, target_k)
    cache: dict[int, tuple[float, OptionQuote] | None] = {}

    def score(j: int) -> tuple[float, OptionQuote] | None:
        if j not in cache:
            q = quoter.quote(i, expiry, strikes[j], right)
            ok = (q.bid > 0 or q.ask > 0) and (target_delta is None or q.delta == q.delta)
            if not ok:
                cache[j] = None
            elif target_delta is not None:
                cache[j] = (abs(abs(q.delta) - abs(target_delta)), q)
            else:
                cache[j] = (abs(strikes[j] - target_k), q)
        return cache[j]

    candidates = []
    for step in (-1, 1):
        j, prev = start, None
        while 0 <= j < len(strikes):
            sc = score(j)
            if sc is not None:
                if prev is not None and sc[0] > prev + 1e-12:
                    break
                prev = sc[0]
                candidates.append((sc[0], -strikes[j] if right == "C" else strikes[j], strikes[j], sc[1]))
            j += step
    if not candidates:
        return None
    _, _, k, q = min(candidates, key=lambda c: (c[0], c[1]))
    return k, q


def _nearest(strikes: list[float], target: float) -> int:
    """The first index of the strike nearest `target` in a sorted list (what `min` over the distances gives)."""
    j = bisect.bisect_left(strikes, target)
    if j == len(strikes) or (j > 0 and abs(strikes[j - 1] - target) <= abs(strikes[j] - target)):
        j -= 1
    best = abs(strikes[j] - target)
    while j > 0 and abs(strikes[j - 1] - target) == best:
        j -= 1
    return j


def _from_chain(quoter, i, right, spot, min_dte, max_dte, target_delta, moneyness):
    chain = quoter.chain(i, max_dte)
    if chain is None or chain.empty:
        return None
    row = select_contract(chain, right, target_delta=target_delta, moneyness=moneyness, spot=spot,
                          dte_min=min_dte, dte_max=max_dte)
    if row is None:
        return None
    q = OptionQuote(float(row["bid"]), float(row["ask"]), (float(row["bid"]) + float(row["ask"])) / 2,
                    float(row["iv"]), float(row["delta"]), float(row["gamma"]), float(row["theta"]),
                    float(row["vega"]))
    return Choice(pd.Timestamp(row["expiry"]).date(), float(row["strike"]), right, q, int(row["dte"]))
