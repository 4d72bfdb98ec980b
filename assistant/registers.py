"""Registers as typed records: risk register, risk treatment plan and Statement of Applicability, plus the
other registers an ISMS keeps (document, legal, assets, suppliers, change log, incidents, training) as
citable rows. Tolerant column mapping, row errors with the file's row number; kinds: `register_kinds.py`,
control cells in any id format or free text: `control_cells.py`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from pydantic import BaseModel, Field

from assistant.catalogue import Catalogue, get_catalogue, normalise
from assistant.control_cells import ControlCell, parse_control_cell, split_items
from assistant.register_kinds import (
    KIND_TITLES,
    RegisterKind,
    cells_are_controls,
    entity_kind,
    has_risk_header,
    id_entity,
    map_columns,
    names_other_register,
    other_kind,
)
from assistant.text import CELL_THREE_PART, LOOKUP_ID_2022, REGISTER_RISK_ID

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
    "documents": ["implementing documents", "documents", "evidence", "references", "reference", "policy procedure",
                  "document reference", "document references", "document ids"],
    "owner": ["control owner", "owner"],
    "last_reviewed": ["last reviewed", "review date", "reviewed"],
}
TREATMENT_COLUMNS: dict[str, list[str]] = {
    "risk_id": ["risk id", "risk ref", "risk reference", "risk no", "risk number", "risk"],
    "action": ["action", "treatment action", "planned action", "mitigation action", "actions", "task",
               "treatment plan", "planned treatment", "measure", "activity"],
    "owner": ["action owner", "owner", "responsible", "assigned to"],
    "due": ["due", "due date", "target date", "deadline", "target", "completion date"],
    "controls": ["annex a control", "annex a controls", "controls", "control", "linked controls", "annex a", "control ids"],
    "status": ["status", "action status", "progress"],
}
RISK_REQUIRED = ("risk_id", "controls")
SOA_REQUIRED = ("control_id", "applicable")
TREATMENT_REQUIRED = ("risk_id", "action")

LEVEL_BANDS = [(5, "Low"), (11, "Medium"), (19, "High"), (25, "Critical")]
TREATMENTS = {"mitigate": "Mitigate", "reduce": "Mitigate", "modify": "Mitigate", "treat": "Mitigate",
              "accept": "Accept", "retain": "Accept", "transfer": "Transfer", "share": "Transfer",
              "avoid": "Avoid", "terminate": "Avoid"}


class RowError(BaseModel):
    row: int  # the file's row number (header = 1; CSV: the line the record starts on)
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
    controls: list[str] = Field(default_factory=list)  # valid 2022 ids (2013 ids mapped, names matched)
    legacy_controls: list[str] = Field(default_factory=list)  # 2013 ids as written
    control_evidence: dict[str, str] = Field(default_factory=dict)  # control → words of free text that named it
    status: str = ""
    last_reviewed: str = ""
    row: int = 0
    # what the row says that no field above holds: a controls cell in words ("Call-back check …; cyber insurance
    # covers … up to £100,000") and the register's own extra columns, as "Header: value"
    notes: list[str] = Field(default_factory=list)


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
    notes: list[str] = Field(default_factory=list)  # the SoA's own extra columns, as "Header: value"


class TreatmentAction(BaseModel):
    """One row of a risk treatment plan: several actions per risk are normal."""

    risk_id: str
    action: str = ""
    owner: str = ""
    due: str = ""
    status: str = ""
    controls: list[str] = Field(default_factory=list)
    legacy_controls: list[str] = Field(default_factory=list)
    control_evidence: dict[str, str] = Field(default_factory=dict)
    row: int = 0
    notes: list[str] = Field(default_factory=list)  # a controls cell in words and the plan's own extra columns


class RegisterRow(BaseModel):
    """One row of another register (document, legal, assets, suppliers, change log, ...), kept as written."""

    key: str  # the row's id or first cell
    cells: dict[str, str] = Field(default_factory=dict)
    controls: list[str] = Field(default_factory=list)  # from a controls column
    row: int = 0


class RegisterResult(BaseModel):
    kind: RegisterKind
    source: str
    risks: list[RiskRecord] = Field(default_factory=list)
    soa: list[SoAEntry] = Field(default_factory=list)
    actions: list[TreatmentAction] = Field(default_factory=list)
    rows: list[RegisterRow] = Field(default_factory=list)
    errors: list[RowError] = Field(default_factory=list)
    column_map: dict[str, str] = Field(default_factory=dict)  # field → header used
    unknown_columns: list[str] = Field(default_factory=list)
    missing_columns: list[str] = Field(default_factory=list)
    id_scheme: str = ""  # SoA: "2022", "2022 with A. prefix", "2013" or "mixed"

    @property
    def title(self) -> str:
        return KIND_TITLES.get(self.kind, self.kind)


class Table(BaseModel):
    """A loaded table: records, each record's row number in the file, and cells beyond the header."""

    records: list[dict[str, str]]
    numbers: list[int] = Field(default_factory=list)
    overflow: dict[int, list[str]] = Field(default_factory=dict)

    def number(self, index: int) -> int:
        return self.numbers[index] if index < len(self.numbers) else index + 2


