"""The base spec: the experiment every proposal's changes are applied to and diffed against.

It is `<home>/base_spec.yaml` when that file exists (any subset of fields; the rest keep their defaults),
otherwise the ExperimentSpec defaults.
"""
from __future__ import annotations

from pathlib import Path

from experiments.home import home_dir
from experiments.spec.io import load_spec
from experiments.spec.model import ExperimentSpec

BASE_SPEC_FILE = "base_spec.yaml"


def base_spec_path() -> Path:
    """Where the base spec lives: base_spec.yaml in the home."""
    return home_dir() / BASE_SPEC_FILE


def load_base_spec(path: str | Path | None = None) -> ExperimentSpec:
    """Read the base spec from `path` (default: the home's base_spec.yaml), or the defaults when it is absent."""
    p = Path(path) if path is not None else base_spec_path()
    if p.exists():
        return load_spec(p)
    if path is not None:
        return load_spec(p)  # an explicitly named file that is missing is an error (load_spec says so)
    return ExperimentSpec()
