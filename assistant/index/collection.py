"""Chunk vectors in Chroma: the one module that talks to Chroma.

- `VectorStore`: the Chroma client of one index folder (embedded under `<index>/chroma`, or a `chroma run`
  server when ISMS_CHROMA_HOST is set) and its collections, one per index generation: create, open, and
  remove the ones no generation uses (with the vector folders embedded Chroma leaves behind).
- `ChunkCollection`: one generation's vectors: add, read back by id, count, nearest neighbours (optionally
  filtered by Chroma on classification), HNSW search breadth.
- `DenseSearch`: the k nearest chunks a clearance may see (the clearance rule of dense retrieval).
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sqlite3
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import Settings
from assistant.models import Chunk

CHROMA_DIR = "chroma"  # the embedded Chroma data, under the index folder


def collection_name(settings: Settings, number: int) -> str:
    return f"{settings.collection_prefix}_chunks_g{number:06d}"


# ----------------------------------------------------------------------------------- one collection
class ChunkCollection:
    """One index generation's chunk vectors: a cosine HNSW collection whose ids are the chunk ids, with each
    chunk's source, class_rank and kind as metadata (class_rank is what the filtered query filters on)."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection  # chromadb Collection

    @property
    def name(self) -> str:
        return str(self._collection.name)

    @property
    def search_breadth(self) -> int | None:
        """The HNSW `ef_search` Chroma searches this collection with."""
        return (self._collection.configuration or {}).get("hnsw", {}).get("ef_search")

    def set_search_breadth(self, ef_search: int) -> bool:
        """Bring the collection's HNSW `ef_search` to `ef_search` (an index made before the setting, or
        with another value; persisted by Chroma). True when it changed something."""
        if self.search_breadth == ef_search:
            return False
        self._collection.modify(configuration={"hnsw": {"ef_search": ef_search}})
        return True

    def add(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        self._collection.add(
            ids=[c.id for c in chunks],
            embeddings=vectors,
            metadatas=[{"source": c.source, "class_rank": c.class_rank, "kind": c.kind} for c in chunks],
        )

    def vectors(self, ids: list[str]) -> dict[str, Any]:
        """The stored vectors of these chunk ids (an id the collection does not hold is left out)."""
        got = self._collection.get(ids=ids, include=["embeddings"])
        return dict(zip(got["ids"], got["embeddings"], strict=True))

    def ids(self) -> list[str]:
        return list(self._collection.get(include=[])["ids"])

    def count(self) -> int:
        return int(self._collection.count())

    def nearest(self, vector: np.ndarray, n: int, max_rank: int | None = None) -> list[tuple[str, float]]:
        """The n nearest chunk ids with their cosine similarity, nearest first. With `max_rank`, Chroma
        filters on class_rank (a `where` filter: it scans the metadata of the whole collection)."""
        where = {} if max_rank is None else {"where": {"class_rank": {"$lte": max_rank}}}
        res = self._collection.query(query_embeddings=[vector], n_results=n, include=["distances"], **where)
        return [(cid, 1.0 - float(dist)) for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True)]

    def copy_from(self, source: ChunkCollection, batch: int = 500) -> int:
        """Add every vector of `source` with its metadata (no re-embedding); returns how many it copied."""
        total = source.count()
        for offset in range(0, total, batch):
            got = source._collection.get(include=["embeddings", "metadatas"], limit=batch, offset=offset)
            self._collection.add(ids=got["ids"], embeddings=got["embeddings"], metadatas=got["metadatas"])
        return total


