"""Report text and idea titles are untrusted: holdout mentions are cut out of them and the prompt fences them.

Reports are written by code, but their free text (findings, notes, excerpts) and idea titles can carry anything a
run, a person or an earlier model put there, an injected instruction included. Two defences:
- `scrub_text` drops every sentence that mentions the holdout (in any spelling: holdout, hold-out, hold out),
  so a holdout figure never reaches the agent through prose, as `scrub_holdout` keeps it out through keys;
- the user prompt renders every such string through the `untrusted` filter (`fence`): inside a
  <untrusted>...</untrusted> fence the system prompt declares to be data, never instructions; a fence marker
  inside the text itself is neutralised so the text cannot close its fence.
"""
from __future__ import annotations

import re
from typing import Any

HOLDOUT_TEXT = re.compile(r"hold[\s_\-]*out", re.IGNORECASE)
REMOVED = "[a sentence about the sealed split was removed]"
_BOUNDARY = re.compile(r"(?<=[.;!?])\s+|\n+")
_FENCE_MARK = re.compile(r"<\s*/?\s*untrusted\s*>", re.IGNORECASE)


def mentions_holdout(text: str) -> bool:
    """Whether a string mentions the holdout."""
    return bool(HOLDOUT_TEXT.search(text))


def scrub_text(text: str) -> str:
    """The text without the sentences that mention the holdout (a note says something was removed)."""
    if not mentions_holdout(text):
        return text
    kept = [s for s in _BOUNDARY.split(text) if s.strip() and not mentions_holdout(s)]
    body = " ".join(s.strip() for s in kept)
    return f"{body} {REMOVED}".strip()


def scrub_strings(obj: Any) -> Any:
    """A copy of `obj` with every string (at any depth, keys excepted) passed through `scrub_text`."""
    if isinstance(obj, str):
        return scrub_text(obj)
    if isinstance(obj, dict):
        return {k: scrub_strings(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_strings(v) for v in obj]
    return obj


def fence(text: Any) -> str:
    """Untrusted text for the prompt: scrubbed, fence markers neutralised, inside <untrusted>...</untrusted>."""
    clean = _FENCE_MARK.sub("[fence]", scrub_text(str(text)))
    return f"<untrusted>{clean}</untrusted>"
