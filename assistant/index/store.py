"""The index on disk: generations of (Chroma collection + chunk store + registers + manifest).

Layout of the index folder::

    CURRENT            number of the live generation (replaced atomically with os.replace)
    gen-000007/        manifest.json, chunks.jsonl, registers.json of that generation
    chroma/            embedded Chroma data (absent when a Chroma server is configured;
                       assistant/index/collection.py)
    ingest.lock        held by a running ingest

An ingest builds generation N+1 next to the live one (copying unchanged vectors, embedding only new
text) and flips CURRENT when everything is written. A crash at any point leaves the live generation
untouched; the next ingest removes the half-built one. Readers always see one whole generation.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import IndexNotReady, IngestLocked
from assistant.index.collection import VectorStore
from assistant.models import Chunk
from assistant.registers import RegisterResult

CURRENT = "CURRENT"
LOCK = "ingest.lock"


def gen_dir(root: Path, number: int) -> Path:
    return root / f"gen-{number:06d}"


def read_current(root: Path) -> int | None:
    try:
        return int((root / CURRENT).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def write_current(root: Path, number: int) -> None:
    tmp = root / f"{CURRENT}.tmp"
    with open(tmp, "w") as fh:
        fh.write(str(number))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / CURRENT)
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def ingest_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    fh = open(root / LOCK, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestLocked(f"another ingest is already running on {root}; try again when it has finished") from None
        yield
    finally:
        fh.close()


@dataclass
class Generation:
    """One complete, immutable index generation as loaded for reading."""

    number: int
    root: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    registers: list[RegisterResult] = field(default_factory=list)

    @property
    def by_id(self) -> dict[str, Chunk]:
        if not hasattr(self, "_by_id"):
            self._by_id = {c.id: c for c in self.chunks}
        return self._by_id

    def passage_at(self, chunk: Chunk, step: int, max_rank: int) -> Chunk | None:
        """The passage `step` places after `chunk` in the same document (its passages are stored in document
        order), when the reader may see it."""
        if not hasattr(self, "_places"):
            documents: dict[str, list[Chunk]] = {}
            for c in self.chunks:
                documents.setdefault(c.source, []).append(c)
            self._places = {c.id: (passages, i) for passages in documents.values() for i, c in enumerate(passages)}
        place = self._places.get(chunk.id)
        if place is None or not 0 <= place[1] + step < len(place[0]):
            return None
        other = place[0][place[1] + step]
        return other if other.class_rank <= max_rank else None


def write_generation_files(
    folder: Path, manifest: dict[str, Any], chunks: list[Chunk], registers: list[RegisterResult]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for chunk in chunks:
            fh.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    with open(folder / "registers.json", "w", encoding="utf-8") as fh:
        json.dump([r.model_dump() for r in registers], fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    with open(folder / "manifest.json", "w", encoding="utf-8") as fh:  # written last: marks the folder complete
        json.dump(manifest, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(folder)


def load_generation(root: Path, number: int | None = None) -> Generation:
    number = read_current(root) if number is None else number
    if number is None:
        raise IndexNotReady(f"no index at {root}: run `isms-assistant ingest` first")
    folder = gen_dir(root, number)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        with open(folder / "chunks.jsonl", encoding="utf-8") as fh:
            chunks = [Chunk.from_dict(json.loads(line)) for line in fh if line.strip()]
        registers = [RegisterResult.model_validate(r) for r in json.loads((folder / "registers.json").read_text("utf-8"))]
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise IndexNotReady(f"index generation {number} at {folder} is unreadable ({exc}); re-run ingest") from None
    return Generation(number=number, root=root, manifest=manifest, chunks=chunks, registers=registers)


def cleanup_stale(root: Path, vectors: VectorStore, keep: set[int]) -> list[str]:
    """Remove generation folders and collections not in `keep`, and the vector folders Chroma leaves behind
    (call only while holding the lock)."""
    removed: list[str] = []
    for folder in root.glob("gen-*"):
        try:
            number = int(folder.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if number not in keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
        else:
            for partial in folder.glob(".sentences-*"):  # a sentence-vector file a killed ingest left half-written
                partial.unlink(missing_ok=True)
                removed.append(f"{folder.name}/{partial.name}")
    removed += vectors.remove_stale(keep)
    return removed
