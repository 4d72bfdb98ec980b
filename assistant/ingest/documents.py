"""One file → chunks with metadata (and typed register records for risk registers / SoAs)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from assistant.catalogue import Catalogue
from assistant.config import classification_rank
from assistant.ingest import metadata as meta
from assistant.ingest.chunker import build_sections, chunk_sections
from assistant.ingest.loaders import Block, LoadedDocument, load_file
from assistant.models import Chunk, FileRecord
from assistant.registers import RegisterResult, parse_register, risk_text, soa_text, table_row_text


@dataclass
class ProcessedFile:
    record: FileRecord
    chunks: list[Chunk]
    register: RegisterResult | None = None
    notes: list[str] = field(default_factory=list)


# "[12]" or "[1, 3]" in a document would read as a citation marker in answers, SoA justifications and the
# LLM's passages (a planted "[99]" is a fake citation): the index stores them as "(12)".
_CITATION_MARKER = re.compile(r"\[(\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*)\]")


def inert_markers(text: str) -> str:
    return _CITATION_MARKER.sub(r"(\1)", text)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _chunk_id(source: str, doc_hash: str, index: int) -> str:
    return hashlib.sha1(f"{source}\0{doc_hash}".encode()).hexdigest()[:16] + f"-{index:04d}"


def process_file(path: Path, source: str, doc_hash: str, catalogue: Catalogue, chunk_chars: int) -> ProcessedFile:
    """Load, section, chunk and annotate one file. Raises LoadError for unreadable input."""
    loaded = load_file(path)
    if loaded.table is not None:
        return _process_table(loaded, source, doc_hash, catalogue)
    return _process_document(loaded, source, doc_hash, catalogue, chunk_chars)


def _process_document(loaded: LoadedDocument, source: str, doc_hash: str, catalogue: Catalogue, chunk_chars: int) -> ProcessedFile:
    fm = loaded.front_matter
    headings = [(b.level, b.text) for b in loaded.blocks if b.kind == "heading"]
    title = inert_markers(meta.infer_title(fm, headings, source))
    full_text = loaded.text
    classification = meta.detect_classification(fm, full_text)
    doc_type = meta.infer_doc_type(fm, title, source)
    doc_controls = meta.front_matter_controls(fm, catalogue)
    owner = str(fm.get("owner", "") or "")
    review_date = str(fm.get("review_date", "") or "")
    sections = build_sections(loaded.blocks, title)
    drafts = chunk_sections(sections, chunk_chars)
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for draft in drafts:
        draft.trail = [inert_markers(t) for t in draft.trail]
        draft.text = inert_markers(draft.text)
        context = " ".join(draft.trail) + "\n" + draft.text
        text_hash = sha256_bytes(context.encode())[:16]
        if text_hash in seen:
            # A repeated passage (boilerplate, a megabyte line of one phrase) is indexed once: thousands of
            # identical vectors break the HNSW graph and starve dense search for every other document.
            continue
        seen.add(text_hash)
        i = len(chunks)
        controls, legacy = meta.detect_controls(context, catalogue)
        chunks.append(
            Chunk(
                id=_chunk_id(source, doc_hash, i), source=source, title=title, doc_type=doc_type, trail=draft.trail,
                text=draft.text, start=draft.start, end=draft.end, span_unit=loaded.span_unit,
                classification=classification, class_rank=classification_rank(classification),
                controls=controls, doc_controls=doc_controls, legacy_controls=legacy,
                risks=meta.detect_risks(draft.text), roles=meta.detect_roles(draft.text), owner=owner,
                review_date=review_date, text_hash=text_hash, doc_hash=doc_hash,
            )
        )
    record = FileRecord(
        source=source, hash=doc_hash, size=0, title=title, doc_type=doc_type, classification=classification,
        chunk_ids=[c.id for c in chunks], notes=list(loaded.notes), owner=owner, review_date=review_date,
        doc_controls=doc_controls,
    )
    return ProcessedFile(record=record, chunks=chunks, notes=list(loaded.notes))


def _inert_register_text(register: RegisterResult) -> None:
    """Register cells are quoted in answers and SoA drafts next to real citations: a "[2]" typed into a risk
    title must not read as one (the same rule as document text)."""
    for record in [*register.risks, *register.soa]:
        for name, value in list(record):
            if isinstance(value, str) and _CITATION_MARKER.search(value):
                setattr(record, name, inert_markers(value))


def _process_table(loaded: LoadedDocument, source: str, doc_hash: str, catalogue: Catalogue) -> ProcessedFile:
    records = loaded.table or []
    register = parse_register(records, source)
    if register is not None:
        _inert_register_text(register)
    title_stem = Path(source).stem.replace("-", " ").replace("_", " ").strip().capitalize()
    classification = "internal"
    if register is not None and register.kind == "risk_register":
        title, doc_type = "Risk register", "register"
        rows = [
            (f"{r.risk_id} {r.title}".strip(), risk_text(r, catalogue), r.row, "risk", r.controls, r.legacy_controls, [r.risk_id])
            for r in register.risks
        ]
    elif register is not None and register.kind == "soa":
        title, doc_type = "Statement of Applicability", "register"
        rows = [
            (f"{e.control_id} {e.title}", soa_text(e), e.row, "soa", [e.control_id], [], e.linked_risks)
            for e in register.soa
        ]
    else:
        title, doc_type = title_stem, "table"
        rows = []
        for i, rec in enumerate(records):
            text = table_row_text(rec)
            if text:
                controls, legacy = meta.detect_controls(text, catalogue, names=False)
                rows.append((f"Row {i + 2}", text, i + 2, "row", controls, legacy, meta.detect_risks(text)))
    chunks = []
    for i, (heading, text, row, kind, controls, legacy, risks) in enumerate(rows):
        heading, text = inert_markers(heading), inert_markers(text)
        chunks.append(
            Chunk(
                id=_chunk_id(source, doc_hash, i), source=source, title=title, doc_type=doc_type, trail=[heading],
                text=text, start=row, end=row, span_unit="row", classification=classification,
                class_rank=classification_rank(classification), kind=kind, controls=list(controls),
                legacy_controls=list(legacy), risks=list(risks), roles=meta.detect_roles(text),
                text_hash=sha256_bytes(f"{heading}\n{text}".encode())[:16], doc_hash=doc_hash,
            )
        )
    notes = list(loaded.notes)
    if register is not None:
        notes.extend(f"{len(register.errors)} row error(s)" for _ in [0] if register.errors)
    record = FileRecord(
        source=source, hash=doc_hash, size=0, title=title, doc_type=doc_type, classification=classification,
        chunk_ids=[c.id for c in chunks], notes=notes,
    )
    return ProcessedFile(record=record, chunks=chunks, register=register, notes=notes)


__all__ = ["ProcessedFile", "process_file", "sha256_bytes", "Block"]
