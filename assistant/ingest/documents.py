"""One file → chunks with metadata (and typed register records for every register it recognises: risk
register, risk treatment plan, SoA, and the other registers an ISMS keeps, each row a citable chunk)."""

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
from assistant.registers import (
    RegisterResult,
    Table,
    action_text,
    parse_register,
    risk_text,
    soa_text,
    table_row_text,
)


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
    title = inert_markers(meta.infer_title(fm, headings, source, loaded.text))
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
        headings = " ".join(meta.heading_without_section_number(t, catalogue) for t in draft.trail)
        controls, legacy = meta.detect_controls(headings + "\n" + draft.text, catalogue)
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
        doc_controls=doc_controls, document_id=meta.detect_document_id(fm, full_text),
    )
    return ProcessedFile(record=record, chunks=chunks, notes=list(loaded.notes))


def _inert_register_text(register: RegisterResult) -> None:
    """Register cells are quoted in answers and SoA drafts next to real citations: a "[2]" typed into a risk
    title must not read as one (the same rule as document text)."""
    for record in [*register.risks, *register.soa, *register.actions]:
        for name, value in list(record):
            if isinstance(value, str) and _CITATION_MARKER.search(value):
                setattr(record, name, inert_markers(value))
    for row in register.rows:
        row.cells = {k: inert_markers(v) for k, v in row.cells.items()}
        row.key = inert_markers(row.key)


# One chunk's worth of a register row: heading, text, row number, chunk kind, controls, 2013 ids, risks.
RowChunk = tuple[str, str, int, str, list[str], list[str], list[str]]


def _register_rows(register: RegisterResult, catalogue: Catalogue) -> list[RowChunk]:
    """The citable rows of a recognised register (risk rows and SoA rows keep their own chunk kinds)."""
    if register.kind == "risk_register":
        return [(f"{r.risk_id} {r.title}".strip(), risk_text(r, catalogue), r.row, "risk", r.controls,
                 r.legacy_controls, [r.risk_id]) for r in register.risks]
    if register.kind == "soa":
        return [(f"{e.control_id} {e.title}", soa_text(e), e.row, "soa", [e.control_id], [], e.linked_risks)
                for e in register.soa]
    if register.kind == "risk_treatment_plan":
        return [(f"{a.risk_id} action (row {a.row})", action_text(a, catalogue), a.row, "row", a.controls,
                 a.legacy_controls, [a.risk_id]) for a in register.actions]
    rows: list[RowChunk] = []
    for r in register.rows:
        text = table_row_text(r.cells)
        controls, legacy = meta.detect_controls(text, catalogue, names=False)
        controls += [c for c in r.controls if c not in controls]
        heading = r.key if r.key and len(r.key) <= 40 else f"Row {r.row}"
        rows.append((heading, text, r.row, "row", controls, legacy, meta.detect_risks(text)))
    return rows


def _plain_rows(records: list[dict[str, str]], numbers: list[int], catalogue: Catalogue) -> list[RowChunk]:
    rows: list[RowChunk] = []
    for i, rec in enumerate(records):
        text = table_row_text(rec)
        if text:
            row = numbers[i] if i < len(numbers) else i + 2
            controls, legacy = meta.detect_controls(text, catalogue, names=False)
            rows.append((f"Row {row}", text, row, "row", controls, legacy, meta.detect_risks(text)))
    return rows


def _process_table(loaded: LoadedDocument, source: str, doc_hash: str, catalogue: Catalogue) -> ProcessedFile:
    records = loaded.table or []
    register = parse_register(Table(records=records, numbers=loaded.table_rows, overflow=loaded.table_overflow), source)
    classification = "internal"
    if register is not None:
        _inert_register_text(register)
        title, doc_type, register_kind = register.title, "register", register.kind
        rows = _register_rows(register, catalogue)
    else:
        title = Path(source).stem.replace("-", " ").replace("_", " ").strip().capitalize()
        doc_type, register_kind = "table", ""
        rows = _plain_rows(records, loaded.table_rows, catalogue)
    chunks = []
    for i, (heading, text, row, kind, controls, legacy, risks) in enumerate(rows):
        heading, text = inert_markers(heading), inert_markers(text)
        chunks.append(
            Chunk(
                id=_chunk_id(source, doc_hash, i), source=source, title=title, doc_type=doc_type, trail=[heading],
                text=text, start=row, end=row, span_unit="row", classification=classification,
                class_rank=classification_rank(classification), kind=kind, register_kind=register_kind,
                controls=list(controls), legacy_controls=list(legacy), risks=list(risks), roles=meta.detect_roles(text),
                text_hash=sha256_bytes(f"{heading}\n{text}".encode())[:16], doc_hash=doc_hash,
            )
        )
    notes = list(loaded.notes)
    if register is not None and register.errors:
        notes.append(f"{len(register.errors)} row error(s)")
    record = FileRecord(
        source=source, hash=doc_hash, size=0, title=title, doc_type=doc_type, classification=classification,
        chunk_ids=[c.id for c in chunks], notes=notes,
    )
    return ProcessedFile(record=record, chunks=chunks, register=register, notes=notes)


__all__ = ["ProcessedFile", "process_file", "sha256_bytes", "Block"]
