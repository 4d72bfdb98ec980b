"""Risk register and Statement of Applicability: tolerant column mapping, typed records, row errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from pydantic import BaseModel, Field

from assistant.catalogue import Catalogue, get_catalogue, normalise
from assistant.text import CELL_ID_2013, CELL_THREE_PART, REGISTER_RISK_ID

# Field → header synonyms (normalised). The first synonym found in a header wins.
RISK_COLUMNS: dict[str, list[str]] = {
    "risk_id": ["risk id", "risk ref", "risk reference", "risk no", "risk number", "id", "ref"],
    "title": ["risk title", "title", "risk name", "name", "risk"],
    "description": ["description", "risk description", "scenario", "threat"],
    "asset": ["asset process", "asset", "process", "asset or process", "affected asset"],
    "owner": ["risk owner", "owner"],
    "likelihood": ["likelihood", "probability"],
    "impact": ["impact", "consequence", "severity"],
    "score": ["score", "risk score", "inherent score", "rating"],
    "level": ["risk level", "level"],
    "treatment": ["treatment", "treatment option", "risk treatment", "response"],
    "controls": ["controls", "annex a controls", "linked controls", "annex a", "control ids", "linked annex a controls"],
    "status": ["status", "risk status"],
    "last_reviewed": ["last reviewed", "review date", "reviewed"],
}
SOA_COLUMNS: dict[str, list[str]] = {
    "control_id": ["control id", "control ref", "control", "annex a control", "control no", "id", "ref"],
    "title": ["control title", "control name", "title", "name"],
    "applicable": ["applicable", "applicability", "included", "selected"],
    "reasons": ["reasons for selection", "reasons", "reason", "selection reason", "drivers", "reason for selection"],
    "status": ["implementation status", "status", "implemented"],
    "justification": ["justification", "justification for inclusion exclusion", "rationale", "comments"],
    "linked_risks": ["linked risks", "risks", "risk ids", "related risks", "risk references"],
    "documents": ["implementing documents", "documents", "evidence", "references", "reference", "document reference",
                  "document references", "policy procedure"],
    "owner": ["control owner", "owner"],
    "last_reviewed": ["last reviewed", "review date", "reviewed"],
}
RISK_REQUIRED = ("risk_id", "controls")
SOA_REQUIRED = ("control_id", "applicable")

LEVEL_BANDS = [(5, "Low"), (11, "Medium"), (19, "High"), (25, "Critical")]
TREATMENTS = {"mitigate": "Mitigate", "reduce": "Mitigate", "modify": "Mitigate", "treat": "Mitigate",
              "accept": "Accept", "retain": "Accept", "transfer": "Transfer", "share": "Transfer",
              "avoid": "Avoid", "terminate": "Avoid"}


class RowError(BaseModel):
    row: int  # spreadsheet row number (header = 1)
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}"


class RiskRecord(BaseModel):
    risk_id: str
    title: str = ""
    description: str = ""
    asset: str = ""
    owner: str = ""
    likelihood: int | None = None
    impact: int | None = None
    score: int | None = None
    level: str = ""
    treatment: str = ""
    controls: list[str] = Field(default_factory=list)  # valid 2022 ids (2013 ids mapped)
    legacy_controls: list[str] = Field(default_factory=list)  # 2013 ids as written
    status: str = ""
    last_reviewed: str = ""
    row: int = 0


class SoAEntry(BaseModel):
    control_id: str
    title: str = ""
    applicable: bool | None = None
    reasons: list[str] = Field(default_factory=list)
    status: str = ""
    justification: str = ""
    linked_risks: list[str] = Field(default_factory=list)
    documents: list[str] = Field(default_factory=list)
    owner: str = ""
    last_reviewed: str = ""
    legacy_id: str = ""  # set when the SoA row used a 2013 id
    row: int = 0


class RegisterResult(BaseModel):
    kind: Literal["risk_register", "soa"]
    source: str
    risks: list[RiskRecord] = Field(default_factory=list)
    soa: list[SoAEntry] = Field(default_factory=list)
    errors: list[RowError] = Field(default_factory=list)
    column_map: dict[str, str] = Field(default_factory=dict)  # field → header used
    unknown_columns: list[str] = Field(default_factory=list)
    missing_columns: list[str] = Field(default_factory=list)


def map_columns(headers: Iterable[str], spec: dict[str, list[str]]) -> tuple[dict[str, str], list[str]]:
    """Map our fields to the table's headers; returns (field → header, unmapped headers)."""
    normalised = {h: normalise(h) for h in headers if h}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    # exact synonym matches first, then headers that contain a synonym
    for exact in (True, False):
        for fld, synonyms in spec.items():
            if fld in mapping:
                continue
            for syn in synonyms:
                hit = next(
                    (h for h, n in normalised.items() if h not in used and (n == syn if exact else f" {syn} " in f" {n} ")),
                    None,
                )
                if hit:
                    mapping[fld] = hit
                    used.add(hit)
                    break
    return mapping, [h for h in normalised if h not in used]


