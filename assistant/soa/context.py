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
from assistant.knowledge import Knowledge
from assistant.models import Chunk
from assistant.registers import RegisterResult
from assistant.soa.sentences import token_set

SearchFn = Callable[[str, int], list[Chunk]]


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
    generation: int | None = None
    _sections: dict[str, list[Chunk]] = field(default_factory=dict, init=False, repr=False)
    _token_cache: dict[str, set[str]] = field(default_factory=dict, init=False, repr=False)
    _by_id: dict[str, Chunk] = field(default_factory=dict, init=False, repr=False)
    _idf: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for chunk in self.chunks:
            if chunk.kind == "section":
                self._sections.setdefault(chunk.source, []).append(chunk)

    @classmethod
    def from_index(cls, generation: Generation, knowledge: Knowledge, catalogue: Catalogue, clearance: int,
                   search: SearchFn | None = None) -> SoAContext:
        """From an index generation and its knowledge links (`service.LoadedIndex` holds both)."""
        return cls(
            catalogue=catalogue, chunks=generation.chunks, files=dict(generation.manifest.get("files", {})),
            registers=list(generation.registers), knowledge=knowledge, clearance=clearance, search=search,
            generation=generation.number,
        )

    # -- visibility
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
        """An SoA "implementing documents" entry → indexed source (path, file name, or title)."""
        text = name.strip().strip("/").replace("\\", "/")
        if not text:
            return None
        if text in self.files:
            return text
        stem_key = normalise(PurePosixPath(text).stem)
        name_key = normalise(PurePosixPath(text).name)
        for source, record in self.files.items():
            p = PurePosixPath(source)
            if source.endswith("/" + text) or normalise(p.name) == name_key:
                return source
            if normalise(p.stem) == stem_key or normalise(str(record.get("title", ""))) == normalise(text):
                return source
        return None

