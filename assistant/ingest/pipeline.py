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

from assistant.catalogue import Catalogue, get_catalogue
from assistant.config import Settings
from assistant.errors import IndexNotReady, LoadError
from assistant.index import store
from assistant.index.collection import ChunkCollection, VectorStore, collection_name
from assistant.index.encoders import QueryEncoder, encoder_backend, get_document_encoder
from assistant.index.onnx_export import ensure_onnx_export
from assistant.index.sentences import SentenceVectors, build_sentence_vectors
from assistant.ingest.documents import ProcessedFile, process_file, sha256_bytes
from assistant.ingest.loaders import SUPPORTED_SUFFIXES
from assistant.models import Chunk, FileRecord
from assistant.registers import RegisterResult

log = logging.getLogger(__name__)
INDEX_FORMAT = 7  # 2: repeated passages indexed once, citation-like "[n]" stored as "(n)"; 3: front matter without
# an opening "---" read as metadata, risk rows state "Risk score: ..."; 4: file records carry the document's own id,
# titles from file names take the document's own casing, leading section numbers of headings are not control ids;
# 5: Markdown grid tables ("+---+") read as one row per table row, multi-line cells merged; 6: a risk row keeps a
# controls cell in words and the register's own extra columns; 7: so do SoA and treatment plan rows
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
        summary = IngestRun(settings, corpus, root, progress, embedder, started).run()
    ensure_onnx_export(settings)  # ONNX query encoder for a fast cold `ask`; no-op when present, never raises
    return summary


