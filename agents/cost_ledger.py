"""Append-only JSONL ledger of LLM calls with per-day totals and a hard daily spending cap.

The cap holds with one call in flight too: before sending, a call reserves its maximum cost (its input bound plus
max_tokens at the model's price) in `agent_costs.reserved.json`; a call that could take today's spend past the
cap is not sent. After the answer (whatever its shape) the reservation is settled by the call's ledger line. A
process killed mid-call leaves its reservation standing for the rest of its day: the cap fails closed.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.llm_errors import BudgetExceeded
from trader.errors import StateError

if TYPE_CHECKING:  # loaded by the calls that price or cap: `gaussian status` reads the ledger without them
    from filelock import FileLock

    from agents.settings import LLMSettings

Outcome = Literal["ok", "bad_response", "unavailable", "rejected"]
"""ok: a tool call came back; bad_response: the reply was unusable (still billed); unavailable: network or
retries exhausted; rejected: a 4xx that retrying cannot fix."""

LEDGER_RELATIVE_PATH = Path("runs") / "agent_costs.jsonl"


def usd_text(usd: float) -> str:
    """Dollars as people read them: cents from $1 up, and enough digits below that ($0.003 is not $0.00)."""
    if usd == 0 or abs(usd) >= 1:
        return f"${usd:,.2f}"
    return f"${usd:.2g}" if abs(usd) < 0.01 else f"${usd:.4f}".rstrip("0").rstrip(".")


def max_call_usd(settings: LLMSettings, request_bytes: int) -> float:
    """An upper bound of one call's cost: every byte of the request an input token, plus max_tokens of output."""
    from agents.settings import Usage

    return settings.cost_usd(Usage(input_tokens=request_bytes, output_tokens=settings.max_tokens), settings.model)


def default_ledger_path(home: Path) -> Path:
    """Where a home keeps its LLM cost ledger: `<home>/runs/agent_costs.jsonl`."""
    return Path(home) / LEDGER_RELATIVE_PATH


class CostRecord(BaseModel):
    """One ledger line: one call of the LLM layer, successful or not."""

    model_config = ConfigDict(extra="forbid")

    ts: str = Field(description="UTC time the call ended, ISO 8601.")
    day: str = Field(description="UTC calendar day the spend counts against, YYYY-MM-DD.")
    model: str
    purpose: str = ""
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    cache_creation_input_tokens: int = Field(0, ge=0)
    cache_read_input_tokens: int = Field(0, ge=0)
    usd: float = Field(0.0, ge=0)
    request_id: str | None = None
    outcome: Outcome
    attempts: int = Field(1, ge=0)
    duration_s: float = Field(0.0, ge=0)
    error: str | None = None


