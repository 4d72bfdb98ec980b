"""The sentence-transformers embedding model, loaded once per process from a local folder (offline)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

import numpy as np

from assistant.index.query_cache import QueryVectorCache

if TYPE_CHECKING:
    from assistant.config import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


# Queries and the composer's sentences are small batches: torch's thread pool makes them up to 15×
# slower when other processes keep the cores busy (measured: 1 query 340 ms with 2 threads vs 20 ms with
# 1 on a loaded 2-core machine). Ingest-sized batches keep torch's default thread count.
SMALL_BATCH = 64


@contextmanager
def _single_thread(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Embedder:
    """Normalised float32 embeddings; a small LRU cache for query vectors."""

    def __init__(self, model_path: str, batch_size: int = 32, cache_size: int = 512) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        self._queries = QueryVectorCache(cache_size)

    @property
    def model(self):  # noqa: ANN201 - SentenceTransformer, imported lazily (slow import)
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()
                    hf_logging.set_verbosity_error()
                    self._model = SentenceTransformer(self.model_path, device="cpu")
        return self._model

    @property
    def dimension(self) -> int:
        return int(self.encode(["dimension probe"]).shape[1])

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self.model
        with _single_thread(len(texts) <= SMALL_BATCH):
            vectors = model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self._queries.get_or_encode(text, lambda t: self.encode([t])[0])


@lru_cache(maxsize=4)
def get_embedder(model_path: str, batch_size: int = 32) -> Embedder:
    """One embedder per model per process (shared by CLI, UI sessions and evals)."""
    return Embedder(model_path, batch_size)


# ---------------------------------------------------------------------------------------- query path
_query_log = logging.getLogger("assistant.index")
_fallback_logged = False


class QueryEncoder(Protocol):
    """What the query path needs: `Embedder` (torch) or `OnnxEncoder` (onnxruntime)."""

    model_path: str

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...


def _fallback_once(message: str, *args: object, warning: bool = False) -> None:
    global _fallback_logged
    if not _fallback_logged:
        _fallback_logged = True
        (_query_log.warning if warning else _query_log.info)(message, *args)


@lru_cache(maxsize=8)
def _onnx_encoder(model_file: str, batch_size: int, model_path: str, threads: int = 1) -> QueryEncoder:
    from assistant.index.onnx_encoder import OnnxEncoder

    return OnnxEncoder(model_file, batch_size, tokenizer_dir=model_path, threads=threads)


def encoder_backend(encoder: object) -> str:
    """What to record in an index manifest: "torch", "onnx" (fp32) or "onnx-int8"."""
    return str(getattr(encoder, "backend", "torch"))


def get_document_encoder(settings: Settings) -> QueryEncoder:
    """The encoder the ingest embeds documents (chunks, answer sentences) with: the torch `Embedder`,
    or with `embedding_backend = "onnx-int8"` the dynamically quantized ONNX model (exported and
    quantized locally on first use; raises when that fails: an index must not silently mix backends)."""
    model_path = settings.resolved_model_path()
    if settings.embedding_backend == "onnx-int8":
        from assistant.index.onnx_encoder import build_int8

        try:
            model_file = build_int8(settings)
        except Exception as exc:
            raise RuntimeError(f"ISMS_EMBEDDING_BACKEND=onnx-int8: no int8 model for {model_path}: "
                               f"{exc.__class__.__name__}: {exc}") from exc
        return _onnx_encoder(str(model_file), settings.embedding_batch_size, model_path, 0)
    return get_embedder(model_path, settings.embedding_batch_size)


def get_query_encoder(settings: Settings, index_backend: str | None = None) -> QueryEncoder:
    """The encoder for questions (and the composer's sentences).

    `index_backend` is what the live index's documents were embedded with (its manifest's
    "embedding_backend"; default torch). A torch-embedded index gets the local fp32 ONNX export when
    `settings.query_encoder` allows it and it exists (same vectors, no torch import: cold `ask` in about
    a second), else the torch `Embedder`. An "onnx-int8" index gets the int8 model, whatever
    `query_encoder` says (queries and documents must come from the same model). Any problem with an
    export falls back to torch (logged once)."""
    model_path = settings.resolved_model_path()
    from assistant.index import onnx_encoder

    if index_backend == "onnx-int8":
        try:
            model_file = onnx_encoder.find_export(settings, int8=True) or onnx_encoder.build_int8(settings)
            return _onnx_encoder(str(model_file), settings.embedding_batch_size, model_path)
        except Exception as exc:  # noqa: BLE001 - degrade (fp32 queries on int8 documents), never stop answering
            _fallback_once("the index was embedded with onnx-int8 but the int8 model is unavailable (%s: %s); "
                           "queries use torch", exc.__class__.__name__, exc, warning=True)
    elif settings.query_encoder != "torch":
        try:
            if settings.query_encoder == "onnx":
                model_file = onnx_encoder.build_export(settings)  # exports (with torch) only when missing
            else:
                model_file = onnx_encoder.find_export(settings)
            if model_file is not None:
                return _onnx_encoder(str(model_file), settings.embedding_batch_size, model_path)
            _fallback_once("no ONNX export for %s yet (made by `isms-assistant ingest` or `export-onnx`); "
                           "queries use torch", model_path)
        except Exception as exc:  # noqa: BLE001 - a broken export must never stop answering
            _fallback_once("ONNX query encoder unavailable (%s: %s); queries use torch",
                           exc.__class__.__name__, exc, warning=True)
    return get_embedder(model_path, settings.embedding_batch_size)
