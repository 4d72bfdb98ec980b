"""The documents of the live index that one reader may see (the Corpus page's list) and one whole document as
that reader may read it (the document view), as plain records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.config import classification_rank
from assistant.models import Chunk


@dataclass(frozen=True)
class IndexedDocument:
    source: str  # path relative to the corpus root
    title: str
    doc_type: str
    classification: str
    owner: str
    review_date: str
    passages: int


def visible_documents(files: dict[str, dict[str, Any]], clearance: int) -> list[IndexedDocument]:
    """The manifest's file records classified at or below `clearance` (unlabelled files count as internal),
    by path."""
    visible = {src: rec for src, rec in files.items()
               if classification_rank(rec.get("classification", "internal")) <= clearance}
    return [IndexedDocument(source=src, title=rec.get("title", ""), doc_type=rec.get("doc_type", ""),
                            classification=rec.get("classification", ""), owner=rec.get("owner", ""),
                            review_date=rec.get("review_date", ""), passages=len(rec.get("chunk_ids", [])))
            for src, rec in sorted(visible.items())]


@dataclass(frozen=True)
class DocumentView:
    """One whole document as a reader may see it: its record, its passages in order, the original file's path."""

    document: IndexedDocument
    passages: list[Chunk]  # the document's passages (sections or register rows) in document order
    path: Path | None  # the original file in the corpus folder, when it is still there


def document_view(files: dict[str, dict[str, Any]], chunks: list[Chunk], corpus_dir: Path, source: str,
                  clearance: int) -> DocumentView | None:
    """The whole document `source` for a reader with `clearance`; None when it is not in the index or above the
    clearance (the two look the same, so a hidden document is never confirmed)."""
    found = next((d for d in visible_documents(files, clearance) if d.source == source), None)
    if found is None:
        return None
    passages = sorted((c for c in chunks if c.source == source and c.class_rank <= clearance),
                      key=lambda c: (c.start, c.id))
    root = corpus_dir.resolve()
    path = (root / source).resolve()
    inside = path.is_relative_to(root) and path.is_file()
    return DocumentView(found, passages, path if inside else None)
