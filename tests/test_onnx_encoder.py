"""The ONNX Runtime query encoder: same vectors and rankings as torch, no torch on the `ask` path,
torch fallback when the export is missing or broken."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
HEAVY = ("torch", "transformers", "sentence_transformers", "langchain_core", "langchain_huggingface",
         "streamlit")

TEXTS = [
    "How often are access rights reviewed?",
    "who approves access",
    "Who approves emergency changes outside office hours?",
    "what is 5.15",
    "A.9.2.5",
    "Annex A 8.13 information backup",
    "R-07 ransomware on the file server",
    "password length minimum 14 characters, no forced periodic change",
    "Can I use my own laptop from home to check my work email?",
    "Report a lost phone to the service desk within 1 hour.",
    "x",
    "?",
    "   leading and trailing spaces   ",
    "UPPER CASE SHOUTING ABOUT THE FIREWALL",
    "mixed Case iSMS sCoPe",
    "Ünïcödé — naïve café, résumé, Straße",
    "日本語のテキストと中文字符",
    "emoji 🙂🔐💾 in a sentence",
    "tabs\tand\nnew\nlines\r\nand carriage returns",
    "numbers 1 2 3 4.5 6,000 7% 2024-05-01 12:30",
    "urls https://example.com/a?b=c and emails security@example.org",
    "code `rm -rf /` and {\"json\": [1, 2]}",
    "| Risk ID | Likelihood | Impact | Treatment |",
    "- bullet item one\n- bullet item two\n1. numbered",
    "The quick brown fox jumps over the lazy dog.",
    "Backups are encrypted with AES-256 and tested quarterly.",
    "Supplier security requirements are agreed in contracts and reviewed annually.",
    "Cryptographic keys are rotated every 12 months by the platform team.",
    "Incidents are classified P1 to P4; P1 incidents are escalated to the CISO immediately.",
    "Visitors sign in at reception and are escorted at all times.",
    "Clear desk: lock your screen when you leave your desk.",
    "Data is classified as public, internal, confidential or restricted.",
    "The SoA lists 93 controls; 88 are applicable.",
    "Privileged accounts use hardware security keys.",
    "Logs are retained for 13 months and monitored by the SOC.",
    "Vulnerabilities rated critical are patched within 14 days.",
    "Business continuity plans are tested once a year.",
    "Remote workers must use the company VPN on public Wi-Fi.",
    "Removable media is blocked on all laptops.",
    "Security awareness training is mandatory for new starters in their first week.",
    "word " * 40,
    "repeated boilerplate. " * 60,
    "A very long passage about access control policy. " * 80,  # far over 256 tokens: truncated
    ("Access reviews are run quarterly for privileged accounts and for every system that holds customer "
     "data. All other systems are reviewed every six months. Security Operations runs the review campaign; "
     "system owners and line managers attest to each entitlement."),
    "ok",
    "no",
    "policy",
    "what does the risk register say about phishing and who owns that risk?",
    "Quelle est la politique de mots de passe ?",
    "¿Quién aprueba los cambios de emergencia?",
]


def _settings(index_dir: Path, **kw):  # noqa: ANN202 - assistant.config.Settings
    from assistant.config import Settings

    return Settings(corpus_dir=CORPUS, index_dir=index_dir, **kw)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the ONNX export of the packaged model (exported here, into tmp)."""
    from assistant.index.onnx_encoder import find_export
    from assistant.index.onnx_export import build_export

    cache = tmp_path_factory.mktemp("onnx-cache")
    settings = _settings(tmp_path_factory.mktemp("unused-index"), onnx_cache_dir=cache)
    model_file = build_export(settings)
    assert model_file == find_export(settings)
    meta = json.loads((model_file.parent / "export.json").read_text())
    assert meta["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert meta["max_seq_length"] == 256 and meta["verified_min_cosine"] >= 0.99999
    return cache


@pytest.fixture(scope="session")
def onnx_assistant(sample_index: Path, onnx_cache: Path):  # noqa: ANN201
    from assistant.service import Assistant

    return Assistant(_settings(sample_index, onnx_cache_dir=onnx_cache, query_encoder="auto"))


@pytest.fixture(scope="session")
def torch_assistant(sample_index: Path):  # noqa: ANN201
    from assistant.service import Assistant

    return Assistant(_settings(sample_index, query_encoder="torch"))


def test_importing_the_onnx_encoder_imports_no_torch() -> None:
    code = ("import sys, assistant.index.onnx_encoder, assistant.index.onnx_export, assistant.index.encoders, "
            "assistant.service, assistant.cli; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_onnx_vectors_match_torch(onnx_assistant, torch_assistant) -> None:  # noqa: ANN001
    from assistant.index.embedder import Embedder
    from assistant.index.onnx_encoder import OnnxEncoder

    onnx, torch_ = onnx_assistant.query_encoder, torch_assistant.query_encoder
    assert isinstance(onnx, OnnxEncoder) and isinstance(torch_, Embedder)
    assert len(TEXTS) == 50
    a, b = onnx.encode(TEXTS), torch_.encode(TEXTS)
    assert a.shape == b.shape == (50, 384) and a.dtype == np.float32
    cosine = np.sum(a * b, axis=1)
    assert cosine.min() >= 0.99999, {TEXTS[i][:40]: float(cosine[i]) for i in np.argsort(cosine)[:3]}
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # batching and padding do not change a text's vector
    for i in (0, 11, 42):
        assert np.dot(onnx.encode([TEXTS[i]])[0], a[i]) >= 0.99999
    assert onnx.encode([]).shape == (0, 384)


def test_onnx_query_cache_like_the_embedder(onnx_assistant) -> None:  # noqa: ANN001
    encoder = onnx_assistant.query_encoder
    question = "Who keeps the cryptographic keys?"
    first = encoder.encode_query(question)
    assert encoder.encode_query(question) is first
    assert np.allclose(first, encoder.encode([question])[0], atol=1e-6)
    with pytest.raises(ValueError):
        first[0] = 1.0  # read-only: shared by every caller of the cache
    assert first.shape == (384,) and first.dtype == np.float32


def test_rankings_identical_on_dev_questions(onnx_assistant, torch_assistant) -> None:  # noqa: ANN001
    from assistant.evaluation.harness import DEFAULT_QUESTIONS, load_questions, select_split
    from assistant.index.onnx_encoder import OnnxEncoder

    assert isinstance(onnx_assistant.index.retriever.embedder, OnnxEncoder)
    questions = select_split(load_questions(Path(DEFAULT_QUESTIONS)), "dev")
    assert len(questions) >= 50
    for q in questions:
        for mode in ("hybrid", "dense"):
            _, want = torch_assistant.retrieve(q.question, role=q.role, mode=mode, top_k=10)
            _, got = onnx_assistant.retrieve(q.question, role=q.role, mode=mode, top_k=10)
            assert [h.chunk.id for h in got.hits] == [h.chunk.id for h in want.hits], (q.id, mode)
            assert np.dot(got.query_vector, want.query_vector) >= 0.99999


def test_ask_with_export_never_imports_torch(sample_index: Path, onnx_cache: Path) -> None:
    script = (
        "import json, sys\n"
        "from assistant.cli import app\n"
        "try:\n"
        "    app(['ask', 'how often are access rights reviewed?', '--json', '--no-llm'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    env = dict(os.environ, ISMS_INDEX_DIR=str(sample_index), ISMS_CORPUS_DIR=str(CORPUS),
               ISMS_ONNX_CACHE_DIR=str(onnx_cache), ISMS_QUERY_ENCODER="auto")
    env.pop("ISMS_LLM_BASE_URL", None)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stderr.strip().splitlines()[-1]) == []
    answer = json.loads(out.stdout)
    assert not answer["abstained"] and "quarterly" in answer["answer"].lower()


def test_missing_or_broken_export_falls_back_to_torch(sample_index: Path, tmp_path: Path, caplog,  # noqa: ANN001
                                                      monkeypatch) -> None:  # noqa: ANN001
    from assistant.index import encoders
    from assistant.index.embedder import Embedder
    from assistant.index.onnx_encoder import export_dir
    from assistant.service import Assistant

    monkeypatch.setattr(encoders, "_fallback_logged", False)
    caplog.set_level(logging.INFO, logger="assistant.index")
    missing = Assistant(_settings(sample_index, onnx_cache_dir=tmp_path / "empty"))
    assert isinstance(missing.query_encoder, Embedder)
    answer = missing.ask("how often are access rights reviewed?", llm=False)
    assert not answer.abstained and "quarterly" in answer.answer.lower()
    assert isinstance(missing.index.retriever.embedder, Embedder)
    assert sum("no ONNX export" in r.getMessage() for r in caplog.records) == 1  # logged once

    broken_settings = _settings(sample_index, onnx_cache_dir=tmp_path / "broken")
    folder = export_dir(broken_settings)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"not an onnx model")
    (folder / "export.json").write_text(json.dumps({"model_path": broken_settings.resolved_model_path(),
                                                    "max_seq_length": 256, "inputs": ["input_ids"]}))
    broken = Assistant(broken_settings)
    assert isinstance(broken.query_encoder, Embedder)
    assert not broken.ask("who approves access?", llm=False).abstained
    assert len([r for r in caplog.records if "ONNX" in r.getMessage()]) == 1  # still only the first message


