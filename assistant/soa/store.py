"""Provenance store for SoA drafts: generated → edited → approved, who and when (SQLite via SQLAlchemy).

Every change is an append-only event; the latest event of a control is its current text. Where the
events live (``ISMS_DATABASE_URL`` or ``<index>/soa-history.sqlite``) is `assistant.database`'s call. The UI calls
`save_edit` and `approve`; `apply` overlays the stored text and provenance on a freshly generated draft
and warns when the evidence changed since a person edited or approved the text.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String, Text, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from assistant.config import Settings
from assistant.database import SOA_HISTORY_FILE, Base, database_url, open_engine, sqlite_url
from assistant.errors import SoAConflict
from assistant.soa.types import Provenance, SoADraft

STATES = ("generated", "edited", "approved")
_WRITE_LOCK = threading.Lock()  # one version check + write at a time in this process
EDITABLE_FIELDS = ("applicable", "reasons", "status", "owner")


class _EventRow(Base):
    __tablename__ = "soa_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    control_id: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[str] = mapped_column(String(32))
    justification: Mapped[str] = mapped_column(Text, default="")
    fields_json: Mapped[str] = mapped_column(Text, default="{}")
    evidence_json: Mapped[str] = mapped_column(Text, default="[]")
    generator: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(Text, default="")


@dataclass
class SoAEvent:
    """One stored version of a control's SoA text."""

    id: int
    control_id: str
    state: str
    by: str
    at: str
    justification: str
    fields: dict[str, Any] = field(default_factory=dict)
    evidence_ids: list[str] = field(default_factory=list)
    generator: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _event(row: _EventRow) -> SoAEvent:
    return SoAEvent(id=row.id, control_id=row.control_id, state=row.state, by=row.by, at=row.at,
                    justification=row.justification, fields=json.loads(row.fields_json or "{}"),
                    evidence_ids=json.loads(row.evidence_json or "[]"), generator=row.generator, note=row.note)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class SoAStore:
    """Append-only history of SoA texts per control in one database."""

    def __init__(self, path_or_url: Path | str) -> None:
        """An SQLite file path, or any SQLAlchemy URL (e.g. ``postgresql+psycopg://...``)."""
        is_url = isinstance(path_or_url, str) and "://" in path_or_url
        self.url = str(path_or_url) if is_url else sqlite_url(Path(path_or_url))
        self.engine = open_engine(self.url, [_EventRow])

    @staticmethod
    def url_for(settings: Settings) -> str:
        """``ISMS_DATABASE_URL``, else ``soa-history.sqlite`` in the index folder."""
        return database_url(settings, SOA_HISTORY_FILE)

    @classmethod
    def for_settings(cls, settings: Settings) -> SoAStore:
        return cls(cls.url_for(settings))

    def _add(self, control_id: str, state: str, by: str, justification: str, fields: dict[str, Any],
             evidence_ids: list[str], generator: str, note: str, expected_version: int | None = None) -> SoAEvent:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        if not by.strip():
            raise ValueError("who made the change is required")
        unknown = set(fields) - set(EDITABLE_FIELDS)
        if unknown:
            raise ValueError(f"fields {sorted(unknown)} cannot be stored; editable: {', '.join(EDITABLE_FIELDS)}")
        row = _EventRow(control_id=control_id, state=state, by=by.strip(), at=_now(), justification=justification,
                        fields_json=json.dumps(fields), evidence_json=json.dumps(evidence_ids), generator=generator,
                        note=note)
        with _WRITE_LOCK, Session(self.engine) as session, session.begin():
            if expected_version is not None:
                self._check_version(session, control_id, expected_version)
            session.add(row)
            session.flush()
            return _event(row)

    def _check_version(self, session: Session, control_id: str, expected: int) -> None:
        """Inside the writing transaction: the control's newest event must still be `expected` (0 = none).
        PostgreSQL holds a per-control advisory lock until the transaction ends, so two processes cannot
        both pass this check; within one process `_WRITE_LOCK` does the same (also for SQLite)."""
        if session.get_bind().dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(f"soa:{control_id}".encode()).digest()[:8], "big", signed=True)
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        newest = session.scalars(select(_EventRow).where(_EventRow.control_id == control_id)
                                 .order_by(_EventRow.id.desc()).limit(1)).first()
        if (newest.id if newest else 0) != expected:
            who = f" by {newest.by} at {newest.at}" if newest else ""
            raise SoAConflict(f"{control_id} was changed{who} since you opened it; nothing was saved. "
                              "Reload the control, re-read it and apply your change again.")

    def record_generated(self, draft: SoADraft, by: str = "isms-assistant") -> SoAEvent:
        """Store a generated draft as the starting version (optional: editing works without it)."""
        fields = {"applicable": draft.applicable, "reasons": draft.reasons, "status": draft.status, "owner": draft.owner}
        return self._add(draft.control_id, "generated", by, draft.justification, fields,
                         draft.provenance.evidence_ids, draft.provenance.generator, "")

    def save_edit(self, control_id: str, justification: str, by: str, *, fields: dict[str, Any] | None = None,
                  evidence_ids: list[str] | None = None, note: str = "",
                  expected_version: int | None = None) -> SoAEvent:
        """A person's edit of the justification (and optionally applicability, reasons, status, owner).
        `expected_version`: the event id the person's text was based on (0 = nothing stored yet); when the
        control changed since, SoAConflict and nothing is stored (None = no check)."""
        if not justification.strip():
            raise ValueError("the justification is empty")
        latest = self.latest(control_id)
        merged = dict(latest.fields) if latest else {}
        merged.update(fields or {})
        evidence = evidence_ids if evidence_ids is not None else (latest.evidence_ids if latest else [])
        return self._add(control_id, "edited", by, justification.strip(), merged, evidence,
                         latest.generator if latest else "", note, expected_version)

    def approve(self, control_id: str, by: str, *, version: int | None = None, note: str = "") -> SoAEvent:
        """Approve the latest version. Pass the `version` (event id) the approver read: if the text changed
        since, nothing is approved and ValueError says so."""
        latest = self.latest(control_id)
        if latest is None:
            raise ValueError(f"nothing to approve for {control_id}: save or generate a draft first")
        if version is not None and version != latest.id:
            raise SoAConflict(f"{control_id} changed since version {version} (latest is {latest.id} by {latest.by}); "
                              "re-read it first")
        return self._add(control_id, "approved", by, latest.justification, latest.fields, latest.evidence_ids,
                         latest.generator, note, version)

    def history(self, control_id: str) -> list[SoAEvent]:
        """Every stored version of the control, oldest first."""
        with Session(self.engine) as session:
            rows = session.scalars(select(_EventRow).where(_EventRow.control_id == control_id).order_by(_EventRow.id))
            return [_event(r) for r in rows]

    def latest(self, control_id: str) -> SoAEvent | None:
        with Session(self.engine) as session:
            row = session.scalars(select(_EventRow).where(_EventRow.control_id == control_id)
                                  .order_by(_EventRow.id.desc()).limit(1)).first()
            return _event(row) if row else None

    def last_event_id(self) -> int:
        """Id of the newest event of any control (0 when none): it changes with every edit or approval."""
        with Session(self.engine) as session:
            return session.scalar(select(func.max(_EventRow.id))) or 0

    def controls(self) -> list[str]:
        with Session(self.engine) as session:
            return sorted(set(session.scalars(select(_EventRow.control_id))))

    def apply(self, draft: SoADraft) -> SoADraft:
        """Overlay the latest edited/approved version on a freshly generated draft."""
        latest = self.latest(draft.control_id)
        draft.provenance.version = latest.id if latest else 0
        if latest is None or latest.state == "generated":
            return draft
        fresh_evidence = list(draft.provenance.evidence_ids)
        draft.justification = latest.justification
        for name in EDITABLE_FIELDS:
            if name in latest.fields:
                setattr(draft, name, latest.fields[name])
        draft.provenance = Provenance(state=latest.state, by=latest.by, at=latest.at,
                                      generator=latest.generator or "person", evidence_ids=latest.evidence_ids,
                                      index_generation=draft.provenance.index_generation, note=latest.note,
                                      version=latest.id)
        if set(latest.evidence_ids) != set(fresh_evidence):
            draft.warnings.append(f"the evidence changed since this text was {latest.state} on {latest.at}; "
                                  "re-check it against the current documents and risks")
        return draft
