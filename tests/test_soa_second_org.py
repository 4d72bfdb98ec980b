"""SoA checks and drafts on the second sample organization (tests/data/second-org: Tollgate Routing Ltd), whose
SoA states its drivers only in the justification text, references documents by id ("POL-001") or names them
in the text, and has no implementing-documents column of our template.

Integration tests ingest the folder once per module (EXPECTED.md and expected.json left out) and check the
planted flaws and clean controls of expected.json for the kinds these checks own: drivers, implementing
documents, template wording. Unit tests classify real justification sentences of both organizations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from assistant.soa.checks import SYSTEMIC_MIN, Finding, merge_systemic
from assistant.soa.drivers import clauses, driver_codes, is_template, stated_drivers
from assistant.soa.types import BUSINESS, CONTRACTUAL, LEGAL, OTHER, RISK_TREATMENT

REPO = Path(__file__).resolve().parents[1]
SECOND_ORG = REPO / "tests" / "data" / "second-org"
EXPECTED = json.loads((SECOND_ORG / "expected.json").read_text(encoding="utf-8"))
AS_OF = date.fromisoformat(EXPECTED["as_of"])
# the finding kinds whose rules read drivers, implementing documents and template wording
KINDS = ("no_driver", "implemented_without_document", "document_not_found", "template_justification")
RISKS = {f"RSK-{i:02d}": f"risk {i}" for i in range(1, 16)}


# ---------------------------------------------------------------------------------------------- drivers (unit)
@pytest.mark.parametrize(("text", "codes"), [
    # second organization (Tollgate)
    ("UK GDPR and our client contracts (MSA schedule 3) require a written, board-approved security policy. The "
     "Information Security Policy is approved by the Managing Director and reviewed every year.", [LEGAL, CONTRACTUAL]),
    ("UK GDPR requires us to report qualifying personal data breaches to the ICO within 72 hours, so we keep current "
     "contacts for the ICO, Action Fraud, the police and the NCSC.", [LEGAL]),
    ("Our cyber insurer asks for signed acceptable use rules: every starter signs the Acceptable Use Policy in "
     "BreatheHR and everyone re-signs it each year.", [BUSINESS]),
    ("Access to the platform and corporate systems is granted and removed under the Access Management Procedure; "
     "treats RSK-02.", [RISK_TREATMENT]),
    ("Treats RSK-01, RSK-04 and RSK-05; our cyber insurer expects tested offline backups. Backups and quarterly restore "
     "tests follow PRO-003.", [RISK_TREATMENT, BUSINESS]),
    ("Employment law requires a fair process before any sanction; breaches of our policies go through the disciplinary "
     "procedure in the Staff Handbook.", [LEGAL]),
    ("Right-to-work checks are a legal requirement, and client contracts require a basic DBS check for anyone with "
     "production access.", [LEGAL, CONTRACTUAL]),
    ("The landlord maintains fire detection in the building as the lease requires; we hold no production systems on "
     "site.", [CONTRACTUAL]),
    ("Staff cannot work without a laptop, so keeping them repaired is a business need; repairs go through the "
     "manufacturer's warranty.", [BUSINESS]),
    ("We license mapping data from MapGrid and commercial software for staff; the Copyright, Designs and Patents Act "
     "applies.", [LEGAL]),
    ("The Security Forum decided that every laptop is encrypted.", [OTHER]),
    # first organization (Halden)
    ("Security Operations belongs to the NCSC Cyber Security Information Sharing Partnership (CiSP). These memberships "
     "are a business requirement for keeping our security practice up to date.", [BUSINESS]),
    ("Customer contracts and SOC 2 commitments require restricted access to customer data.", [CONTRACTUAL]),
])
def test_stated_drivers_on_real_justifications(text: str, codes: list[str]) -> None:
    drivers = stated_drivers(text, RISKS)
    assert driver_codes(drivers) == codes
    for d in drivers:
        assert d.quote in text and d.cue  # the span that states it, verbatim


@pytest.mark.parametrize("text", [
    "This control is applicable as ISO 27001 requires it to protect the confidentiality, integrity and availability "
    "of Tollgate's information assets.",
    "This control is applicable as it is required to ensure the confidentiality, integrity and availability of "
    "information.",
    "Applicable.",
    "",
    # first organization's 5.7: what is done, but no reason to do it
    "The on-shift Security Operations analyst reviews Recorded Future alerts, NCSC advisories and CiSP posts every "
    "working day, and high-confidence indicators are added to Splunk Cloud lookups the same day.",
    "Our employment contracts include a confidentiality clause; contractors sign the same terms.",
    "Backups follow PRO-003 and POL-001.",  # document ids are not risks
])
def test_no_driver_in_template_or_descriptive_text(text: str) -> None:
    assert stated_drivers(text, RISKS) == []


def test_template_wording_and_clauses() -> None:
    assert is_template("This control is applicable as ISO 27001 requires it.")
    assert not is_template("UK GDPR requires us to report breaches to the ICO.")
    assert clauses("Treats RSK-08. Our insurer requires patching; we patch monthly.") == [
        "Treats RSK-08.", "Our insurer requires patching", "we patch monthly."]
    titled = stated_drivers("Reduces the risk of ransomware encryption of file shares.", {"R-001": "Ransomware encryption of file shares"})
    assert [(d.code, d.risks) for d in titled] == [(RISK_TREATMENT, ("R-001",))]


# ---------------------------------------------------------------------------------------------- systemic (unit)
@dataclass
class _Entry:
    applicable: bool | None = True
    status: str = "Implemented"


@dataclass
class _Knowledge:
    soa: dict[str, _Entry] = field(default_factory=dict)


@dataclass
class _Ctx:
    knowledge: _Knowledge

    def register_source(self, kind: str) -> str:
        return "soa.xlsx"

    def source_visible(self, source: str) -> bool:
        return True


def _finding(kind: str, cid: str) -> Finding:
    return Finding("medium", kind, cid, f"{cid} [1]", "fix", [], [cid])


def test_a_gap_on_most_rows_is_one_finding() -> None:
    ids = [f"5.{i}" for i in range(1, 21)]
    ctx = _Ctx(_Knowledge({cid: _Entry() for cid in ids}))
    many = [_finding("implemented_without_document", cid) for cid in ids[:12]] + [_finding("no_driver", "5.1")]
    merged = merge_systemic(ctx, many)  # type: ignore[arg-type]
    systemic = [f for f in merged if f.kind == "implemented_without_document"]
    assert len(systemic) == 1 and systemic[0].controls == ids[:12] and systemic[0].control == ""
    assert "12 of 20 implemented controls" in systemic[0].message and systemic[0].evidence
    assert [f.control for f in merged if f.kind == "no_driver"] == ["5.1"]  # one row is not systemic
    few = [_finding("implemented_without_document", cid) for cid in ids[:SYSTEMIC_MIN - 1]]
    assert len(merge_systemic(ctx, few)) == SYSTEMIC_MIN - 1  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- integration
@pytest.fixture(scope="module")
def report(second_org: Any) -> Any:
    return second_org.check_soa(role="isms-lead", as_of=AS_OF)


def _hits(report: Any, kind: str, control: str) -> bool:
    return any(f.kind == kind and (f.control == control or control in f.controls) for f in report.findings)


@pytest.mark.integration
def test_planted_flaws_found(report: Any) -> None:
    planted = [p for p in EXPECTED["planted"] if p["kind"] in KINDS]
    assert planted
    missed = [p for p in planted if not _hits(report, p["kind"], p["control"])]
    assert not missed, missed
    not_found = next(f for f in report.findings if f.kind == "document_not_found")
    assert "PRO-008" in not_found.message and not_found.quote == "PRO-008"


@pytest.mark.integration
def test_clean_controls_not_flagged(report: Any) -> None:
    flagged = [(c["control"], kind) for c in EXPECTED["clean"] if "control" in c for kind in c["must_not"]
               if kind in KINDS and _hits(report, kind, c["control"])]
    assert not flagged, flagged


@pytest.mark.integration
def test_no_per_control_noise_for_drivers_and_documents(report: Any) -> None:
    counts = report.by_kind()
    planted = {k: len({p["control"] for p in EXPECTED["planted"] if p["kind"] == k}) for k in KINDS}
    for kind in ("no_driver", "implemented_without_document", "document_not_found"):
        assert counts.get(kind, 0) == planted[kind], (kind, counts)
    assert counts.get("template_justification", 0) == 1  # one reused text: one finding listing its four controls
    assert [f.id for f in report.findings] == [f"F{i}" for i in range(1, len(report.findings) + 1)]


@pytest.mark.integration
def test_document_ids_resolve_like_an_auditor(second_org: Any) -> None:
    ctx = second_org.soa_context("isms-lead")
    for doc_id, source in EXPECTED["documents"].items():
        found = ctx.document_id(doc_id)
        if source is None:
            assert found is None and ctx.resolve_document(doc_id) is None
        else:
            assert found is not None and found.source == source, (doc_id, found)
    assert ctx.document_id("POL-001").how == "document"  # its own "Document ID:" line
    assert ctx.document_id("POL-007").how == "register"  # only the document register knows it
    assert ctx.named_documents("granted under the Access Management Procedure; treats RSK-02") == [
        "access-management-procedure.md"]


@pytest.mark.integration
def test_drafts_keep_the_stated_driver_and_name_the_procedure(second_org: Any) -> None:
    drafts = {d.control_id: d for d in second_org.draft_soa(["A.5.16", "A.5.18", "A.9.2.1"], role="isms-lead",
                                                             llm=False, history=False)}
    identity = drafts["5.16"]
    assert LEGAL in identity.reasons and identity.reason_origins[LEGAL] == "soa"
    assert "UK GDPR accountability" in identity.justification
    assert "states no other reason" not in identity.justification and not identity.warnings
    rights = drafts["5.18"]
    assert CONTRACTUAL in rights.reasons and "Client contracts (MSA schedule 3)" in rights.justification
    assert "Access Management Procedure" in rights.justification
    assert rights.documents[0].source == "access-management-procedure.md"
    assert rights.documents[0].link == "named in the SoA justification"
    assert "Reasons: none" not in rights.to_row()["Reasons"] and "Contractual" in rights.to_row()["Reasons"]


@pytest.mark.integration
def test_a_document_only_a_search_finds_still_implements_the_control(second_org: Any) -> None:
    """An SoA row that names no document (no reference, none in its text): the check searches the documents for
    the control the way an auditor would, and the draft shows the passage that links it with its similarity. A
    control no document covers (8.22, planted) stays a finding."""
    from dataclasses import replace

    from assistant.soa.checks import run_checks
    from assistant.soa.draft import draft_control

    ctx = second_org.soa_context("isms-lead")
    row = ctx.knowledge.soa["8.4"]
    assert row.documents  # as written, the row references PRO-002
    unnamed = row.model_copy(update={"documents": [], "justification": "Client contracts (MSA schedule 3) "
                                     "require that only our engineers can change the platform's code."})
    ctx.knowledge = replace(ctx.knowledge, soa={**ctx.knowledge.soa, "8.4": unnamed})
    report = run_checks(ctx, AS_OF)
    assert not _hits(report, "implemented_without_document", "8.4")
    assert _hits(report, "implemented_without_document", "8.22")
    draft = draft_control(ctx, "8.4")
    assert [d.source for d in draft.documents] == ["access-management-procedure.md"]
    assert "similarity" in draft.documents[0].link and "does not name it" in draft.documents[0].link
    assert "marked implemented but no implementing document was found" not in draft.warnings


def test_a_regulator_is_a_driver_only_with_what_it_demands() -> None:
    assert stated_drivers("The DPO follows ICO guidance updates and attends the IAPP UK chapter.") == []
    assert driver_codes(stated_drivers("The Companies Act and HMRC require financial records for six years.")) == [LEGAL]
    assert [d.cue for d in stated_drivers("We must report qualifying breaches to the ICO within 72 hours.")] == ["ICO"]
