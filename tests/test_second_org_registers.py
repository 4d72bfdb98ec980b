"""Register recognition and risk ↔ control links on the second sample organization (tests/data/second-org):
each file read as the register it is, every treatment plan action kept, free-text controls linked through
catalogue names and aliases, and the first sample organization's registers parsed exactly as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.catalogue import get_catalogue
from assistant.ingest.documents import process_file
from assistant.ingest.loaders import load_file
from assistant.knowledge import FREE_TEXT, SOA, TREATMENT_PLAN, Knowledge
from assistant.registers import RegisterResult, Table, action_text, parse_register, soa_text

DATA = Path(__file__).resolve().parent / "data"
ORG = DATA / "second-org"
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
EXPECTED = json.loads((ORG / "expected.json").read_text("utf-8"))


def parse(path: Path, source: str) -> RegisterResult | None:
    loaded = load_file(path)
    return parse_register(Table(records=loaded.table or [], numbers=loaded.table_rows, overflow=loaded.table_overflow), source)


@pytest.fixture(scope="module")
def registers() -> dict[str, RegisterResult]:
    out = {}
    for name in EXPECTED["registers"]:
        result = parse(ORG / name, name)
        assert result is not None, name
        out[name] = result
    return out


@pytest.fixture(scope="module")
def knowledge(registers: dict[str, RegisterResult]) -> Knowledge:
    return Knowledge.build(list(registers.values()), [])


def _row_count(result: RegisterResult) -> int:
    return len(result.risks) + len(result.soa) + len(result.actions) + len(result.rows)


def test_each_file_is_recognised_as_its_register(registers: dict[str, RegisterResult]) -> None:
    for name, want in EXPECTED["registers"].items():
        result = registers[name]
        assert result.kind == want["kind"], name
        assert result.kind not in want.get("not", []), name
        if want["kind"] == "soa":
            assert len(result.soa) == want["controls"] and result.id_scheme == want["id_scheme"]
            assert [str(e) for e in result.errors] == ["row 39: control_id: unknown control id 'A.5.38'; row skipped",
                                                       "row 96: control_id: duplicate control 8.9; row skipped"]
        else:
            assert _row_count(result) == want["rows"], name
            assert result.errors == [], (name, [str(e) for e in result.errors])


def test_no_change_log_legal_or_document_row_becomes_a_risk_or_soa_record(registers: dict[str, RegisterResult]) -> None:
    for name in ("change-log.csv", "legal-register.csv", "document-register.csv"):
        result = registers[name]
        assert result.risks == [] and result.soa == [] and result.actions == []
    legal = registers["legal-register.csv"]
    assert legal.rows[1].controls == ["5.34", "8.24"] and legal.rows[1].key.startswith("Appropriate security")
    assert registers["change-log.csv"].rows[5].key == "CHG-2026-036"
    assert [r.key for r in registers["document-register.csv"].rows][:2] == ["POL-001", "PRO-002"]


def test_every_treatment_plan_action_is_kept_and_links_its_controls(
    registers: dict[str, RegisterResult], knowledge: Knowledge
) -> None:
    plan = registers["risk-treatment-plan.csv"]
    assert [a.risk_id for a in plan.actions].count("RSK-01") == 4
    assert plan.actions[2].controls == ["5.17", "8.5"] and plan.actions[2].row == 4
    insurance = next(a for a in plan.actions if a.action.startswith("Renew cyber insurance"))
    assert insurance.controls == []
    from_plan: dict[str, list[str]] = {}
    for link in knowledge.links or []:
        if link.via == TREATMENT_PLAN:
            from_plan.setdefault(link.control_id, [])
            if link.risk_id not in from_plan[link.control_id]:
                from_plan[link.control_id].append(link.risk_id)
    assert {c: sorted(r) for c, r in from_plan.items()} == EXPECTED["treatment_plan_links"]


def test_free_text_controls_are_linked_with_the_words_that_named_them(registers: dict[str, RegisterResult]) -> None:
    risks = {r.risk_id: r for r in registers["risk-register.xlsx"].risks}
    plan = EXPECTED["treatment_plan_links"]
    for risk_id, want in EXPECTED["free_text_links"].items():
        risk = risks[risk_id]
        for control_id, words in want.items():
            assert control_id in risk.controls, (risk_id, control_id)
            matched = risk.control_evidence[control_id].lower()
            assert any(m in words.lower() for m in matched.split("; ")), (risk_id, control_id, matched)
    for risk in risks.values():  # nothing matched that the treatment plan contradicts
        for control_id in risk.controls:
            assert risk.risk_id in plan.get(control_id, []), (risk.risk_id, control_id, risk.control_evidence)


def test_knowledge_sees_risks_linked_only_through_the_plan(knowledge: Knowledge) -> None:
    assert knowledge.risks_by_control["8.13"] == ["RSK-01", "RSK-04", "RSK-05"]
    assert "8.30" in knowledge.risks["RSK-12"].controls  # RSK-12's free text names no control
    assert knowledge.risks_by_control["8.30"] == ["RSK-12"]
    vias = {link.via for link in knowledge.links_for("8.13")}
    assert vias == {FREE_TEXT, TREATMENT_PLAN, SOA}
    edr = next(link for link in knowledge.links_for("8.7") if link.via == FREE_TEXT)
    assert edr.risk_id == "RSK-01" and edr.evidence == "EDR" and edr.row == 2
    assert knowledge.risks["RSK-12"].title.startswith("Security flaws are introduced")


def test_register_rows_are_citable_chunks_that_keep_their_register_kind() -> None:
    catalogue = get_catalogue()
    for name, want in EXPECTED["registers"].items():
        processed = process_file(ORG / name, name, "h", catalogue, 1200)
        assert processed.chunks and {c.register_kind for c in processed.chunks} == {want["kind"]}
        assert processed.record.title == processed.register.title  # type: ignore[union-attr]
        if want["kind"] not in ("risk_register", "soa"):
            assert {c.kind for c in processed.chunks} == {"row"}
    plan = process_file(ORG / "risk-treatment-plan.csv", "risk-treatment-plan.csv", "h", catalogue, 1200)
    first = plan.chunks[0]
    assert first.risks == ["RSK-01"] and first.controls == ["8.7", "8.16"] and first.start == 2
    assert first.text.startswith("Risk treatment plan: RSK-01 action: Keep SentinelOne")


def test_a_controls_cell_in_words_and_the_registers_own_columns_are_kept_in_the_row_text() -> None:
    catalogue = get_catalogue()
    register = process_file(ORG / "risk-register.xlsx", "risk-register.xlsx", "h", catalogue, 1200)
    fraud = next(c for c in register.chunks if c.risks == ["RSK-11"])
    # no control id in the cell, so no control is linked; the words are kept all the same
    assert "Existing controls: Call-back check on any change of supplier bank details; cyber insurance covers " \
           "social engineering fraud up to £100,000." in fraud.text
    extra = parse_register([{"Risk ID": "R-1", "Description": "Laptop stolen from a car", "Owner": "IT",
                             "Controls": "8.1", "Review notes": "Checked with the insurer in May"}], "r.csv")
    assert extra is not None and extra.risks[0].notes == ["Review notes: Checked with the insurer in May"]


def test_soa_and_treatment_plan_rows_keep_the_columns_no_field_holds() -> None:
    soa = parse_register([{"Control": "5.15", "Applicable": "Yes", "Justification": "Access is role based",
                           "Status": "Implemented", "Auditor remarks": "Sampled 10 leavers in May, all removed"}],
                         "soa.xlsx")
    assert soa is not None and soa.kind == "soa"
    assert soa.soa[0].notes == ["Auditor remarks: Sampled 10 leavers in May, all removed"]
    assert soa_text(soa.soa[0]).endswith("Auditor remarks: Sampled 10 leavers in May, all removed.")
    plan = parse_register([{"Risk ID": "R-1", "Action": "Train the finance team", "Owner": "CFO", "Due": "2027-01-31",
                            "Controls": "call-back check on bank detail changes"}], "plan.csv")
    assert plan is not None and plan.kind == "risk_treatment_plan"
    assert plan.actions[0].notes == ["Controls: call-back check on bank detail changes"]
    assert "Controls: call-back check on bank detail changes." in action_text(plan.actions[0])


def test_sample_organization_registers_parse_exactly_as_before() -> None:
    before = json.loads((DATA / "corpus-registers-before-issue14.json").read_text("utf-8"))
    for source, old in before.items():
        new = parse(CORPUS / source, source)
        assert new is not None and new.kind == old["kind"] and new.column_map == old["column_map"]
        assert [e.model_dump() for e in new.errors] == old["errors"]
        for field in ("risks", "soa"):
            records = [r.model_dump() for r in getattr(new, field)]
            assert len(records) == len(old[field])
            for got, want in zip(records, old[field], strict=True):
                assert {k: got[k] for k in want} == want
                assert not any(got[k] for k in got if k not in want)  # new fields stay empty