def test_torch_setting_ignores_the_export(sample_index: Path, onnx_cache: Path) -> None:
    from assistant.index.embedder import Embedder
    from assistant.index.encoders import get_query_encoder
    from assistant.index.onnx_export import ensure_onnx_export

    settings = _settings(sample_index, onnx_cache_dir=onnx_cache, query_encoder="torch")
    assert isinstance(get_query_encoder(settings), Embedder)
    assert ensure_onnx_export(settings) is None  # the ingest hook does nothing either


def test_ensure_export_is_cheap_when_present_and_never_raises(sample_index: Path, onnx_cache: Path,
                                                             tmp_path: Path) -> None:
    import time

    from assistant.index.onnx_encoder import find_export
    from assistant.index.onnx_export import ensure_onnx_export

    settings = _settings(sample_index, onnx_cache_dir=onnx_cache)
    t = time.perf_counter()
    assert ensure_onnx_export(settings) == find_export(settings)
    assert time.perf_counter() - t < 1.0
    # a model folder the exporter does not support: no export, no exception
    bogus = tmp_path / "model"
    bogus.mkdir()
    (bogus / "config.json").write_text("{}")
    other = _settings(sample_index, onnx_cache_dir=tmp_path / "cache", embedding_model=str(bogus))
    assert ensure_onnx_export(other) is None
    assert find_export(other) is None
    marker = next((tmp_path / "cache").glob("*.unsupported"))  # remembered: later ingests skip it at once
    assert "tokenizer.json" in marker.read_text()
    assert ensure_onnx_export(other) is None


