"""Input limits: question length, empty or hostile questions, unknown roles and controls, export size.
Each is bounded and refused with a clear message (facade and CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from assistant.errors import QuestionTooLong
from assistant.service import Assistant

pytestmark = pytest.mark.integration

EXCEL_CELL_LIMIT = 32_767


def test_question_length_limit_is_exact_and_explained(assistant: Assistant) -> None:
    limit = assistant.settings.max_question_chars
    at_limit = ("how often are access rights reviewed? " * 200)[:limit]
    answer = assistant.ask(at_limit, role="staff", llm=False)
    assert answer.answer
    with pytest.raises(QuestionTooLong) as info:
        assistant.ask("x" * (limit + 1), role="staff", llm=False)
    message = str(info.value)
    assert str(limit) in message and str(limit + 1) in message and "ISMS_MAX_QUESTION_CHARS" in message
    # surrounding whitespace does not count against the limit
    assert assistant.ask("  " + at_limit + "\n" * 50, role="staff", llm=False).answer


@pytest.mark.parametrize("question", ["", "   ", "\n\t\n"])
def test_empty_questions_are_refused(assistant: Assistant, question: str) -> None:
    with pytest.raises(ValueError, match="empty question"):
        assistant.ask(question, role="staff", llm=False)


@pytest.mark.parametrize("question", [
    " ".join(f"{t}.{n}" for t in range(5, 9) for n in range(1, 38))[:2000],  # every control id at once
    "A.9.2.5 " * 240,
    "R-001 " * 300,
    "\x00\x1b[31m what is the password policy? \x07\u202e\ufeff",
    "((((((((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))))))))" * 20,
    "ü" * 1999,
])
def test_hostile_questions_answer_in_bounded_time(assistant: Assistant, question: str) -> None:
    t0 = time.perf_counter()
    answer = assistant.ask(question, role="staff", llm=False)
    assert answer.answer and time.perf_counter() - t0 < 20


def test_unknown_role_is_refused_with_the_configured_roles(assistant: Assistant) -> None:
    with pytest.raises(ValueError, match="unknown role 'admin'.*isms-lead, manager, staff"):
        assistant.ask("how often are access rights reviewed?", role="admin")


def test_soa_request_size_is_bounded_by_the_catalogue(assistant: Assistant) -> None:
    drafts = assistant.draft_soa(["5.15"] * 5000 + ["A.9.2.5", "Access control"], role="staff", llm=False,
                                 history=False)
    assert [d.control_id for d in drafts] == ["5.15", "5.18"] or len(drafts) <= 3
    with pytest.raises(ValueError):
        assistant.draft_soa(["9.99"], role="staff", llm=False, history=False)


def test_full_soa_export_fits_excel_and_stays_small(assistant: Assistant, tmp_path: Path) -> None:
    from assistant.soa import export

    drafts = assistant.draft_soa(None, role="isms-lead", llm=False, history=False)
    assert len(drafts) == 93
    md, csv_text = export.to_markdown(drafts), export.to_csv(drafts)
    assert len(md) < 2_000_000 and len(csv_text) < 2_000_000
    path = export.write_xlsx(drafts, tmp_path / "soa.xlsx")
    assert path.stat().st_size < 5_000_000
    wb = load_workbook(path, read_only=True)
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            for value in row:
                assert value is None or len(str(value)) <= EXCEL_CELL_LIMIT
    wb.close()


def test_cli_refuses_an_over_long_question_with_a_clear_message(sample_index: Path) -> None:
    env = dict(os.environ, ISMS_INDEX_DIR=str(sample_index), HF_HUB_OFFLINE="1", ISMS_MAX_QUESTION_CHARS="50",
               ISMS_LLM_BASE_URL="")
    proc = subprocess.run([sys.executable, "-m", "assistant.cli", "ask", "x" * 51, "--json", "--no-llm"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "51 characters; the limit is 50" in " ".join(proc.stderr.split()) and not proc.stdout.strip()


# ---------------------------------------------------------------------------- uploads: size and count per batch
def _corpus_files(corpus: Path) -> list[str]:
    return sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file())


def test_config_toml_upload_size_matches_the_max_file_mb_default() -> None:
    import tomllib

    from assistant.config import Settings

    with open(Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml", "rb") as fh:
        toml = tomllib.load(fh)
    assert toml["server"]["maxUploadSize"] == Settings.model_fields["max_file_mb"].default
    assert Settings.model_fields["max_uploads_per_batch"].default == 20


def test_upload_batch_limit_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.config import Settings

    monkeypatch.setenv("ISMS_MAX_UPLOADS_PER_BATCH", "3")
    assert Settings().max_uploads_per_batch == 3


def test_over_size_upload_is_refused_naming_the_mb_limit_and_nothing_written(tmp_path: Path) -> None:
    from assistant.errors import UploadRejected
    from assistant.uploads import check_batch, save_upload

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    big = b"# Big\n\n" + b"All staff lock their screens.\n" * 40_000  # 1.1 MB
    with pytest.raises(UploadRejected) as info:
        check_batch([("small.md", 100), ("big.md", len(big))], max_count=20, max_mb=1)
    message = str(info.value)
    assert "1 MB limit" in message and "big.md (1.1 MB)" in message and "small.md" not in message
    assert "ISMS_MAX_FILE_MB" in message
    with pytest.raises(UploadRejected, match=r"big\.md: 1\.1 MB is over the 1 MB limit"):
        save_upload(corpus, "uploads", "big.md", big, max_mb=1)
    assert _corpus_files(corpus) == []


def test_upload_batch_over_the_count_is_refused_and_nothing_written(tmp_path: Path) -> None:
    from assistant.errors import UploadRejected
    from assistant.uploads import check_batch

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    batch = [(f"note-{i:02d}.md", 1000) for i in range(21)]
    with pytest.raises(UploadRejected) as info:
        check_batch(batch, max_count=20, max_mb=20)
    message = str(info.value)
    assert "21 files chosen" in message and "the limit is 20 files per upload" in message
    assert "ISMS_MAX_UPLOADS_PER_BATCH" in message
    with pytest.raises(UploadRejected, match="the limit is 0 files"):
        check_batch([("one.md", 10)], max_count=0, max_mb=20)
    assert _corpus_files(corpus) == []


def test_upload_batch_exactly_at_both_limits_is_accepted_and_written(tmp_path: Path) -> None:
    from assistant.errors import UploadRejected
    from assistant.uploads import check_batch, save_upload

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    max_mb = 1 / 64  # 16384 bytes exactly
    limit = 16_384
    body = b"# Clear desk note\n\nLock the screen and clear the desk before leaving.\n"
    files = [(f"note-{i:02d}.md", (body + b"x" * limit)[:limit]) for i in range(20)]
    assert all(len(data) == limit for _, data in files)
    check_batch([(name, len(data)) for name, data in files], max_count=20, max_mb=max_mb)  # no exception
    for name, data in files:
        save_upload(corpus, "uploads", name, data, max_mb=max_mb)
    assert len(_corpus_files(corpus)) == 20
    with pytest.raises(UploadRejected, match="over the 0.015625 MB limit"):  # one byte more is refused
        check_batch([("note-20.md", limit + 1)], max_count=20, max_mb=max_mb)
