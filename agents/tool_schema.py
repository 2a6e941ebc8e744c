"""Turn a pydantic model into a Messages API tool definition (input_schema with local $refs inlined)."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from agents.llm_errors import LLMConfigError

_REF_PREFIX = "#/$defs/"


class _Cycle(Exception):
    """A $ref points back into itself (a recursive model), so it cannot be inlined."""


def _inline(node: Any, defs: dict[str, Any], stack: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        name = ref[len(_REF_PREFIX):]
        if name in stack:
            raise _Cycle(name)
        target = _inline(copy.deepcopy(defs[name]), defs, stack + (name,))
        siblings = {k: _inline(v, defs, stack) for k, v in node.items() if k != "$ref"}
        return {**target, **siblings}
    return {key: _inline(value, defs, stack) for key, value in node.items()}


def tool_input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """JSON schema of `model` for a tool's input_schema, with $defs inlined unless the model is recursive."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", None) or {}
    root_ref = schema.get("$ref")
    if isinstance(root_ref, str) and root_ref.startswith(_REF_PREFIX) and root_ref[len(_REF_PREFIX):] in defs:
        # A recursive model's schema is only a $ref to its own definition: lift that definition to the root.
        schema = {**defs[root_ref[len(_REF_PREFIX):]], **{k: v for k, v in schema.items() if k != "$ref"}}
    if schema.get("type") != "object":
        raise LLMConfigError(
            f"Tool input model {model.__name__} must be an object model (its JSON schema is not of type object)."
        )
    if not defs:
        return schema
    try:
        return _inline(schema, defs, ())
    except _Cycle:
        # Recursive models keep local $refs, which the API accepts ("only local $ref").
        return {**schema, "$defs": defs}


def tool_definition(name: str, description: str, model: type[BaseModel], strict: bool = False) -> dict[str, Any]:
    """The `tools[]` entry for a forced tool whose input is `model`."""
    tool: dict[str, Any] = {"name": name, "description": description, "input_schema": tool_input_schema(model)}
    if strict:
        tool["strict"] = True
    return tool
