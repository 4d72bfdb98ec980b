"""Answer and citation objects (the `ask --json` contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Citation:
    n: int
    source: str
    section: str
    text: str
    score: float
    span: str = ""
    chunk_id: str = ""
    quotes: list[str] = field(default_factory=list)  # the exact units the answer took from this passage

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "source": self.source, "section": self.section, "text": self.text,
                "score": round(self.score, 4), "span": self.span}


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)
    closest: list[dict[str, str]] = field(default_factory=list)  # shown when abstaining
    retrieved_sources: list[str] = field(default_factory=list)  # ranked distinct documents retrieved, cited first
    timings_ms: dict[str, float] = field(default_factory=dict)
    answerer: str = "grounded"
    fallback_reason: str | None = None
    notice: str | None = None
    duties_of: str | None = None  # a role question: the job role whose duties the answer lists

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "controls": self.controls,
            "risks": self.risks,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "answerer": self.answerer,
        }
        if self.closest:
            out["closest"] = self.closest
        if self.fallback_reason:
            out["fallback_reason"] = self.fallback_reason
        if self.notice:
            out["notice"] = self.notice  # why the answer fell back, or what verification removed
        return out