class DayTotal(BaseModel):
    """Totals of one UTC day of the ledger."""

    model_config = ConfigDict(extra="forbid")

    day: str
    usd: float = 0.0
    calls: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CostLedger:
    """The cost ledger file; every write is one fsync'ed line under a file lock."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = Path(path)
        self._clock = clock

    @functools.cached_property
    def _lock(self) -> FileLock:
        """The ledger's file lock, made at first use: `gaussian status` on a home without a ledger loads no
        filelock."""
        from filelock import FileLock

        return FileLock(str(self.path) + ".lock")

    def now(self) -> datetime:
        """Current UTC time as the ledger sees it (injectable for tests)."""
        now = self._clock()
        if now.tzinfo is None:
            raise StateError("The cost ledger clock returned a naive datetime; it must be timezone-aware.")
        return now.astimezone(UTC)

    def today(self) -> str:
        """Today's UTC day key, YYYY-MM-DD."""
        return self.now().date().isoformat()

    def record(self, **fields: Any) -> CostRecord:
        """Append one call (`ts` and `day` default to now) and return the stored record."""
        now = self.now()
        fields.setdefault("ts", now.isoformat(timespec="milliseconds"))
        fields.setdefault("day", now.date().isoformat())
        entry = CostRecord(**fields)
        line = entry.model_dump_json() + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    @property
    def reserved_path(self) -> Path:
        """Open reservations of calls in flight: {id: {"day", "usd", "pid", "ts"}}."""
        return self.path.with_name(self.path.stem + ".reserved.json")

    def _reservations(self) -> dict[str, dict[str, Any]]:
        try:
            doc = json.loads(self.reserved_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as err:
            raise StateError(f"The cost reservations file {self.reserved_path} is unreadable ({type(err).__name__}); "
                             "remove it once no agent call is running.") from err
        return doc if isinstance(doc, dict) else {}

    def _write_reservations(self, doc: dict[str, dict[str, Any]]) -> None:
        tmp = self.reserved_path.with_name(f".{self.reserved_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.reserved_path)

    def reserved_today(self) -> float:
        """US dollars held today by calls in flight."""
        with self._lock:
            return sum(float(r.get("usd", 0.0)) for r in self._reservations().values() if r.get("day") == self.today())

    def reserve(self, settings: LLMSettings, usd: float) -> str:
        """Hold `usd` of today's budget for one call, or raise BudgetExceeded when spend, other calls in flight and
        this one could pass the cap (nothing is sent then); returns the reservation id to settle."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            today = self.today()
            spent = self.spent_today()
            held = self._reservations()
            open_usd = sum(float(r.get("usd", 0.0)) for r in held.values() if r.get("day") == today)
            cap = settings.daily_cap_usd
            if spent + open_usd + usd > cap:
                raise BudgetExceeded(
                    f"Daily LLM cap: ${spent:.4f} spent today (UTC)"
                    + (f" and ${open_usd:.4f} held by calls in flight" if open_usd else "")
                    + f"; this call could cost up to ${usd:.4f}, past the cap of {usd_text(cap)} "
                    f"(ledger {self.path}); no call made."
                )
            rid = uuid.uuid4().hex
            held = {k: v for k, v in held.items() if v.get("day") == today}  # yesterday's holds lapse
            held[rid] = {"day": today, "usd": usd, "pid": os.getpid(), "ts": self.now().isoformat(timespec="seconds")}
            self._write_reservations(held)
            return rid

    def settle(self, reservation: str, **fields: Any) -> CostRecord:
        """Record the call's outcome and release its reservation."""
        with self._lock:
            entry = self.record(**fields)
            held = self._reservations()
            if held.pop(reservation, None) is not None:
                self._write_reservations(held)
            return entry

    def records(self) -> list[CostRecord]:
        """Every line of the ledger in order; an unreadable line raises StateError (the cap fails closed)."""
        if not self.path.exists():
            return []
        with self._lock:
            text = self.path.read_text(encoding="utf-8")
        out: list[CostRecord] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append(CostRecord.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError) as err:
                raise StateError(
                    f"The cost ledger {self.path} line {number} is unreadable ({type(err).__name__}); "
                    "fix or remove that line."
                ) from err
        return out

    def daily_totals(self) -> dict[str, DayTotal]:
        """Totals per UTC day, oldest first."""
        totals: dict[str, DayTotal] = {}
        for rec in self.records():
            day = totals.setdefault(rec.day, DayTotal(day=rec.day))
            day.usd += rec.usd
            day.calls += 1
            day.failures += rec.outcome != "ok"
            day.input_tokens += rec.input_tokens
            day.output_tokens += rec.output_tokens
        return dict(sorted(totals.items()))

    def spent_today(self) -> float:
        """US dollars recorded for today (UTC)."""
        return self.daily_totals().get(self.today(), DayTotal(day=self.today())).usd

    def check_budget(self, settings: LLMSettings) -> None:
        """Raise BudgetExceeded when today's spend has reached `settings.daily_cap_usd`."""
        spent = self.spent_today()
        if spent >= settings.daily_cap_usd:
            raise BudgetExceeded(
                f"Daily LLM cap reached: ${spent:.4f} spent today (UTC) of {usd_text(settings.daily_cap_usd)} "
                f"(ledger {self.path}); no call made."
            )

    def status(self, settings: LLMSettings | None = None) -> dict[str, Any]:
        """Summary for `gaussian status`: today's spend, cap, calls, failures, tokens and whether calls are blocked."""
        from agents.settings import LLMSettings

        cfg = settings if settings is not None else LLMSettings()
        totals = self.daily_totals()
        today = totals.get(self.today(), DayTotal(day=self.today()))
        return {
            "day": today.day,
            "spent_today_usd": round(today.usd, 6),
            "daily_cap_usd": cfg.daily_cap_usd,
            "remaining_usd": round(max(cfg.daily_cap_usd - today.usd, 0.0), 6),
            "calls_today": today.calls,
            "failures_today": today.failures,
            "input_tokens_today": today.input_tokens,
            "output_tokens_today": today.output_tokens,
            "blocked": today.usd >= cfg.daily_cap_usd,
            "reserved_usd": round(self.reserved_today(), 6),
            "total_usd": round(sum(d.usd for d in totals.values()), 6),
            "ledger": str(self.path),
        }
