"""Domain objects of trading: orders, fills, positions and closed trades. They never know where data came from."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import Enum

import pandas as pd


class Side(str, Enum):
    """Order side for a long-premium options trader."""

    BUY_TO_OPEN = "buy_to_open"
    SELL_TO_CLOSE = "sell_to_close"


class ExitReason(str, Enum):
    """Why a position was closed; stable codes so analysis rules match."""

    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TRAILING_STOP = "trailing_stop"
    MAX_HOLD = "max_hold"
    END_OF_DAY = "end_of_day"
    BEFORE_EXPIRY = "before_expiry"
    EXPIRY_ITM = "expiry_itm"
    EXPIRY_OTM = "expiry_otm"
    MODEL_EXIT = "model_exit"
    KILL_SWITCH = "kill_switch"
    END_OF_DATA = "end_of_data"


@dataclass(frozen=True)
class EntryContext:
    """What the strategy knew when it entered: kept on the trade for the analysis."""

    strategy: str
    direction: int  # +1 call (bullish), -1 put (bearish)
    confidence: float = 0.5
    regime: int | None = None  # combined 27-state label, None when no regime model
    regime_trend: int | None = None
    regime_volatility: int | None = None
    regime_liquidity: int | None = None
    signals: tuple[str, ...] = ()  # names of the signals that passed
    predicted_return: float | None = None
    predicted_std: float | None = None


@dataclass(frozen=True)
class Intent:
    """A strategy's wish: open a position in one direction, or close one it holds."""

    action: str  # "open" or "close"
    direction: int = 0  # +1 call, -1 put (open)
    position_id: int | None = None  # which position (close)
    reason: ExitReason | None = None  # why (close)
    context: EntryContext | None = None  # what it knew (open)


@dataclass
class Order:
    """An order sent to a broker."""

    order_id: int
    symbol: str
    side: Side
    contracts: int
    submitted_at: pd.Timestamp
    tag: str = ""
    status: str = "pending"  # pending | filled | rejected | cancelled
    reject_reason: str = ""


@dataclass(frozen=True)
class Fill:
    """An executed order: price per share of premium (x100 per contract), fees in dollars."""

    order_id: int
    symbol: str
    side: Side
    contracts: int
    price: float
    fees: float
    time: pd.Timestamp


@dataclass
class Position:
    """An open long option position."""

    position_id: int
    symbol: str
    right: str
    strike: float
    expiry: dt.date
    contracts: int
    entry_price: float
    entry_time: pd.Timestamp
    entry_fees: float
    context: EntryContext
    entry_underlying: float = 0.0
    entry_iv: float = float("nan")
    entry_dte: int = 0
    peak_price: float = 0.0
    last_mark: float = 0.0
    closing: bool = False  # an exit order is in flight
    entry_bar: int = 0

    def unrealized_pct(self, mark: float) -> float:
        """Unrealised return of the premium in percent."""
        return (mark / self.entry_price - 1.0) * 100.0 if self.entry_price > 0 else 0.0


@dataclass(frozen=True)
class Trade:
    """A closed round trip, with what the strategy knew at entry."""

    trade_id: int
    symbol: str
    right: str
    strike: float
    expiry: dt.date
    contracts: int
    entry_time: pd.Timestamp
    exit_time: pd.Timestamp
    entry_price: float
    exit_price: float
    fees: float
    pnl: float  # net dollars, fees included
    pnl_pct: float  # net return on premium paid, percent
    exit_reason: ExitReason
    hold_minutes: float
    strategy: str
    direction: int
    confidence: float
    regime: int | None
    regime_trend: int | None
    regime_volatility: int | None
    regime_liquidity: int | None
    signals: tuple[str, ...] = field(default_factory=tuple)
    entry_underlying: float = 0.0
    entry_iv: float = float("nan")
    entry_dte: int = 0
    moneyness: float = 0.0  # ln(strike/underlying) signed so positive = out of the money
    predicted_return: float | None = None
    predicted_std: float | None = None

    def to_record(self) -> dict:
        """A flat dict for Parquet/JSON (enums as their codes, signals joined by commas)."""
        rec = asdict(self)
        rec["exit_reason"] = self.exit_reason.value
        rec["signals"] = ",".join(self.signals)
        rec["expiry"] = pd.Timestamp(self.expiry)
        return rec


TRADE_COLUMNS = list(Trade.__dataclass_fields__)


def trades_frame(trades: list[Trade]) -> pd.DataFrame:
    """Trades as a DataFrame with a stable column order (empty frames keep the columns)."""
    if not trades:
        return pd.DataFrame(columns=TRADE_COLUMNS)
    return pd.DataFrame([t.to_record() for t in trades], columns=TRADE_COLUMNS)
