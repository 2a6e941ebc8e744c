"""Every dotted field path of the ExperimentSpec, and "did you mean" suggestions for an unknown one."""
from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from experiments.spec.model import ExperimentSpec


def _model_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_class(arg)
        if found is not None:
            return found
    return None


@lru_cache(maxsize=1)
def field_paths() -> tuple[str, ...]:
    """All leaf field paths of the spec, e.g. `exits.stop_loss_pct`, `model.training.epochs`."""
    out: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            sub = _model_class(info.annotation)
            if sub is not None:
                walk(sub, f"{prefix}{name}.")
            else:
                out.append(prefix + name)

    walk(ExperimentSpec, "")
    return tuple(out)


def suggest(path: str, n: int = 3) -> list[str]:
    """The known field paths closest to an unknown `path`: by the whole path, then by its last part."""
    paths = field_paths()
    close = difflib.get_close_matches(path, paths, n=n, cutoff=0.6)
    if len(close) < n:
        leaf = path.rsplit(".", 1)[-1]
        by_leaf = {p.rsplit(".", 1)[-1]: p for p in paths}
        for name in difflib.get_close_matches(leaf, list(by_leaf), n=n, cutoff=0.7):
            if by_leaf[name] not in close:
                close.append(by_leaf[name])
    if len(close) < n:
        close += [p for p in paths if p.startswith(path + ".") and p not in close][: n - len(close)]
    return close[:n]
