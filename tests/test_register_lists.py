"""Questions asking which register rows have a value are answered with those rows, quoted and cited."""

from __future__ import annotations

import pytest

from assistant.answer.register_lists import asked_filter, register_list_answer
from assistant.service import Assistant


@pytest.mark.parametrize(("question", "register", "label"), [
    ("which annex a controls are still only partly implemented?", "soa", "the status Partially implemented"),
    ("have we transferred any risks instead of mitigating them?", "risk", "the treatment Transfer"),
    ("which risks have we decided to live with?", "risk", "the treatment Accept"),
    ("are any risks in the register still quoting old 2013 control numbers?", "risk", "2013 control ids"),
    ("which controls in our SoA are only planned?", "soa", "the status Planned"),
    ("which controls in the SoA have no linked risks?", "soa", "no linked risk although applicable"),
    ("are there any risks without controls?", "risk", "no control linked"),
])
def test_a_question_for_rows_names_the_register_and_the_value(question: str, register: str, label: str) -> None:
    found = asked_filter(question)
    assert found is not None and (found.register, found.label) == (register, label)


@pytest.mark.parametrize("question", ["what's the process to accept a risk?", "who can accept a risk?",
                                      "how is a control marked as partially implemented?",
                                      "which controls does the access control policy implement?"])
def test_a_question_about_how_a_value_is_decided_is_not_a_row_list(question: str) -> None:
    assert asked_filter(question) is None


@pytest.mark.integration
def test_the_partly_implemented_controls_are_listed_from_the_soa(assistant: Assistant) -> None:
    answer = assistant.ask("which annex a controls are still only partly implemented according to the SoA?",
                           role="isms-lead", llm=False)
    assert answer.answer.startswith("5 of the 93 rows of the Statement of Applicability have the status Partially")
    assert {"5.21", "5.23", "8.12"} <= set(answer.controls)
    assert [c.source for c in answer.citations] == ["registers/statement-of-applicability.xlsx"] * 5
    assert answer.answer.count("Implementation status: Partially implemented.") == 5  # each row shows the value
    for citation in answer.citations:  # every quote is the row's own text
        assert all(quote in citation.text for quote in citation.quotes)


@pytest.mark.integration
def test_a_transferred_risk_is_listed_with_what_it_is_transferred_to(assistant: Assistant) -> None:
    answer = assistant.ask("have we transferred any risks instead of mitigating them? transferred to what?",
                           role="isms-lead", llm=False)
    assert answer.risks == ["R-037"] and "cyber insurance" in answer.answer and "[1]" in answer.answer


@pytest.mark.integration
def test_rows_the_reader_may_not_see_are_never_listed(assistant: Assistant) -> None:
    question = "have we transferred any risks instead of mitigating them?"
    assert register_list_answer(question, assistant.index.knowledge, max_rank=0) is None  # public only


@pytest.mark.integration
def test_another_organizations_accepted_risks_are_listed(second_org: Assistant) -> None:
    answer = second_org.ask("which risks in the register have we just decided to live with?", role="isms-lead",
                            llm=False)
    assert answer.risks == ["RSK-13", "RSK-14"] and answer.answer.count("Treatment: Accept") == 2, answer.answer


@pytest.mark.integration
def test_a_listed_risk_shows_what_its_register_says_in_words(second_org: Assistant) -> None:
    answer = second_org.ask("have we transferred any risks? to what?", role="isms-lead", llm=False)
    assert answer.risks == ["RSK-11"] and "cyber insurance covers social engineering fraud up to £100,000" in \
        answer.answer, answer.answer


@pytest.mark.integration
def test_risks_quoting_2013_ids_show_the_ids_as_written(assistant: Assistant) -> None:
    answer = assistant.ask("are any risks in the register still quoting old 2013 control numbers?", role="isms-lead",
                           llm=False)
    assert answer.risks == ["R-014", "R-027"] and "A.12.3.1" in answer.answer and "A.12.4.1" in answer.answer


@pytest.mark.integration
def test_risks_without_a_control_are_listed(second_org: Assistant) -> None:
    answer = second_org.ask("are there any risks without controls?", role="isms-lead", llm=False)
    assert answer.answer.startswith("2 of the 15 rows of the risk register have no control linked")
    assert answer.risks == ["RSK-13", "RSK-14"]


@pytest.mark.integration
def test_no_matching_row_is_said_plainly_naming_the_register(assistant: Assistant) -> None:
    avoided = assistant.ask("have we avoided any risks?", role="isms-lead", llm=False)
    assert avoided.answer == ("None of the 45 rows of the risk register has the treatment Avoid "
                              "(registers/risk-register.csv).")
    assert not avoided.abstained and not avoided.citations
    assert avoided.retrieved_sources[0] == "registers/risk-register.csv"
    linked = assistant.ask("are there any risks without controls?", role="isms-lead", llm=False)
    assert linked.answer.startswith("In the 45 rows of the risk register, every risk has a control linked")
