"""Incremental ingest: corpus folder → new index generation, flipped in atomically.

Unchanged files are skipped by content hash (their vectors are copied, not re-embedded); a changed
file replaces only its own chunks (and any chunk whose text did not change keeps its vector); a
deleted file's chunks disappear. One bad file never aborts the run: it is reported with its reason
and, if an earlier version was indexed, that version stays searchable.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from assistant.catalogue import get_catalogue
from assistant.config import Settings
from assistant.index import store
from assistant.index.collection import VectorStore
from assistant.index.encoders import QueryEncoder, encoder_backend, get_document_encoder
from assistant.index.onnx_export import ensure_onnx_export
from assistant.index.sentences import SentenceVectors, build_sentence_vectors
from assistant.ingest.documents import ProcessedFile, process_file, sha256_bytes
from assistant.ingest.loaders import SUPPORTED_SUFFIXES, LoadError
from assistant.models import Chunk, FileRecord
from assistant.registers import RegisterResult

log = logging.getLogger(__name__)
INDEX_FORMAT = 2  # 2: repeated passages indexed once, citation-like "[n]" in documents stored as "(n)"
ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class IngestSummary:
    corpus: str
    index: str
    generation: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # source → reason
    kept_previous: list[str] = field(default_factory=list)  # unreadable now, earlier version kept
    notes: dict[str, list[str]] = field(default_factory=dict)
    register_errors: dict[str, list[str]] = field(default_factory=dict)
    files: int = 0
    chunks: int = 0
    embedded: int = 0
    copied: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    live_seconds: float = 0.0  # until the new generation answered (before the sentence-vector pass)
    sentences_embedded: int = 0
    sentence_seconds: float = 0.0

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class FileTimeout(Exception):
    pass


def _link_target(path: Path) -> Path | None:
    """Where a symlink finally points, or None for a loop (resolve raises on loops)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def _name_problem(source: str) -> str | None:
    """File names the index cannot store faithfully (JSON manifest, Chroma metadata, citations)."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8; rename the file"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in source):
        return "file name contains control characters (newline, escape, ...); rename the file"
    return None


def iter_corpus(corpus: Path) -> Iterator[tuple[Path, str, str | None]]:
    """Yield (path, source, skip_reason) for every file, never following links out of the corpus and never
    opening anything but regular files (a FIFO or device would block or never end)."""
    root = corpus.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for dirname in list(dirnames):
            full = Path(dirpath) / dirname
            if full.is_symlink():
                dirnames.remove(dirname)
                rel = full.relative_to(root).as_posix()
                target = _link_target(full)
                if target is None:
                    yield full, rel + "/", "symlink loop; not followed"
                elif not target.is_relative_to(root):
                    yield full, rel + "/", "symlinked folder points outside the corpus; not followed"
                else:
                    yield full, rel + "/", "symlinked folder inside the corpus; indexed at its real path only"
        for name in sorted(filenames):
            if name.startswith(".") or name.startswith("~$"):
                continue
            path = Path(dirpath) / name
            source = path.relative_to(root).as_posix()
            problem = _name_problem(source)
            if problem:  # reported under a printable form of the name (\xe9 for an undecodable byte)
                shown = source.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                yield path, shown.encode("unicode_escape").decode("ascii") if shown == source else shown, problem
                continue
            if path.is_symlink():
                target = _link_target(path)
                if target is None:
                    yield path, source, "symlink loop; not followed"
                    continue
                if not target.is_relative_to(root):
                    yield path, source, "symlink points outside the corpus; not followed"
                    continue
                if not target.exists():
                    yield path, source, "broken symlink"
                    continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                yield path, source, f"unsupported file type {path.suffix.lower() or '(no extension)'}"
                continue
            if not path.is_file():
                yield path, source, "not a regular file (FIFO, device or socket); not read"
                continue
            yield path, source, None


def _with_time_limit(seconds: float, fn: Callable[[], ProcessedFile]) -> ProcessedFile:
    """Run fn with a wall-clock limit: SIGALRM in the main thread; elsewhere (the Streamlit app ingests in
    a script thread) fn runs in a daemon worker thread that is abandoned when it overruns (Python threads
    cannot be killed; the ingest moves on and reports the file)."""
    import threading

    if seconds <= 0:
        return fn()
    if threading.current_thread() is not threading.main_thread():
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="ingest-file", daemon=True)
        worker.start()
        worker.join(seconds)
        if worker.is_alive():
            raise FileTimeout()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def on_alarm(signum: int, frame: Any) -> None:
        raise FileTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_ingest(
    settings: Settings,
    corpus: Path | None = None,
    index_dir: Path | None = None,
    progress: ProgressFn | None = None,
    embedder: QueryEncoder | None = None,
) -> IngestSummary:
    corpus = Path(corpus or settings.corpus_dir)
    root = Path(index_dir or settings.index_dir)
    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {corpus}")
    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    with store.ingest_lock(root):
        summary = _ingest_locked(settings, corpus, root, progress, embedder, started)
    ensure_onnx_export(settings)  # ONNX query encoder for a fast cold `ask`; no-op when present, never raises
    return summary


def _ingest_locked(
    settings: Settings, corpus: Path, root: Path, progress: ProgressFn | None, embedder: QueryEncoder | None, started: float
) -> IngestSummary:
    catalogue = get_catalogue()
    model_path = settings.resolved_model_path()
    current = store.read_current(root)
    previous: store.Generation | None = None
    if current is not None:
        try:
            previous = store.load_generation(root, current)
        except store.IndexError_:
            previous = None
    if previous is not None and (
        previous.manifest.get("model") != model_path
        or previous.manifest.get("format") != INDEX_FORMAT
        or previous.manifest.get("chunk_chars") != settings.chunk_chars
        or previous.manifest.get("embedding_backend", "torch") != settings.embedding_backend
    ):
        previous = None  # settings that change vectors or chunks: rebuild everything
    old_files: dict[str, dict[str, Any]] = previous.manifest.get("files", {}) if previous else {}
    old_chunks = previous.by_id if previous else {}
    old_registers = {r.source: r for r in previous.registers} if previous else {}

    summary = IngestSummary(corpus=str(corpus), index=str(root), generation=current or 0)
    limit_bytes = int(settings.max_file_mb * 1024 * 1024)
    entries = list(iter_corpus(corpus))
    new_files: dict[str, dict[str, Any]] = {}
    file_chunks: dict[str, list[Chunk]] = {}
    registers: dict[str, RegisterResult] = {}

    for done, (path, source, skip_reason) in enumerate(entries, start=1):
        if progress:
            progress("reading", done, len(entries))
        if skip_reason:
            summary.skipped[source] = skip_reason
            continue
        try:
            size = path.stat().st_size
            if size > limit_bytes:
                raise LoadError(f"file is {size / 1_048_576:.1f} MB, over the {settings.max_file_mb:g} MB limit (ISMS_MAX_FILE_MB)")
            data = path.read_bytes()
            doc_hash = sha256_bytes(data)
        except OSError as exc:
            summary.skipped[source] = f"cannot read: {exc.strerror or exc}"
            _keep_previous(source, old_files, old_chunks, old_registers, new_files, file_chunks, registers, summary)
            continue
        except LoadError as exc:
            summary.skipped[source] = str(exc)
            _keep_previous(source, old_files, old_chunks, old_registers, new_files, file_chunks, registers, summary)
            continue
        old = old_files.get(source)
        if old and old["hash"] == doc_hash and all(cid in old_chunks for cid in old["chunk_ids"]):
            new_files[source] = old
            file_chunks[source] = [old_chunks[cid] for cid in old["chunk_ids"]]
            if source in old_registers:
                registers[source] = old_registers[source]
            summary.unchanged.append(source)
            continue
        try:
            processed = _with_time_limit(
                settings.per_file_seconds,
                lambda path=path, source=source, doc_hash=doc_hash: process_file(
                    path, source, doc_hash, catalogue, settings.chunk_chars
                ),
            )
        except FileTimeout:
            summary.skipped[source] = f"took longer than {settings.per_file_seconds:g} s to read; skipped"
            _keep_previous(source, old_files, old_chunks, old_registers, new_files, file_chunks, registers, summary)
            continue
        except LoadError as exc:
            summary.skipped[source] = str(exc)
            _keep_previous(source, old_files, old_chunks, old_registers, new_files, file_chunks, registers, summary)
            continue
        except Exception as exc:  # noqa: BLE001 - any parser failure is this file's problem, never the run's
            summary.skipped[source] = f"could not be parsed: {exc.__class__.__name__}: {str(exc)[:120]}"
            _keep_previous(source, old_files, old_chunks, old_registers, new_files, file_chunks, registers, summary)
            continue
        if not processed.chunks:
            reason = "no indexable content"
            if processed.register is not None and processed.register.errors:
                reason = "register has no valid rows: " + "; ".join(str(e) for e in processed.register.errors[:3])
            summary.skipped[source] = reason
            _keep_previous(source, old_files, old_chunks, old_registers, new_files, file_chunks, registers, summary)
            continue
        record: FileRecord = processed.record
        record.size = size
        new_files[source] = record.__dict__.copy()
        file_chunks[source] = processed.chunks
        if processed.register is not None:
            registers[source] = processed.register
            if processed.register.errors:
                summary.register_errors[source] = [str(e) for e in processed.register.errors]
        if processed.notes:
            summary.notes[source] = processed.notes
        (summary.changed if old else summary.added).append(source)

    summary.removed = sorted(s for s in old_files if s not in new_files)
    all_chunks = [c for source in sorted(file_chunks) for c in file_chunks[source]]
    summary.files = len(new_files)
    summary.chunks = len(all_chunks)

    vectors = VectorStore(settings, root)
    if previous is not None and not summary.changed_anything and current is not None:
        # Nothing to do: the live generation already is this corpus. Tidy leftovers of crashed runs, apply a
        # changed HNSW search breadth, and finish its sentence vectors if an earlier run was stopped before
        # writing them.
        store.cleanup_stale(root, vectors, keep={current})
        try:
            vectors.open(current).set_search_breadth(settings.hnsw_ef_search)
        except Exception as exc:  # noqa: BLE001 - a tuning knob; the live index answers either way
            log.warning("could not set HNSW ef_search to %s: %s: %s", settings.hnsw_ef_search,
                        exc.__class__.__name__, exc)
        summary.live_seconds = time.perf_counter() - started
        _sentence_pass(settings, store.gen_dir(root, current), all_chunks, None, embedder, model_path, progress,
                       summary)
        summary.seconds = time.perf_counter() - started
        return summary
    previous_sentences = (
        SentenceVectors.load(store.gen_dir(root, previous.number)) if previous and settings.sentence_vectors else None
    )

    number = (current or 0) + 1
    while store.gen_dir(root, number).exists():
        number += 1
    store.cleanup_stale(root, vectors, keep={n for n in (current,) if n is not None})
    collection = vectors.create(number)

    # Vectors: copy what the live generation already has for identical text, embed the rest.
    old_by_text = {c.text_hash: c.id for c in old_chunks.values()}
    to_copy = [(c, old_by_text[c.text_hash]) for c in all_chunks if c.text_hash in old_by_text]
    to_embed = [c for c in all_chunks if c.text_hash not in old_by_text]
    if to_copy and previous is not None:
        old_collection = vectors.open(previous.number)
        for batch in _batches(to_copy, 1000):
            stored = old_collection.vectors([old_id for _, old_id in batch])
            present = [(c, old_id) for c, old_id in batch if old_id in stored]
            missing = [c for c, old_id in batch if old_id not in stored]
            to_embed.extend(missing)
            if present:
                collection.add([c for c, _ in present], np.asarray([stored[o] for _, o in present], dtype=np.float32))
            summary.copied += len(present)
            if progress:
                progress("copying vectors", summary.copied, len(to_copy))
    embedder = embedder or get_document_encoder(settings)
    t0 = time.perf_counter()
    done = 0
    to_embed.sort(key=lambda c: len(c.embedding_text()))  # similar lengths together: less padding
    for batch in _batches(to_embed, 256):
        # identical chunk texts (repeated boilerplate, a 10 MB line of one phrase) are embedded once
        texts = [c.embedding_text() for c in batch]
        unique = list(dict.fromkeys(texts))
        encoded = embedder.encode(unique)
        row = {text: i for i, text in enumerate(unique)}
        collection.add(batch, encoded[[row[t] for t in texts]])
        done += len(batch)
        if progress:
            progress("embedding", done, len(to_embed))
    summary.embed_seconds = time.perf_counter() - t0
    summary.embedded = len(to_embed)

    manifest = {
        "format": INDEX_FORMAT,
        "generation": number,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus": str(corpus.resolve()),
        "model": model_path,
        "chunk_chars": settings.chunk_chars,
        "embedding_backend": encoder_backend(embedder),
        "collection": collection.name,
        "files": new_files,
        "skipped": summary.skipped,
        "kept_previous": summary.kept_previous,
        "register_errors": summary.register_errors,
        "counts": {"files": summary.files, "chunks": summary.chunks},
    }
    folder = store.gen_dir(root, number)
    store.write_generation_files(folder, manifest, all_chunks, list(registers.values()))
    store.write_current(root, number)  # the atomic switch
    summary.generation = number
    store.cleanup_stale(root, vectors, keep={number})
    summary.live_seconds = time.perf_counter() - started
    _sentence_pass(settings, folder, all_chunks, previous_sentences, embedder, model_path, progress, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _sentence_pass(
    settings: Settings, folder: Path, chunks: list[Chunk], previous: SentenceVectors | None,
    embedder: QueryEncoder | None, model_path: str, progress: ProgressFn | None, summary: IngestSummary,
) -> None:
    """Embed the answer units of the live generation once (assistant/index/sentences.py)."""
    if not settings.sentence_vectors:
        return
    existing = SentenceVectors.load(folder)
    if existing is not None and all(c.id in existing.by_id for c in chunks):
        return
    embedder = embedder or get_document_encoder(settings)
    summary.sentences_embedded, summary.sentence_seconds = build_sentence_vectors(
        folder, chunks, previous or existing, embedder, progress
    )


def _keep_previous(
    source: str,
    old_files: dict[str, dict[str, Any]],
    old_chunks: dict[str, Chunk],
    old_registers: dict[str, RegisterResult],
    new_files: dict[str, dict[str, Any]],
    file_chunks: dict[str, list[Chunk]],
    registers: dict[str, RegisterResult],
    summary: IngestSummary,
) -> None:
    """A file that fails now but was indexed before keeps its previous version (nothing is lost)."""
    old = old_files.get(source)
    if old and all(cid in old_chunks for cid in old["chunk_ids"]):
        new_files[source] = old
        file_chunks[source] = [old_chunks[cid] for cid in old["chunk_ids"]]
        if source in old_registers:
            registers[source] = old_registers[source]
        summary.kept_previous.append(source)


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
