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


def test_stored_and_on_demand_sentence_vectors_match_fresh_encoding(small_assistant: Assistant) -> None:
    from assistant.answer.grounded import UnitVectors, candidate_units
    from assistant.index import store
    from assistant.index.sentences import FILE_NAME

    assistant = small_assistant
    _, result = assistant.retrieve(QUESTION, top_k=4)
    units = candidate_units(result.hits)
    assert units
    fresh = assistant.embedder.encode([u.text[:400] for u in units])
    vectors = assistant.index.unit_vectors
    assert vectors.stored() is not None  # the ingest wrote sentences.npz: no model call at answer time
    stored = vectors.for_units(units)
    assert stored.dtype == np.float32 and stored.shape == fresh.shape
    assert np.allclose(stored, fresh, atol=2e-3)  # float16 on disk
    assert np.array_equal(stored, vectors.for_units(units))

    folder = store.gen_dir(assistant.settings.index_dir, assistant.index.generation.number)
    (folder / FILE_NAME).unlink()
    on_demand = UnitVectors(assistant.embedder, folder)
    assert on_demand.stored() is None
    first = on_demand.for_units(units)
    assert np.allclose(first, fresh, atol=1e-5) and np.array_equal(first, on_demand.for_units(units))


def test_sentence_vectors_follow_the_corpus_and_survive_damage(small_assistant: Assistant) -> None:
    from assistant.index import store
    from assistant.index.sentences import FILE_NAME, SentenceVectors

    assistant = small_assistant
    settings = assistant.settings
    gen = assistant.index.generation
    full = SentenceVectors.load(store.gen_dir(settings.index_dir, gen.number))
    assert full is not None and set(full.by_id) == {c.id for c in gen.chunks}

    _write_fact(settings.corpus_dir, NEW_FACT)  # one section changes: only its sentences are embedded again
    summary = assistant.ingest()
    assert 0 < summary.sentences_embedded <= 10
    folder = store.gen_dir(settings.index_dir, summary.generation)
    after = SentenceVectors.load(folder)
    new_gen = assistant.index.generation
    assert after is not None and set(after.by_id) == {c.id for c in new_gen.chunks}
    changed = next(c for c in new_gen.chunks if "Vault Keeper" in c.text)
    expected = assistant.embedder.encode([u.text[:400] for u in _units(changed)])
    assert np.allclose(after.by_id[changed.id].astype(np.float32), expected, atol=2e-3)

    # Damaged or missing file: answers stay right (vectors embedded on demand); the next ingest repairs it.
    (folder / FILE_NAME).write_bytes(b"not a numpy file")
    (folder / ".sentences-killed.npz").write_bytes(b"half")  # what a SIGKILL mid-write would leave
    reopened = Assistant(settings)
    assert reopened.index.unit_vectors.stored() is None
    assert "Vault Keeper" in _cited_text(reopened.ask(QUESTION, llm=False))
    again = run_ingest(settings)
    assert not again.changed_anything and again.sentences_embedded > 0
    assert SentenceVectors.load(folder) is not None and not list(folder.glob(".sentences-*"))
    assert run_ingest(settings).sentences_embedded == 0  # complete now: nothing more to do


def _units(chunk):  # noqa: ANN001, ANN202
    from assistant.answer.units import split_units

    return split_units(chunk)
