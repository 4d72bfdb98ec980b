"""Answer units: the sentences and list items of a passage, the pieces the grounded composer quotes.

The split is deterministic per passage, so the ingest can embed every unit once per index generation
(assistant/index/sentences.py) and the composer needs no model call at question time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.models import Chunk

SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
LIST_MARK = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*+•]|[a-z][.)])\s+")
UNIT_EMBED_CHARS = 400  # what the model sees of a unit (longer list items are cut for the embedding only)
UNITS_VERSION = 1  # bump when split_units changes: stored unit vectors of older versions are ignored


@dataclass
class Unit:
    text: str  # verbatim from the chunk
    chunk: Chunk
    hit_rank: int
    position: int  # order inside the chunk
    is_item: bool
    score: float = 0.0


def split_units(chunk: Chunk, hit_rank: int = 0) -> list[Unit]:
    units: list[Unit] = []
    pos = 0
    for block in chunk.text.split("\n"):
        block = block.strip()
        if not block:
            continue
        if LIST_MARK.match(block) or " | " in block or chunk.kind in ("row", "soa"):
            units.append(Unit(block, chunk, hit_rank, pos, True))
            pos += 1
            continue
        for sentence in SENTENCE_SPLIT.split(block):
            sentence = sentence.strip()
            if len(sentence) >= 12:
                units.append(Unit(sentence, chunk, hit_rank, pos, False))
                pos += 1
    return units


def unit_embedding_texts(chunk: Chunk) -> list[str]:
    return [u.text[:UNIT_EMBED_CHARS] for u in split_units(chunk)]
