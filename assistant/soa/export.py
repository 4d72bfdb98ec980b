"""SoA exports: XLSX (openpyxl, formatted to look finished), CSV and Markdown; readers for round trips."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from assistant.soa.types import EXPORT_COLUMNS, SoADraft

FORMATS = ("md", "csv", "xlsx", "json")
# character widths of the XLSX columns (Excel units ≈ characters)
COLUMN_WIDTHS: dict[str, int] = {
    "Control ID": 10, "Control title": 32, "Theme": 14, "2013 ids": 14, "Applicability": 13, "Reasons": 24,
    "Implementation status": 18, "Justification": 80, "Citations": 60, "Linked risks": 44,
    "Implementing documents": 48, "Owner": 24, "Provenance": 34, "Evidence ids": 30, "Warnings": 40,
}
CITATION_COLUMNS = ("Control ID", "n", "Kind", "Source", "Section", "Risk id", "Quoted text")
_HEADER_FILL = PatternFill("solid", fgColor="1F3864")
_HEADER_FONT = Font(bold=True, color="FFFFFF")


def rows(drafts: Iterable[SoADraft]) -> list[dict[str, str]]:
    return [d.to_row() for d in drafts]


def _format_sheet(ws, widths: list[int]) -> None:  # noqa: ANN001 - openpyxl Worksheet
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    for cell in ws[1]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "B2"
    if ws.max_row > 1:
        ws.auto_filter.ref = ws.dimensions


def _append_text(ws, values: list[object]) -> None:  # noqa: ANN001 - openpyxl Worksheet
    """Append a row; text is always stored as text (a cell starting with "=" never becomes a formula)."""
    ws.append(values)
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def write_xlsx(drafts: list[SoADraft], path: Path | str, title: str = "Statement of Applicability") -> Path:
    """One row per control on sheet "SoA" (bold frozen header, widths, wrapped text, filter) and every
    citation on sheet "Citations"."""
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "SoA"
    ws.append(list(EXPORT_COLUMNS))
    for row in rows(drafts):
        _append_text(ws, [row[c] for c in EXPORT_COLUMNS])
    _format_sheet(ws, [COLUMN_WIDTHS.get(c, 20) for c in EXPORT_COLUMNS])
    ws.row_dimensions[1].height = 30

    cs = wb.create_sheet("Citations")
    cs.append(list(CITATION_COLUMNS))
    for d in drafts:
        for c in d.citations:
            _append_text(cs, [d.control_id, c.n, c.kind, c.source, c.section, c.risk_id, c.quote or c.text[:1000]])
    _format_sheet(cs, [10, 5, 10, 44, 56, 9, 90])
    wb.properties.title = title
    wb.properties.creator = "isms-assistant"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def read_xlsx(path: Path | str, sheet: str = "SoA") -> list[dict[str, str]]:
    """Rows of an exported sheet as dicts of strings (for round trips and re-import)."""
    wb = load_workbook(path, read_only=True)
    ws = wb[sheet]
    values = list(ws.iter_rows(values_only=True))
    wb.close()
    if not values:
        return []
    header = [str(h) for h in values[0]]
    return [{h: "" if v is None else str(v) for h, v in zip(header, row, strict=False)} for row in values[1:]]


def to_csv(drafts: list[SoADraft]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(EXPORT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(drafts))
    return buf.getvalue()


def write_csv(drafts: list[SoADraft], path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_csv(drafts), encoding="utf-8")
    return path


def read_csv(path: Path | str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def to_markdown(drafts: list[SoADraft], title: str = "Statement of Applicability (draft)") -> str:
    lines = [f"# {title}", "", "| Control | Applicability | Status | Reasons | Owner | Risks | Provenance |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for d in drafts:
        lines.append("| " + " | ".join(_cell(x) for x in (
            d.label, d.applicability, d.status, "; ".join(d.reasons), d.owner, ", ".join(r.risk_id for r in d.risks),
            d.provenance.state)) + " |")
    for d in drafts:
        lines += ["", f"## {d.label}", "",
                  f"- **Applicability:** {d.applicability}",
                  f"- **Reasons:** {'; '.join(d.reasons) or 'none stated'}",
                  f"- **Implementation status:** {d.status}",
                  f"- **Owner:** {d.owner or 'not stated'}"]
        if d.legacy_ids:
            lines.append(f"- **ISO/IEC 27001:2013:** {', '.join(d.legacy_ids)}")
        if d.risks:
            lines.append("- **Linked risks:** " + "; ".join(f"{r.label} [{r.n}]" for r in d.risks))
        if d.documents:
            lines.append("- **Implementing documents:** " + "; ".join(
                f"{doc.label} " + "".join(f"[{n}]" for n in doc.citations) for doc in d.documents))
        lines += ["", d.justification, ""]
        for c in d.citations:
            lines.append(f"{c.n}. `{c.source}` — {c.section}" + (f" ({c.span})" if c.span else ""))
        lines += ["", f"_Provenance: {d.provenance.label}; evidence: {', '.join(d.provenance.evidence_ids[:12])}"
                  + (" …" if len(d.provenance.evidence_ids) > 12 else "") + "_"]
        for w in d.warnings:
            lines.append(f"> ⚠ {w}")
    return "\n".join(lines) + "\n"
