"""Crash safety under SIGKILL at random points, and two ingest processes started at once.

An "old" corpus is ingested; a "new" corpus state (files edited, one deleted, some added) is then ingested by
`isms-assistant ingest` processes that are SIGKILLed after a seeded random delay; the delays are spread evenly
(one per slice) over the measured duration of an uninterrupted ingest. Each run targets the state the live
index is not in (old -> new, then new -> old, ...), always on the same index folder, so the litter of every
crashed run accumulates. After each kill the live generation must load, its Chroma collection must hold exactly
the vectors of its chunk store, its (source, chunk text) set must equal exactly that of a clean ingest of the old
or of the new corpus, stored vectors must be those of their chunk's text, the answer-sentence vectors written
after the flip must be absent or whole, a question must return results, and the killed process's lock must not
block the next ingest. At the end an uninterrupted ingest leaves one generation folder and one collection.

Reproduce a failure with the seed printed in its message (the delays also depend on the measured duration):
``ISMS_CRASH_SEED=<seed> ISMS_CRASH_KILLS=<n> pytest tests/test_crash_safety.py``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.config import Settings
from assistant.errors import IndexNotReady, IngestLocked
from assistant.index import store
from assistant.index.collection import VectorStore, collection_name, orphan_segment_folders
from assistant.index.sentences import FILE_NAME as SENTENCES_FILE
from assistant.index.sentences import SentenceVectors, unit_embedding_texts
from assistant.ingest.pipeline import run_ingest
from assistant.service import Assistant

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
OLD = ["procedures/backup-and-restore-procedure.md", "policies/access-control-policy.md",
       "people/new-starter-security-guide.txt", "registers/risk-register.csv"]
EDITED = ["policies/access-control-policy.md", "registers/risk-register.csv"]
DELETED = "people/new-starter-security-guide.txt"
ADDED = {  # small on purpose: the embedding of a few new passages keeps each run short
    "policies/visitor-wifi-standard.md": "---\ntitle: Visitor Wifi Standard\nclassification: internal\n---\n"
    "# Visitor Wifi Standard\n\nGuests use the isolated Guest-Net wifi only. Reception issues a voucher valid "
    "for one day.\n\n## Monitoring\n\nThe IT Operations Manager reviews Guest-Net usage monthly.\n",
    "records/tabletop-exercise-2026.txt": "Tabletop exercise 2026\nClassification: confidential\n\nOn 12 March "
    "2026 the incident team rehearsed a ransomware outage of the payroll service. Restore from the immutable "
    "backup took 3 hours 10 minutes against a 4 hour objective.\n",
    "guidance/usb-media-guidance.md": "# Removable Media Guidance\n\nUSB storage is blocked on company laptops "
    "(control 7.10). Exceptions are approved by the Security Operations Lead for 30 days at most and logged "
    "in the exceptions register.\n",
}
QUESTION = "how often are restore tests performed"
SEED = int(os.environ.get("ISMS_CRASH_SEED", "8080"))
KILLS = int(os.environ.get("ISMS_CRASH_KILLS", "16"))
Content = frozenset[tuple[str, str]]


def old_corpus(dest: Path) -> Path:
    for rel in OLD:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / rel, dest / rel)
    register = dest / EDITED[1]  # the first 12 risks only: fewer passages to embed, still a typed register
    lines = register.read_text(encoding="utf-8").splitlines(keepends=True)
    assert all(line[:2] == "R-" for line in lines[1:]), "the risk register has multi-line rows now; parse it"
    register.write_text("".join(lines[:13]), encoding="utf-8")
    return dest


def new_corpus(dest: Path) -> Path:
    old_corpus(dest)
    policy = dest / EDITED[0]
    policy.write_text(policy.read_text(encoding="utf-8") + "\n## 12 Dormant accounts\n\nAccounts unused for 45 days "
                      "are disabled by the Service Desk and deleted after 90 days unless the owner objects.\n",
                      encoding="utf-8")
    register = dest / EDITED[1]
    text = register.read_text(encoding="utf-8")
    assert "Quarterly and six-monthly access reviews" in text
    register.write_text(text.replace("Quarterly and six-monthly access reviews",
                                     "Monthly automated entitlement reports and quarterly access reviews"),
                        encoding="utf-8")
    (dest / DELETED).unlink()
    for rel, body in ADDED.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(body, encoding="utf-8")
    return dest


def set_corpus(work: Path, state: Path) -> None:
    """Make the working corpus folder hold exactly the files of `state` (as a user editing in place would)."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(state, work)


