"""The agent's configuration file, `<home>/agent.yaml`: agent settings plus the LLM-call settings, in one flat mapping.

Example (every key optional; the API key never goes here, it comes from ANTHROPIC_API_KEY or the home's .env):

    mode: auto                 # auto (LLM when a key is set, else offline) | llm | offline
    model: claude-sonnet-4-6
    max_tokens: 4096
    proposals_per_call: 3
    daily_cap_usd: 5.0
    reports: 5                 # how many of the latest analysed runs the agent reads
    context_tokens: 6000       # budget of the user prompt (estimated as characters / 4)
    base_url: null             # another API endpoint (a proxy); null: the SDK default
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.llm_errors import EnvFileError, LLMConfigError
from agents.settings import LLMSettings, load_llm_settings

AGENT_CONFIG_FILE = "agent.yaml"
_LLM_KEYS = frozenset(LLMSettings.model_fields) - {"api_key"}


class AgentConfig(BaseModel):
    """What the agent reads and how much it proposes (the LLM-call settings live in LLMSettings)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "llm", "offline"] = Field("auto", description="auto: the LLM when an API key is set")
    proposals_per_call: int = Field(3, ge=1, le=10, description="most proposals one job may submit")
    reports: int = Field(5, ge=0, le=50, description="latest analysed runs read")
    context_tokens: int = Field(6000, ge=500, le=200_000, description="budget of the user prompt (chars / 4)")
    leaderboard_rows: int = Field(15, ge=0, le=200, description="leaderboard rows shown")
    tried_limit: int = Field(60, ge=0, le=2000, description="newest tried items shown")


def read_agent_yaml(path: Path) -> dict[str, Any]:
    """The mapping in an agent.yaml file ({} when it does not exist)."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LLMConfigError(f"{path}: not valid YAML: {first}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LLMConfigError(f"{path}: must be a mapping of settings, got {type(data).__name__}.")
    return data


def split_config(values: Mapping[str, Any], source: str = AGENT_CONFIG_FILE) -> tuple[AgentConfig, dict[str, Any]]:
    """Validate the agent keys and return them with the remaining (LLM) keys; unknown keys are an error."""
    if "api_key" in values:
        raise LLMConfigError(f"{source}: must not hold api_key; put ANTHROPIC_API_KEY in the environment or .env.")
    agent_keys = set(AgentConfig.model_fields)
    unknown = sorted(str(k) for k in values if k not in agent_keys and k not in _LLM_KEYS)
    if unknown:
        raise LLMConfigError(f"{source}: unknown setting {unknown[0]!r} (agent settings: "
                             f"{', '.join(sorted(agent_keys))}; LLM settings: {', '.join(sorted(_LLM_KEYS))}).")
    try:
        config = AgentConfig(**{k: v for k, v in values.items() if k in agent_keys})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        raise LLMConfigError(f"{source}: setting {field!r} is invalid: {first['msg']}.") from None
    return config, {k: v for k, v in values.items() if k in _LLM_KEYS}


def load_agent_config(
    path: Path | None,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[AgentConfig, LLMSettings]:
    """Read agent.yaml (missing: the defaults) into the agent's config and LLM settings with the API key attached."""
    values = read_agent_yaml(path) if path is not None else {}
    config, llm_values = split_config(values, str(path) if path is not None else AGENT_CONFIG_FILE)
    try:
        settings = load_llm_settings(home, llm_values, environ)
    except EnvFileError:
        raise  # names the .env file itself
    except LLMConfigError as err:
        raise LLMConfigError(f"{path}: {err}") from None
    return config, settings
