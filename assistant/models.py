"""Data shared across modules: indexed chunks, file records, the signed-in user, a role's responsibilities."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Chunk:
    id: str
    source: str  # path relative to the corpus root, forward slashes
    title: str
    doc_type: str
    trail: list[str]  # heading trail inside the document
    text: str
    start: int
    end: int
    span_unit: str  # line | page | paragraph | row
    classification: str
    class_rank: int
    kind: str = "section"  # section | risk | soa | row
    register_kind: str = ""  # a register row's register: risk_register, soa, risk_treatment_plan, change_log, ...
    controls: list[str] = field(default_factory=list)  # referenced in this chunk (ids and names)
    doc_controls: list[str] = field(default_factory=list)  # declared for the whole document (front matter)
    legacy_controls: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    owner: str = ""
    review_date: str = ""
    text_hash: str = ""
    doc_hash: str = ""

    @property
    def section(self) -> str:
        return " > ".join([self.title, *self.trail])

    @property
    def span(self) -> str:
        if self.start == self.end:
            return f"{self.span_unit} {self.start}"
        return f"{self.span_unit}s {self.start}–{self.end}"

    def embedding_text(self) -> str:
        """What the embedding model sees: where the passage sits, then the passage."""
        return f"{self.section}\n{self.text}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        return cls(**data)


@dataclass
class FileRecord:
    source: str
    hash: str
    size: int
    title: str
    doc_type: str
    classification: str
    chunk_ids: list[str]
    notes: list[str] = field(default_factory=list)
    owner: str = ""
    review_date: str = ""
    doc_controls: list[str] = field(default_factory=list)
    document_id: str = ""  # the document's own id ("POL-001") from front matter or a "Document ID:" line


@dataclass(frozen=True)
class User:
    """Someone signed in to the app; the role decides the clearance everywhere."""

    username: str
    name: str
    role: str
    job: str = ""  # job title as the documents name it (e.g. "line manager"); preselects My responsibilities


# ---------------------------------------------------------------------------- what the documents assign to a role
@dataclass
class Duty:
    text: str  # verbatim from the passage (list marker removed; a table row as "cell: cell; cell")
    frequency: str  # how often or when ("quarterly", "within 2 working days", "in the first week"); "" if unstated
    chunk: Chunk
    group: str = "other"  # first week | recurring | when it happens | ask someone | other
    quote: str = ""  # the unit exactly as the passage writes it, when `text` shows it otherwise

    @property
    def verbatim(self) -> str:
        """What an answer may quote from the passage (answers quote word for word)."""
        return self.quote or self.text

    @property
    def source(self) -> str:
        return self.chunk.source

    @property
    def section(self) -> str:
        return self.chunk.section


@dataclass
class OwnedItem:
    kind: str  # control | risk
    id: str
    title: str
    detail: str
    chunk: Chunk


@dataclass
class Responsibilities:
    """What the documents assign to one job role (assistant.responsibilities), each line cited."""

    role: str
    duties: list[Duty] = field(default_factory=list)
    owned: list[OwnedItem] = field(default_factory=list)
    controls: list[tuple[str, int]] = field(default_factory=list)  # controls named near the duties, with counts

    @property
    def recurring(self) -> list[Duty]:
        return [d for d in self.duties if d.frequency]

    @property
    def other(self) -> list[Duty]:
        return [d for d in self.duties if not d.frequency]

    def grouped(self) -> dict[str, list[Duty]]:
        """Duties by when they come up, in the order a newcomer meets them (empty groups left out)."""
        order = ("first week", "recurring", "when it happens", "ask someone", "other")
        return {g: ds for g in order if (ds := [d for d in self.duties if d.group == g])}
