"""ONNX Runtime query encoder: the packaged sentence-transformers model exported locally to ONNX.

Why: a fresh `isms-assistant ask` used to spend 10-25 s importing torch, transformers and
sentence-transformers before answering. The query path only needs the transformer's forward, the
tokenizer, mean pooling and L2 normalisation — onnxruntime (already installed with chromadb) and the
`tokenizers` package do that in a fraction of a second.

- `find_export(settings)` says where the export of the configured model is (one folder per model
  version in the cache folder), or None; `assistant/index/onnx_export.py` makes it.
- `OnnxEncoder` is a drop-in for `Embedder.encode` / `Embedder.encode_query` on the query path.

Importing this module imports neither torch, transformers nor sentence_transformers.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.index.query_cache import QueryVectorCache

if TYPE_CHECKING:
    from assistant.config import Settings


# Part of the cache key: bump when the export (graph, inputs, checks) changes incompatibly.
EXPORT_VERSION = 1
MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
META_FILE = "export.json"


# ----------------------------------------------------------------------------------- where it lives
def model_fingerprint(model_path: str | Path) -> str:
    """Hash of the model folder's path and its files' names, sizes and mtimes (cheap: stat only)."""
    root = Path(model_path).resolve()
    parts: list[Any] = [EXPORT_VERSION, str(root)]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError:
                continue
            parts.append([str(path.relative_to(root)), st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


def cache_root(settings: Settings) -> Path:
    if settings.onnx_cache_dir is not None:
        return Path(settings.onnx_cache_dir)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("isms-assistant")) / "onnx"


def export_dir(settings: Settings) -> Path:
    """Folder of the export for the configured model (it may not exist yet)."""
    return cache_root(settings) / model_fingerprint(settings.resolved_model_path())


def find_export(settings: Settings, *, int8: bool = False) -> Path | None:
    """Path of a complete export for the configured model, or None."""
    folder = export_dir(settings)
    model = folder / (INT8_FILE if int8 else MODEL_FILE)
    if model.is_file() and (folder / META_FILE).is_file():
        return model
    return None


# ----------------------------------------------------------------------------------- the encoder
class OnnxEncoder:
    """Normalised float32 embeddings from an exported model; same API as `Embedder` for queries:
    `encode(texts)`, `encode_query(text)` (LRU cache, read-only vectors), `dimension`."""

    def __init__(self, model_file: str | Path, batch_size: int = 32, cache_size: int = 512,
                 tokenizer_dir: str | Path | None = None, threads: int = 1) -> None:
        self.model_file = Path(model_file)
        self.backend = "onnx-int8" if self.model_file.name == INT8_FILE else "onnx"  # recorded in manifests
        meta_file = self.model_file.parent / META_FILE
        self.meta: dict[str, Any] = json.loads(meta_file.read_text(encoding="utf-8"))
        self.model_path = str(tokenizer_dir or self.meta["model_path"])
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._queries = QueryVectorCache(cache_size)
        # One session with a fixed thread count. The query path uses 1 thread: its batches are small and
        # a second thread makes them slower on a busy 2-core machine (same finding as the torch
        # Embedder); a second session for big batches would cost another model load on a cold start.
        # threads=0 lets onnxruntime use every core (ingest-sized workloads).
        self.threads = threads

        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(Path(self.model_path) / "tokenizer.json"))
        # like the transformers tokenizer called by sentence-transformers: truncate to max_seq_length,
        # pad to the longest text of the batch (tokenizer.json's own fixed 128 padding is replaced)
        tokenizer.enable_truncation(max_length=int(self.meta["max_seq_length"]))
        pad_token = "[PAD]"
        pad_id = tokenizer.token_to_id(pad_token)
        if pad_id is None:
            padding = tokenizer.padding or {}
            pad_token, pad_id = padding.get("pad_token", "[PAD]"), padding.get("pad_id", 0)
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
        self._tokenizer = tokenizer
        self._inputs: list[str] = list(self.meta["inputs"])
        # load now: a broken or missing file fails here, where the caller can fall back to torch
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        if threads == 1:
            options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(self.model_file), options, providers=["CPUExecutionProvider"])

    @property
    def dimension(self) -> int:
        return int(self.meta.get("dimension") or self.encode(["dimension probe"]).shape[1])

    def _run(self, session: Any, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
        hidden = session.run(["last_hidden_state"], feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if self.meta.get("normalize", True):
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.astype(np.float32, copy=False)

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:  # noqa: ARG002
        if not texts:
            return np.zeros((0, int(self.meta.get("dimension") or 384)), dtype=np.float32)
        session = self._session
        # longest first in batches of similar length (less padding), like SentenceTransformer.encode
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            vectors = self._run(session, [texts[i] for i in idx])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
        assert out is not None
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self._queries.get_or_encode(text, lambda t: self.encode([t])[0])