def detect_kind(headers: Iterable[str]) -> Literal["risk_register", "soa"] | None:
    headers = list(headers)
    norm = " | ".join(normalise(h) for h in headers)
    risk_map, _ = map_columns(headers, RISK_COLUMNS)
    soa_map, _ = map_columns(headers, SOA_COLUMNS)
    if "applicab" in norm and "control_id" in soa_map:
        return "soa"
    if "risk" in norm and sum(f in risk_map for f in ("likelihood", "impact", "treatment", "controls", "owner")) >= 2:
        return "risk_register"
    return None


def split_list(cell: str) -> list[str]:
    return [p.strip() for p in re.split(r"[;,\n]+", cell or "") if p.strip()]


def _parse_int(value: str, fld: str, row: int, errors: list[RowError], low: int, high: int) -> int | None:
    if not value.strip():
        return None
    try:
        number = int(float(value))
    except ValueError:
        errors.append(RowError(row=row, field=fld, message=f"not a number: {value!r}"))
        return None
    if not low <= number <= high:
        errors.append(RowError(row=row, field=fld, message=f"{number} is outside {low}–{high}"))
        return None
    return number


def level_for(score: int) -> str:
    return next(name for top, name in LEVEL_BANDS if score <= top)


def resolve_control_cell(
    cell: str, row: int, fld: str, errors: list[RowError], catalogue: Catalogue
) -> tuple[list[str], list[str]]:
    """Parse a cell of control references → (2022 ids, 2013 ids that were written)."""
    ids: list[str] = []
    legacy: list[str] = []
    for token in split_list(cell):
        found = catalogue.lookup(token)
        if not found:
            errors.append(RowError(row=row, field=fld, message=f"unknown control id {token!r}"))
            continue
        if CELL_ID_2013.match(token.strip().upper().replace(" ", "")):
            legacy.append(token.strip())
        for control in found:
            if control.id not in ids:
                ids.append(control.id)
    return ids, legacy


Cell = Callable[[str], str]  # field → its stripped cell text in one row ("" when the column is not mapped)


def _new_result(
    kind: Literal["risk_register", "soa"], records: list[dict[str, str]], source: str,
    spec: dict[str, list[str]], required: tuple[str, ...],
) -> RegisterResult:
    """Map the table's headers to our fields; a required column that is missing is an error on row 1."""
    headers = list(records[0].keys()) if records else []
    mapping, unknown = map_columns(headers, spec)
    result = RegisterResult(kind=kind, source=source, column_map=mapping, unknown_columns=unknown)
    result.missing_columns = [f for f in required if f not in mapping]
    for fld in result.missing_columns:
        result.errors.append(RowError(row=1, field=fld, message=f"required column missing (expected one of: {', '.join(spec[fld][:4])})"))
    return result


def _rows_with_id(
    records: list[dict[str, str]], result: RegisterResult, id_field: str, id_name: str
) -> Iterator[tuple[int, Cell]]:
    """Each row that has an id, as (spreadsheet row number, cell reader). A non-blank row without an id is
    an error and skipped; a blank row is skipped silently. No rows at all when the id column is missing
    (already reported by `_new_result`)."""
    mapping = result.column_map
    if id_field not in mapping:
        return
    for offset, rec in enumerate(records):
        row = offset + 2

        def get(fld: str, rec: dict[str, str] = rec) -> str:
            return (rec.get(mapping[fld], "") or "").strip() if fld in mapping else ""

        if not get(id_field):
            if any(v.strip() for v in rec.values()):
                result.errors.append(RowError(row=row, field=id_field, message=f"row has no {id_name}; skipped"))
            continue
        yield row, get


def parse_risk_register(records: list[dict[str, str]], source: str, catalogue: Catalogue | None = None) -> RegisterResult:
    catalogue = catalogue or get_catalogue()
    result = _new_result("risk_register", records, source, RISK_COLUMNS, RISK_REQUIRED)
    seen: set[str] = set()
    for row, get in _rows_with_id(records, result, "risk_id", "risk id"):
        risk_id = get("risk_id")
        if risk_id in seen:
            result.errors.append(RowError(row=row, field="risk_id", message=f"duplicate risk id {risk_id}; row skipped"))
            continue
        seen.add(risk_id)
        likelihood = _parse_int(get("likelihood"), "likelihood", row, result.errors, 1, 5)
        impact = _parse_int(get("impact"), "impact", row, result.errors, 1, 5)
        score = _parse_int(get("score"), "score", row, result.errors, 1, 25)
        if score is None and likelihood and impact:
            score = likelihood * impact
        level = get("level") or (level_for(score) if score else "")
        treatment_raw = get("treatment")
        treatment = TREATMENTS.get(normalise(treatment_raw).split(" ")[0], treatment_raw) if treatment_raw else ""
        controls, legacy = resolve_control_cell(get("controls"), row, "controls", result.errors, catalogue)
        result.risks.append(
            RiskRecord(
                risk_id=risk_id, title=get("title"), description=get("description"), asset=get("asset"),
                owner=get("owner"), likelihood=likelihood, impact=impact, score=score, level=level,
                treatment=treatment, controls=controls, legacy_controls=legacy, status=get("status"),
                last_reviewed=get("last_reviewed"), row=row,
            )
        )
    return result


