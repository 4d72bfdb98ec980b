"""Caches never serve stale data: a changed document is answered from its new text through the same
Assistant instance (query-embedding cache, sentence-vector cache, lexical index and loaded generation
all in play), and the query-embedding cache returns the vectors a fresh encode gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.ingest.pipeline import run_ingest
from assistant.service import Assistant

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
FILES = ["procedures/backup-and-restore-procedure.md", "people/new-starter-security-guide.txt"]
DOC = FILES[0]
QUESTION = "How often are the zebra-striped archive tapes audited, and by whom?"
OLD_FACT = "The zebra-striped archive tapes are audited every leap year by the Facilities Manager."
NEW_FACT = "The zebra-striped archive tapes are audited every full moon by the Vault Keeper."


def _cited_text(answer) -> str:  # noqa: ANN001 - Answer
    return "\n".join(c.text + "\n" + "\n".join(c.quotes) for c in answer.citations) + "\n" + answer.answer


def _write_fact(corpus: Path, fact: str) -> None:
    original = (CORPUS / DOC).read_text(encoding="utf-8")
    (corpus / DOC).write_text(original + f"\n## 99 Archive tape audits\n\n{fact}\n", encoding="utf-8")


@pytest.fixture
def small_assistant(tmp_path: Path) -> Assistant:
    corpus = tmp_path / "corpus"
    for rel in FILES:
        (corpus / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / rel, corpus / rel)
    _write_fact(corpus, OLD_FACT)
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"))
    assistant.ingest()
    return assistant


def test_changed_document_is_never_served_from_a_stale_cache(small_assistant: Assistant) -> None:
    assistant = small_assistant
    corpus = assistant.settings.corpus_dir
    before = assistant.ask(QUESTION, llm=False)
    assert not before.abstained and "leap year" in _cited_text(before)
    assert before.citations[0].source == DOC
    assert assistant.ask(QUESTION, llm=False).answer == before.answer  # warm caches give the same answer

    _write_fact(corpus, NEW_FACT)
    summary = assistant.ingest()  # the same instance re-ingests
    assert summary.changed == [DOC]
    after = assistant.ask(QUESTION, llm=False)
    text = _cited_text(after)
    assert not after.abstained and "full moon" in text and "Vault Keeper" in text
    assert "leap year" not in text

    # An ingest by someone else (another process, another Assistant) is noticed too.
    _write_fact(corpus, OLD_FACT.replace("leap year", "blue moon"))
    run_ingest(Settings(corpus_dir=corpus, index_dir=assistant.settings.index_dir))
    third = _cited_text(assistant.ask(QUESTION, llm=False))
    assert "blue moon" in third and "full moon" not in third and "leap year" not in third

    _, result = assistant.retrieve(QUESTION, top_k=10)
    assert all("full moon" not in h.chunk.text and "leap year" not in h.chunk.text for h in result.hits)
    lexical = assistant.index.lexical.search("zebra striped archive tapes full moon vault keeper", 3, 10)
    assert all("full moon" not in chunk.text for chunk, _ in lexical)


def test_query_embedding_cache_returns_identical_vectors(small_assistant: Assistant) -> None:
    embedder = small_assistant.embedder
    question = "Who approves emergency changes outside office hours?"
    first = embedder.encode_query(question)
    second = embedder.encode_query(question)
    assert np.array_equal(first, second)
    fresh = embedder.encode([question])[0]  # bypasses the cache
    assert np.allclose(first, fresh, atol=1e-5)
    assert first.dtype == np.float32 and first.shape == (384,)
    assert abs(float(np.linalg.norm(first)) - 1.0) < 1e-4
    other = embedder.encode_query(question + " And who reviews them?")
    assert not np.allclose(first, other)
    with pytest.raises(ValueError):
        first[0] = 42.0  # cached vectors are read-only: a caller cannot corrupt the cache
    assert np.array_equal(embedder.encode_query(question), second)


def test_sentence_vectors_cached_per_chunk_match_fresh_encoding(small_assistant: Assistant) -> None:
    from assistant.answer.grounded import candidate_units

    assistant = small_assistant
    _, result = assistant.retrieve(QUESTION, top_k=4)
    units = candidate_units(result.hits)
    assert units
    vectors = assistant.index.unit_vectors
    cached_once = vectors.for_units(units)
    cached_twice = vectors.for_units(units)
    assert np.array_equal(cached_once, cached_twice)
    fresh = assistant.embedder.encode([u.text[:400] for u in units])
    assert np.allclose(cached_once, fresh, atol=1e-5)
