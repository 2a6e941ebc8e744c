"""Secrets: read them from the environment or a home's `.env`, and mask them in any text we log or send."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from agents.llm_errors import EnvFileError

SECRET_NAMES: tuple[str, ...] = ("ANTHROPIC_API_KEY", "TRADIER_TOKEN", "TRADIER_ACCOUNT_ID")
"""Environment variables whose values must never reach a prompt, a log line, a report or a run directory."""

_MIN_SECRET_LEN = 8  # shorter values would mask ordinary words and numbers everywhere
_KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}")  # anything shaped like an Anthropic key
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file (KEY=VALUE lines, `#` comments, optional quotes and `export`); missing file -> {}."""
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise EnvFileError(f"Cannot read the env file {path}: {type(err).__name__}.") from err
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise EnvFileError(f"The env file {path} line {number} is not KEY=VALUE.")
        key, value = match.group(1), match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def secret_values(home: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the known secrets by name, from the environment first and then `<home>/.env`."""
    env = os.environ if environ is None else environ
    file_values = read_dotenv(home / ".env") if home is not None else {}
    found: dict[str, str] = {}
    for name in SECRET_NAMES:
        value = env.get(name) or file_values.get(name)
        if value:
            found[name] = value
    return found


def redact(text: str, extra: Mapping[str, str] | Iterable[str] = ()) -> str:
    """Mask every secret value (from the environment, plus `extra`) and anything shaped like an API key."""
    env = os.environ
    pairs = [(env.get(name, ""), name) for name in SECRET_NAMES]
    if isinstance(extra, Mapping):
        pairs += [(value, name) for name, value in extra.items()]
    else:
        pairs += [(value, "SECRET") for value in extra]
    # Longest first, so a secret that contains another is masked whole.
    for value, name in sorted(pairs, key=lambda p: len(p[0]), reverse=True):
        if value and len(value) >= _MIN_SECRET_LEN and value in text:
            text = text.replace(value, f"[REDACTED:{name}]")
    return _KEY_PATTERN.sub("[REDACTED:KEY]", text)
