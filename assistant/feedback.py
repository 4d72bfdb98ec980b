"""Feedback on answers, with who and when: thumbs up/down, comments, and questions the documents don't cover.

Stored through SQLAlchemy where `assistant.database` says: an embedded SQLite file by default
(``<index dir>/app.db``), or any database URL in ``ISMS_DATABASE_URL`` (for example
``postgresql+psycopg://user@host/isms``).

Every abstained question is logged automatically (rating empty) so the ISMS lead sees the gaps in the
documents; answers are logged when someone rates them. Each row remembers the highest classification
among the passages it cites, so a report never shows a reader text above their clearance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from assistant.answer.types import Answer
from assistant.config import Settings
from assistant.database import FEEDBACK_FILE, Base, database_url, open_engine
from assistant.models import Chunk

RATING_UP = 1
RATING_DOWN = 0
MAX_COMMENT_CHARS = 2000


class FeedbackRow(Base):
    __tablename__ = "answer_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # UTC
    user: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, default="")
    abstained: Mapped[bool] = mapped_column(Boolean, default=False)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1 = up, 0 = down, None = not rated
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rated_by: Mapped[str] = mapped_column(String(200), default="")
    sources: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of cited (or closest) sources
    max_class_rank: Mapped[int] = mapped_column(Integer, default=0)  # highest classification cited
    answerer: Mapped[str] = mapped_column(String(50), default="grounded")


@dataclass(frozen=True)
class FeedbackRecord:
    id: int
    created_at: datetime
    user: str
    role: str
    question: str
    answer: str
    abstained: bool
    rating: int | None
    comment: str
    rated_at: datetime | None
    rated_by: str
    sources: list[str]
    max_class_rank: int
    answerer: str

    @property
    def rating_label(self) -> str:
        return {RATING_UP: "up", RATING_DOWN: "down"}.get(self.rating, "") if self.rating is not None else ""


def _record(row: FeedbackRow) -> FeedbackRecord:
    return FeedbackRecord(
        id=row.id, created_at=row.created_at, user=row.user, role=row.role, question=row.question,
        answer=row.answer, abstained=row.abstained, rating=row.rating, comment=row.comment,
        rated_at=row.rated_at, rated_by=row.rated_by, sources=json.loads(row.sources or "[]"),
        max_class_rank=row.max_class_rank, answerer=row.answerer,
    )


def answer_sources(answer: Answer) -> list[str]:
    """The sources an answer cites, or the closest documents when it abstained."""
    if answer.citations:
        return list(dict.fromkeys(c.source for c in answer.citations))
    return [c["source"] for c in answer.closest if c.get("source")]


class FeedbackStore:
    """Record and report feedback. Thread-safe: one short session per call."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = open_engine(url, [FeedbackRow])

    @classmethod
    def for_settings(cls, settings: Settings) -> FeedbackStore:
        return cls(database_url(settings, FEEDBACK_FILE))

    def record(self, *, user: str, role: str, answer: Answer, max_class_rank: int = 0,
               rating: int | None = None, comment: str = "") -> int:
        """Store one answer (with an optional rating); returns its id."""
        if rating not in (None, RATING_UP, RATING_DOWN):
            raise ValueError(f"rating must be {RATING_UP} (up), {RATING_DOWN} (down) or None")
        now = datetime.now(UTC)
        row = FeedbackRow(
            created_at=now, user=user, role=role, question=answer.question, answer=answer.answer,
            abstained=answer.abstained, rating=rating, comment=comment.strip()[:MAX_COMMENT_CHARS],
            rated_at=now if rating is not None else None, rated_by=user if rating is not None else "",
            sources=json.dumps(answer_sources(answer)), max_class_rank=max_class_rank,
            answerer=answer.answerer,
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            return row.id

    def rate(self, feedback_id: int, *, user: str, rating: int | None, comment: str = "") -> None:
        """Set (or change) the rating and comment of a stored answer."""
        if rating not in (None, RATING_UP, RATING_DOWN):
            raise ValueError(f"rating must be {RATING_UP} (up), {RATING_DOWN} (down) or None")
        with Session(self.engine) as session, session.begin():
            row = session.get(FeedbackRow, feedback_id)
            if row is None:
                raise KeyError(f"no feedback with id {feedback_id}")
            row.rating = rating
            row.comment = comment.strip()[:MAX_COMMENT_CHARS]
            row.rated_at = datetime.now(UTC)
            row.rated_by = user

    def get(self, feedback_id: int) -> FeedbackRecord | None:
        with Session(self.engine) as session:
            row = session.get(FeedbackRow, feedback_id)
            return _record(row) if row is not None else None

    def report(self, max_rank: int, *, problems_only: bool = True, limit: int = 1000) -> list[FeedbackRecord]:
        """Newest first: abstained or rated-down answers (or all, if not `problems_only`), within clearance."""
        query = select(FeedbackRow).where(FeedbackRow.max_class_rank <= max_rank)
        if problems_only:
            query = query.where((FeedbackRow.abstained.is_(True)) | (FeedbackRow.rating == RATING_DOWN))
        query = query.order_by(FeedbackRow.created_at.desc(), FeedbackRow.id.desc()).limit(limit)
        with Session(self.engine) as session:
            return [_record(r) for r in session.scalars(query)]

    def counts(self, max_rank: int) -> dict[str, int]:
        rows = self.report(max_rank, problems_only=False, limit=100_000)
        return {
            "total": len(rows),
            "abstained": sum(r.abstained for r in rows),
            "up": sum(r.rating == RATING_UP for r in rows),
            "down": sum(r.rating == RATING_DOWN for r in rows),
        }


def answer_class_rank(answer: Answer, chunks_by_id: dict[str, Chunk]) -> int:
    """Highest classification rank among the passages (or closest documents) an answer shows."""
    ranks = [chunks_by_id[c.chunk_id].class_rank for c in answer.citations if c.chunk_id in chunks_by_id]
    closest = {c.get("source") for c in answer.closest}
    if closest:
        ranks.extend(ch.class_rank for ch in chunks_by_id.values() if ch.source in closest)
    return max(ranks, default=0)