def _is_soa(headers: list[str], records: list[dict[str, str]] | None) -> bool:
    soa_map, _ = map_columns(headers, SOA_COLUMNS)
    if "control_id" not in soa_map or "applicable" not in soa_map:
        return False
    if not any("applicab" in normalise(h) for h in headers):
        return False
    if names_other_register(headers) and not ("justification" in soa_map or "reasons" in soa_map):
        return False  # e.g. a legal register with Applicable and Control columns
    return id_entity(soa_map["control_id"]) in ("", "control") and cells_are_controls(records, soa_map["control_id"])


def _is_treatment_plan(headers: list[str]) -> bool:
    plan_map, _ = map_columns(headers, TREATMENT_COLUMNS)
    risk_map, _ = map_columns(headers, RISK_COLUMNS)
    scored = any(f in risk_map for f in ("likelihood", "impact", "score"))
    return has_risk_header(headers) and "risk_id" in plan_map and "action" in plan_map and not scored


def _is_risk_register(headers: list[str], strong: bool) -> bool:
    risk_map, _ = map_columns(headers, RISK_COLUMNS)
    if not has_risk_header(headers) or "risk_id" not in risk_map:
        return False
    if strong:
        return "likelihood" in risk_map and "impact" in risk_map
    return sum(f in risk_map for f in ("likelihood", "impact", "treatment", "controls", "owner")) >= 2


def detect_kind(headers: Iterable[str], records: list[dict[str, str]] | None = None) -> RegisterKind | None:
    """The register a table is, by its headers (and its control-id cells for an SoA); None for a plain table.
    Order: SoA; a scored risk register; a table whose id column names another entity (change, document,
    incident, ...); a risk treatment plan; a risk register; another register by its header words."""
    headers = [h for h in headers if h and h.strip()]
    if _is_soa(headers, records):
        return "soa"
    if _is_risk_register(headers, strong=True):
        return "risk_register"
    kind = entity_kind(headers)
    if kind is None and _is_treatment_plan(headers):
        kind = "risk_treatment_plan"
    if kind is None and _is_risk_register(headers, strong=False):
        kind = "risk_register"
    return kind or other_kind(headers)  # type: ignore[return-value]


def split_list(cell: str) -> list[str]:
    return split_items(cell)


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


_TITLE_BREAKS = (" (", ", ", "; ", ": ", " and ", " because ", " which ")


def short_title(description: str, limit: int = 80) -> str:
    """A risk's title when the register has no title column: its description up to the first clause break
    after 25 characters (or cut at a word before `limit`, with "…")."""
    text = " ".join(description.split()).rstrip(".")
    if len(text) <= 60:
        return text
    cuts = [i for i in (text.find(b, 25) for b in _TITLE_BREAKS) if 0 < i <= limit]
    if cuts:
        return text[:min(cuts)].rstrip(" ,;:")
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def level_for(score: int) -> str:
    return next(name for top, name in LEVEL_BANDS if score <= top)


