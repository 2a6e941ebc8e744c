"""Exit layer 1: hard rules (stop loss, take profit, trailing stop, max hold, flat by end of day, expiry)."""
from __future__ import annotations

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
