"""Loaders and chunking on real files, including every class of bad input the ingest must survive."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from assistant.catalogue import get_catalogue
from assistant.errors import LoadError
from assistant.ingest.documents import process_file
from assistant.ingest.loaders import load_file
from assistant.ingest.metadata import detect_classification, detect_controls

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def test_markdown_sections_keep_heading_trail_and_numbered_steps(tmp_path: Path) -> None:
    doc = tmp_path / "proc.md"
    doc.write_text(
        "# Access Procedure\n\n## 3 Requests\n\nTo request access:\n\n1. Raise a ticket.\n2. Line manager approves.\n"
        "3. System owner approves.\n\n## 4 Reviews\n\nReviews run quarterly.\n",
        encoding="utf-8",
    )
    processed = process_file(doc, "proc.md", "h", get_catalogue(), 1200)
    assert processed.record.title == "Access Procedure"
    first = processed.chunks[0]
    assert first.trail == ["3 Requests"]
    assert first.text.splitlines() == ["To request access:", "1. Raise a ticket.", "2. Line manager approves.",
                                       "3. System owner approves."]
    assert (first.start, first.end) == (5, 9)
    assert processed.chunks[1].trail == ["4 Reviews"] and "quarterly" in processed.chunks[1].text
    assert "line manager" in first.roles and "system owner" in first.roles


def test_long_list_is_split_without_losing_its_lead_in(tmp_path: Path) -> None:
    items = "\n".join(f"{i}. Step number {i} " + "detail " * 30 for i in range(1, 15))
    doc = tmp_path / "long.md"
    doc.write_text(f"# T\n\n## Steps\n\nFollow these steps:\n\n{items}\n", encoding="utf-8")
    chunks = process_file(doc, "long.md", "h", get_catalogue(), 800).chunks
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.text.startswith("Follow these steps:") and chunk.trail == ["Steps"]
    all_items = [line for c in chunks for line in c.text.splitlines() if line[0].isdigit()]
    assert [int(line.split(".")[0]) for line in all_items] == list(range(1, 15))


def test_a_list_that_fits_moves_whole_with_its_lead_in(tmp_path: Path) -> None:
    """Severity levels under "... assign a severity level:" stay in one chunk with it (not cut after two)."""
    first = "a. Users must notify their manager. The notification must include:\n" + "\n".join(
        f"    i. Detail number {i} of the notification" for i in range(6))
    levels = ("a. The ISM must assess the impact and assign a severity level:\n"
              "    i. High: " + "catastrophic " * 8 + "\n    i. Medium: " + "harmful " * 8 + "\n    i. Low: a violation.")
    doc = tmp_path / "incident.md"
    doc.write_text(f"# Incident Policy\n\n## Procedure\n\n{first}\n{levels}\n", encoding="utf-8")
    chunks = process_file(doc, "incident.md", "h", get_catalogue(), 500).chunks
    holding = [c for c in chunks if "severity level:" in c.text]
    assert len(holding) == 1 and all(f"i. {level}:" in holding[0].text for level in ("High", "Medium", "Low"))
    assert holding[0].text.startswith("a. The ISM must assess")


def test_front_matter_metadata_and_control_ids_stay_strings() -> None:
    processed = process_file(CORPUS / "policies/remote-working-policy.md", "policies/remote-working-policy.md", "h",
                             get_catalogue(), 1200)
    assert processed.record.review_date == "2025-06-30"
    assert "6.7" in processed.record.doc_controls
    fm_yaml = "---\ncontrols: [5.10, 7.10]\n---\n# T\n\ntext here\n"
    path = Path(__file__).parent / "_tmp_fm.md"
    try:
        path.write_text(fm_yaml, encoding="utf-8")
        assert process_file(path, "x.md", "h", get_catalogue(), 1200).record.doc_controls == ["5.10", "7.10"]
    finally:
        path.unlink()


def test_front_matter_without_opening_dashes_gives_title_and_no_text(tmp_path: Path) -> None:
    """Some tools write front matter with no opening "---" and the title as `name:` (the foreign set does):
    the title comes from it, every "#" heading is a section, and the metadata is not indexed as prose."""
    doc = tmp_path / "classification.md"
    doc.write_text("name: Data Classification Policy\nacronym: DCP\nsatisfies:\n  TSC:\n    - CC9.9\n---\n"
                   "# Appendices\n\nAppendix A: Handling\n\n# Purpose and Scope\n\na. This policy applies to all.\n",
                   encoding="utf-8")
    processed = process_file(doc, "classification.md", "h", get_catalogue(), 1200)
    assert processed.record.title == "Data Classification Policy"
    assert [c.trail for c in processed.chunks] == [["Appendices"], ["Purpose and Scope"]]
    assert not any("acronym" in c.text for c in processed.chunks)
    prose = tmp_path / "prose.md"  # a "key: value" first line of prose before a rule is not front matter
    prose.write_text("Note: read this first\n\nSome text here.\n---\n# Title\n\nBody text.\n", encoding="utf-8")
    assert "read this first" in process_file(prose, "prose.md", "h", get_catalogue(), 1200).chunks[0].text


def test_a_grid_table_is_read_as_one_row_per_table_row(tmp_path: Path) -> None:
    """Pandoc grid tables ("+---+" borders, cells over several lines; the foreign set writes its classification
    and recovery-time tables so): each row one "cell | cell" line with its cells' lines merged, spacer rows
    dropped, the row's source lines kept for the citation."""
    doc = tmp_path / "availability.md"
    doc.write_text(
        "# Availability Policy\n\nRecovery limits:\n\n"
        "+-------------------+------------------+---------------+\n"
        "|**Availability**   | **Scheduled**    | **Recovery**  |\n"
        "|**Classification** | **Outage**       | **Time**      |\n"
        "+===================+==================+===============+\n"
        "| High              | 30 minutes       | 1 hour        |\n"
        "|                   |                  |               |\n"
        "+-------------------+------------------+---------------+\n"
        "|                   |                  |               |\n"
        "+-------------------+------------------+---------------+\n"
        "| Medium            | 2 hours, indivi- | 4 hours       |\n"
        "|                   | dual systems     |\n"
        "+-------------------+------------------+---------------+\n\n"
        "Table 3: Recovery Time\n",
        encoding="utf-8",
    )
    blocks = load_file(doc).blocks
    rows = [(b.text, b.start, b.end) for b in blocks if " | " in b.text]
    assert rows == [
        ("**Availability Classification** | **Scheduled Outage** | **Recovery Time**", 6, 7),
        ("High | 30 minutes | 1 hour", 9, 10),
        ("Medium | 2 hours, individual systems | 4 hours", 14, 15),
    ]
    assert blocks[-1].text == "Table 3: Recovery Time" and not any("+--" in b.text for b in blocks)


