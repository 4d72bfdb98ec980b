"""Shared fixtures: one real ingest of the sample corpus per test session (real model, real Chroma)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# the ingest exports the ONNX query encoder once per cache folder: one per test session, never the user's cache
os.environ.setdefault("ISMS_ONNX_CACHE_DIR", tempfile.mkdtemp(prefix="isms-onnx-test-"))

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Index folder holding an ingest of the sample corpus. Treat it as read-only."""
    from assistant.config import Settings
    from assistant.ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("sample-index")
    settings = Settings(corpus_dir=CORPUS, index_dir=root)
    run_ingest(settings)
    return root


@pytest.fixture(scope="session")
def assistant(sample_index: Path):  # noqa: ANN201 - assistant.service.Assistant
    from assistant.config import Settings
    from assistant.service import Assistant

    return Assistant(Settings(corpus_dir=CORPUS, index_dir=sample_index))


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private, writable copy of the sample corpus."""
    dest = tmp_path / "corpus"
    shutil.copytree(CORPUS, dest)
    return dest
