"""Rendering the agent's system and user prompts from the Jinja templates in the repository's `prompts/` folder."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from pydantic import BaseModel

from agents.context import AgentContext, assert_no_holdout
from agents.llm_errors import LLMConfigError
from agents.proposal import PROTECTED_EXCEPTIONS, PROTECTED_FIELDS
from agents.search_space import search_space, search_space_lines
from agents.untrusted import fence

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
"""The templates live next to the packages (prompts/ is a data folder, not a package)."""
SYSTEM_TEMPLATE = "system.md.j2"
USER_TEMPLATE = "user.md.j2"
TOOL_NAME = "submit_proposals"
TOOL_DESCRIPTION = ("Submit experiment proposals: each changes fields of the base ExperimentSpec (dotted paths to "
                    "values) and says why. Proposals are data; nothing else is accepted.")


def _json(value: Any) -> str:
    return json.dumps(value, default=str, separators=(", ", ": "))


def environment(prompts_dir: Path | None = None) -> Environment:
    """The Jinja environment over the prompts folder (strict: an unknown name is an error)."""
    folder = Path(prompts_dir) if prompts_dir is not None else PROMPTS_DIR
    if not (folder / SYSTEM_TEMPLATE).is_file() or not (folder / USER_TEMPLATE).is_file():
        raise LLMConfigError(f"The agent's prompt templates are missing from {folder} (expected {SYSTEM_TEMPLATE} "
                             f"and {USER_TEMPLATE}); install gaussian from its source tree.")
    env = Environment(loader=FileSystemLoader(str(folder)), undefined=StrictUndefined, autoescape=False,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["json"] = _json
    env.filters["untrusted"] = fence
    return env


def _render(name: str, prompts_dir: Path | None, **values: Any) -> str:
    try:
        text = environment(prompts_dir).get_template(name).render(**values)
    except TemplateNotFound as err:  # pragma: no cover - environment() checks both files first
        raise LLMConfigError(f"The prompt template {name} is missing.") from err
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return "\n".join(out).strip() + "\n"


def render_system(ctx: AgentContext, spec_model: type[BaseModel], prompts_dir: Path | None = None) -> str:
    """The system prompt: the role, the rules, the protected fields and the search space with base values."""
    fields = search_space_lines(search_space(spec_model, ctx.base))
    return _render(SYSTEM_TEMPLATE, prompts_dir, ctx=ctx, fields=fields, protected=PROTECTED_FIELDS,
                   open_exceptions=PROTECTED_EXCEPTIONS, tool_name=TOOL_NAME)


def render_user(ctx: AgentContext, prompts_dir: Path | None = None) -> str:
    """The user prompt: report digests, the leaderboard, the tried list and the request."""
    assert_no_holdout(ctx)
    return _render(USER_TEMPLATE, prompts_dir, ctx=ctx, tool_name=TOOL_NAME)
