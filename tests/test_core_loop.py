"""Core loop on the sample corpus: query analysis, hybrid retrieval, access filter, grounded answers,
abstention, follow-ups and the `ask --json` contract."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from assistant.catalogue import get_catalogue
from assistant.retrieval.query import Conversation, analyse
from assistant.service import Assistant

RESTRICTED = "records/hr-investigation-note-2026-003.md"
CONFIDENTIAL = {"records/penetration-test-summary-2026.md", "records/post-incident-review-INC-2026-014.md",
                "procedures/key-management-procedure.md", "procedures/privileged-access-procedure.md",
                "plans/ict-readiness-and-disaster-recovery-plan.pdf"}


@pytest.mark.parametrize(
    "question, controls",
    [("what do we do for 8.32?", ["8.32"]), ("How is A.12.3.1 handled now?", ["8.13"]),
     ("Annex A 5.15 and A.5.18", ["5.15", "5.18"]), ("mfa for admins?", ["8.5"]),
     ("joiners movers leavers process", ["5.18"])],
)
def test_query_analysis_detects_controls(question: str, controls: list[str]) -> None:
    analysis = analyse(question, get_catalogue())
    assert analysis.controls[: len(controls)] == controls
    for cid in controls:
        assert get_catalogue().controls[cid].title in analysis.expanded


@pytest.mark.integration
@pytest.mark.parametrize(
    "question, expected",
    [("what do we do for 8.32?", "procedures/change-management-procedure.md"),
     ("How is A.12.3.1 handled now?", "procedures/backup-and-restore-procedure.md"),
     ("A.9.2.5 review of user access rights", "policies/access-control-policy.md"),
     ("how do we meet 8.17", "procedures/logging-and-monitoring-procedure.md"),
     ("which risks does 8.13 treat?", "registers/risk-register.csv")],
)
def test_control_id_questions_retrieve_the_implementing_documents(assistant: Assistant, question: str,
                                                                  expected: str) -> None:
    _, result = assistant.retrieve(question, role="staff", top_k=5)
    assert expected in [h.chunk.source for h in result.hits]


@pytest.mark.integration
def test_retrieval_ranks_documents_beyond_the_passages_it_returns(assistant: Assistant) -> None:
    question = "How often are access rights reviewed?"
    _, result = assistant.retrieve(question, role="staff", top_k=3)
    passages = list(dict.fromkeys(h.chunk.source for h in result.hits))
    assert len(result.documents) >= 5 > len(passages) and result.documents[0] == passages[0]
    answer = assistant.ask(question, role="staff")
    cited = list(dict.fromkeys(c.source for c in sorted(answer.citations, key=lambda c: c.n)))
    # cited documents first, then the other documents retrieval ranked (the app lists them as related)
    assert answer.retrieved_sources[: len(cited)] == cited and len(answer.retrieved_sources) >= 5


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_restricted_documents_never_reach_a_staff_user(assistant: Assistant, mode: str) -> None:
    for question in ("Operation Bluebell personal Gmail account HR investigation",
                     "Cobalt Ridge penetration test findings IDOR", "INC-2026-014 finance phishing root cause",
                     "break-glass vault who can open it", "Vault recovery key shares"):
        _, result = assistant.retrieve(question, role="staff", mode=mode, top_k=30)
        sources = {h.chunk.source for h in result.hits}
        assert RESTRICTED not in sources and not (sources & CONFIDENTIAL), (mode, question, sources)
    _, result = assistant.retrieve("Operation Bluebell personal Gmail account", role="isms-lead", mode=mode)
    assert result.hits[0].chunk.source == RESTRICTED


@pytest.mark.integration
def test_staff_answer_never_mentions_restricted_text(assistant: Assistant) -> None:
    answer = assistant.ask("What happened in Operation Bluebell with the personal Gmail account?", role="staff")
    blob = json.dumps(answer.to_dict())
    assert "Bluebell" not in blob.replace(answer.question, "") and RESTRICTED not in blob
    manager = assistant.ask("What happened in Operation Bluebell with the personal Gmail account?", role="manager")
    assert RESTRICTED not in json.dumps(manager.to_dict())
    lead = assistant.ask("What happened in Operation Bluebell with the personal Gmail account?", role="isms-lead")
    assert not lead.abstained and lead.citations[0].source == RESTRICTED


@pytest.mark.integration
def test_grounded_answer_quotes_verbatim_and_cites_every_line(assistant: Assistant) -> None:
    answer = assistant.ask("who approves access requests and how often are access rights reviewed?")
    assert not answer.abstained and answer.citations
    by_n = {c.n: c for c in answer.citations}
    body = [line for line in answer.answer.splitlines() if line.startswith("- ")]
    assert body
    for line in body:
        m = re.fullmatch(r"- (.*) \[(\d+)\]", line)
        assert m, line
        assert m.group(1) in by_n[int(m.group(2))].text.replace("\n", " ") or any(
            m.group(1) in q for q in by_n[int(m.group(2))].quotes)
    for citation in answer.citations:
        for quote in citation.quotes:
            assert quote in citation.text
    assert "quarterly" in answer.answer.lower()


@pytest.mark.integration
def test_control_answer_names_control_and_linked_risks(assistant: Assistant) -> None:
    answer = assistant.ask("How is 8.13 implemented here?")
    assert "8.13 Information backup" in answer.answer and "Linked risks" in answer.answer
    assert answer.risks and all(re.fullmatch(r"R-\d{3}", r) for r in answer.risks)
    assert any(c.source == "registers/risk-register.csv" for c in answer.citations)


@pytest.mark.integration
@pytest.mark.parametrize("question", ["give me a recipe for banana bread", "who won the football world cup in 2022?",
                                      "does DORA apply to us?"])
def test_out_of_scope_questions_abstain_and_show_closest_documents(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question)
    assert answer.abstained and answer.citations == []
    assert "don't cover" in answer.answer and answer.closest


@pytest.mark.integration
def test_follow_up_stays_on_the_previous_topic(assistant: Assistant) -> None:
    conversation = Conversation()
    first = assistant.ask("How do I request access to a system?", conversation=conversation)
    assert not first.abstained
    follow = assistant.ask("and who approves it?", conversation=conversation)
    assert not follow.abstained
    assert any("access" in c.source for c in follow.citations)
    cold = analyse("and who approves it?", get_catalogue())
    assert not cold.followup and cold.controls == []


@pytest.mark.integration
def test_question_length_is_bounded(assistant: Assistant) -> None:
    with pytest.raises(ValueError, match="limit"):
        assistant.ask("x" * 5000)


@pytest.mark.integration
def test_ask_json_matches_the_contract(sample_index) -> None:  # noqa: ANN001
    env = {**os.environ, "ISMS_INDEX_DIR": str(sample_index)}
    out = subprocess.run([sys.executable, "-m", "assistant.cli", "ask", "which risks does 8.13 treat?", "--json"],
                         env=env, capture_output=True, text=True, timeout=300, check=True)
    data = json.loads(out.stdout)
    assert {"question", "answer", "abstained", "citations", "controls", "risks", "timings_ms"} <= set(data)
    assert data["abstained"] is False and "8.13" in data["controls"]
    citation = data["citations"][0]
    assert {"n", "source", "section", "text", "score"} <= set(citation) and citation["n"] == 1
    assert not citation["source"].startswith("/")
    assert re.search(r"\[\d+\]", data["answer"])
    assert {"retrieve", "answer"} <= set(data["timings_ms"])