def resolve_control_cell(cell: str, row: int, fld: str, errors: list[RowError], catalogue: Catalogue) -> ControlCell:
    """Parse a cell of control references (2022 ids, 2013 ids as written, free-text evidence per id, whether it says
    more than ids and titles). Only id-shaped references that are no control are errors; free text naming no
    control is not."""
    parsed = parse_control_cell(cell, catalogue)
    for token in parsed.unknown:
        errors.append(RowError(row=row, field=fld, message=f"unknown control id {token!r}"))
    return parsed


Cell = Callable[[str], str]  # field → its stripped cell text in one row ("" when the column is not mapped)


def _new_result(
    kind: RegisterKind, table: Table, source: str, spec: dict[str, list[str]], required: tuple[str, ...],
) -> RegisterResult:
    """Map the table's headers to our fields; a required column that is missing is an error on row 1."""
    headers = list(table.records[0].keys()) if table.records else []
    mapping, unknown = map_columns(headers, spec)
    result = RegisterResult(kind=kind, source=source, column_map=mapping, unknown_columns=unknown)
    result.missing_columns = [f for f in required if f not in mapping]
    for fld in result.missing_columns:
        result.errors.append(RowError(row=1, field=fld, message=f"required column missing (expected one of: {', '.join(spec[fld][:4])})"))
    return result


def _overflow_error(table: Table, index: int, result: RegisterResult, skipped: bool) -> bool:
    """Report a row with more cells than the header (an unquoted comma); True when it has any."""
    extra = table.overflow.get(index)
    if not extra:
        return False
    width = len(table.records[index])
    what = "row skipped" if skipped else "extra cells kept in the row text"
    result.errors.append(RowError(row=table.number(index), field="row", message=(
        f"{width + len(extra)} cells for {width} columns (an unquoted comma or delimiter?): "
        f"extra {', '.join(repr(c) for c in extra[:3])}; {what}")))
    return True


def _rows_with_id(table: Table, result: RegisterResult, id_field: str,
                  id_name: str) -> Iterator[tuple[int, Cell, dict[str, str]]]:
    """Each well-formed row that has an id, as (row number, cell reader, the row's raw cells by header). A row with
    more cells than the header, or a non-blank row without an id, is an error and skipped; a blank row is skipped
    silently.
    No rows at all when the id column is missing (already reported by `_new_result`)."""
    mapping = result.column_map
    if id_field not in mapping:
        return
    for index, rec in enumerate(table.records):
        row = table.number(index)
        if _overflow_error(table, index, result, skipped=True):
            continue

        def get(fld: str, rec: dict[str, str] = rec) -> str:
            return (rec.get(mapping[fld], "") or "").strip() if fld in mapping else ""

        if not get(id_field):
            if any(v.strip() for v in rec.values()):
                result.errors.append(RowError(row=row, field=id_field, message=f"row has no {id_name}; skipped"))
            continue
        yield row, get, rec


def _table(records: list[dict[str, str]] | Table) -> Table:
    return records if isinstance(records, Table) else Table(records=records)


def parse_risk_register(
    records: list[dict[str, str]] | Table, source: str, catalogue: Catalogue | None = None
) -> RegisterResult:
    catalogue = catalogue or get_catalogue()
    table = _table(records)
    result = _new_result("risk_register", table, source, RISK_COLUMNS, RISK_REQUIRED)
    seen: set[str] = set()
    for row, get, rec in _rows_with_id(table, result, "risk_id", "risk id"):
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
        cell = resolve_control_cell(get("controls"), row, "controls", result.errors, catalogue)
        result.risks.append(
            RiskRecord(
                risk_id=risk_id, title=get("title") or short_title(get("description")), description=get("description"),
                asset=get("asset"),
                owner=get("owner"), likelihood=likelihood, impact=impact, score=score, level=level,
                treatment=treatment, controls=cell.ids, legacy_controls=cell.legacy, control_evidence=cell.evidence,
                status=get("status"), last_reviewed=get("last_reviewed"), row=row,
                notes=_row_notes(result, rec, get("controls") if cell.free_text else ""),
            )
        )
    return result


