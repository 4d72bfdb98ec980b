"""Ingest on real files with the real model and real Chroma: incremental behaviour, bad input, crash safety,
locking, and the same ingest against a real `chroma run` server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import IngestLocked
from assistant.index import store
from assistant.index.collection import VectorStore
from assistant.ingest.pipeline import INDEX_FORMAT, run_ingest
from assistant.service import Assistant

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evals.bench import chroma_server as run_chroma_server  # noqa: E402

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
SMALL = ["procedures/backup-and-restore-procedure.md", "policies/access-control-policy.md",
         "people/new-starter-security-guide.txt", "registers/risk-register.csv"]


def small_corpus(dest: Path) -> Path:
    for rel in SMALL:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / rel, dest / rel)
    return dest


def sources_for(assistant: Assistant, question: str, role: str = "isms-lead") -> list[str]:
    _, result = assistant.retrieve(question, role=role, top_k=10)
    return [h.chunk.source for h in result.hits]


def test_sample_corpus_ingest_indexes_every_file(sample_index: Path, assistant: Assistant) -> None:
    gen = store.load_generation(sample_index)
    files = gen.manifest["files"]
    on_disk = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.is_file())
    assert sorted(files) == on_disk and gen.manifest["skipped"] == {}
    assert files["records/hr-investigation-note-2026-003.md"]["classification"] == "restricted"
    assert files["plans/ict-readiness-and-disaster-recovery-plan.pdf"]["classification"] == "confidential"
    assert files["procedures/privileged-access-procedure.md"]["classification"] == "confidential"
    chunk = next(c for c in gen.chunks if c.source == "procedures/user-access-management-procedure.md")
    assert chunk.title == "User Access Management Procedure" and chunk.span_unit == "line" and chunk.text_hash
    risk_rows = [c for c in gen.chunks if c.kind == "risk"]
    soa_rows = [c for c in gen.chunks if c.kind == "soa"]
    assert len(risk_rows) == 45 and len(soa_rows) == 93
    status = assistant.status()
    assert status["files"] == len(on_disk) and status["chunks"] == len(gen.chunks)


def test_incremental_reingest_edit_and_delete(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    first = run_ingest(settings)
    assert first.embedded == first.chunks > 0 and len(first.added) == len(SMALL)

    def search_breadth() -> int:
        number = store.read_current(settings.index_dir)
        return VectorStore(settings, settings.index_dir).open(number).search_breadth

    assert search_breadth() == settings.hnsw_ef_search == 200
    # an unchanged re-ingest embeds nothing, keeps the generation, and applies a changed ISMS_HNSW_EF_SEARCH
    second = run_ingest(settings.model_copy(update={"hnsw_ef_search": 120}))
    assert second.embedded == 0 and second.generation == first.generation
    assert len(second.unchanged) == len(SMALL) and not second.changed_anything
    assert search_breadth() == 120

    before = store.load_generation(settings.index_dir)
    backup_chunks = [c for c in before.chunks if c.source == SMALL[0]]
    path = corpus / SMALL[0]
    path.write_text(path.read_text(encoding="utf-8") + "\n## 99 Annual tape audit\n\nThe zebra-striped tapes are "
                    "audited every leap year by the Facilities Manager.\n", encoding="utf-8")
    third = run_ingest(settings)
    assert third.changed == [SMALL[0]] and third.generation == first.generation + 1
    assert search_breadth() == 200  # the new generation's collection, made with the setting
    assert third.embedded >= 1 and third.embedded <= len(backup_chunks) + 1
    after = store.load_generation(settings.index_dir)
    untouched_before = {c.id for c in before.chunks if c.source != SMALL[0]}
    untouched_after = {c.id for c in after.chunks if c.source != SMALL[0]}
    assert untouched_before == untouched_after
    assistant = Assistant(settings)
    assert sources_for(assistant, "zebra-striped tapes leap year audit")[0] == SMALL[0]

    (corpus / SMALL[1]).unlink()
    fourth = run_ingest(settings)
    assert fourth.removed == [SMALL[1]]
    assert SMALL[1] not in sources_for(assistant, "who approves access requests and how often are access rights reviewed")
    # old generations and collections are cleaned up
    assert [p.name for p in settings.index_dir.glob("gen-*")] == [f"gen-{fourth.generation:06d}"]


def test_an_index_an_older_reader_built_is_read_again_in_full(tmp_path: Path) -> None:
    # a reader that now keeps more of a file (a risk row's controls cell in words) must see every file again,
    # though none changed on disk
    corpus = small_corpus(tmp_path / "corpus")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    first = run_ingest(settings)
    manifest_path = settings.index_dir / f"gen-{first.generation:06d}" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["format"] = INDEX_FORMAT - 1
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    second = run_ingest(settings)
    assert second.unchanged == [] and sorted(second.added) == sorted(SMALL)
    assert store.load_generation(settings.index_dir).manifest["format"] == INDEX_FORMAT


def test_bad_files_never_abort_the_ingest_and_are_reported(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    bad = corpus / "bad"
    bad.mkdir()
    (bad / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 8)
    (bad / "empty.md").write_bytes(b"")
    (bad / "broken.pdf").write_bytes(b"%PDF-1.4\n%%garbage")
    (bad / "broken.docx").write_bytes(b"PK\x03\x04garbage")
    (bad / "broken.xlsx").write_bytes(b"\x00\x01\x02")
    (bad / "huge.md").write_text("# Huge\n\n" + "x" * 2_200_000, encoding="utf-8")
    (bad / "latin1.md").write_bytes("# Café policy\n\nVisitors sign in at réception.\n".encode("latin-1"))
    (bad / "utf16.txt").write_bytes("SHREDDING GUIDE\n\nConfidential paper goes in the grey bins.\n".encode("utf-16"))
    (bad / "risks.csv").write_text(
        "Risk ID,Risk Title,Likelihood,Impact,Treatment,Controls\nR-900,Flood,2,3,Mitigate,7.5\n"
        "R-900,Dup,1,1,Accept,\nR-901,Bad control,9,1,Mitigate,5.99\n", encoding="utf-8")
    (bad / "nocols.csv").write_text("Risk ID,Owner,Likelihood,Impact\nR-1,x,1,1\n", encoding="utf-8")
    outside = tmp_path / "outside.md"
    outside.write_text("# Secret outside\n\nThis must never be indexed.\n", encoding="utf-8")
    (bad / "link.md").symlink_to(outside)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", max_file_mb=2)
    summary = run_ingest(settings)
    skipped = summary.skipped
    assert "binary" in skipped["bad/image.md"]
    assert "empty" in skipped["bad/empty.md"]
    assert "PDF" in skipped["bad/broken.pdf"]
    assert "corrupt DOCX" in skipped["bad/broken.docx"]
    assert "corrupt XLSX" in skipped["bad/broken.xlsx"]
    assert "over the 2 MB limit" in skipped["bad/huge.md"]
    assert "outside the corpus" in skipped["bad/link.md"]
    assert "bad/nocols.csv" in summary.added
    assert any("controls: required column missing" in e for e in summary.register_errors["bad/nocols.csv"])
    assert {"bad/latin1.md", "bad/utf16.txt", "bad/risks.csv"} <= set(summary.added)
    assert summary.notes["bad/latin1.md"] == ["decoded as cp1252"]
    errors = summary.register_errors["bad/risks.csv"]
    assert any("duplicate risk id R-900" in e for e in errors) and any("'5.99'" in e for e in errors)
    for rel in SMALL:
        assert rel in summary.added
    gen = store.load_generation(settings.index_dir)
    assert not any("never be indexed" in c.text for c in gen.chunks)
    assistant = Assistant(settings)
    assert sources_for(assistant, "where does confidential paper go? grey bins")[0] == "bad/utf16.txt"


def test_file_that_turns_corrupt_keeps_its_previous_version(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    run_ingest(settings)
    (corpus / SMALL[2]).write_bytes(b"\x00\x01\x02\x03" * 500)
    summary = run_ingest(settings)
    assert SMALL[2] in summary.kept_previous and "binary" in summary.skipped[SMALL[2]]
    assert SMALL[2] in sources_for(Assistant(settings), "welcome new starter security guide top things to know")


def _live_generation_answers(index: Path, corpus: Path) -> int:
    settings = Settings(corpus_dir=corpus, index_dir=index)
    gen = store.load_generation(index)
    collection = VectorStore(settings, index).open(gen.number)
    assert collection.count() == len(gen.chunks)  # vectors and chunk store agree: no dangling chunks
    hits = sources_for(Assistant(settings), "how often are restore tests performed")
    assert hits, "live index returned nothing"
    return gen.number


def test_ingest_killed_midway_leaves_a_working_index(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    run_ingest(Settings(corpus_dir=corpus, index_dir=index))
    for extra in range(6):  # more files so the second ingest has real work to be killed in
        shutil.copy(CORPUS / "policies/cryptography-policy.md", corpus / f"crypto-{extra}.md")
        (corpus / f"crypto-{extra}.md").write_text(
            (corpus / f"crypto-{extra}.md").read_text(encoding="utf-8") + f"\nVariant {extra}.\n", encoding="utf-8")
    env = {**os.environ, "ISMS_CORPUS_DIR": str(corpus), "ISMS_INDEX_DIR": str(index)}
    cmd = [sys.executable, "-m", "assistant.cli", "ingest"]
    for delay in (1.0, 6.0, 9.0, 12.0):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        number = _live_generation_answers(index, corpus)
        assert number in (1, 2)
    summary = run_ingest(Settings(corpus_dir=corpus, index_dir=index))
    assert summary.files == len(SMALL) + 6
    _live_generation_answers(index, corpus)
    assert len(list(index.glob("gen-*"))) == 1


def test_second_concurrent_ingest_is_refused(tmp_path: Path) -> None:
    index = tmp_path / "index"
    with store.ingest_lock(index):
        with pytest.raises(IngestLocked, match="already running"):
            run_ingest(Settings(corpus_dir=small_corpus(tmp_path / "c"), index_dir=index))


@pytest.fixture
def chroma_server(tmp_path: Path):  # noqa: ANN201 - the port of a real `chroma run` server
    with run_chroma_server(tmp_path / "server-data") as port:  # fails the test if it does not start
        yield port


def test_same_ingest_against_a_real_chroma_server(tmp_path: Path, chroma_server: int) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", chroma_host="127.0.0.1",
                        chroma_port=chroma_server)
    summary = run_ingest(settings)
    assert summary.embedded == summary.chunks > 0
    assert not (settings.index_dir / "chroma").exists()  # vectors live on the server
    assert run_ingest(settings.model_copy(update={"hnsw_ef_search": 150})).embedded == 0
    live = VectorStore(settings, settings.index_dir).open(store.read_current(settings.index_dir))
    assert live.search_breadth == 150  # set on the server
    assistant = Assistant(settings)
    assert sources_for(assistant, "how often are backup restore tests done")[0] == SMALL[0]
    (corpus / SMALL[0]).unlink()
    run_ingest(settings)
    assert SMALL[0] not in sources_for(assistant, "how often are backup restore tests done")
