"""The audit trail: who asked what of the ISMS, every SoA edit, approval and export, every sign-in.

ISO/IEC 27001 A.8.15 asks any system holding confidential information to log who did what; this is that
log for the assistant. One row per event in the ``audit_events`` table of the app's database
(`assistant.database`: ``ISMS_DATABASE_URL``, else ``app.db`` in the index folder).

Writing never blocks or fails the thing being logged: `AuditTrail.record` puts the event on a queue and one
background thread per process writes it. A broken or unreachable database logs an error (and counts the
event in `failed`); the answer has already been given. `flush` waits until everything queued is written
(tests, the load benchmark, and process exit).

Settings: ``ISMS_AUDIT_TRAIL`` (on by default), ``ISMS_AUDIT_QUESTIONS`` — ``full`` keeps the question
text, ``hash`` keeps only its SHA-256 (the same question asked twice is still recognisable), ``off`` keeps
neither — and ``ISMS_AUDIT_RETENTION_DAYS`` (rows older than that are deleted; 0 keeps them forever).
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import io
import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Boolean, DateTime, Integer, String, Text, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from assistant.answer.types import Answer
from assistant.database import FEEDBACK_FILE, Base, database_url, open_engine
from assistant.feedback import answer_class_rank, answer_sources
from assistant.models import Chunk

log = logging.getLogger(__name__)

QuestionMode = Literal["full", "hash", "off"]
EVENTS = ("question", "soa_edit", "soa_approve", "soa_export", "sign_in", "sign_in_failed", "sign_out")
CSV_COLUMNS = ("time", "user", "role", "event", "question", "question_sha256", "sources", "abstained",
               "answerer", "detail")
MAX_QUESTION_CHARS = 4000
MAX_QUEUED = 100_000  # events waiting for a database that is down; beyond this they are dropped and counted
PURGE_EVERY = timedelta(hours=6)


class AuditRow(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # UTC
    user: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text, default="")
    question_sha256: Mapped[str] = mapped_column(String(64), default="")
    sources: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of cited (or closest) sources
    abstained: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # questions only
    answerer: Mapped[str] = mapped_column(String(50), default="")
    detail: Mapped[str] = mapped_column(Text, default="")  # e.g. "5.15 approved", "xlsx, 93 controls"
    max_class_rank: Mapped[int] = mapped_column(Integer, default=0)  # highest classification it shows


@dataclass
class AuditEvent:
    """One logged event, as recorded and as reported."""

    user: str
    role: str
    event: str
    question: str = ""
    sources: list[str] = field(default_factory=list)
    abstained: bool | None = None
    answerer: str = ""
    detail: str = ""
    max_class_rank: int = 0
    question_sha256: str = ""
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        """The `isms-assistant audit --json` line: {time, user, role, event, question, sources, abstained, ...}."""
        return {"time": _iso(self.time), "user": self.user, "role": self.role, "event": self.event,
                "question": self.question, "sources": self.sources, "abstained": self.abstained,
                "question_sha256": self.question_sha256, "answerer": self.answerer, "detail": self.detail}


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite returns naive datetimes; they were stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def question_fields(question: str, mode: QuestionMode) -> tuple[str, str]:
    """(question text to keep, its SHA-256) under the ``ISMS_AUDIT_QUESTIONS`` mode."""
    if mode == "off" or not question:
        return "", ""
    digest = hashlib.sha256(question.strip().encode("utf-8")).hexdigest()
    return (question.strip()[:MAX_QUESTION_CHARS] if mode == "full" else ""), digest


def _row(event: AuditEvent) -> AuditRow:
    return AuditRow(at=event.time, user=event.user[:200], role=event.role[:100], event=event.event,
                    question=event.question, question_sha256=event.question_sha256,
                    sources=json.dumps(event.sources), abstained=event.abstained, answerer=event.answerer,
                    detail=event.detail, max_class_rank=event.max_class_rank)


def _event(row: AuditRow) -> AuditEvent:
    return AuditEvent(user=row.user, role=row.role, event=row.event, question=row.question,
                      sources=json.loads(row.sources or "[]"), abstained=row.abstained, answerer=row.answerer,
                      detail=row.detail, max_class_rank=row.max_class_rank, question_sha256=row.question_sha256,
                      time=row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC))


class AuditTrail:
    """Queue events from any thread; one background thread per trail writes them in small batches."""

    def __init__(self, url: str, *, questions: QuestionMode = "full", retention_days: int = 365,
                 enabled: bool = True) -> None:
        if questions not in ("full", "hash", "off"):
            raise ValueError(f"ISMS_AUDIT_QUESTIONS must be full, hash or off, not {questions!r}")
        self.url = url
        self.questions: QuestionMode = questions
        self.retention_days = retention_days
        self.enabled = enabled
        self.written = 0
        self.failed = 0
        self._queue: queue.Queue[AuditEvent] = queue.Queue(maxsize=MAX_QUEUED)
        self._engine: Engine | None = None
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._purged_at: datetime | None = None
        self._once: set[object] = set()  # keys of events recorded with `once`

    @classmethod
    def for_settings(cls, settings: Any) -> AuditTrail:  # noqa: ANN401 - assistant.config.Settings
        return cls(database_url(settings, FEEDBACK_FILE), questions=settings.audit_questions,
                   retention_days=settings.audit_retention_days, enabled=settings.audit_trail)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = open_engine(self.url, [AuditRow])
        return self._engine

    # -- writing
    def record(self, event: AuditEvent, once: object = None) -> None:
        """Queue an event (the question text kept, hashed or dropped per the mode). Never raises, never waits.
        With `once`, an event whose key was recorded before in this process is skipped."""
        if not self.enabled or (once is not None and once in self._once):
            return
        if once is not None:
            self._once.add(once)
        try:
            if event.event not in EVENTS:
                raise ValueError(f"unknown audit event {event.event!r}")
            event.question, digest = question_fields(event.question, self.questions)
            event.question_sha256 = event.question_sha256 or digest
            self._start_writer()
            self._queue.put_nowait(event)
        except queue.Full:  # the database has been unreachable for a long time: memory stays bounded
            self.failed += 1
            log.error("audit trail: %d events wait for %s; a %s event was dropped", MAX_QUEUED, self.url, event.event)
        except Exception:  # noqa: BLE001 - the audit trail never fails what it logs
            self.failed += 1
            log.exception("audit trail: could not queue a %s event", event.event)

    def _start_writer(self) -> None:
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_forever, name="audit-trail", daemon=True)
                self._writer.start()
                atexit.register(self.flush, 5.0)

    def _write_forever(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 200:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
                self.written += len(batch)
            except Exception:  # noqa: BLE001 - a broken database logs, the app goes on
                self.failed += len(batch)
                log.exception("audit trail: %d event(s) could not be written to %s", len(batch), self.url)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _write(self, batch: list[AuditEvent]) -> None:
        with Session(self.engine) as session, session.begin():
            session.add_all(_row(event) for event in batch)
        now = datetime.now(UTC)
        if self.retention_days > 0 and (self._purged_at is None or now - self._purged_at > PURGE_EVERY):
            self.purge(now)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event is written (or failed); False when `timeout` seconds passed first."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def purge(self, now: datetime | None = None) -> int:
        """Delete rows older than the retention period; returns how many."""
        now = now or datetime.now(UTC)
        self._purged_at = now
        if self.retention_days <= 0:
            return 0
        cutoff = now - timedelta(days=self.retention_days)
        with Session(self.engine) as session, session.begin():
            return session.execute(delete(AuditRow).where(AuditRow.at < cutoff)).rowcount or 0

    # -- reading
    def events(self, max_rank: int, *, since: datetime | None = None, user: str | None = None,
               event: str | None = None, limit: int = 10_000) -> list[AuditEvent]:
        """Newest first, only events that show nothing above `max_rank`."""
        query = select(AuditRow).where(AuditRow.max_class_rank <= max_rank)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        if user:
            query = query.where(AuditRow.user == user)
        if event:
            query = query.where(AuditRow.event == event)
        query = query.order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
        with Session(self.engine) as session:
            return [_event(row) for row in session.scalars(query)]


def question_event(answer: Answer, user: str, role: str, chunks_by_id: dict[str, Chunk]) -> AuditEvent:
    """The event of one answered (or abstained) question: its cited or closest sources, and the highest
    classification it shows (so the trail is read within clearance like feedback)."""
    return AuditEvent(user=user, role=role, event="question", question=answer.question,
                      sources=answer_sources(answer), abstained=answer.abstained, answerer=answer.answerer,
                      max_class_rank=answer_class_rank(answer, chunks_by_id))


def events_csv(events: list[AuditEvent]) -> str:
    """The events as CSV (one row each, sources joined with "; ")."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in events:
        row = e.to_json()
        writer.writerow([_cell(v) for v in (
            row["time"], e.user, e.role, e.event, e.question, e.question_sha256, "; ".join(e.sources),
            "" if e.abstained is None else str(e.abstained).lower(), e.answerer, e.detail)])
    return out.getvalue()


def _cell(value: str) -> str:
    """A spreadsheet never runs a cell as a formula: text starting with = + - @ gets a leading quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
