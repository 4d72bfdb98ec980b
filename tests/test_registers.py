"""Register parsing: the sample registers, tolerant headers, and row-level validation errors."""

from __future__ import annotations

from pathlib import Path

from assistant.ingest.loaders import load_file
from assistant.registers import Table, detect_kind, parse_register, parse_risk_register, parse_soa

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def test_sample_risk_register_parses_cleanly_with_legacy_ids_mapped() -> None:
    table = load_file(CORPUS / "registers/risk-register.csv").table
    result = parse_register(table, "registers/risk-register.csv")
    assert result is not None and result.kind == "risk_register"
    assert len(result.risks) == 45 and result.errors == []
    by_id = {r.risk_id: r for r in result.risks}
    assert by_id["R-014"].legacy_controls == ["A.12.3.1"] and "8.13" in by_id["R-014"].controls
    assert by_id["R-027"].legacy_controls == ["A.12.4.1"] and "8.15" in by_id["R-027"].controls
    assert "7.4" in by_id["R-033"].controls and by_id["R-033"].treatment == "Mitigate"
    for risk in result.risks:
        assert risk.score == risk.likelihood * risk.impact


def test_sample_soa_covers_93_controls() -> None:
    table = load_file(CORPUS / "registers/statement-of-applicability.xlsx").table
    result = parse_register(table, "registers/statement-of-applicability.xlsx")
    assert result is not None and result.kind == "soa" and result.errors == []
    assert len(result.soa) == 93
    by_id = {e.control_id: e for e in result.soa}
    assert by_id["7.4"].applicable is False and by_id["8.30"].applicable is False
    assert by_id["5.7"].applicable is True and by_id["5.7"].linked_risks == []
    assert by_id["8.11"].documents == []


def test_tolerant_headers_and_row_errors() -> None:
    rows = [
        {"Ref": "R-1", "Risk": "Laptop theft", "Owner": "IT", "Likelihood": "3", "Impact": "4", "Treatment": "reduce",
         "Annex A controls": "8.1; A.11.2.6", "Colour": "red"},
        {"Ref": "R-1", "Risk": "dup", "Owner": "IT", "Likelihood": "1", "Impact": "1", "Treatment": "accept",
         "Annex A controls": "", "Colour": ""},
        {"Ref": "R-2", "Risk": "Bad numbers", "Owner": "IT", "Likelihood": "seven", "Impact": "9", "Treatment": "avoid",
         "Annex A controls": "5.99, 8.13", "Colour": ""},
        {"Ref": "", "Risk": "no id", "Owner": "", "Likelihood": "", "Impact": "", "Treatment": "", "Annex A controls": "",
         "Colour": ""},
    ]
    assert detect_kind(rows[0].keys()) == "risk_register"
    result = parse_risk_register(rows, "r.csv")
    assert [r.risk_id for r in result.risks] == ["R-1", "R-2"]
    first = result.risks[0]
    assert first.score == 12 and first.level == "High" and first.treatment == "Mitigate"
    assert first.controls == ["8.1", "7.9"] and first.legacy_controls == ["A.11.2.6"]
    messages = [str(e) for e in result.errors]
    assert any("row 3" in m and "duplicate risk id R-1" in m for m in messages)
    assert any("row 4" in m and "likelihood" in m and "not a number" in m for m in messages)
    assert any("row 4" in m and "impact" in m and "outside 1–5" in m for m in messages)
    assert any("row 4" in m and "unknown control id '5.99'" in m for m in messages)
    assert any("row 5" in m and "no risk id" in m for m in messages)
    assert result.risks[1].controls == ["8.13"]
    assert result.unknown_columns == ["Colour"]


def test_missing_required_column_is_reported() -> None:
    rows = [{"Risk ID": "R-1", "Owner": "x", "Likelihood": "2", "Impact": "2"}]
    result = parse_risk_register(rows, "r.csv")
    assert result.missing_columns == ["controls"]
    assert any("required column missing" in str(e) for e in result.errors)


def test_soa_unknown_and_duplicate_controls_and_bad_applicability() -> None:
    rows = [
        {"Control": "A.5.15", "Applicable?": "Yes", "Justification": "ok"},
        {"Control": "5.15", "Applicable?": "yes", "Justification": "dup"},
        {"Control": "5.99", "Applicable?": "No", "Justification": ""},
        {"Control": "A.9.2.5", "Applicable?": "maybe", "Justification": ""},
    ]
    result = parse_soa(rows, "soa.csv")
    assert [e.control_id for e in result.soa] == ["5.15", "5.18"]
    assert result.soa[1].legacy_id == "A.9.2.5" and result.soa[1].applicable is None
    messages = [str(e) for e in result.errors]
    assert any("duplicate control 5.15" in m for m in messages)
    assert any("unknown control id '5.99'" in m for m in messages)
    assert any("expected Yes/No" in m for m in messages)


def test_other_tables_are_not_registers() -> None:
    assert parse_register([{"Name": "a", "Phone": "1"}], "contacts.csv") is None