def _row_notes(result: RegisterResult, rec: dict[str, str], words_cell: str = "") -> list[str]:
    """The row's cells no field holds, as "Header: value": a controls cell in words (`words_cell`: it says more
    than control ids and titles), and every column the register has besides ours ("Comments", "Auditor remarks")."""
    notes: list[str] = []
    if words_cell:
        notes.append(f"{result.column_map['controls']}: {words_cell}")
    for header in result.unknown_columns:
        value = (rec.get(header, "") or "").strip()
        if value and header.strip():
            notes.append(f"{header.strip()}: {value}")
    return notes


def parse_treatment_plan(
    records: list[dict[str, str]] | Table, source: str, catalogue: Catalogue | None = None
) -> RegisterResult:
    """Every action of a risk treatment plan (several rows per risk are normal, not duplicates)."""
    catalogue = catalogue or get_catalogue()
    table = _table(records)
    result = _new_result("risk_treatment_plan", table, source, TREATMENT_COLUMNS, TREATMENT_REQUIRED)
    for row, get, rec in _rows_with_id(table, result, "risk_id", "risk id"):
        cell = resolve_control_cell(get("controls"), row, "controls", result.errors, catalogue)
        result.actions.append(TreatmentAction(
            risk_id=get("risk_id"), action=get("action"), owner=get("owner"), due=get("due"), status=get("status"),
            controls=cell.ids, legacy_controls=cell.legacy, control_evidence=cell.evidence, row=row,
            notes=_row_notes(result, rec, get("controls") if cell.free_text else ""),
        ))
    return result


_YES = {"yes", "y", "true", "applicable", "included", "1", "x"}
_NO = {"no", "n", "false", "not applicable", "excluded", "0", "n a", "na"}


def soa_id_scheme(raw_ids: list[str]) -> str:
    """How an SoA writes its control ids: "2022" (5.15), "2022 with A. prefix" (A.5.15: two parts with an
    A. prefix are 2022 ids, not 2013 ones), "2013" (A.9.2.5, three parts) or "mixed"."""
    kinds = set()
    for raw in raw_ids:
        text = raw.strip()
        if CELL_THREE_PART.search(text):
            kinds.add("2013")
        elif LOOKUP_ID_2022.match(text.lower().replace(" ", "")):
            kinds.add("2022 with A. prefix" if text.upper().startswith("A") else "2022")
    return kinds.pop() if len(kinds) == 1 else "mixed" if kinds else ""


def _soa_linked_risks(cell: str, row: int, errors: list[RowError]) -> list[str]:
    risks = [r for r in split_list(cell) if r]
    for r in risks:
        if not REGISTER_RISK_ID.fullmatch(r):
            errors.append(RowError(row=row, field="linked_risks", message=f"not a risk id: {r!r}"))
    return [r for r in risks if REGISTER_RISK_ID.fullmatch(r)]


def parse_soa(records: list[dict[str, str]] | Table, source: str, catalogue: Catalogue | None = None) -> RegisterResult:
    catalogue = catalogue or get_catalogue()
    table = _table(records)
    result = _new_result("soa", table, source, SOA_COLUMNS, SOA_REQUIRED)
    seen: set[str] = set()
    raw_ids: list[str] = []
    for row, get, rec in _rows_with_id(table, result, "control_id", "control id"):
        raw_id = get("control_id")
        raw_ids.append(raw_id)
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
        result.soa.append(
            SoAEntry(
                control_id=control.id, title=get("title") or control.title, applicable=applicable,
                reasons=split_list(get("reasons")), status=get("status"), justification=get("justification"),
                linked_risks=_soa_linked_risks(get("linked_risks"), row, result.errors),
                documents=split_list(get("documents")), owner=get("owner"), last_reviewed=get("last_reviewed"),
                legacy_id=legacy, row=row, notes=_row_notes(result, rec),
            )
        )
    result.id_scheme = soa_id_scheme(raw_ids)
    return result


