"""The exit model as the paper loop consults it: bound to the live feed's bars up to the bar being decided.

The exit model reads its per-bar context (trend, realized vol, minutes to the close) at row i of the bars it was
bound to. In a backtest those are the whole market; in paper trading the bars arrive one at a time, so a binding
made at an earlier bar (or the run's own market, bound when the models were loaded) is too short or belongs to
other dates. A position can appear inside a bar (an open order filling, a restart adopting one), so the binding
is renewed at consultation time, whenever it does not already reach bar i of the feed.
"""
from __future__ import annotations

from typing import Any

from trader.live_feed import LiveFeed


class LiveExitModel:
    """Wraps a bindable exit model (`bind(bars)`, `should_exit(...)`) so it always reads the feed up to bar i."""

    def __init__(self, model: Any, feed: LiveFeed) -> None:
        self.model = model
        self.feed = feed
        self.bound_to: int | None = None  # the last bar of the feed the model is bound to

    def should_exit(self, pos: Any, quote: Any, i: int, held_minutes: float, minutes_to_expiry: float) -> bool:
        """The model's verdict at bar i, read from the feed's bars [0, i]."""
        if self.bound_to != i:
            self.model.bind(self.feed.view(i).bars)
            self.bound_to = i
        return bool(self.model.should_exit(pos, quote, i, held_minutes, minutes_to_expiry))

    def __getattr__(self, name: str) -> Any:  # counts, threshold, report: the wrapped model's
        return getattr(self.model, name)