def test_document_id_from_front_matter_or_its_id_line_is_on_the_file_record(tmp_path: Path) -> None:
    """An SoA reference "POL-002" resolves through the document's own id, wherever the document states it."""
    front = tmp_path / "scope.md"
    front.write_text("---\nid: POL-002\ntitle: ISMS Scope\n---\n\n# ISMS Scope\n\nThe scope covers...\n", encoding="utf-8")
    line = tmp_path / "access.md"
    line.write_text("# Access Management Procedure\n\nDocument ID: PRO-002\n\n## 1 Purpose\n\nText.\n", encoding="utf-8")
    none = tmp_path / "notes.md"
    none.write_text("# Notes\n\nSee PRO-002 for access.\n", encoding="utf-8")
    assert process_file(front, "scope.md", "h", get_catalogue(), 1200).record.document_id == "POL-002"
    assert process_file(line, "access.md", "h", get_catalogue(), 1200).record.document_id == "PRO-002"
    assert process_file(none, "notes.md", "h", get_catalogue(), 1200).record.document_id == ""


def test_title_from_file_name_takes_the_documents_own_casing(tmp_path: Path) -> None:
    processed = process_file(CORPUS / "plans" / "ict-readiness-and-disaster-recovery-plan.pdf",
                             "plans/ict-readiness-and-disaster-recovery-plan.pdf", "h", get_catalogue(), 1200)
    assert processed.record.title == "ICT Readiness and Disaster Recovery Plan"
    bare = tmp_path / "visitor-badges.txt"  # the name appears nowhere in the text: the file name, capitalised
    bare.write_text("Wear your badge at all times.\n", encoding="utf-8")
    assert process_file(bare, "visitor-badges.txt", "h", get_catalogue(), 1200).record.title == "Visitor badges"


