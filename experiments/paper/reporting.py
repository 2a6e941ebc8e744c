"""Wiring a paper session to a Data Manager: the `data_manager:` settings of paper.yaml (or --report-to), and
the hooks that report the promoted run's spec, every closed trade and the end-of-day metrics through a
BotReporter."""
from __future__ import annotations

import getpass
import logging
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from experiments.paper.guard import CONFIG_FILE
from experiments.paper.reporter import BotReporter
from experiments.spec.io import spec_hash
from trader.errors import SpecError

log = logging.getLogger("gaussian.paper")
OUTBOX = "datamanager-outbox.sqlite"
KEY_ENV = "DATA_MANAGER_API_KEY"
ADMIN_ENV = "DATA_MANAGER_ADMIN_TOKEN"


class DataManagerSettings(BaseModel):
    """paper.yaml's `data_manager:` section; keys may come from DATA_MANAGER_API_KEY / DATA_MANAGER_ADMIN_TOKEN
    instead of the file."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    base_url: str | None = None
    api_key: str | None = Field(None, repr=False)
    admin_token: str | None = Field(None, repr=False)
    name: str | None = Field(None, max_length=64)
    owner: str | None = Field(None, max_length=64)
    flush_seconds: float = Field(5.0, ge=0, description="at the end of a session, wait this long for the outbox")


def load_settings(home: Path, report_to: str | None = None) -> DataManagerSettings:
    """The reporter settings: paper.yaml's `data_manager:` section, the environment's keys, then --report-to
    (which turns reporting on)."""
    path = home / CONFIG_FILE
    doc: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SpecError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        section = loaded.get("data_manager") if isinstance(loaded, dict) else None
        if section is not None and not isinstance(section, dict):
            raise SpecError(f"{path}: data_manager must be a mapping (enabled, base_url, api_key)")
        doc = dict(section or {})
    try:
        settings = DataManagerSettings.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        raise SpecError(f"{path}: field 'data_manager.{field}' {err['msg'].lower()}") from None
    settings.api_key = settings.api_key or os.environ.get(KEY_ENV) or None
    settings.admin_token = settings.admin_token or os.environ.get(ADMIN_ENV) or None
    if report_to:
        settings.enabled, settings.base_url = True, report_to
    if settings.enabled and not settings.base_url:
        raise SpecError(f"{path}: data_manager.enabled is true but base_url is missing")
    if settings.enabled and not str(settings.base_url).startswith(("http://", "https://")):
        raise SpecError(f"the Data Manager URL {settings.base_url!r} must start with http:// or https://")
    if settings.enabled and not (settings.api_key or settings.admin_token):
        raise SpecError(f"reporting to a Data Manager needs a bot key (data_manager.api_key or {KEY_ENV}) or the "
                        f"admin token to register one (data_manager.admin_token or {ADMIN_ENV})")
    return settings


def _bot_name(settings: DataManagerSettings, spec: Any, config_hash: str) -> str:
    base = settings.name or f"{spec.name or 'gaussian'}-{config_hash}"
    return re.sub(r"[^A-Za-z0-9 _.-]", "-", base).strip(" -_.")[:64] or config_hash


def attach(paper: Any, home: Path, settings: DataManagerSettings) -> BotReporter | None:
    """Start a reporter for the session (None when reporting is off): queue the registration of the session's
    spec and a heartbeat, and report every closed trade the journal records."""
    if not settings.enabled or not settings.base_url:
        return None
    reporter = BotReporter(settings.base_url, home / "paper" / OUTBOX, api_key=settings.api_key,
                           admin_token=settings.admin_token)
    config_hash = spec_hash(paper.spec)
    owner = settings.owner or getpass.getuser()
    reporter.register({"experiment_spec": paper.spec.model_dump(mode="json")}, config_hash,
                      _bot_name(settings, paper.spec, config_hash), re.sub(r"[^A-Za-z0-9 _.-]", "-", owner)[:64])
    reporter.heartbeat("running")
    session = paper.dir.name

    def hear(event: dict[str, Any]) -> None:
        reporter.on_journal_event(event, session)

    paper.journal.listeners.append(hear)
    return reporter.start()


def finish(reporter: BotReporter, paper: Any, doc: dict[str, Any], settings: DataManagerSettings) -> int:
    """Report the session's end-of-day metrics and a heartbeat, give the outbox `flush_seconds` to drain, stop
    the reporter; the number of reports left for the next session."""
    end = pd.Timestamp((doc.get("window") or {}).get("end") or pd.Timestamp.now(tz="UTC")).isoformat()
    values = {**(doc.get("metrics") or {}), "complete": bool(doc.get("complete")), "venue": doc.get("venue")}
    reporter.report_metrics(f"{paper.dir.name}/eod/{end}", end, values)
    reporter.heartbeat("session complete" if doc.get("complete") else "session paused")
    left = reporter.close(settings.flush_seconds)
    if left:
        log.warning("%d Data Manager report(s) wait in the outbox for the next session", left)
    return left
