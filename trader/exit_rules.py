"""Exit layer 1: hard rules (stop loss, take profit, trailing stop, max hold, flat by end of day, expiry)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from trader.domain import ExitReason, Position


@dataclass(frozen=True)
class HardExitRules:
    """Hard exit thresholds; None disables a rule. Percentages are of the premium paid."""

    stop_loss_pct: float | None = 8.0
    take_profit_pct: float | None = 15.0
    trailing_activation_pct: float | None = None
    trailing_distance_pct: float = 5.0
    max_hold_minutes: float | None = 45
    flat_by_eod: bool = True
    eod_minutes_before_close: float = 5
    close_before_expiry_minutes: float | None = None

    def check(
        self, pos: Position, mark: float, held_minutes: float, minutes_to_close: float,
        minutes_to_expiry: float,
    ) -> ExitReason | None:
        """The first rule that fires for a position marked at `mark`, or None to keep holding."""
        pnl = pos.unrealized_pct(mark)
        if self.stop_loss_pct is not None and pnl <= -self.stop_loss_pct:
            return ExitReason.STOP_LOSS
        if self.take_profit_pct is not None and pnl >= self.take_profit_pct:
            return ExitReason.TAKE_PROFIT
        if self.trailing_activation_pct is not None and pos.entry_price > 0:
            peak_gain = (pos.peak_price / pos.entry_price - 1.0) * 100.0
            if peak_gain >= self.trailing_activation_pct:
                giveback = (1.0 - mark / pos.peak_price) * 100.0 if pos.peak_price > 0 else 0.0
                if giveback >= self.trailing_distance_pct:
                    return ExitReason.TRAILING_STOP
        if self.max_hold_minutes is not None and held_minutes >= self.max_hold_minutes:
            return ExitReason.MAX_HOLD
        if self.close_before_expiry_minutes is not None and minutes_to_expiry <= self.close_before_expiry_minutes:
            return ExitReason.BEFORE_EXPIRY
        if self.flat_by_eod and minutes_to_close <= self.eod_minutes_before_close:
            return ExitReason.END_OF_DAY
        return None


_MARGIN = 1e-9  # relative widening of every threshold: far beyond the rounding of check's arithmetic


@dataclass(frozen=True, slots=True)
class ExitTrigger:
    """Where one position's hard rules can first fire, widened a little: no rule fires at a bar whose mark is
    above `stop_mark` and below `take_mark`, whose peak is below `trail_peak` and whose end is before `time_ns`
    (the end-of-day rule is the engine's per-bar flag). The engine runs `check` only at bars that cross one of
    these, so a bar without a crossing costs four comparisons; `check` alone decides what fires."""

    stop_mark: float
    take_mark: float
    trail_peak: float
    time_ns: int


def exit_trigger(rules: HardExitRules, pos: Position, expiry_ns: int) -> ExitTrigger:
    """The trigger of `pos` under `rules` (expiry_ns: its expiry's close). Every threshold is the exact one moved
    by _MARGIN towards firing, so rounding can never hide a bar where check fires."""
    e = pos.entry_price
    if type(rules) is not HardExitRules or not (e > 0 and math.isfinite(e)):
        return ExitTrigger(math.inf, -math.inf, -math.inf, -(2**63))  # a subclass's rules, or no premium: every bar
    stop, take, trail = -math.inf, math.inf, math.inf
    if rules.stop_loss_pct is not None:
        stop = e * (1.0 - rules.stop_loss_pct / 100.0)
        stop += abs(stop) * _MARGIN + 1e-12
    if rules.take_profit_pct is not None:
        take = e * (1.0 + rules.take_profit_pct / 100.0)
        take -= abs(take) * _MARGIN + 1e-12
    if rules.trailing_activation_pct is not None:
        trail = e * (1.0 + rules.trailing_activation_pct / 100.0)
        trail -= abs(trail) * _MARGIN + 1e-12
    time_ns = 2**63 - 1
    if rules.max_hold_minutes is not None:
        time_ns = min(time_ns, pos.entry_time.value + _ns_floor(rules.max_hold_minutes * (1.0 - _MARGIN)))
    if rules.close_before_expiry_minutes is not None:
        time_ns = min(time_ns, expiry_ns - _ns_floor(rules.close_before_expiry_minutes * (1.0 + _MARGIN)) - 2)
    return ExitTrigger(stop, take, trail, time_ns)


def _ns_floor(minutes: float) -> int:
    """Whole nanoseconds below `minutes` (one fewer, so a threshold never lands after the exact one)."""
    return math.floor(minutes * 60e9) - 1
