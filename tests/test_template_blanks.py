"""A template-style document set (the kind many organizations start from) with instructions left unfilled: the
answer never passes a blank off as the asked value."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.ingest.pipeline import run_ingest
from assistant.service import Assistant

DISASTER_PLAN = """# Disaster Recovery Plan

## Relocation

If the organization's primary work site is unavailable, an alternate work site shall be used by designated
personnel. The organization's alternate work site is located at [list the address of the alternate work site that
the organization will use].

## Recovery objectives

The organization's Recovery Time Objective (RTO) is 24 hours. Backups are restored by the IT Manager, who confirms
the restore to the Recovery Lead.

## Testing

The plan is tested once a year by the Recovery Lead, and the results are reported to the management team.
"""

BACKUP_POLICY = """# Backup Policy

## Backup schedule

Production databases are backed up every night and the backups are kept for 30 days. Backups are stored
off-site with encryption, and a restore test is run every quarter by the IT Manager.
"""


@pytest.fixture(scope="module")
def template_org(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    root = tmp_path_factory.mktemp("template-org")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "disaster-recovery-plan.md").write_text(DISASTER_PLAN, encoding="utf-8")
    (corpus / "backup-policy.md").write_text(BACKUP_POLICY, encoding="utf-8")
    settings = Settings(corpus_dir=Path(corpus), index_dir=root / "index")
    run_ingest(settings)
    return Assistant(settings)


@pytest.mark.integration
def test_a_value_left_as_a_template_instruction_is_not_an_answer(template_org: Assistant) -> None:
    answer = template_org.ask("if the office burns down, what's the actual address of the backup site we move to?",
                              role="staff", llm=False)
    assert answer.abstained
    assert "[list the address" not in answer.answer


@pytest.mark.integration
def test_the_filled_in_part_of_a_sentence_with_a_blank_still_answers(template_org: Assistant) -> None:
    # the relocation rule itself is written out; only the address is blank, and this question does not ask for it
    answer = template_org.ask("who uses the alternate work site if our primary work site is unavailable?",
                              role="staff", llm=False)
    assert not answer.abstained
    assert "designated personnel" in answer.answer
