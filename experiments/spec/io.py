"""Reading, overriding, validating, hashing and diffing experiment specs.

Specs come from YAML, JSON or TOML files plus `--set path.to.field=value` overrides; every failure is one
sentence naming the source, the field path and what is allowed.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from experiments.spec.model import ExperimentSpec
from trader.errors import SpecError

COSMETIC_FIELDS = ("name", "notes")
ADDED_FIELDS = ("features", "data.context_path", "data.lead_lag", "data.lead_bars")
"""Fields added after specs were first hashed: left out of the canonical form while at their defaults, so
older specs keep their hash (and the runs keyed by it)."""


def describe_validation_error(err: ValidationError, source: str) -> str:
    """Turn a pydantic error into one sentence naming the source, each field path and the rule it broke."""
    parts = []
    for e in err.errors()[:4]:
        path = ".".join(str(p) for p in e["loc"]) or "(spec)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            from experiments.spec.fields import suggest

            close = suggest(path)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            parts.append(f"'{path}' is not a known field{hint}")
        elif e["type"] == "value_error":
            parts.append(msg.removeprefix("Value error, "))
        else:
            value = e.get("input")
            shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
            parts.append(f"{path} = {shown}: {msg[0].lower() + msg[1:]}")
    more = len(err.errors()) - 4
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{source}: " + "; ".join(parts) + tail


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Read a spec file (YAML, JSON or TOML by extension) into a plain dict."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{p}: spec file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{p}: not a text file (it is not UTF-8); a spec is YAML, JSON or TOML text") from None
    except OSError as exc:
        raise SpecError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if "\x00" in text:
        raise SpecError(f"{p}: not a text file (it holds NUL bytes); a spec is YAML, JSON or TOML text")
    import tomllib  # the parsers load with the first file or override read: `gaussian queue show` reads none

    import yaml

    try:
        if p.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif p.suffix == ".json":
            data = json.loads(text)
        elif p.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise SpecError(f"{p}: unknown spec format '{p.suffix}' (use .yaml, .yml, .json or .toml)")
    except (yaml.YAMLError, json.JSONDecodeError, tomllib.TOMLDecodeError, RecursionError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise SpecError(f"{p}: not valid {p.suffix.lstrip('.').upper()}: {first}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{p}: a spec must be a mapping of fields, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one `path.to.field=value` override; the value is read as a YAML scalar or list."""
    if "=" not in text:
        raise SpecError(f"override '{text}' must look like path.to.field=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise SpecError(f"override '{text}' has an empty field path")
    import yaml

    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if raw.strip().lower() in ("none", "null", "~"):
        value = None
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `data` with each override applied (a list of `k=v` strings or a {path: value} dict)."""
    out = copy.deepcopy(data)
    items = overrides.items() if isinstance(overrides, dict) else [
        (".".join(k), v) for k, v in map(parse_override, overrides)
    ]
    for dotted, value in items:
        parts = dotted.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise SpecError(f"override '{dotted}': '{part}' is not a section")
            node = child
        node[parts[-1]] = value
    return out


def validate_spec(data: dict[str, Any], source: str = "spec") -> ExperimentSpec:
    """Validate a dict into an ExperimentSpec, or raise SpecError with one clear sentence."""
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(describe_validation_error(err, source)) from None


def load_spec(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentSpec:
    """Load a spec file (or the defaults when path is None) and apply `--set` overrides."""
    data = read_spec_file(path) if path else {}
    source = str(path) if path else "defaults"
    if overrides:
        data = apply_overrides(data, overrides)
        source += " with --set " + ", ".join(overrides)
    return validate_spec(data, source)


def effective_dict(spec: ExperimentSpec) -> dict[str, Any]:
    """Every field of the spec (defaults included) as sorted JSON-able data without cosmetic fields."""
    data = spec.model_dump(mode="json")
    for field in COSMETIC_FIELDS:
        data.pop(field, None)
    return json.loads(json.dumps(data, sort_keys=True))


def canonical_dict(spec: ExperimentSpec) -> dict[str, Any]:
    """The spec as sorted, normalised JSON-able data without cosmetic fields and without added fields at their
    defaults (see ADDED_FIELDS)."""
    data = effective_dict(spec)
    defaults = effective_dict(ExperimentSpec())
    for dotted in ADDED_FIELDS:
        *parents, last = dotted.split(".")
        node, base = data, defaults
        for part in parents:
            node, base = node[part], base[part]
        if node.get(last) == base.get(last):
            node.pop(last, None)
    return data


def spec_hash(spec: ExperimentSpec) -> str:
    """A stable 16-hex-digit hash of the effective spec: the same experiment gets the same hash."""
    blob = json.dumps(canonical_dict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested sections into {'a.b.c': value}."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and not path.endswith(("weights", "required")):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def spec_diff(base: ExperimentSpec, other: ExperimentSpec) -> dict[str, tuple[Any, Any]]:
    """Fields whose effective values differ: {'path': (base_value, other_value)}."""
    a, b = flatten(effective_dict(base)), flatten(effective_dict(other))
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def spec_schema() -> dict[str, Any]:
    """The JSON schema of ExperimentSpec."""
    return ExperimentSpec.model_json_schema()


def example_yaml() -> str:
    """A commented example spec with every field at its default, each described."""
    schema = ExperimentSpec.model_json_schema()
    defs = schema.get("$defs", {})
    spec = ExperimentSpec().model_dump(mode="json")
    lines = [
        "# gaussian experiment spec: every field at its default.",
        "# Run it with: gaussian run this-file.yaml [--set section.field=value]",
    ]

    def props_of(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            return defs[node["$ref"].split("/")[-1]].get("properties", {})
        if "allOf" in node:
            return props_of(node["allOf"][0])
        return node.get("properties", {})

    def describe(prop: dict[str, Any]) -> str:
        bits = []
        if prop.get("description"):
            bits.append(prop["description"])
        rng = [f"{k}={prop[k]}" for k in ("minimum", "exclusiveMinimum", "maximum") if k in prop]
        for alt in prop.get("anyOf", []):
            rng += [f"{k}={alt[k]}" for k in ("minimum", "exclusiveMinimum", "maximum") if k in alt]
        if "enum" in prop:
            rng.append("one of " + "|".join(map(str, prop["enum"])))
        if rng:
            bits.append("; ".join(rng))
        return "  # " + "; ".join(bits) if bits else ""

    def emit(values: dict[str, Any], props: dict[str, Any], indent: int) -> None:
        for key, value in values.items():
            prop = props.get(key, {})
            pad = "  " * indent
            if isinstance(value, dict) and ("$ref" in prop or "allOf" in prop):
                lines.append(f"{pad}{key}:{describe(prop)}")
                emit(value, props_of(prop), indent + 1)
            else:
                rendered = json.dumps(value) if value is not None else "null"
                lines.append(f"{pad}{key}: {rendered}{describe(prop)}")

    emit(spec, schema["properties"], 0)
    return "\n".join(lines) + "\n"


def check_data_inputs(spec: ExperimentSpec, where: str = "spec") -> None:
    """Refuse now, not at run time, a spec whose data files (source=file) do not exist or do not read as bars or
    option snapshots (a cheap sample through the run's own loader checks: trader.market.files.check_data_file)."""
    from trader.errors import DataError
    from trader.market.files import check_data_file

    d = spec.data
    if d.source != "file":
        return
    for name, value, kind in (("data.path", d.path, "bars"), ("data.options_path", d.options_path, "options")):
        if not value:
            continue
        if not Path(value).expanduser().is_file():
            raise SpecError(f"{where}: {name} {value!r} is not a file (data.source is 'file')")
        try:
            check_data_file(Path(value).expanduser(), kind, tz=d.timezone, underlying=spec.trading.symbol)
        except DataError as exc:
            raise SpecError(f"{where}: {name}: {exc}") from None