def content(index: Path) -> Content:
    return frozenset((c.source, c.text) for c in store.load_generation(index).chunks)


class FakeEmbedder:
    """Vectors do not matter for a (source, text) reference set; spares embedding the reference corpus."""

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.ones((len(texts), 384), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


_FRESH: dict[str, np.ndarray] = {}


def check_live(index: Path, corpus: Path, expected: dict[str, Content], context: str,
               sentences_required: bool = False) -> str:
    """Assert the live generation is whole and equals one of the expected states; returns that state's name."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # a fresh view of what the killed process left on disk
    settings = Settings(corpus_dir=corpus, index_dir=index, query_encoder="torch")
    try:
        gen = store.load_generation(index)
    except IndexNotReady as exc:
        pytest.fail(f"{context}: live generation does not load: {exc}")
    collection = VectorStore(settings, index).open(gen.number)
    vector_ids = set(collection.ids())
    chunk_ids = {c.id for c in gen.chunks}
    assert collection.count() == len(gen.chunks), f"{context}: {collection.count()} vectors, {len(gen.chunks)} chunks"
    assert vector_ids == chunk_ids, (f"{context}: chunks without vectors {sorted(chunk_ids - vector_ids)[:5]}, "
                                     f"vectors without chunks {sorted(vector_ids - chunk_ids)[:5]}")
    live = frozenset((c.source, c.text) for c in gen.chunks)
    state = next((name for name, ref in expected.items() if live == ref), None)
    if state is None:
        diffs = {name: (len(live - ref), len(ref - live)) for name, ref in expected.items()}
        pytest.fail(f"{context}: live generation {gen.number} is a mix; (extra, missing) chunks vs each state: {diffs}")
    # vectors belong to their chunks: passages only one state has (embedded by the run that built this
    # generation) and passages both states share (copied from the previous generation)
    other = next(ref for name, ref in expected.items() if name != state)
    ordered = sorted(gen.chunks, key=lambda c: c.id)
    sample = ([c for c in ordered if (c.source, c.text) not in other][:3]
              + [c for c in ordered if (c.source, c.text) in other][:2])
    assistant = Assistant(settings)
    stored_by_id = collection.vectors([c.id for c in sample])
    texts = [c.embedding_text() for c in sample]
    missing = [t for t in texts if t not in _FRESH]  # two corpus states: the same few texts come back
    _FRESH.update(zip(missing, assistant.embedder.encode(missing), strict=True))
    for chunk, text in zip(sample, texts, strict=True):
        similarity = float(np.dot(np.asarray(stored_by_id[chunk.id], dtype=np.float32), _FRESH[text]))
        assert similarity > 0.99, f"{context}: vector of {chunk.id} ({chunk.source}) is not its text's ({similarity:.3f})"
    # sentence vectors (written after the flip, while the lock is still held): absent or whole, never partial
    sentences = SentenceVectors.load(store.gen_dir(index, gen.number))
    if sentences is None:
        assert not sentences_required, f"{context}: no sentence vectors after an uninterrupted ingest"
        assert not (store.gen_dir(index, gen.number) / SENTENCES_FILE).exists(), f"{context}: unreadable {SENTENCES_FILE}"
    else:
        assert set(sentences.by_id) == chunk_ids, f"{context}: sentence vectors do not match the chunks"
        assert all(len(sentences.by_id[c.id]) == len(unit_embedding_texts(c)) for c in gen.chunks), context
    _, result = assistant.retrieve(QUESTION, role="isms-lead", top_k=5)
    assert result.hits, f"{context}: live index returned nothing"
    assert OLD[0] in [h.chunk.source for h in result.hits], f"{context}: {[h.chunk.source for h in result.hits]}"
    try:
        with store.ingest_lock(index):
            pass
    except IngestLocked:
        pytest.fail(f"{context}: the killed ingest's lock still blocks the next ingest")
    return state


# A fresh `python -m assistant.cli ingest` spends most of its life importing torch and sentence-transformers
# (18 of 20 s measured on the loaded 2-core box) before it embeds anything, so evenly spread kill delays would
# mostly hit the import and 20 kills would not fit the time budget. This launcher imports everything once and
# then, per request, forks children that each run the CLI command itself (`isms-assistant ingest`: its own
# process, settings, model load, Chroma client, lock and file descriptors) and SIGKILLs them after the requested
# delay. The launcher never opens a Chroma client, loads the model or runs torch, so children start clean.
LAUNCHER = r"""
import os, signal, sys, time, traceback
import chromadb, sentence_transformers, torch  # noqa: F401 - warm imports shared by every child
import assistant.ingest.pipeline, assistant.service  # noqa: F401
from assistant.cli import app


def child(corpus, index, errfile):
    code = 1
    try:
        os.environ.update(ISMS_CORPUS_DIR=corpus, ISMS_INDEX_DIR=index)
        os.dup2(os.open(errfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        try:
            app(args=["ingest"], prog_name="isms-assistant")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


print("ready", flush=True)
for line in sys.stdin:
    corpus, index, errfile, delay, count = line.rstrip("\n").split("\t")
    delay, count = float(delay), int(count)
    t0 = time.perf_counter()
    pids = []
    for i in range(count):
        pid = os.fork()
        if pid == 0:
            child(corpus, index, f"{errfile}.{i}")
        pids.append(pid)
    status = {}
    while len(status) < count and (delay < 0 or time.perf_counter() - t0 < delay):
        for pid in pids:
            if pid not in status:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status[pid] = st
        time.sleep(0.002)
    for pid in pids:
        if pid not in status:
            os.kill(pid, signal.SIGKILL)  # the launcher has not reaped it, so the pid cannot have been reused
            status[pid] = os.waitpid(pid, 0)[1]
    codes = " ".join(str(os.waitstatus_to_exitcode(status[pid])) for pid in pids)
    print(f"{time.perf_counter() - t0:.3f} {codes}", flush=True)
"""


class Launcher:
    def __init__(self) -> None:
        # torch for queries: the ONNX export lives in a per-user cache outside the index (atomic publish, its
        # own tests); kept out of these runs so every run does the same work and the delays stay comparable
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ISMS_QUERY_ENCODER": "torch"}
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCHER], cwd=REPO, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def wait_ready(self) -> None:
        ready = self.proc.stdout.readline().strip()
        assert ready == "ready", f"launcher did not start: {ready!r}"

    def ingest(self, corpus: Path, index: Path, errfile: Path, kill_after: float | None = None,
               processes: int = 1) -> tuple[float, list[int]]:
        """Start `processes` `isms-assistant ingest` children at once; SIGKILL any still running after kill_after
        seconds (None: never). Returns (seconds, exit codes; -9 for killed); child i's stderr is in errfile.i."""
        delay = -1.0 if kill_after is None else kill_after
        self.proc.stdin.write(f"{corpus}\t{index}\t{errfile}\t{delay}\t{processes}\n")
        self.proc.stdin.flush()
        seconds, *codes = self.proc.stdout.readline().split()
        return float(seconds), [int(c) for c in codes]

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:  # idle, but an interpreter with torch loaded takes seconds to exit
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The two corpus states, the (source, text) sets of clean ingests of each, a pristine ingest of the old
    state to start from, and the launcher."""
    launcher = Launcher()  # imports in the background while the references are built
    try:
        base = tmp_path_factory.mktemp("crash")
        old, new = old_corpus(base / "old"), new_corpus(base / "new")
        run_ingest(Settings(corpus_dir=old, index_dir=base / "index-old"))
        run_ingest(Settings(corpus_dir=new, index_dir=base / "index-new", sentence_vectors=False),
                   embedder=FakeEmbedder())
        refs = {"old": content(base / "index-old"), "new": content(base / "index-new")}
        assert refs["old"] != refs["new"]
        launcher.wait_ready()
        yield {"corpora": {"old": old, "new": new}, "refs": refs, "pristine": base / "index-old",
               "launcher": launcher}
    finally:
        launcher.close()


def copy_index(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(store.LOCK))
    return dest


def test_sigkill_at_random_points_leaves_old_or_new_never_a_mix(states: dict[str, Any], tmp_path: Path) -> None:
    corpora, refs, launcher = states["corpora"], states["refs"], states["launcher"]
    work, index = tmp_path / "corpus", copy_index(states["pristine"], tmp_path / "index")
    errfile = tmp_path / "stderr"

    # uninterrupted ingests old -> new and new -> old: their durations bound the kill delays
    duration: dict[str, float] = {}
    for target in ("new", "old"):
        set_corpus(work, corpora[target])
        duration[target], [code] = launcher.ingest(work, index, errfile)
        assert code == 0, (tmp_path / "stderr.0").read_text()[-2000:]
        assert check_live(index, work, refs, f"uninterrupted ingest to {target}", sentences_required=True) == target

    rng = random.Random(SEED)
    fractions = [(i + rng.random()) / KILLS for i in range(KILLS)]  # one per slice of the run, random order
    rng.shuffle(fractions)
    live = "old"
    tally = {"killed, old live": 0, "killed, new live": 0, "finished": 0}
    for run, fraction in enumerate(fractions):
        target = "old" if live == "new" else "new"  # always a real transition
        set_corpus(work, corpora[target])
        delay = fraction * duration[target]
        context = f"seed={SEED} run={run} delay={delay:.3f}s of {duration[target]:.2f}s target={target}"
        _, [code] = launcher.ingest(work, index, errfile, kill_after=delay)
        assert code in (0, -signal.SIGKILL), f"{context}: ingest failed ({code}): " + (
            tmp_path / "stderr.0").read_text()[-2000:]
        live = check_live(index, work, refs, context)
        if code == 0:
            assert live == target, context
            tally["finished"] += 1
        else:
            tally[f"killed, {live} live"] += 1
    print(f"crash safety: seed={SEED}, {KILLS} runs, uninterrupted ingests {duration}, outcomes {tally}")
    assert KILLS - tally["finished"] >= KILLS // 3, f"seed={SEED}: too few runs were killed: {tally}"

    set_corpus(work, corpora["new"])
    _, [code] = launcher.ingest(work, index, errfile)
    assert code == 0, (tmp_path / "stderr.0").read_text()[-2000:]
    assert check_live(index, work, refs, f"seed={SEED} final uninterrupted ingest", sentences_required=True) == "new"
    generation = store.read_current(index)
    assert [p.name for p in index.glob("gen-*")] == [f"gen-{generation:06d}"]
    assert not list(index.glob("gen-*/.sentences-*")), "half-written sentence vectors left behind"
    settings = Settings(corpus_dir=work, index_dir=index)
    names = VectorStore(settings, index).collection_names()
    assert names == [collection_name(settings, generation)], names  # no orphaned collections
    assert_no_orphan_vector_folders(index)


def assert_no_orphan_vector_folders(index: Path) -> None:
    """Chroma leaves a deleted collection's HNSW folder on disk; cleanup_stale removes them."""
    folders = [p.name for p in (index / "chroma").iterdir() if p.is_dir()]
    assert orphan_segment_folders(index / "chroma") == [] and len(folders) == 1, folders


def test_two_ingest_processes_at_once_one_is_refused(states: dict[str, Any], tmp_path: Path) -> None:
    corpora, refs, launcher = states["corpora"], states["refs"], states["launcher"]
    index = copy_index(states["pristine"], tmp_path / "index")
    _, codes = launcher.ingest(corpora["new"], index, tmp_path / "stderr", processes=2)
    errors = [(tmp_path / f"stderr.{i}").read_text() for i in range(2)]
    assert sorted(codes) == [0, 2], (codes, errors)
    refused = " ".join(errors[codes.index(2)].split())
    assert "error: another ingest is already running on" in refused and str(index) in refused.replace(" ", ""), refused
    assert check_live(index, corpora["new"], refs, "after two concurrent ingests", sentences_required=True) == "new"
    assert len(list(index.glob("gen-*"))) == 1
    assert_no_orphan_vector_folders(index)


def test_generation_flips_leave_no_vector_folders_behind(tmp_path: Path) -> None:
    """Chroma 1.x keeps a deleted collection's HNSW folder (chroma-core/chroma#5259): without cleanup every
    ingest that changes anything would leave the previous generation's vectors on disk for good."""
    old, new = old_corpus(tmp_path / "old"), new_corpus(tmp_path / "new")
    index = tmp_path / "index"
    for corpus in (old, new, old, new):
        run_ingest(Settings(corpus_dir=corpus, index_dir=index, sentence_vectors=False), embedder=FakeEmbedder())
    assert store.read_current(index) == 4
    assert_no_orphan_vector_folders(index)
