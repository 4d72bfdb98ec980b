"""The documents of the live index that one reader may see (the Corpus page's list), as plain records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant.config import classification_rank


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