def _key_column(headers: list[str]) -> str:
    return next((h for h in headers if id_entity(h) or normalise(h) in ("id", "ref")), headers[0] if headers else "")


def _controls_column(headers: list[str]) -> str:
    return next((h for h in headers if normalise(h) in (
        "controls", "control", "annex a controls", "annex a control", "annex a", "linked controls", "iso 27001 controls",
        "control ids")), "")


def parse_other_register(
    records: list[dict[str, str]] | Table, source: str, kind: RegisterKind, catalogue: Catalogue | None = None
) -> RegisterResult:
    """Another ISMS register: every non-blank row kept as written (a row with extra cells is reported and kept),
    with the controls of a controls column; no risk or SoA record comes from it."""
    catalogue = catalogue or get_catalogue()
    table = _table(records)
    headers = list(table.records[0].keys()) if table.records else []
    key_col, controls_col = _key_column(headers), _controls_column(headers)
    result = RegisterResult(kind=kind, source=source, column_map={k: v for k, v in (("key", key_col), ("controls", controls_col)) if v})
    for index, rec in enumerate(table.records):
        if not any(v.strip() for v in rec.values()):
            continue
        _overflow_error(table, index, result, skipped=False)
        cells = {k: v for k, v in rec.items() if v and v.strip()}
        if table.overflow.get(index):
            cells["(extra cells)"] = ", ".join(table.overflow[index])
        controls = parse_control_cell(rec.get(controls_col, ""), catalogue).ids if controls_col else []
        result.rows.append(RegisterRow(key=(rec.get(key_col) or "").strip(), cells=cells, controls=controls,
                                       row=table.number(index)))
    return result


def parse_register(records: list[dict[str, str]] | Table, source: str) -> RegisterResult | None:
    """Parse a table as the register it is; None for a table that is no register."""
    table = _table(records)
    if not table.records:
        return None
    kind = detect_kind(table.records[0].keys(), table.records)
    if kind == "risk_register":
        return parse_risk_register(table, source)
    if kind == "soa":
        return parse_soa(table, source)
    if kind == "risk_treatment_plan":
        return parse_treatment_plan(table, source)
    if kind is not None:
        return parse_other_register(table, source, kind)
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
        parts.append(f"Risk score: likelihood {risk.likelihood} × impact {risk.impact} = {risk.score} ({risk.level}).")
    elif risk.level:
        parts.append(f"Level: {risk.level}.")
    if risk.treatment:
        parts.append(f"Treatment: {risk.treatment}.")
    if risk.controls:
        labels = [catalogue.controls[c].label for c in risk.controls if c in catalogue]
        parts.append("Controls: " + "; ".join(labels) + ".")
    if risk.status:
        parts.append(f"Status: {risk.status}.")
    return " ".join([*parts, *_sentences(risk.notes)])


def _sentences(notes: list[str]) -> list[str]:
    return [note if note.endswith((".", "!", "?")) else f"{note}." for note in notes]


def action_text(action: TreatmentAction, catalogue: Catalogue | None = None) -> str:
    """Searchable sentence form of a risk treatment plan row."""
    catalogue = catalogue or get_catalogue()
    parts = [f"Risk treatment plan: {action.risk_id} action: {action.action}".rstrip() + "."]
    if action.owner:
        parts.append(f"Action owner: {action.owner}.")
    if action.due:
        parts.append(f"Due: {action.due}.")
    if action.status:
        parts.append(f"Status: {action.status}.")
    if action.controls:
        labels = [catalogue.controls[c].label for c in action.controls if c in catalogue]
        parts.append("Controls: " + "; ".join(labels) + ".")
    return " ".join([*parts, *_sentences(action.notes)])


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
    return " ".join([*parts, *_sentences(entry.notes)])


def table_row_text(record: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in record.items() if v and v.strip())
