"""ONNX Runtime query encoder: the packaged sentence-transformers model exported locally to ONNX.

Why: a fresh `isms-assistant ask` used to spend 10-25 s importing torch, transformers and
sentence-transformers before answering. The query path only needs the transformer's forward, the
tokenizer, mean pooling and L2 normalisation — onnxruntime (already installed with chromadb) and the
`tokenizers` package do that in a fraction of a second.

- `export_onnx(model_path, out_dir)` exports the transformer's forward with torch (run by the ingest,
  which has torch loaded anyway, or by `isms-assistant export-onnx`). Nothing is downloaded.
- `ensure_onnx_export(settings)` makes the export once per model version in the cache folder
  (idempotent; never raises) and checks it against the torch model before publishing it.
- `OnnxEncoder` is a drop-in for `Embedder.encode` / `Embedder.encode_query` on the query path.

Importing this module imports neither torch, transformers nor sentence_transformers (torch is
imported inside `export_onnx` only).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.index.query_cache import QueryVectorCache

if TYPE_CHECKING:
    from assistant.config import Settings

log = logging.getLogger(__name__)

# Part of the cache key: bump when the export (graph, inputs, checks) changes incompatibly.
EXPORT_VERSION = 1
MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
META_FILE = "export.json"
# The exported model must reproduce the torch vectors this closely (cosine) on the probe texts.
MIN_COSINE = 0.99999

_PROBES = [
    "How often are access rights reviewed?",
    "who approves access",
    "Annex A 5.15 access control; A.9.2.5 review of user access rights (2013).",
    "Backups are encrypted with AES-256 and tested quarterly; restore tests are logged by the IT manager. " * 8,
    "Ünïcödé — naïve café, 日本語のテキスト, emoji 🙂, tabs\tand\nnewlines",
    "x",
]


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


# ----------------------------------------------------------------------------------- export (torch)
class ExportUnsupported(RuntimeError):
    """The model folder is not one this exporter reproduces exactly (other pooling, extra layers …)."""


def _model_layout(model_path: Path) -> dict[str, Any]:
    """Check the sentence-transformers folder is Transformer → mean Pooling → (Normalize) and read
    the settings the ONNX encoder needs to tokenize exactly like the torch model."""
    if not (model_path / "tokenizer.json").is_file():
        raise ExportUnsupported("no tokenizer.json (fast tokenizer) in the model folder")
    modules_file = model_path / "modules.json"
    if not modules_file.is_file():
        raise ExportUnsupported("no modules.json: not a sentence-transformers folder")
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        raise ExportUnsupported(f"unsupported module layout {kinds}")
    if modules[0].get("path"):
        raise ExportUnsupported("the transformer is not at the root of the model folder")
    pooling_dir = model_path / modules[1].get("path", "1_Pooling")
    pooling = json.loads((pooling_dir / "config.json").read_text(encoding="utf-8"))
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise ExportUnsupported(f"unsupported pooling {modes}")
    st_config: dict[str, Any] = {}
    if (model_path / "sentence_bert_config.json").is_file():
        st_config = json.loads((model_path / "sentence_bert_config.json").read_text(encoding="utf-8"))
    if st_config.get("do_lower_case"):
        raise ExportUnsupported("do_lower_case in sentence_bert_config.json is not reproduced")
    return {"normalize": kinds[-1] == "Normalize", "dimension": int(pooling.get("word_embedding_dimension", 0))}


def export_onnx(model_path: str | Path, out_dir: str | Path, *, opset: int = 17) -> Path:
    """Export the transformer's forward of a local sentence-transformers folder to `out_dir/model.onnx`.

    Inputs input_ids / attention_mask (/ token_type_ids when the model takes them), dynamic batch and
    sequence axes; output last_hidden_state. Also writes `export.json` (tokenizer and pooling settings).
    Offline: loads from the folder only. Imports torch and transformers (slow); raises on failure.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model_path = Path(model_path)
    out_dir = Path(out_dir)
    layout = _model_layout(model_path)  # before the slow imports: an unsupported folder fails fast
    import inspect

    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    st = SentenceTransformer(str(model_path), device="cpu")  # the max_seq_length the torch path uses
    max_seq_length = int(st.max_seq_length)
    del st
    # eager attention: sdpa's mask shortcuts are traced as constants of the example shape
    model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()
    takes_types = "token_type_ids" in inspect.signature(model.forward).parameters and bool(
        getattr(model.config, "type_vocab_size", 0)
    )
    input_names = ["input_ids", "attention_mask"] + (["token_type_ids"] if takes_types else [])

    class _Forward(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: ANN001, ANN201
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            return self.inner(**kwargs).last_hidden_state

    example = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    mask[1, 10:] = 0  # a padded row, so nothing is specialised to "no padding"
    args: tuple[Any, ...] = (example, mask) + ((torch.zeros_like(example),) if takes_types else ())
    dynamic = {name: {0: "batch", 1: "sequence"} for name in [*input_names, "last_hidden_state"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / MODEL_FILE
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Forward(model), args, str(target), input_names=input_names, output_names=["last_hidden_state"],
            dynamic_axes=dynamic, opset_version=opset, dynamo=False,
        )
    meta = {
        "export_version": EXPORT_VERSION,
        "model_path": str(model_path.resolve()),
        "max_seq_length": max_seq_length,
        "inputs": input_names,
        "pooling": "mean",
        "normalize": layout["normalize"],
        "dimension": layout["dimension"],
        "opset": opset,
        "torch": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return target


def quantize_int8(model_file: str | Path, out_file: str | Path | None = None) -> Path:
    """Dynamic int8 quantization of an exported model (weights int8 per output channel, activations
    quantized at run time). Per-channel matters: per-tensor weights gave mean cosine 0.951 to the fp32
    vectors on the sample chunks, per-channel 0.992, at the same speed."""
    import logging as _logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    model_file = Path(model_file)
    out = Path(out_file) if out_file else model_file.with_name(INT8_FILE)
    root = _logging.getLogger()
    level = root.level
    root.setLevel(_logging.ERROR)  # quantize_dynamic logs a "consider pre-processing" warning on the root logger
    try:
        quantize_dynamic(str(model_file), str(out), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    return out


def verify_export(model_file: str | Path, torch_encoder: Any, texts: list[str] | None = None) -> float:
    """Smallest cosine between the ONNX and the torch vectors on the probe texts."""
    onnx_vectors = OnnxEncoder(model_file).encode(texts or _PROBES)
    torch_vectors = torch_encoder.encode(texts or _PROBES)
    return float(np.min(np.sum(onnx_vectors * torch_vectors, axis=1)))


_export_lock = threading.Lock()


def build_export(settings: Settings, *, force: bool = False) -> Path:
    """Make the ONNX export of the configured model unless it exists (`force`: make it again).

    Exports into a temporary folder, checks the ONNX vectors against the torch model (cosine ≥
    MIN_COSINE on probe texts) and only then renames the folder into place, so a reader never sees a
    half-written export. Raises on failure (`ensure_onnx_export` is the never-raising wrapper).
    """
    existing = find_export(settings)
    if existing is not None and not force:
        return existing
    with _export_lock:
        model_path = settings.resolved_model_path()
        final = export_dir(settings)
        final.parent.mkdir(parents=True, exist_ok=True)
        # a model this exporter cannot reproduce is remembered (per model version): later ingests skip it
        unsupported = final.with_name(final.name + ".unsupported")
        if unsupported.is_file() and not force:
            raise ExportUnsupported(unsupported.read_text(encoding="utf-8").strip())
        for stale in final.parent.glob(f".{final.name}.*"):  # left by a killed export
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > 3600:
                    shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        tmp.chmod(0o755)  # mkdtemp makes it 0700; the published export is an ordinary cache folder
        try:
            try:
                model_file = export_onnx(model_path, tmp)
                from assistant.index.embedder import get_embedder

                cosine = verify_export(model_file, get_embedder(model_path, settings.embedding_batch_size))
                if cosine < MIN_COSINE:
                    raise ExportUnsupported(f"ONNX vectors differ from torch (min cosine {cosine:.7f})")
            except ExportUnsupported as exc:
                unsupported.write_text(f"{model_path}: {exc}\n", encoding="utf-8")
                raise
            unsupported.unlink(missing_ok=True)
            meta = json.loads((tmp / META_FILE).read_text(encoding="utf-8"))
            meta["verified_min_cosine"] = cosine
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.replace(tmp, final)
            except OSError:  # another process published the same export meanwhile
                if find_export(settings) is None:
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    found = find_export(settings)
    if found is None:
        raise RuntimeError(f"the export vanished from {final}")
    log.info("ONNX query encoder exported to %s", found)
    return found


def build_int8(settings: Settings) -> Path:
    """The int8 copy of the export (`embedding_backend = "onnx-int8"`), made now if missing: the fp32
    export first (torch), then quantized into a temporary file renamed into place. Raises on failure."""
    existing = find_export(settings, int8=True)
    if existing is not None:
        return existing
    model_file = build_export(settings)
    with _export_lock:
        target = model_file.with_name(INT8_FILE)
        if not target.is_file():
            fd, tmp_name = tempfile.mkstemp(prefix=".int8.", suffix=".onnx", dir=model_file.parent)
            os.close(fd)
            try:
                quantize_int8(model_file, tmp_name)
                os.replace(tmp_name, target)
            finally:
                Path(tmp_name).unlink(missing_ok=True)
    return target


def ensure_onnx_export(settings: Settings) -> Path | None:
    """The ingest hook: the ONNX export of the configured model, made now if missing.

    Cheap when the export exists (a few stat calls). Never raises: on any failure it logs and returns
    None (the query path then keeps using torch). Does nothing when `query_encoder` is "torch".
    """
    if settings.query_encoder == "torch":
        return None
    try:
        return build_export(settings)
    except Exception as exc:  # noqa: BLE001 - the export is an optimisation; never fail the caller
        log.warning("ONNX export failed, queries keep using torch: %s: %s", exc.__class__.__name__, exc)
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
