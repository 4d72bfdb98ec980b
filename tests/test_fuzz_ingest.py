"""Fuzzed and hostile ingest: generated nasty files (tests/nasty_files.py) and hypothesis inputs.

The ingest must never crash, never spend longer than the per-file limit on one file, never follow a
link out of the corpus, report a reason for every file it skips, and index every good file.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nasty_files import (
    GOOD_DOCS,
    GOOD_QUERIES,
    OUTSIDE_SECRET,
    SAMPLE_DOCX,
    SAMPLE_PDF,
    SAMPLE_XLSX,
    judge,
    write_nasty_corpus,
)

from assistant.catalogue import get_catalogue
from assistant.config import Settings
from assistant.errors import LoadError
from assistant.index import store
from assistant.ingest.documents import process_file
from assistant.ingest.loaders import SUPPORTED_SUFFIXES
from assistant.ingest.pipeline import iter_corpus, run_ingest
from assistant.service import Assistant

PER_FILE_SECONDS = 20.0
SLACK_SECONDS = 5.0  # reading + hashing + bookkeeping around the limited part


def _timed_ingest(settings: Settings) -> tuple[object, dict[int, float], list]:
    """Run the ingest recording how long each file took (time between 'reading' progress calls)."""
    entries = list(iter_corpus(settings.corpus_dir))
    marks: list[float] = []

    def progress(stage: str, done: int, total: int) -> None:
        # a mark as each file starts, and one at the first event after the reading loop (ends the last file)
        if stage == "reading" or len(marks) == len(entries):
            marks.append(time.perf_counter())

    summary = run_ingest(settings, progress=progress)
    if len(marks) == len(entries):
        marks.append(time.perf_counter())
    durations = {i: marks[i + 1] - marks[i] for i in range(len(marks) - 1)}
    return summary, durations, entries


@pytest.mark.integration
def test_nasty_corpus_never_crashes_hangs_or_follows_links(tmp_path: Path) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    cases = write_nasty_corpus(corpus, outside)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", per_file_seconds=PER_FILE_SECONDS)
    started = time.perf_counter()
    summary, durations, entries = _timed_ingest(settings)
    elapsed = time.perf_counter() - started

    gen = store.load_generation(settings.index_dir)
    indexed = set(gen.manifest["files"])
    skipped = summary.skipped
    problems = [f"{case.rel!r} ({case.kind}): {why}" for case in cases if (why := judge(case, indexed, skipped))]
    assert not problems, "\n".join(problems)

    top = sorted(durations.items(), key=lambda kv: -kv[1])[:5]
    print(f"\nnasty ingest: {len(cases)} cases, {elapsed:.1f} s, {summary.chunks} chunks, {summary.embedded} embedded; "
          "slowest: " + ", ".join(f"{entries[i][1]} {d:.1f}s" for i, d in top))
    # every walked entry is accounted for, once
    sources = [source for _, source, _ in entries]
    assert set(sources) == indexed | set(skipped)
    # nothing from outside the corpus (or /etc/passwd) was read into the index
    for chunk in gen.chunks:
        assert OUTSIDE_SECRET not in chunk.text and "root:x:0:0" not in chunk.text
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", chunk.text + chunk.title), chunk.source
    # no file took longer than the per-file limit (plus bookkeeping slack)
    assert sources[-1] == "zzz/last.md"
    slow = {sources[i]: round(d, 1) for i, d in durations.items()
            if d > PER_FILE_SECONDS + SLACK_SECONDS and i < len(sources) - 1}
    assert not slow, f"files over the per-file limit: {slow}"
    assert elapsed < 240, f"nasty ingest took {elapsed:.0f} s"

    # the good files are indexed and answer their questions
    assistant = Assistant(settings)
    for rel in GOOD_DOCS:
        assert rel in indexed
        _, result = assistant.retrieve(GOOD_QUERIES[rel], role="isms-lead", top_k=3)
        assert result.hits and result.hits[0].chunk.source == rel

    # a second run over the same nasty corpus is stable: same files, same reasons, nothing re-embedded
    again = run_ingest(settings)
    assert again.skipped == summary.skipped and again.embedded == 0


@pytest.mark.integration
def test_per_file_limit_holds_when_ingest_runs_in_a_thread(tmp_path: Path) -> None:
    """The Streamlit app ingests from a script thread, where SIGALRM is unavailable."""
    corpus = tmp_path / "corpus"
    (corpus / "long").mkdir(parents=True)
    (corpus / "long" / "slow.md").write_text(
        "# Slow\n\n" + "".join(f"Line {i} mentions A.5.{i % 37} and the Chief Risk Officer. " for i in range(120_000)),
        encoding="utf-8")
    (corpus / "good.md").write_text(GOOD_DOCS["good/visitor-badges.md"], encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", per_file_seconds=1.0)
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["summary"] = run_ingest(settings)
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["error"] = exc

    t0 = time.perf_counter()
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(120)
    assert not thread.is_alive() and "error" not in box, box.get("error")
    summary = box["summary"]
    assert "took longer than 1 s" in summary.skipped.get("long/slow.md", ""), summary.skipped
    assert summary.added == ["good.md"]
    assert time.perf_counter() - t0 < 60


# ---------------------------------------------------------------------------------------------- hypothesis

_CATALOGUE = get_catalogue()
_MD_ALPHABET = st.sampled_from(list("#->*|`[]:_ \n\t\r0123456789.Aaz\x00\x1bé€\ufeff\u2028") + [
    "---\n", "```", "# ", "- ", "1. ", "A.5.15 ", "5.1", "R-001", "classification: restricted\n", "&a ", "*a ",
    "[[[", "]]]", "{", "}", "title: ", "controls: [", "\n\n",
])
_markdown = st.lists(_MD_ALPHABET, max_size=400).map("".join)


def _process(data: bytes, suffix: str) -> None:
    """process_file must return or raise LoadError, in well under a second or two for these sizes."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(data)
        t0 = time.perf_counter()
        try:
            process_file(path, path.name, "h", _CATALOGUE, 300)
        except LoadError as exc:
            assert str(exc).strip()
        assert time.perf_counter() - t0 < 10


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4000), suffix=st.sampled_from(sorted(SUPPORTED_SUFFIXES)))
def test_random_bytes_only_ever_raise_load_error(data: bytes, suffix: str) -> None:
    _process(data, suffix)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_markdown, suffix=st.sampled_from([".md", ".txt", ".csv"]),
       encoding=st.sampled_from(["utf-8", "utf-16", "cp1252", "utf-32", "latin-1"]))
