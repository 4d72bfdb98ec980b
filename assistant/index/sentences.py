"""Stored sentence vectors: every answer unit of every passage, embedded once per index generation.

The grounded composer ranks a passage's sentences by cosine similarity to the question (and the
abstention model uses the best one). Embedding them at question time cost most of a first-time answer
(~0.7 s on 2 busy cores), so the ingest embeds them right after the new generation goes live and writes
``sentences.npz`` into the generation folder (atomically: a killed run leaves no file, never half of one).
Units of passages whose text did not change are copied from the previous generation, like chunk vectors.
A generation without the file still answers: the composer embeds what it needs on demand.

File layout (numpy ``.npz``): ``ids`` chunk ids, ``hashes`` their text hashes, ``counts`` units per chunk,
``vectors`` float16 rows in chunk order, ``version`` the unit-splitting version they were made with.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assistant.index.encoders import QueryEncoder
from assistant.models import Chunk
from assistant.text import UNITS_VERSION, passage_units

FILE_NAME = "sentences.npz"
DIMENSION = 384
UNIT_EMBED_CHARS = 400  # what the model sees of a unit (longer list items are cut for the embedding only)


def chunk_units(chunk: Chunk) -> list[tuple[str, bool]]:
    """The answer units of a chunk, (text, is_item), in the order their vectors are stored.

    Register and SoA rows are one unit per line."""
    return passage_units(chunk.text, whole_lines=chunk.kind in ("row", "soa"))


def unit_embedding_texts(chunk: Chunk) -> list[str]:
    return [text[:UNIT_EMBED_CHARS] for text, _ in chunk_units(chunk)]


class SentenceVectors:
    """Unit vectors by chunk id (float16 on disk and in memory; rows are views, not copies)."""

    def __init__(self, by_id: dict[str, np.ndarray], by_hash: dict[str, np.ndarray]) -> None:
        self.by_id = by_id
        self.by_hash = by_hash

    def __len__(self) -> int:
        return len(self.by_id)

    @classmethod
    def empty(cls) -> SentenceVectors:
        return cls({}, {})

    @classmethod
    def load(cls, folder: Path) -> SentenceVectors | None:
        """The generation's stored vectors, or None when absent, unreadable or of another unit version."""
        path = folder / FILE_NAME
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["version"]) != UNITS_VERSION:
                    return None
                ids, hashes = data["ids"].tolist(), data["hashes"].tolist()
                counts, vectors = data["counts"], data["vectors"]
        except (OSError, KeyError, ValueError):
            return None
        by_id: dict[str, np.ndarray] = {}
        by_hash: dict[str, np.ndarray] = {}
        offset = 0
        for cid, text_hash, count in zip(ids, hashes, counts.tolist(), strict=True):
            rows = vectors[offset:offset + count]
            by_id[cid] = rows
            by_hash[text_hash] = rows
            offset += count
        return cls(by_id, by_hash)

    def save(self, folder: Path, chunks: list[Chunk]) -> None:
        """Write the vectors of `chunks` (all must be present) atomically into the generation folder."""
        present = [c for c in chunks if c.id in self.by_id]
        parts = [self.by_id[c.id] for c in present]
        vectors = np.concatenate(parts) if parts else np.zeros((0, DIMENSION), dtype=np.float16)
        fd, tmp = tempfile.mkstemp(prefix=".sentences-", suffix=".npz", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh, version=np.int32(UNITS_VERSION), ids=np.array([c.id for c in present], dtype=str),
                    hashes=np.array([c.text_hash for c in present], dtype=str),
                    counts=np.array([len(p) for p in parts], dtype=np.int32), vectors=vectors.astype(np.float16),
                )
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; the other index files are world-readable
            os.replace(tmp, folder / FILE_NAME)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


ProgressFn = Callable[[str, int, int], None]


def build_sentence_vectors(
    folder: Path, chunks: list[Chunk], previous: SentenceVectors | None, embedder: QueryEncoder,
    progress: ProgressFn | None = None, batch: int = 512,
) -> tuple[int, float]:
    """Embed the units of `chunks` not found in `previous` (by text hash) and save them; (embedded, seconds)."""
    started = time.perf_counter()
    store = SentenceVectors.empty()
    todo: list[tuple[Chunk, list[str]]] = []
    for chunk in chunks:
        texts = unit_embedding_texts(chunk)
        old = previous.by_hash.get(chunk.text_hash) if previous else None
        if old is not None and len(old) == len(texts):
            store.by_id[chunk.id] = old
        else:
            todo.append((chunk, texts))
    # identical sentences (boilerplate repeated across documents) are embedded once; similar lengths
    # are batched together (less padding)
    unique = sorted({text for _, texts in todo for text in texts}, key=len)
    vector_of: dict[str, np.ndarray] = {}
    for start in range(0, len(unique), batch):
        part = unique[start:start + batch]
        vector_of.update(zip(part, embedder.encode(part).astype(np.float16), strict=True))
        if progress:
            progress("sentence vectors", start + len(part), len(unique))
    for chunk, texts in todo:
        matrix = np.zeros((len(texts), DIMENSION), dtype=np.float16)
        for j, text in enumerate(texts):
            matrix[j] = vector_of[text]
        store.by_id[chunk.id] = matrix
    store.save(folder, chunks)
    return len(unique), time.perf_counter() - started
