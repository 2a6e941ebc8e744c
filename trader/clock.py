"""Clocks: what time it is for the engine, simulated (bar by bar) or wall time (paper and live)."""
from __future__ import annotations

from typing import Protocol

import pandas as pd


class Clock(Protocol):
    """The engine's notion of now: a bar position and its timestamp."""

    def now(self) -> pd.Timestamp:
        """The current time (tz-aware)."""
        ...

    def index(self) -> int:
        """The position of the latest bar that is known now."""
        ...


class BarClock:
    """A simulated clock that stands on one bar of a replayed series at a time and only moves forward."""

    def __init__(self, timestamps: pd.DatetimeIndex, start: int = 0) -> None:
        self._stamps = timestamps
        self._i = start

    def now(self) -> pd.Timestamp:
        """Timestamp of the current bar."""
        return self._stamps[self._i]

    def index(self) -> int:
        """Position of the current bar."""
        return self._i

    def advance_to(self, i: int) -> None:
        """Move to bar i; moving backwards is refused (time never runs back)."""
        if i < self._i:
            raise ValueError(f"clock cannot move back from bar {self._i} to {i}")
        self._i = i


class WallClock:
    """Real time for paper and live trading; the index is the latest bar the feed has received."""

    def __init__(self, tz: str = "America/New_York") -> None:
        self._tz = tz
        self._i = -1

    def now(self) -> pd.Timestamp:
        """Current wall time in the exchange's zone."""
        return pd.Timestamp.now(tz=self._tz)

    def index(self) -> int:
        """Position of the latest received bar."""
        return self._i

    def advance_to(self, i: int) -> None:
        """Record that bar i has arrived."""
        self._i = max(self._i, i)