_YES = {"yes", "y", "true", "applicable", "included", "1", "x"}
_NO = {"no", "n", "false", "not applicable", "excluded", "0", "n a", "na"}


def parse_soa(records: list[dict[str, str]], source: str, catalogue: Catalogue | None = None) -> RegisterResult:
    catalogue = catalogue or get_catalogue()
    result = _new_result("soa", records, source, SOA_COLUMNS, SOA_REQUIRED)
    seen: set[str] = set()
    for row, get in _rows_with_id(records, result, "control_id", "control id"):
        raw_id = get("control_id")
        found = catalogue.lookup(raw_id)
        if not found:
            result.errors.append(RowError(row=row, field="control_id", message=f"unknown control id {raw_id!r}; row skipped"))
            continue
        control = found[0]
        legacy = raw_id if control.id != raw_id.upper().removeprefix("A.").strip() and CELL_THREE_PART.search(raw_id) else ""
        if control.id in seen:
            result.errors.append(RowError(row=row, field="control_id", message=f"duplicate control {control.id}; row skipped"))
            continue
        seen.add(control.id)
        applicable_raw = normalise(get("applicable"))
        applicable = True if applicable_raw in _YES else False if applicable_raw in _NO else None
        if applicable is None:
            result.errors.append(RowError(row=row, field="applicable", message=f"expected Yes/No, got {get('applicable')!r}"))
        risks = [r for r in split_list(get("linked_risks")) if r]
        for r in risks:
            if not REGISTER_RISK_ID.fullmatch(r):
                result.errors.append(RowError(row=row, field="linked_risks", message=f"not a risk id: {r!r}"))
        result.soa.append(
            SoAEntry(
                control_id=control.id, title=get("title") or control.title, applicable=applicable,
                reasons=split_list(get("reasons")), status=get("status"), justification=get("justification"),
                linked_risks=[r for r in risks if REGISTER_RISK_ID.fullmatch(r)], documents=split_list(get("documents")),
                owner=get("owner"), last_reviewed=get("last_reviewed"), legacy_id=legacy, row=row,
            )
        )
    return result


def parse_register(records: list[dict[str, str]], source: str) -> RegisterResult | None:
    """Parse a table if it is a risk register or SoA; None for any other table."""
    if not records:
        return None
    kind = detect_kind(records[0].keys())
    if kind == "risk_register":
        return parse_risk_register(records, source)
    if kind == "soa":
        return parse_soa(records, source)
    return None


def risk_text(risk: RiskRecord, catalogue: Catalogue | None = None) -> str:
    """Searchable sentence form of a risk row."""
    catalogue = catalogue or get_catalogue()
    parts = [f"Risk {risk.risk_id}: {risk.title}." if risk.title else f"Risk {risk.risk_id}."]
    if risk.description:
        parts.append(risk.description)
    if risk.asset:
        parts.append(f"Asset/process: {risk.asset}.")
    if risk.owner:
        parts.append(f"Risk owner: {risk.owner}.")
    if risk.score:
        parts.append(f"Likelihood {risk.likelihood} × impact {risk.impact} = {risk.score} ({risk.level}).")
    elif risk.level:
        parts.append(f"Level: {risk.level}.")
    if risk.treatment:
        parts.append(f"Treatment: {risk.treatment}.")
    if risk.controls:
        labels = [catalogue.controls[c].label for c in risk.controls if c in catalogue]
        parts.append("Controls: " + "; ".join(labels) + ".")
    if risk.status:
        parts.append(f"Status: {risk.status}.")
    return " ".join(parts)


def soa_text(entry: SoAEntry) -> str:
    applicable = {True: "applicable", False: "not applicable (excluded)", None: "applicability not stated"}[entry.applicable]
    parts = [f"Statement of Applicability: control {entry.control_id} {entry.title} is {applicable}."]
    if entry.reasons:
        parts.append("Reasons: " + "; ".join(entry.reasons) + ".")
    if entry.status:
        parts.append(f"Implementation status: {entry.status}.")
    if entry.justification:
        parts.append(f"Justification: {entry.justification}")
    if entry.linked_risks:
        parts.append("Linked risks: " + ", ".join(entry.linked_risks) + ".")
    if entry.documents:
        parts.append("Implementing documents: " + "; ".join(entry.documents) + ".")
    if entry.owner:
        parts.append(f"Control owner: {entry.owner}.")
    return " ".join(parts)


def table_row_text(record: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in record.items() if v and v.strip())
