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

from assistant.service import Assistant, QuestionTooLong

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
