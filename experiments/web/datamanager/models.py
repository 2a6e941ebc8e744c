"""The Data Manager's wire models (pydantic, `extra="forbid"`, no NaN or infinity): what bots send and get back."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:/+-]*$"  # ISO times fit
_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$"
ACTIONS = ("BUY_CALL", "BUY_PUT", "SELL_CALL", "SELL_PUT", "BUY", "SELL")
Scalar = float | int | str | bool | None


class Inbound(BaseModel):
    """A request body: unknown fields and non-finite numbers are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class RegisterIn(Inbound):
    """POST /bots/register (admin token): a bot and its full configuration. A config holding `experiment_spec`
    claims to be an ExperimentSpec and is validated as one; `config_hash` must equal the hash we compute."""

    name: str = Field(min_length=1, max_length=64, pattern=_NAME)
    owner: str = Field(min_length=1, max_length=64, pattern=_NAME)
    config: dict[str, Any]
    config_hash: str = Field(min_length=1, max_length=64)


class RegisterOut(BaseModel):
    """The new bot's id and its API key (shown this once, stored only as a hash)."""

    bot_id: int
    api_key: str
    config_hash: str
    config_kind: str


class TradeIn(Inbound):
    """POST /bots/{id}/trade: one closed (or filled) trade; `client_trade_id` makes retries idempotent."""

    client_trade_id: str = Field(min_length=1, max_length=128, pattern=_ID)
    symbol: str = Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9]+$")
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    quantity: int = Field(ge=1, le=100_000)
    price: float = Field(ge=0)
    pnl: float | None = None
    time: AwareDatetime
    extra: dict[str, Scalar] | None = Field(None, max_length=64)


class MetricsIn(Inbound):
    """POST /bots/{id}/metrics: a named set of numbers at a time (e.g. end-of-day figures), idempotent by id."""

    client_metrics_id: str = Field(min_length=1, max_length=128, pattern=_ID)
    time: AwareDatetime
    values: dict[str, Scalar] = Field(max_length=128)


class HeartbeatIn(Inbound):
    """POST /bots/{id}/heartbeat: alive, with an optional status and the config hash the bot runs."""

    status: str | None = Field(None, max_length=64)
    config_hash: str | None = Field(None, max_length=64)


class Refusal(BaseModel):
    """Every refusal: the HTTP status, the rule broken, the field (when one is to blame) and one sentence."""

    status: int
    rule: str
    field: str | None = None
    message: str