# ----------------------------------------------------------------------------------- the client
def _client(settings: Settings, root: Path) -> Any:
    """Embedded PersistentClient under the index folder, or HttpClient when ISMS_CHROMA_HOST is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_host:
        return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
    return chromadb.PersistentClient(path=str(root / CHROMA_DIR), settings=chroma_settings)


class VectorStore:
    """The Chroma client of one index folder and its per-generation collections."""

    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        self.root = root
        self.client = _client(settings, root)

    def create(self, number: int) -> ChunkCollection:
        """A new cosine HNSW collection for generation `number`. embedding_function=None: we always pass
        vectors, so Chroma never loads (or downloads) its default model. `ef_search` is the HNSW search
        breadth (Chroma's default 100 lost up to 4 of 1815 exact neighbours on the sample corpus, varying
        with the multi-threaded graph build; 200 lost none)."""
        return ChunkCollection(self.client.create_collection(
            name=collection_name(self.settings, number), embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "ef_search": self.settings.hnsw_ef_search}},
            get_or_create=False,
        ))

    def open(self, number: int) -> ChunkCollection:
        return ChunkCollection(self.client.get_collection(name=collection_name(self.settings, number),
                                                          embedding_function=None))

    def collection_names(self) -> list[str]:
        return [col if isinstance(col, str) else col.name for col in self.client.list_collections()]

    def remove_stale(self, keep: set[int]) -> list[str]:
        """Delete the collections of generations not in `keep`, and the vector folders embedded Chroma
        leaves behind (call only while holding the ingest lock)."""
        removed: list[str] = []
        prefix = f"{self.settings.collection_prefix}_chunks_g"
        keep_names = {collection_name(self.settings, n) for n in keep}
        for name in self.collection_names():
            if name.startswith(prefix) and name not in keep_names:
                with contextlib.suppress(Exception):
                    self.client.delete_collection(name)
                    removed.append(name)
        if not self.settings.chroma_host:
            for folder in orphan_segment_folders(self.root / CHROMA_DIR):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(f"{CHROMA_DIR}/{folder.name}")
        return removed


def orphan_segment_folders(chroma_dir: Path) -> list[Path]:
    """Vector-index folders of the embedded Chroma store that no segment refers to any more.

    Chroma 1.x deletes a collection's rows but leaves its HNSW folder (``chroma/<segment id>/``) on disk
    (chroma-core/chroma#5259, #5520), so every generation flip would keep the previous generation's vectors
    forever. Only UUID-named folders are candidates, and none is returned unless a segment still listed has
    its folder under its id (proof that the layout this relies on holds)."""
    database = chroma_dir / "chroma.sqlite3"
    if not database.is_file():
        return []
    try:
        con = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            referenced = {str(row[0]) for row in con.execute("SELECT id FROM segments")}
            referenced |= {str(row[0]) for row in con.execute("SELECT id FROM collections")}
        finally:
            con.close()
    except sqlite3.Error:
        return []
    folders: list[Path] = []
    for path in chroma_dir.iterdir():
        with contextlib.suppress(ValueError):
            if path.is_dir() and not path.is_symlink() and str(uuid.UUID(path.name)) == path.name:
                folders.append(path)
    if not any(f.name in referenced for f in folders):
        return []
    return sorted(f for f in folders if f.name not in referenced)


# ----------------------------------------------------------------------------------- the clearance rule
class DenseSearch:
    """Dense retrieval within a clearance: one generation's collection and its chunk store."""

    def __init__(self, collection: ChunkCollection, chunks_by_id: Mapping[str, Chunk], overfetch: float) -> None:
        self.collection = collection
        self.chunks_by_id = chunks_by_id
        self.overfetch = overfetch  # margin on the unfiltered fetch (ISMS_DENSE_OVERFETCH)
        self._rank_counts = Counter(c.class_rank for c in chunks_by_id.values())

    def visible_count(self, max_rank: int) -> int:
        """How many chunks a clearance of `max_rank` may see."""
        return sum(n for rank, n in self._rank_counts.items() if rank <= max_rank)

    def visible_neighbours(self, vector: np.ndarray, max_rank: int, k: int) -> list[tuple[Chunk, float]]:
        """The k nearest chunks the clearance may see, with their cosine similarity.

        Chroma's `where` filter scans the metadata of the whole collection on every query (measured: 3 ms
        unfiltered vs 90 ms filtered at 19k chunks, growing linearly), so HNSW is asked unfiltered for
        enough neighbours that the k nearest visible ones are among them (the visible share, with
        `overfetch` margin) and the rest are dropped here. When fewer than k visible ones came back, the
        filtered query answers instead. Either way nothing above the clearance is returned.
        """
        total, visible = len(self.chunks_by_id), self.visible_count(max_rank)
        k = min(k, visible)
        if k <= 0:
            return []
        fetch = k if visible == total else min(total, math.ceil(k * total / visible * self.overfetch))
        out = self._visible(self.collection.nearest(vector, fetch), max_rank)
        if len(out) < k and fetch < total:
            out = self._visible(self.collection.nearest(vector, k, max_rank=max_rank), max_rank)
        return out[:k]

    def _visible(self, neighbours: list[tuple[str, float]], max_rank: int) -> list[tuple[Chunk, float]]:
        """Filtered on the chunk's own classification in the chunk store."""
        out = []
        for cid, similarity in neighbours:
            chunk = self.chunks_by_id.get(cid)
            if chunk is not None and chunk.class_rank <= max_rank:
                out.append((chunk, similarity))
        return out