def test_changed_model_files_change_the_export_folder(tmp_path: Path) -> None:
    """The export is keyed by the model folder's files: an updated model never uses a stale export."""
    from assistant.config import Settings
    from assistant.index.onnx_encoder import model_fingerprint

    packaged = Path(Settings().resolved_model_path())
    copy = tmp_path / "model"
    copy.mkdir()
    for f in packaged.iterdir():
        (copy / f.name).symlink_to(f)
    before = model_fingerprint(copy)
    assert model_fingerprint(copy) == before
    (copy / "README.md").unlink()
    (copy / "README.md").write_text("changed")
    assert model_fingerprint(copy) != before
    assert model_fingerprint(packaged) != before  # the path is part of the key too


# ----------------------------------------------------------------------------- int8 document backend
def test_int8_backend_encoders(tmp_path: Path, onnx_cache: Path) -> None:
    from assistant.index.embedder import Embedder
    from assistant.index.encoders import encoder_backend, get_document_encoder, get_query_encoder
    from assistant.index.onnx_encoder import OnnxEncoder, find_export

    settings = _settings(tmp_path, onnx_cache_dir=onnx_cache, embedding_backend="onnx-int8",
                         query_encoder="torch")
    docs = get_document_encoder(settings)
    assert isinstance(docs, OnnxEncoder) and encoder_backend(docs) == "onnx-int8"
    assert find_export(settings, int8=True) is not None
    # an int8 index is queried with int8, whatever query_encoder says
    queries = get_query_encoder(settings, "onnx-int8")
    assert encoder_backend(queries) == "onnx-int8" and queries.threads == 1
    assert isinstance(get_query_encoder(settings, "torch"), Embedder)
    assert encoder_backend(get_query_encoder(settings.model_copy(update={"query_encoder": "auto"}))) == "onnx"
    fp32 = get_document_encoder(settings.model_copy(update={"embedding_backend": "torch"}))
    assert isinstance(fp32, Embedder) and encoder_backend(fp32) == "torch"
    a, b = docs.encode(TEXTS), fp32.encode(TEXTS)
    cosine = np.sum(a * b, axis=1)
    assert cosine.min() > 0.95 and cosine.mean() > 0.98  # close, not identical: that is what int8 costs


def test_ingest_exports_and_changing_the_backend_reembeds(corpus_copy: Path, tmp_path: Path) -> None:
    from assistant.index import store
    from assistant.index.encoders import encoder_backend
    from assistant.index.onnx_encoder import find_export
    from assistant.service import Assistant

    small = tmp_path / "small"
    (small / "policies").mkdir(parents=True)
    for name in ("access-control-policy.md", "remote-working-policy.md"):
        (small / "policies" / name).write_bytes((corpus_copy / "policies" / name).read_bytes())
    index = tmp_path / "index"
    base = _settings(index, onnx_cache_dir=tmp_path / "cache").model_copy(update={"corpus_dir": small})
    assert find_export(base) is None
    first = Assistant(base).ingest()
    assert find_export(base) is not None  # the ingest hook made the ONNX query encoder
    assert store.load_generation(index).manifest.get("embedding_backend", "torch") == "torch"
    assert encoder_backend(Assistant(base).query_encoder) == "onnx"
    int8 = Assistant(base.model_copy(update={"embedding_backend": "onnx-int8"}))
    summary = int8.ingest()
    assert summary.embedded == first.chunks and summary.copied == 0  # everything embedded again
    assert store.load_generation(index).manifest["embedding_backend"] == "onnx-int8"
    assert encoder_backend(int8.query_encoder) == "onnx-int8"
    # the same index opened with default settings still queries with int8 (the manifest decides)
    default = Assistant(base)
    assert encoder_backend(default.query_encoder) == "onnx-int8"
    assert not default.ask("how often are access rights reviewed?", llm=False).abstained
