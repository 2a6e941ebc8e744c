"""Settings of the LLM-call layer: model, limits, retries, daily cap, price table, and the API key (never serialized)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator

from agents.llm_errors import LLMConfigError
from agents.secret_env import secret_values

DEFAULT_MODEL = "claude-sonnet-4-6"


class ModelPrice(BaseModel):
    """List price of one model in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


# Anthropic list prices (USD per million tokens) at the time of writing; check the pricing page and override
# `prices` in the configuration when they change. A model missing here is charged at the table's highest
# input and output prices, so the daily cap errs on the safe side.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-haiku-4-5": ModelPrice(input_per_mtok=1.0, output_per_mtok=5.0),
    "claude-sonnet-4-5": ModelPrice(input_per_mtok=3.0, output_per_mtok=15.0),
    "claude-sonnet-4-6": ModelPrice(input_per_mtok=3.0, output_per_mtok=15.0),
    "claude-opus-4-5": ModelPrice(input_per_mtok=5.0, output_per_mtok=25.0),
    "claude-opus-4-6": ModelPrice(input_per_mtok=5.0, output_per_mtok=25.0),
}

# Prompt-cache token multipliers on the input price (5-minute cache writes and cache reads).
CACHE_WRITE_MULTIPLIER = 1.25
CACHE_READ_MULTIPLIER = 0.1


class Usage(BaseModel):
    """Token counts reported by one Messages API response."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class LLMSettings(BaseModel):
    """Everything the call layer needs; `api_key` is a SecretStr excluded from every dump and repr."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: str = Field(DEFAULT_MODEL, min_length=1, description="Claude model id sent as `model`.")
    max_tokens: int = Field(4096, ge=1, le=128_000, description="Upper bound on output tokens per call.")
    temperature: float | None = Field(
        None, description="Must stay unset: SDK 2.x and API version 2026-10-21 reject sampling parameters."
    )
    timeout_s: float = Field(120.0, gt=0, description="Total time allowed for one HTTP attempt.")
    connect_timeout_s: float = Field(5.0, gt=0, description="Time allowed to open the connection.")
    max_retries: int = Field(3, ge=0, le=10, description="Retries after the first attempt (429, 5xx, 529, network).")
    backoff_initial_s: float = Field(0.5, ge=0, description="First backoff when the server gives no retry-after.")
    backoff_max_s: float = Field(8.0, ge=0, description="Longest backoff between two attempts.")
    max_retry_wait_s: float = Field(
        60.0, ge=0, description="A retry-after longer than this is not waited for: the call fails at once."
    )
    base_url: str | None = Field(None, description="API base URL; None uses the SDK default (or ANTHROPIC_BASE_URL).")
    daily_cap_usd: float = Field(5.0, ge=0, description="No call starts once today's (UTC) spend reaches this.")
    prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    strict_tool: bool = Field(False, description="Send `strict: true` on the tool (schema-guaranteed inputs).")
    api_key: SecretStr | None = Field(None, exclude=True, repr=False)

    _extra_secrets: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("temperature")
    @classmethod
    def _no_temperature(cls, value: float | None) -> float | None:
        if value is not None:
            raise ValueError(
                "temperature is not supported: the anthropic SDK 2.x has no such argument and API version "
                "2026-10-21 rejects it; leave it unset"
            )
        return value

    @field_validator("prices")
    @classmethod
    def _some_price(cls, value: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        if not value:
            raise ValueError("prices must list at least one model")
        return value

    def price_for(self, model: str | None = None) -> ModelPrice:
        """Price of `model` (default the configured one); an unlisted model gets the table's highest prices."""
        name = model or self.model
        if name in self.prices:
            return self.prices[name]
        return ModelPrice(
            input_per_mtok=max(p.input_per_mtok for p in self.prices.values()),
            output_per_mtok=max(p.output_per_mtok for p in self.prices.values()),
        )

    def cost_usd(self, usage: Usage, model: str | None = None) -> float:
        """US dollars charged for `usage` on `model`, cache writes and reads included."""
        price = self.price_for(model)
        input_equiv = (
            usage.input_tokens
            + CACHE_WRITE_MULTIPLIER * usage.cache_creation_input_tokens
            + CACHE_READ_MULTIPLIER * usage.cache_read_input_tokens
        )
        return (input_equiv * price.input_per_mtok + usage.output_tokens * price.output_per_mtok) / 1_000_000

    def require_api_key(self) -> str:
        """Return the API key, or raise LLMConfigError saying where it should come from."""
        if self.api_key is None or not self.api_key.get_secret_value():
            raise LLMConfigError(
                "No Anthropic API key: set ANTHROPIC_API_KEY in the environment or in the home's .env file."
            )
        return self.api_key.get_secret_value()

    def secret_values(self) -> dict[str, str]:
        """Secrets to mask in anything sent or logged: the API key plus those read from the home's `.env`."""
        found = dict(self._extra_secrets)
        if self.api_key is not None and self.api_key.get_secret_value():
            found["ANTHROPIC_API_KEY"] = self.api_key.get_secret_value()
        return found


def load_llm_settings(
    home: Path | None = None,
    config: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LLMSettings:
    """Build settings from a config mapping, taking the API key from the environment or `<home>/.env`."""
    values = dict(config or {})
    if "api_key" in values:
        raise LLMConfigError(
            "The LLM configuration must not hold api_key; put ANTHROPIC_API_KEY in the environment or .env instead."
        )
    try:
        settings = LLMSettings(**values)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "settings"
        raise LLMConfigError(f"LLM setting {field!r} is invalid: {first['msg']}.") from err
    secrets = secret_values(home, environ)
    key = secrets.get("ANTHROPIC_API_KEY")
    if key:
        settings.api_key = SecretStr(key)
    settings._extra_secrets = {name: value for name, value in secrets.items() if name != "ANTHROPIC_API_KEY"}
    return settings
