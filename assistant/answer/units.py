"""Answer units: the sentences and list items of a passage, the pieces the grounded composer quotes.

The split is deterministic per passage (`assistant.text.passage_units`), so the ingest can embed every
unit once per index generation (assistant/index/sentences.py) and the composer needs no model call at
question time.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.index.sentences import chunk_units
from assistant.models import Chunk


@dataclass
class Unit:
    text: str  # verbatim from the chunk
    chunk: Chunk
    hit_rank: int
    position: int  # order inside the chunk
    is_item: bool
    score: float = 0.0


def split_units(chunk: Chunk, hit_rank: int = 0) -> list[Unit]:
    return [Unit(text, chunk, hit_rank, position, is_item)
            for position, (text, is_item) in enumerate(chunk_units(chunk))]