def test_registers_are_never_mistaken_for_another_kind() -> None:
    # a change log with Impact and Risk columns is not a risk register
    assert detect_kind(["Change ID", "Date", "Description", "Impact", "Risk", "Approved by", "Status"]) == "change_log"
    # a legal register with a Controls column (and even an Applicable column) is not an SoA
    legal = [{"Legislation": "UK GDPR", "Applicable": "Yes", "Control": "A.5.34, A.8.24", "Owner": "DPO"},
             {"Legislation": "PECR", "Applicable": "Yes", "Control": "A.5.34", "Owner": "DPO"}]
    assert detect_kind(legal[0].keys(), legal) == "legal_register"
    assert detect_kind(["Requirement", "Source", "Applies to", "Owner", "Controls"]) == "legal_register"
    assert detect_kind(["Document ID", "Title", "Owner", "Version", "Next review"]) == "document_register"
    assert detect_kind(["Risk ID", "Action", "Owner", "Due", "Annex A Control"]) == "risk_treatment_plan"
    assert detect_kind(["Asset ID", "Asset", "Type", "Owner", "Location", "Classification"]) == "asset_register"
    assert detect_kind(["Supplier", "Service", "Contract end", "Criticality", "DPA"]) == "supplier_register"
    assert detect_kind(["Incident ID", "Reported", "Severity", "Root cause", "Closed"]) == "incident_register"
    assert detect_kind(["Employee", "Course", "Completed", "Score"]) == "training_register"
    assert detect_kind(["Name", "Colour"]) is None


def test_treatment_plan_keeps_every_action_and_any_id_format() -> None:
    rows = [
        {"Risk ID": "R-1", "Action": "Enforce MFA", "Owner": "IT", "Due": "31/01/2027", "Annex A Control": "A 5.17 A 8.5"},
        {"Risk ID": "R-1", "Action": "Restore tests", "Owner": "IT", "Due": "", "Annex A Control": "A.12.3.1"},
        {"Risk ID": "R-2", "Action": "Buy insurance", "Owner": "FD", "Due": "", "Annex A Control": ""},
        {"Risk ID": "R-2", "Action": "Typo", "Owner": "FD", "Due": "", "Annex A Control": "A.5.99"},
    ]
    result = parse_register(rows, "plan.csv")
    assert result is not None and result.kind == "risk_treatment_plan" and result.risks == []
    assert [(a.risk_id, a.controls) for a in result.actions] == [
        ("R-1", ["5.17", "8.5"]), ("R-1", ["8.13"]), ("R-2", []), ("R-2", [])]
    assert result.actions[1].legacy_controls == ["A.12.3.1"]
    assert [str(e) for e in result.errors] == ["row 5: controls: unknown control id 'A.5.99'"]


def test_free_text_controls_are_matched_not_reported_as_unknown_ids() -> None:
    rows = [{"Risk ID": "R-1", "Likelihood": "3", "Impact": "3",
             "Existing controls": "EDR on all laptops, MFA on admin accounts, offline backups; TLS 1.2 everywhere"}]
    result = parse_risk_register(rows, "r.csv")
    risk = result.risks[0]
    assert result.errors == []
    assert risk.controls == ["8.7", "8.1", "8.5", "8.2", "8.13"]
    assert risk.control_evidence == {"8.7": "EDR", "8.1": "laptops", "8.5": "MFA", "8.2": "admin accounts",
                                     "8.13": "backups"}
    assert risk.title == ""  # no title and no description column


def test_malformed_csv_row_is_reported_with_its_line_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("Risk ID,Action,Owner,Due,Annex A Control\n"
                    "R-1,\"Enforce MFA, FIDO2 keys\",IT,31/01/2027,A 8.5\n"
                    "R-2,\"Quarterly access review\nof production\",IT,31/03/2027,A 5.18\n"
                    "R-3,Back up Azure, Google and Slack,IT,31/03/2027,A 8.13\n"
                    "R-4,Patch monthly,IT,31/01/2027,A 8.8\n", encoding="utf-8")
    loaded = load_file(path)
    result = parse_register(Table(records=loaded.table or [], numbers=loaded.table_rows, overflow=loaded.table_overflow),
                            "plan.csv")
    assert result is not None and result.kind == "risk_treatment_plan"
    assert [(a.risk_id, a.row) for a in result.actions] == [("R-1", 2), ("R-2", 3), ("R-4", 6)]
    assert len(result.errors) == 1 and result.errors[0].row == 5 and "6 cells for 5 columns" in result.errors[0].message


def test_soa_id_scheme_is_detected_per_file() -> None:
    rows = [{"Control": f"A.5.{n}", "Applicable": "Yes"} for n in (1, 2, 3)]
    assert parse_soa(rows, "soa.csv").id_scheme == "2022 with A. prefix"
    assert [e.legacy_id for e in parse_soa(rows, "soa.csv").soa] == ["", "", ""]
    rows = [{"Control": "A.9.2.5", "Applicable": "Yes"}, {"Control": "A.12.3.1", "Applicable": "Yes"}]
    result = parse_soa(rows, "soa.csv")
    assert result.id_scheme == "2013" and [e.control_id for e in result.soa] == ["5.18", "8.13"]
    assert parse_soa([{"Control ID": "5.1", "Applicable": "Yes"}], "s.csv").id_scheme == "2022"
