"""Making the ONNX export of the embedding model: export with torch, check against torch, quantize.

- `export_onnx(model_path, out_dir)` exports the transformer's forward with torch (run by the ingest,
  which has torch loaded anyway, or by `isms-assistant export-onnx`). Nothing is downloaded.
- `build_export(settings)` makes the export once per model version in the cache folder, checking it
  against the torch `Embedder` before publishing it; `build_int8(settings)` adds the int8 copy.
- `ensure_onnx_export(settings)` is the ingest hook: the same, idempotent, never raises.

Where exports live and the encoder that reads them: `assistant/index/onnx_encoder.py`. Importing this
module imports neither torch, transformers nor sentence_transformers (torch is imported inside
`export_onnx` and by the `Embedder` the check loads).
"""

from __future__ import annotations

import contextlib
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

from assistant.index.embedder import get_embedder
from assistant.index.onnx_encoder import (
    EXPORT_VERSION,
    INT8_FILE,
    META_FILE,
    MODEL_FILE,
    OnnxEncoder,
    export_dir,
    find_export,
)

if TYPE_CHECKING:
    from assistant.config import Settings

log = logging.getLogger(__name__)

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
