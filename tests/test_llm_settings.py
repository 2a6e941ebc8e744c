"""LLM settings, secrets handling and tool schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, RootModel, SecretStr

from agents.llm_errors import LLMConfigError
from agents.secret_env import read_dotenv, redact, secret_values
from agents.settings import DEFAULT_PRICES, LLMSettings, ModelPrice, Usage, load_llm_settings
from agents.tool_schema import tool_definition, tool_input_schema

KEY = "sk-ant-test-key-abcdefghijklmnop"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No real secrets from the developer's environment."""
    for name in ("ANTHROPIC_API_KEY", "TRADIER_TOKEN", "TRADIER_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_api_key_never_serialized() -> None:
    settings = LLMSettings(api_key=SecretStr(KEY))
    assert "api_key" not in settings.model_dump()
    assert KEY not in settings.model_dump_json() and KEY not in repr(settings) and KEY not in str(settings)
    assert settings.require_api_key() == KEY


def test_key_from_home_dotenv_and_env_wins(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(
        f"# secrets\nexport ANTHROPIC_API_KEY='{KEY}'\nTRADIER_TOKEN=\"tok-123456\"\nOTHER=1 # note\n"
    )
    settings = load_llm_settings(tmp_path, {"model": "claude-haiku-4-5", "daily_cap_usd": 2})
    assert settings.require_api_key() == KEY and settings.model == "claude-haiku-4-5"
    assert settings.secret_values() == {"ANTHROPIC_API_KEY": KEY, "TRADIER_TOKEN": "tok-123456"}
    clean_env.setenv("ANTHROPIC_API_KEY", "sk-from-env-999")
    assert load_llm_settings(tmp_path).require_api_key() == "sk-from-env-999"


def test_no_key_anywhere_is_a_clear_error(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(LLMConfigError, match="ANTHROPIC_API_KEY"):
        load_llm_settings(tmp_path).require_api_key()


@pytest.mark.parametrize(("config", "word"), [
    ({"api_key": "x"}, "api_key"),
    ({"temperature": 0.2}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"modle": "typo"}, "modle"),
    ({"prices": {}}, "prices"),
])
def test_bad_config_names_the_field(tmp_path: Path, clean_env: pytest.MonkeyPatch, config: dict, word: str) -> None:
    with pytest.raises(LLMConfigError, match=word):
        load_llm_settings(tmp_path, config)


def test_prices_and_cost() -> None:
    settings = LLMSettings()
    assert settings.model in DEFAULT_PRICES
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_creation_input_tokens=1_000_000,
                  cache_read_input_tokens=1_000_000)
    assert settings.cost_usd(usage) == pytest.approx(3.0 * (1 + 1.25 + 0.1) + 15.0)
    unknown = settings.price_for("claude-new-model")
    assert unknown == ModelPrice(input_per_mtok=5.0, output_per_mtok=25.0)  # the table's highest: errs safe
    custom = LLMSettings(model="m", prices={"m": ModelPrice(input_per_mtok=1, output_per_mtok=2)})
    assert custom.cost_usd(Usage(input_tokens=500_000, output_tokens=250_000)) == pytest.approx(1.0)


def test_redact_masks_env_and_extra_secrets(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TRADIER_TOKEN", "tok-abcdef")
    clean_env.setenv("TRADIER_ACCOUNT_ID", "test123")  # too short to mask without mangling ordinary text
    text = f"t=tok-abcdef a=test123 k={KEY} x=extra-secret-1"
    out = redact(text, {"MINE": "extra-secret-1"})
    assert out == "t=[REDACTED:TRADIER_TOKEN] a=test123 k=[REDACTED:KEY] x=[REDACTED:MINE]"
    assert redact("sk-ant-api03-AbCdEf_123-xyz") == "[REDACTED:KEY]"


def test_secret_values_and_dotenv(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    assert read_dotenv(tmp_path / "missing") == {}
    (tmp_path / ".env").write_text("TRADIER_ACCOUNT_ID=VA1234\n\n")
    assert secret_values(tmp_path, environ={"TRADIER_TOKEN": "t-9999"}) == {
        "TRADIER_TOKEN": "t-9999", "TRADIER_ACCOUNT_ID": "VA1234"}
    (tmp_path / ".env").write_text("this is not a pair\n")
    with pytest.raises(LLMConfigError, match="line 1"):
        read_dotenv(tmp_path / ".env")


class Inner(BaseModel):
    """Nested."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(ge=1)


class Outer(BaseModel):
    """Top."""

    model_config = ConfigDict(extra="forbid")
    inner: Inner = Field(description="the inner part")
    many: list[Inner] = []
    maybe: Inner | None = None


class Node(BaseModel):
    """Recursive."""

    value: int
    children: list[Node] = []


def test_schema_inlines_defs() -> None:
    schema = tool_input_schema(Outer)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["properties"]["inner"]["description"] == "the inner part"
    assert schema["properties"]["inner"]["properties"]["k"]["minimum"] == 1
    assert schema["properties"]["many"]["items"]["required"] == ["k"]


def test_recursive_schema_keeps_local_refs() -> None:
    schema = tool_input_schema(Node)
    assert "$defs" in schema and "Node" in schema["$defs"]
    assert json.dumps(schema).count('"$ref": "#/$defs/Node"') >= 1


def test_non_object_model_is_refused() -> None:
    class Items(RootModel[list[int]]):
        """A bare list."""

    with pytest.raises(LLMConfigError, match="Items"):
        tool_input_schema(Items)


def test_tool_definition_shape() -> None:
    tool = tool_definition("t", "desc", Inner, strict=True)
    assert set(tool) == {"name", "description", "input_schema", "strict"}