def test_section_numbers_in_headings_are_not_control_ids(tmp_path: Path) -> None:
    """"5.3 Distribute" is section 5.3 of a guide, not control 5.3; "5.15 Access control" names the control."""
    doc = tmp_path / "guide.md"
    doc.write_text("# Threat Intelligence Guidance\n\n## 5.3 Distribute\n\nShare the weekly digest with team leads.\n\n"
                   "## 5.15 Access control\n\nAccess follows the access control policy.\n\n"
                   "## 8 Logging\n\nKeep logs for a year.\n", encoding="utf-8")
    chunks = process_file(doc, "guide.md", "h", get_catalogue(), 200).chunks
    by_heading = {c.trail[-1]: c.controls for c in chunks}
    assert "5.3" not in by_heading["5.3 Distribute"]
    assert "5.15" in by_heading["5.15 Access control"]
    assert "8.15" in by_heading["8 Logging"]  # a heading that names a control still tags it


def test_classification_from_text_line_and_default() -> None:
    assert detect_classification({}, "Title\nClassification: Confidential\n") == "confidential"
    assert detect_classification({"classification": "Restricted"}, "") == "restricted"
    assert detect_classification({}, "no marking here") == "internal"


def test_control_detection_2022_2013_and_names_but_not_clauses() -> None:
    cat = get_catalogue()
    ids, legacy = detect_controls("Reviews (A.9.2.5) follow Annex A 8.2 and clause 9.2; see 5.15.", cat)
    assert "5.18" in ids and "8.2" in ids and "5.15" in ids and legacy == ["A.9.2.5"]
    ids, _ = detect_controls("Version 5.2 of clause 6.1 was approved.", cat, names=False)
    assert ids == []
    ids, _ = detect_controls("We run data leakage prevention and change management.", cat)
    assert {"8.12", "8.32"} <= set(ids)


def test_docx_pdf_txt_and_xlsx_from_the_sample_corpus() -> None:
    docx = load_file(CORPUS / "policies/acceptable-use-policy.docx")
    assert any(b.kind == "heading" for b in docx.blocks) and docx.span_unit == "paragraph"
    pdf = load_file(CORPUS / "plans/ict-readiness-and-disaster-recovery-plan.pdf")
    assert pdf.span_unit == "page" and max(b.start for b in pdf.blocks) >= 3
    assert detect_classification({}, pdf.text) == "confidential"
    txt = load_file(CORPUS / "people/new-starter-security-guide.txt")
    assert sum(b.kind == "heading" for b in txt.blocks) >= 3
    soa = load_file(CORPUS / "registers/statement-of-applicability.xlsx")
    assert soa.table is not None and len(soa.table) == 93 and soa.table_sheet == "SoA"


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary"),
        ("empty.md", b"", "empty"),
        ("blank.txt", b"  \n\n  ", "empty"),
        ("fake.pdf", b"this is not a pdf at all", "not a PDF"),
        ("truncated.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\nxref\n0 3\n", "PDF"),
        ("corrupt.docx", b"PK\x03\x04 definitely not a zip", "corrupt DOCX"),
        ("corrupt.xlsx", b"not a spreadsheet", "corrupt XLSX"),
        ("photo.jpg", b"\xff\xd8\xff\xe0", "unsupported file type"),
    ],
)
def test_bad_inputs_raise_specific_load_errors(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoadError, match=reason):
        load_file(path)


def test_zip_bomb_disguised_as_docx_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", b"\0" * (210 * 1024 * 1024))
    path = tmp_path / "bomb.docx"
    path.write_bytes(buf.getvalue())
    with pytest.raises(LoadError, match="zip bomb"):
        load_file(path)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-16-le", "cp1252", "utf-8-sig"])
def test_other_text_encodings_decode(tmp_path: Path, encoding: str) -> None:
    text = "# Politique de sécurité\n\nLes accès sont revus chaque trimestre — café.\n"
    if encoding == "latin-1":
        text = text.replace("—", "-")
    path = tmp_path / "enc.md"
    path.write_bytes(text.encode(encoding))
    doc = load_file(path)
    assert "trimestre" in doc.text and "sécurité" in doc.text