def test_markdownish_text_only_ever_raises_load_error(text: str, suffix: str, encoding: str) -> None:
    _process(text.encode(encoding, errors="replace"), suffix)


_SAMPLES = {".pdf": SAMPLE_PDF.read_bytes(), ".docx": SAMPLE_DOCX.read_bytes(), ".xlsx": SAMPLE_XLSX.read_bytes()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(suffix=st.sampled_from(sorted(_SAMPLES)), cut=st.floats(0.0, 1.0),
       flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=20))
@example(suffix=".xlsx", cut=1.0, flips=[(0.5, 131)])  # a byte in a sheet: bad CRC / XML met while reading rows
@example(suffix=".xlsx", cut=1.0, flips=[(0.5, 0)])
def test_mutated_office_and_pdf_files_only_ever_raise_load_error(suffix: str, cut: float,
                                                                 flips: list[tuple[float, int]]) -> None:
    data = bytearray(_SAMPLES[suffix])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    _process(bytes(data[: max(1, int(len(data) * cut))]), suffix)


@pytest.mark.integration
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.tuples(st.sampled_from(sorted(SUPPORTED_SUFFIXES)), st.one_of(st.binary(max_size=3000),
                                                                                      _markdown.map(str.encode))),
                      min_size=1, max_size=4))
def test_ingest_of_fuzzed_files_always_finishes_and_keeps_good_files(files: list[tuple[str, bytes]]) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-ingest-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        (corpus / "good.md").write_text(GOOD_DOCS["good/visitor-badges.md"], encoding="utf-8")
        for i, (suffix, data) in enumerate(files):
            (corpus / f"fuzz-{i}{suffix}").write_bytes(data)
        settings_ = Settings(corpus_dir=corpus, index_dir=Path(tmp) / "index", per_file_seconds=10)
        summary = run_ingest(settings_)
        assert "good.md" in summary.added
        names = {f"fuzz-{i}{suffix}" for i, (suffix, _) in enumerate(files)}
        assert names <= set(summary.added) | set(summary.skipped)
        assert all(reason.strip() for reason in summary.skipped.values())
