"""Which encoder embeds what: documents at ingest, questions at query time (torch or ONNX).

The one place that chooses between the torch `Embedder` (assistant/index/embedder.py) and the
`OnnxEncoder` (assistant/index/onnx_encoder.py, exports made by assistant/index/onnx_export.py); the
encoders themselves know nothing of each other or of this choice.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

import numpy as np

from assistant.index import onnx_encoder, onnx_export
from assistant.index.embedder import get_embedder

if TYPE_CHECKING:
    from assistant.config import Settings


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
    return onnx_encoder.OnnxEncoder(model_file, batch_size, tokenizer_dir=model_path, threads=threads)


def encoder_backend(encoder: object) -> str:
    """What to record in an index manifest: "torch", "onnx" (fp32) or "onnx-int8"."""
    return str(getattr(encoder, "backend", "torch"))


def get_document_encoder(settings: Settings) -> QueryEncoder:
    """The encoder the ingest embeds documents (chunks, answer sentences) with: the torch `Embedder`,
    or with `embedding_backend = "onnx-int8"` the dynamically quantized ONNX model (exported and
    quantized locally on first use; raises when that fails: an index must not silently mix backends)."""
    model_path = settings.resolved_model_path()
    if settings.embedding_backend == "onnx-int8":
        try:
            model_file = onnx_export.build_int8(settings)
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
    if index_backend == "onnx-int8":
        try:
            model_file = onnx_encoder.find_export(settings, int8=True) or onnx_export.build_int8(settings)
            return _onnx_encoder(str(model_file), settings.embedding_batch_size, model_path)
        except Exception as exc:  # noqa: BLE001 - degrade (fp32 queries on int8 documents), never stop answering
            _fallback_once("the index was embedded with onnx-int8 but the int8 model is unavailable (%s: %s); "
                           "queries use torch", exc.__class__.__name__, exc, warning=True)
    elif settings.query_encoder != "torch":
        try:
            if settings.query_encoder == "onnx":
                model_file = onnx_export.build_export(settings)  # exports (with torch) only when missing
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
