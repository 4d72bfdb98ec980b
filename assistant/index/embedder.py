"""The sentence-transformers embedding model, loaded once per process from a local folder (offline)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from assistant.index.query_cache import QueryVectorCache

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
