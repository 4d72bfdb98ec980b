"""Answers on a document set written by another organization (../shared/foreign-dev/strongdm-comply: SOC 2
policies in Markdown with grid tables and lettered lists, no Annex A ids, no registers). Skipped where the set is
not on the machine; it is never copied into the repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.service import Assistant

FOREIGN = Path(__file__).resolve().parents[2] / "shared" / "foreign-dev" / "strongdm-comply"

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not FOREIGN.is_dir(), reason=f"the foreign document set is not at {FOREIGN}")]


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    app = Assistant(Settings(corpus_dir=FOREIGN, index_dir=tmp_path_factory.mktemp("foreign-index"),
                             audit_trail=False))
    app.ingest()
    yield app


def _lines(answer: str) -> list[str]:
    return [line for line in answer.splitlines() if line.strip()]


def test_a_grid_table_answers_with_its_rows(foreign: Assistant) -> None:
    answer = foreign.ask("What recovery time applies to a system with High availability classification?", llm=False)
    assert "  - High | High to Continuous | 30 minutes | 1 hour | Minimal [1]" in _lines(answer.answer)


def test_a_question_asking_for_the_items_opens_with_the_list(foreign: Assistant) -> None:
    """Not with the encryption-law paragraph that shares the most words with the question."""
    answer = foreign.ask("What requirements must my work laptop meet (operating system, encryption, locking)?",
                         llm=False)
    lines = _lines(answer.answer)
    assert lines[0].startswith("- Workstation devices must meet the following criteria:")
    assert lines[1] == "  - Operating system must be no more than one generation older than current [1]"


def test_a_sentence_about_the_policy_itself_is_not_the_answer(foreign: Assistant) -> None:
    answer = foreign.ask("What data classification levels does the organization use?", llm=False)
    assert not answer.abstained and "This policy defines" not in answer.answer


def test_a_follow_up_of_an_answered_turn_is_answered_not_refused(foreign: Assistant) -> None:
    """"and when are we allowed to just accept it?" is read against the risk question answered a turn before;
    alone its words are far from any passage, but its subject is in the documents."""
    conversation = foreign.new_conversation()
    first = foreign.ask("what can we do with a risk that comes out as unacceptable?", conversation=conversation,
                        llm=False)
    assert not first.abstained
    follow = foreign.ask("and when are we allowed to just accept it and do nothing?", conversation=conversation,
                         llm=False)
    assert not follow.abstained and any(c.source == "policies/risk.md" for c in follow.citations)


def test_no_note_says_an_ask_is_unsaid_when_a_later_line_answers_it(foreign: Assistant) -> None:
    """The approver comes from the line added for the second part of the question; the note is judged on the
    finished answer."""
    answer = foreign.ask("the pen test on our web app came back with a high-risk finding. how fast does it have to "
                         "be fixed? and if we need to push an emergency release before it's been assessed, who has "
                         "to OK that?", llm=False)
    assert "Chief Information Officer" in answer.answer and "don't say" not in answer.answer