@dataclass
class IngestRun:
    """One ingest, run while holding the index lock, in phases: `read` the corpus and diff it against the
    live generation; then either `refresh_live` (nothing changed) or `embed` a new generation's vectors and
    `publish` it (its files, then the atomic switch of CURRENT), and finally its sentence vectors. A crash
    at any point leaves the live generation whole; the next run removes the half-built one."""

    settings: Settings
    corpus: Path
    root: Path
    progress: ProgressFn | None
    embedder: QueryEncoder | None  # the document encoder: the caller's, else resolved on first use
    started: float
    # the live generation, reused only when it was built with settings that give the same vectors and chunks
    current: int | None = None
    previous: store.Generation | None = None
    old_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    old_chunks: dict[str, Chunk] = field(default_factory=dict)
    old_registers: dict[str, RegisterResult] = field(default_factory=dict)
    # the new generation, as read from the corpus
    new_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_chunks: dict[str, list[Chunk]] = field(default_factory=dict)
    registers: dict[str, RegisterResult] = field(default_factory=dict)
    chunks: list[Chunk] = field(default_factory=list)
    vectors: VectorStore = field(init=False, repr=False)  # opened after reading
    catalogue: Catalogue = field(init=False, repr=False)
    model_path: str = field(init=False)
    summary: IngestSummary = field(init=False)

    def __post_init__(self) -> None:
        self.catalogue = get_catalogue()
        self.model_path = self.settings.resolved_model_path()
        self.summary = IngestSummary(corpus=str(self.corpus), index=str(self.root), generation=0)

    def run(self) -> IngestSummary:
        self.load_previous()
        self.read()
        self.vectors = VectorStore(self.settings, self.root)
        if self.previous is not None and not self.summary.changed_anything and self.current is not None:
            self.refresh_live(self.current)
        else:
            previous_sentences = (SentenceVectors.load(store.gen_dir(self.root, self.previous.number))
                                  if self.previous and self.settings.sentence_vectors else None)
            number, collection = self.start_generation()
            self.embed(collection)
            folder = self.publish(number)
            self.sentence_pass(folder, previous_sentences)
        self.summary.seconds = time.perf_counter() - self.started
        return self.summary

    def _encoder(self) -> QueryEncoder:
        """The document encoder: the caller's, else the configured one (loaded only when something is embedded)."""
        if self.embedder is None:
            self.embedder = get_document_encoder(self.settings)
        return self.embedder

    # ------------------------------------------------------------------ read + diff
    def load_previous(self) -> None:
        """The live generation; kept as `previous` (what unchanged files and vectors are taken from) only when
        it loads and was built with the same model, format, chunk size and embedding backend."""
        self.current = store.read_current(self.root)
        self.summary.generation = self.current or 0
        if self.current is None:
            return
        try:
            previous = store.load_generation(self.root, self.current)
        except IndexNotReady:
            return
        if not self._reusable(previous.manifest):
            return  # settings that change vectors or chunks: rebuild everything
        self.previous = previous
        self.old_files = previous.manifest.get("files", {})
        self.old_chunks = previous.by_id
        self.old_registers = {r.source: r for r in previous.registers}

    def _reusable(self, manifest: dict[str, Any]) -> bool:
        return (
            manifest.get("model") == self.model_path
            and manifest.get("format") == INDEX_FORMAT
            and manifest.get("chunk_chars") == self.settings.chunk_chars
            and manifest.get("embedding_backend", "torch") == self.settings.embedding_backend
        )

    def read(self) -> None:
        """Every corpus file into the new generation: unchanged ones as they are, new and changed ones parsed,
        failing ones reported (and kept in their previous version when there is one)."""
        entries = list(iter_corpus(self.corpus))
        for done, (path, source, skip_reason) in enumerate(entries, start=1):
            if self.progress:
                self.progress("reading", done, len(entries))
            if skip_reason:
                self.summary.skipped[source] = skip_reason
                continue
            self._read_file(path, source)
        self.summary.removed = sorted(s for s in self.old_files if s not in self.new_files)
        self.chunks = [c for source in sorted(self.file_chunks) for c in self.file_chunks[source]]
        self.summary.files = len(self.new_files)
        self.summary.chunks = len(self.chunks)

    def _read_file(self, path: Path, source: str) -> None:
        settings = self.settings
        try:
            size = path.stat().st_size
            if size > int(settings.max_file_mb * 1024 * 1024):
                raise LoadError(f"file is {size / 1_048_576:.1f} MB, over the {settings.max_file_mb:g} MB limit (ISMS_MAX_FILE_MB)")
            doc_hash = sha256_bytes(path.read_bytes())
        except OSError as exc:
            self._skip(source, f"cannot read: {exc.strerror or exc}")
            return
        except LoadError as exc:
            self._skip(source, str(exc))
            return
        old = self.old_files.get(source)
        if old and old["hash"] == doc_hash and all(cid in self.old_chunks for cid in old["chunk_ids"]):
            self._take_old(source, old)
            self.summary.unchanged.append(source)
            return
        processed = self._process(path, source, doc_hash)
        if processed is None:
            return
        record: FileRecord = processed.record
        record.size = size
        self.new_files[source] = record.__dict__.copy()
        self.file_chunks[source] = processed.chunks
        if processed.register is not None:
            self.registers[source] = processed.register
            if processed.register.errors:
                self.summary.register_errors[source] = [str(e) for e in processed.register.errors]
        if processed.notes:
            self.summary.notes[source] = processed.notes
        (self.summary.changed if old else self.summary.added).append(source)

    def _process(self, path: Path, source: str, doc_hash: str) -> ProcessedFile | None:
        """Parse and chunk one new or changed file; None when it is skipped (reported with its reason)."""
        settings = self.settings
        try:
            processed = _with_time_limit(
                settings.per_file_seconds,
                lambda: process_file(path, source, doc_hash, self.catalogue, settings.chunk_chars),
            )
        except FileTimeout:
            self._skip(source, f"took longer than {settings.per_file_seconds:g} s to read; skipped")
            return None
        except LoadError as exc:
            self._skip(source, str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - any parser failure is this file's problem, never the run's
            self._skip(source, f"could not be parsed: {exc.__class__.__name__}: {str(exc)[:120]}")
            return None
        if not processed.chunks:
            reason = "no indexable content"
            if processed.register is not None and processed.register.errors:
                reason = "register has no valid rows: " + "; ".join(str(e) for e in processed.register.errors[:3])
            self._skip(source, reason)
            return None
        return processed

    def _skip(self, source: str, reason: str) -> None:
        self.summary.skipped[source] = reason
        self._keep_previous(source)

    def _keep_previous(self, source: str) -> None:
        """A file that fails now but was indexed before keeps its previous version (nothing is lost)."""
        old = self.old_files.get(source)
        if old and all(cid in self.old_chunks for cid in old["chunk_ids"]):
            self._take_old(source, old)
            self.summary.kept_previous.append(source)

    def _take_old(self, source: str, old: dict[str, Any]) -> None:
        """The live generation's version of a file goes into the new generation as it is."""
        self.new_files[source] = old
        self.file_chunks[source] = [self.old_chunks[cid] for cid in old["chunk_ids"]]
        if source in self.old_registers:
            self.registers[source] = self.old_registers[source]

    # ------------------------------------------------------------------ nothing changed
    def refresh_live(self, current: int) -> None:
        """Nothing to do: the live generation already is this corpus. Tidy leftovers of crashed runs, apply a
        changed HNSW search breadth, and finish its sentence vectors if an earlier run was stopped before
        writing them."""
        store.cleanup_stale(self.root, self.vectors, keep={current})
        try:
            self.vectors.open(current).set_search_breadth(self.settings.hnsw_ef_search)
        except Exception as exc:  # noqa: BLE001 - a tuning knob; the live index answers either way
            log.warning("could not set HNSW ef_search to %s: %s: %s", self.settings.hnsw_ef_search,
                        exc.__class__.__name__, exc)
        self.summary.live_seconds = time.perf_counter() - self.started
        self.sentence_pass(store.gen_dir(self.root, current), None)

    # ------------------------------------------------------------------ embed
    def start_generation(self) -> tuple[int, ChunkCollection]:
        """The next free generation number and its empty collection (after removing half-built ones)."""
        number = (self.current or 0) + 1
        while store.gen_dir(self.root, number).exists():
            number += 1
        store.cleanup_stale(self.root, self.vectors, keep={n for n in (self.current,) if n is not None})
        return number, self.vectors.create(number)

    def embed(self, collection: ChunkCollection) -> None:
        """Vectors: copy what the live generation already has for identical text, embed the rest."""
        old_by_text = {c.text_hash: c.id for c in self.old_chunks.values()}
        to_copy = [(c, old_by_text[c.text_hash]) for c in self.chunks if c.text_hash in old_by_text]
        to_embed = [c for c in self.chunks if c.text_hash not in old_by_text]
        if to_copy and self.previous is not None:
            to_embed.extend(self._copy_vectors(collection, self.vectors.open(self.previous.number), to_copy))
        embedder = self._encoder()
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
            if self.progress:
                self.progress("embedding", done, len(to_embed))
        self.summary.embed_seconds = time.perf_counter() - t0
        self.summary.embedded = len(to_embed)

    def _copy_vectors(self, collection: ChunkCollection, old_collection: ChunkCollection,
                     to_copy: list[tuple[Chunk, str]]) -> list[Chunk]:
        """Copy the stored vectors of (chunk, old chunk id) pairs; returns the chunks that had none."""
        missing: list[Chunk] = []
        for batch in _batches(to_copy, 1000):
            stored = old_collection.vectors([old_id for _, old_id in batch])
            present = [(c, old_id) for c, old_id in batch if old_id in stored]
            missing.extend(c for c, old_id in batch if old_id not in stored)
            if present:
                collection.add([c for c, _ in present], np.asarray([stored[o] for _, o in present], dtype=np.float32))
            self.summary.copied += len(present)
            if self.progress:
                self.progress("copying vectors", self.summary.copied, len(to_copy))
        return missing

    # ------------------------------------------------------------------ publish
    def publish(self, number: int) -> Path:
        """Write the generation's files, flip CURRENT to it (the atomic switch), remove what it replaced."""
        manifest = {
            "format": INDEX_FORMAT,
            "generation": number,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "corpus": str(self.corpus.resolve()),
            "model": self.model_path,
            "chunk_chars": self.settings.chunk_chars,
            "embedding_backend": encoder_backend(self._encoder()),
            "collection": collection_name(self.settings, number),
            "files": self.new_files,
            "skipped": self.summary.skipped,
            "kept_previous": self.summary.kept_previous,
            "register_errors": self.summary.register_errors,
            "counts": {"files": self.summary.files, "chunks": self.summary.chunks},
        }
        folder = store.gen_dir(self.root, number)
        store.write_generation_files(folder, manifest, self.chunks, list(self.registers.values()))
        store.write_current(self.root, number)  # the atomic switch
        self.summary.generation = number
        store.cleanup_stale(self.root, self.vectors, keep={number})
        self.summary.live_seconds = time.perf_counter() - self.started
        return folder

    def sentence_pass(self, folder: Path, previous: SentenceVectors | None) -> None:
        """Embed the answer units of the live generation once (assistant/index/sentences.py)."""
        if not self.settings.sentence_vectors:
            return
        existing = SentenceVectors.load(folder)
        if existing is not None and all(c.id in existing.by_id for c in self.chunks):
            return
        self.summary.sentences_embedded, self.summary.sentence_seconds = build_sentence_vectors(
            folder, self.chunks, previous or existing, self._encoder(), self.progress
        )


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
