"""The search space as the agent sees it: every changeable leaf field of the spec model with type, bounds and base value.

The spec model is handed in (the agent never imports the experiment layer); protected fields are left out.
"""
from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from agents.proposal import PROTECTED_EXCEPTIONS, is_protected

COSMETIC_FIELDS = ("name", "notes")
_BOUND_SYMBOLS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "len>="),
                  ("max_length", "len<="))


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], nullable
    return annotation, False


def _submodel(annotation: Any) -> type[BaseModel] | None:
    inner, _ = _unwrap_optional(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _type_name(annotation: Any) -> str:
    inner, nullable = _unwrap_optional(annotation)
    origin = typing.get_origin(inner)
    if origin is Literal:
        text = "one of " + "|".join(str(a) for a in typing.get_args(inner))
    elif origin in (list, tuple):
        args = typing.get_args(inner)
        text = f"list of {_type_name(args[0])}" if args else "list"
    elif origin is dict:
        args = typing.get_args(inner)
        text = f"mapping of name to {_type_name(args[1])}" if len(args) == 2 else "mapping"
    elif isinstance(inner, type):
        text = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}.get(inner.__name__,
                                                                                           inner.__name__)
    else:
        text = str(inner)
    return f"{text} or null" if nullable else text


def _bounds(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        for attr, symbol in _BOUND_SYMBOLS:
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{symbol}{value}")
    return " ".join(parts)


def enum_values(spec_model: type[BaseModel], path: str) -> tuple[Any, ...]:
    """The allowed values of a Literal field given by dotted path (empty when it is not a Literal)."""
    model: type[BaseModel] | None = spec_model
    parts = path.split(".")
    for part in parts[:-1]:
        if model is None or part not in model.model_fields:
            return ()
        model = _submodel(model.model_fields[part].annotation)
    if model is None or parts[-1] not in model.model_fields:
        return ()
    inner, _ = _unwrap_optional(model.model_fields[parts[-1]].annotation)
    return typing.get_args(inner) if typing.get_origin(inner) is Literal else ()


def search_space(spec_model: type[BaseModel], base: Mapping[str, Any] | None = None,
                 prefix: str = "") -> list[dict[str, Any]]:
    """Every changeable leaf field: path, type, bounds, base value and description (protected and cosmetic omitted)."""
    rows: list[dict[str, Any]] = []
    for name, info in spec_model.model_fields.items():
        path = f"{prefix}{name}"
        if not prefix and name in COSMETIC_FIELDS:
            continue
        sub = _submodel(info.annotation)
        if sub is not None:
            if not is_protected(path) or any(ok.startswith(path + ".") for ok in PROTECTED_EXCEPTIONS):
                rows += search_space(sub, base, path + ".")
            continue
        if is_protected(path):
            continue
        rows.append({
            "path": path,
            "type": _type_name(info.annotation),
            "bounds": _bounds(info),
            "base": (base or {}).get(path),
            "description": info.description or "",
        })
    return rows


def search_space_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One compact line per field: `path: type [bounds] (base value) - description`."""
    out = []
    for r in rows:
        line = f"{r['path']}: {r['type']}"
        if r["bounds"]:
            line += f" [{r['bounds']}]"
        line += f" (base {json.dumps(r['base'], default=str)})"
        if r["description"]:
            line += f" - {r['description']}"
        out.append(line)
    return out
