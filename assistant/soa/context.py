"""What SoA drafting and checks read, for one index generation and one clearance: the catalogue, the
sections, the manifest's file records, the registers and their control ↔ risk ↔ SoA links (`Knowledge`),
plus what a role may see, IDF weights of words, and SoA document names resolved to indexed sources."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from assistant.catalogue import Catalogue, normalise
from assistant.config import classification_rank
from assistant.index.store import Generation
from assistant.ingest.metadata import DOCUMENT_ID_VALUE
from assistant.knowledge import Knowledge
from assistant.models import Chunk
from assistant.registers import RegisterResult, SoAEntry
from assistant.soa.drivers import Driver, stated_drivers
from assistant.soa.sentences import token_set

SearchFn = Callable[[str, int], list[Chunk]]
PassageFn = Callable[[str, int], list[tuple[Chunk, float]]]  # (query, top_k) → passages with dense similarity
_STOP = {"and", "of", "the", "for", "a", "an", "to", "in", "on"}
_ID_KEYS = ("document id", "doc id", "document ref", "document reference", "document no", "document number",
            "doc ref", "doc no", "id", "ref", "reference")
_TITLE_KEYS = ("title", "document title", "document name", "name")
_DOC_REGISTER_HINTS = ("version", "next review", "review date", "owner", "approved", "status")
MIN_TITLE_MATCH = 0.8  # title + file-name similarity a register title needs to name a file


@dataclass(frozen=True)
class DocumentId:
    """Where a document id ("POL-001") was found: the document's own text or front matter, or a row of a
    document register (id → title); `source` is the indexed file it names ("" when none is in the corpus)."""

    doc_id: str
    source: str
    how: str  # "document" (its own Document ID line or front matter) | "register"
    title: str = ""
    register_row: Chunk | None = None


def _title_words(text: str) -> set[str]:
    return set(normalise(text).split()) - _STOP


def row_fields(text: str) -> dict[str, str]:
    """A register row chunk ("Document ID: POL-001; Title: …; Owner: …") as normalised header → value."""
    fields: dict[str, str] = {}
    for part in text.split("; "):
        key, sep, value = part.partition(": ")
        if sep and key.strip():
            fields[normalise(key)] = value.strip()
    return fields


def _register_entry(fields: dict[str, str]) -> tuple[str, str] | None:
    """(id, title) when the row is a document register's: an id column named for documents (or a plain id
    column beside version / review / owner columns) holding an id, and a title column."""
    title = next((fields[k] for k in _TITLE_KEYS if fields.get(k)), "")
    for key in _ID_KEYS:
        value = fields.get(key, "").strip().upper()
        if not value or not DOCUMENT_ID_VALUE.match(value) or not title:
            continue
        if "doc" in key or any(h in fields for h in _DOC_REGISTER_HINTS):
            return value, title
    return None


@dataclass
class SoAContext:
    """Everything drafting and checks read, for one index generation and one clearance."""

    catalogue: Catalogue
    chunks: list[Chunk]
    files: dict[str, dict[str, Any]]  # manifest: source → file record
    registers: list[RegisterResult]
    knowledge: Knowledge  # control ↔ risk ↔ SoA links of the generation (every row; check visibility on use)
    clearance: int
    search: SearchFn | None = None
    passages: PassageFn | None = None  # dense-only search with similarities: the last way to find a document
    generation: int | None = None
    _sections: dict[str, list[Chunk]] = field(default_factory=dict, init=False, repr=False)
    _token_cache: dict[str, set[str]] = field(default_factory=dict, init=False, repr=False)
    _by_id: dict[str, Chunk] = field(default_factory=dict, init=False, repr=False)
    _idf: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _drivers: dict[tuple[str, str], list[Driver]] = field(default_factory=dict, init=False, repr=False)
    _doc_ids: dict[str, DocumentId] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for chunk in self.chunks:
            if chunk.kind == "section":
                self._sections.setdefault(chunk.source, []).append(chunk)

    @classmethod
    def from_index(cls, generation: Generation, knowledge: Knowledge, catalogue: Catalogue, clearance: int,
                   search: SearchFn | None = None, passages: PassageFn | None = None) -> SoAContext:
        """From an index generation and its knowledge links (`service.LoadedIndex` holds both)."""
        return cls(
            catalogue=catalogue, chunks=generation.chunks, files=dict(generation.manifest.get("files", {})),
            registers=list(generation.registers), knowledge=knowledge, clearance=clearance, search=search,
            passages=passages, generation=generation.number,
        )

    # -- visibility
    def stated_drivers(self, entry: SoAEntry | None) -> list[Driver]:
        """The drivers an SoA row's justification states in words (risk titles from the register)."""
        if entry is None:
            return []
        key = (entry.control_id, entry.justification)
        if key not in self._drivers:
            titles = {rid: risk.title for rid, risk in self.knowledge.risks.items()}
            self._drivers[key] = stated_drivers(entry.justification, titles)
        return self._drivers[key]

    def visible(self, chunk: Chunk | None) -> bool:
        return chunk is not None and chunk.class_rank <= self.clearance

    def source_rank(self, source: str) -> int | None:
        record = self.files.get(source)
        if record is None:
            return None
        try:
            return classification_rank(str(record.get("classification") or "internal"))
        except ValueError:
            return None

    def source_visible(self, source: str) -> bool:
        rank = self.source_rank(source)
        return rank is not None and rank <= self.clearance

    def chunk(self, chunk_id: str) -> Chunk | None:
        if not self._by_id:
            self._by_id.update((c.id, c) for c in self.chunks)
        return self._by_id.get(chunk_id)

    def tokens(self, chunk: Chunk) -> set[str]:
        """Lexical tokens of a section (heading trail + text), cached per chunk."""
        if chunk.id not in self._token_cache:
            self._token_cache[chunk.id] = token_set(" ".join(chunk.trail) + "\n" + chunk.text)
        return self._token_cache[chunk.id]

    def weight(self, tokens: set[str]) -> float:
        """Sum of inverse document frequencies over the sections (rare words count more)."""
        if not self._idf:
            sections = [c for c in self.chunks if c.kind == "section"]
            df: dict[str, int] = {}
            for chunk in sections:
                for tok in self.tokens(chunk):
                    df[tok] = df.get(tok, 0) + 1
            n = len(sections) + 1
            self._idf.update((tok, math.log(n / (count + 1)) + 0.5) for tok, count in df.items())
            self._idf[""] = math.log(n) + 0.5  # unseen words
        return sum(self._idf.get(t, self._idf[""]) for t in tokens)

    def overlap(self, query: set[str], tokens: set[str]) -> float:
        """IDF-weighted share of the query's words that the tokens contain."""
        total = self.weight(query)
        return self.weight(query & tokens) / total if total else 0.0

    def sections(self, source: str) -> list[Chunk]:
        return self._sections.get(source, [])

    def title_of(self, source: str) -> str:
        record = self.files.get(source) or {}
        return str(record.get("title") or PurePosixPath(source).stem.replace("-", " ").capitalize())

    # -- registers
    def register_source(self, kind: str) -> str | None:
        return next((r.source for r in self.registers if r.kind == kind), None)

    def resolve_document(self, name: str) -> str | None:
        """An SoA "implementing documents" entry → indexed source (path, file name, title, or document id)."""
        text = name.strip().strip("/").replace("\\", "/")
        if not text:
            return None
        if text in self.files:
            return text
        found = self.document_id(text)
        if found is not None and found.source:
            return found.source
        stem_key = normalise(PurePosixPath(text).stem)
        name_key = normalise(PurePosixPath(text).name)
        for source, record in self.files.items():
            p = PurePosixPath(source)
            if source.endswith("/" + text) or normalise(p.name) == name_key:
                return source
            if normalise(p.stem) == stem_key or normalise(str(record.get("title", ""))) == normalise(text):
                return source
        return None


    # -- document ids
    def document_id(self, ref: str) -> DocumentId | None:
        """Where the document id is defined (its document, or a document register row); None when nowhere."""
        if self._doc_ids is None:
            self._doc_ids = self._collect_document_ids()
        return self._doc_ids.get(ref.strip().upper())

    def source_by_title(self, title: str) -> str | None:
        """The indexed file a title names: the best title + file-name word match, if clear enough."""
        words = _title_words(title)
        if not words:
            return None
        scored: list[tuple[float, str]] = []
        for source, record in self.files.items():
            own, stem = _title_words(str(record.get("title") or "")), _title_words(PurePosixPath(source).stem.replace("-", " "))
            score = len(words & own) / len(words | own) if own else 0.0
            score += len(words & stem) / len(words | stem) if stem else 0.0
            scored.append((score, source))
        scored.sort(reverse=True)
        if not scored or scored[0][0] < MIN_TITLE_MATCH or (len(scored) > 1 and scored[1][0] == scored[0][0]):
            return None
        return scored[0][1]

    def _collect_document_ids(self) -> dict[str, DocumentId]:
        ids: dict[str, DocumentId] = {}
        for source, record in self.files.items():
            doc_id = str(record.get("document_id") or "").upper()  # front matter or a "Document ID:" line, at ingest
            if doc_id:
                ids.setdefault(doc_id, DocumentId(doc_id, source, "document", self.title_of(source)))
        for chunk in self.chunks:
            if chunk.kind == "section":
                continue
            entry = _register_entry(row_fields(chunk.text))
            if entry is None:
                continue
            doc_id, title = entry
            known = ids.get(doc_id)
            source = known.source if known else (self.source_by_title(title) or "")
            ids[doc_id] = DocumentId(doc_id, source, known.how if known else "register", title, chunk)
        return ids

    def named_documents(self, text: str) -> list[str]:
        """Indexed documents whose title the text names ("under the Access Management Procedure")."""
        norm = f" {normalise(text)} "
        found: list[str] = []
        for source, record in self.files.items():
            key = normalise(str(record.get("title") or ""))
            if len(key) >= 8 and " " in key and f" {key} " in norm:
                found.append(source)
        return found
