"""Format loaders: each turns one file into structural blocks (headings, text, list items).

A loader raises `LoadError` with a specific, human-readable reason for anything it cannot read:
binary content behind a text extension, corrupt PDF/DOCX/XLSX, empty files, undecodable text.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.errors import LoadError
from assistant.text import LIST_ITEM_LINE

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text"}
TABLE_SUFFIXES = {".csv", ".xlsx"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | TABLE_SUFFIXES | {".pdf", ".docx"}

# Zip-based formats: refuse archives that would expand beyond this (zip bombs).
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_RATIO = 200


@dataclass
class Block:
    kind: str  # "heading" | "text" | "item"
    text: str
    start: int  # line, page, paragraph or row number (1-based), see LoadedDocument.span_unit
    end: int
    level: int = 0  # heading level (1 = top)


@dataclass
class LoadedDocument:
    blocks: list[Block]
    span_unit: str  # "line" | "page" | "paragraph" | "row"
    front_matter: dict[str, Any] = field(default_factory=dict)
    table: list[dict[str, str]] | None = None  # rows, for csv/xlsx
    table_sheet: str | None = None
    table_rows: list[int] = field(default_factory=list)  # each table record's row (CSV: its first line; header = 1)
    table_overflow: dict[int, list[str]] = field(default_factory=dict)  # record index → cells beyond the header
    notes: list[str] = field(default_factory=list)  # e.g. "decoded as latin-1"

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.blocks)


# ---------------------------------------------------------------- text decoding

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_control_chars(text: str) -> str:
    """Drop C0 control characters (NUL, ESC, BEL, ...) except tab and line breaks: they carry no text, break
    terminals and XLSX exports, and a few stray ones in an otherwise good file are no reason to refuse it."""
    return _CONTROL_CHARS.sub("", text)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes as text; returns (text, encoding) without control characters. Raises LoadError for
    binary content."""
    text, encoding = _decode(data)
    return strip_control_chars(text), encoding


def _decode(data: bytes) -> tuple[str, str]:
    if not data.strip():
        raise LoadError("empty file")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                     (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError as exc:
                raise LoadError(f"looks like {enc.upper()} but does not decode: {exc.reason}") from None
            if _printable_ratio(text[:4000]) < 0.9:
                raise LoadError(f"binary content: decodes as {enc.upper()} but is not text")
            return text, enc
    head = data[:4096]
    if head.count(b"\x00") > len(head) // 4:
        # UTF-16 without BOM: every other byte is NUL for ASCII-range text
        for enc in ("utf-16-le", "utf-16-be"):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError:
                continue
            if _printable_ratio(text[:2000]) > 0.95:
                return text, enc
        raise LoadError("binary content (NUL bytes) in a text file")
    if b"\x00" in head:
        raise LoadError("binary content (NUL bytes) in a text file")
    try:
        text, enc = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, enc = data.decode("cp1252", errors="replace"), "cp1252"
    if _printable_ratio(text[:4000]) < 0.9:
        raise LoadError("binary content: too many non-printable characters for a text file")
    return text, enc


def _printable_ratio(text: str) -> float:
    if not text:
        return 1.0
    ok = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t")
    return ok / len(text)


# ---------------------------------------------------------------- markdown / plain text

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)
# Front matter some tools write without the opening "---" (the file starts with "key: value" lines and the
# block ends at the first "---" line); taken only when it parses as a YAML mapping.
_BARE_FRONT_MATTER = re.compile(r"\A([A-Za-z_][\w-]*:[^\n]*\n.*?)\n?---\s*(?:\n|\Z)", re.S)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(\S.*)$")
_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+([A-Z][^.!?:;]{1,80})$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")


MAX_FRONT_MATTER_CHARS = 20_000


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML loader that keeps numbers like 5.10 as text (a float would turn control 5.10 into 5.1) and
    refuses aliases: front matter never needs them, and nested aliases expand exponentially
    ("billion laughs") when the values are turned into text."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not allowed in front matter",
                                              event.start_mark)
        return super().compose_node(parent, index)


_FrontMatterLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def split_front_matter(text: str) -> tuple[dict[str, Any], str, int]:
    """Return (front matter dict, body, number of lines the front matter used)."""
    head = text[: MAX_FRONT_MATTER_CHARS + 100]
    m = _FRONT_MATTER.match(head) or _BARE_FRONT_MATTER.match(head)
    if not m or len(m.group(1)) > MAX_FRONT_MATTER_CHARS:
        return {}, text, 0
    try:
        data = yaml.load(m.group(1), Loader=_FrontMatterLoader)  # noqa: S506 - safe subclass
    except (yaml.YAMLError, RecursionError):
        return {}, text, 0
    if not isinstance(data, dict):
        return {}, text, 0
    return data, text[m.end():], m.group(0).count("\n")


def _is_caps_heading(line: str) -> bool:
    if len(line) > 80:
        return False
    letters = [c for c in line if c.isalpha()]
    return 3 <= len(letters) and all(c.isupper() for c in letters) and not line.endswith(".")


_GRID_BORDER = re.compile(r"\+(?:[-=:]+\+)+")  # "+------+-----+" / "+======+=====+" of a grid table


def _merge_cell_lines(pieces: list[str]) -> str:
    """One grid-table cell from its lines: "High to" + "Continuous", "**Access**" + "**Restrictions**" →
    "**Access Restrictions**", "indivi-" + "duals" → "individuals"."""
    pieces = [p for p in pieces if p]
    if pieces and all(p.startswith("**") and p.endswith("**") and len(p) > 4 for p in pieces):
        return "**" + " ".join(p.strip("*").strip() for p in pieces) + "**"
    out = ""
    for piece in pieces:
        if out.endswith("-") and out[-2:-1].isalpha() and piece[:1].islower():
            out = out[:-1] + piece
        else:
            out = f"{out} {piece}" if out else piece
    return out


def grid_table_rows(lines: list[str], start: int) -> tuple[list[tuple[str, int, int]], int]:
    """The rows of the grid table (pandoc's "+---+" tables) whose top border is `lines[start]`: (the row as
    "cell | cell", first line index, last line index), the rows' multi-line cells merged; and the index of
    the first line after the table. Empty spacer rows are left out."""
    rows: list[tuple[str, int, int]] = []
    cells: list[list[str]] = []
    row_start = start + 1
    idx = start + 1
    while idx < len(lines):
        stripped = lines[idx].strip()
        if _GRID_BORDER.fullmatch(stripped):
            merged = [_merge_cell_lines(column) for column in cells]
            if any(merged):
                rows.append((" | ".join(merged), row_start, idx - 1))
            cells, row_start = [], idx + 1
        elif stripped.startswith("|"):
            for column, piece in enumerate(stripped.strip("|").split("|")):
                if column == len(cells):
                    cells.append([])
                cells[column].append(piece.strip())
        else:
            break
        idx += 1
    return rows, idx


def _plain_text_heading(lines: list[str], idx: int) -> tuple[int, str] | None:
    """(level, title) when line `idx` of a plain-text document is a heading: after a blank line, numbered
    ("4.2 Reviews"), in capitals, or underlined ("====")."""
    stripped = lines[idx].strip()
    nxt = lines[idx + 1].strip() if idx + 1 < len(lines) else ""
    if not (idx == 0 or not lines[idx - 1].strip()):
        return None
    m = _NUMBERED_HEADING.match(stripped)
    if m and (not nxt or not LIST_ITEM_LINE.match(stripped)):
        return (1 + m.group(1).count("."), stripped)
    if _is_caps_heading(stripped) or (_SETEXT.match(nxt) and len(stripped) <= 80):
        return (1, stripped)
    return None


def text_to_blocks(text: str, markdown: bool, first_line: int = 1) -> list[Block]:
    """Split text into heading / paragraph / list-item blocks, tracking line numbers. A table row (pipe or
    grid table) is one block, "cell | cell"."""
    lines = text.splitlines()
    blocks: list[Block] = []
    table_end = 0  # lines before this index belong to a grid table already read
    para: list[str] = []
    para_start = 0
    in_fence = False

    def flush(end: int) -> None:
        nonlocal para
        if para:
            joined = " ".join(s.strip() for s in para).strip()
            if joined:
                kind = "item" if LIST_ITEM_LINE.match(para[0]) else "text"
                blocks.append(Block(kind, joined, para_start, end))
        para = []

    for idx, raw in enumerate(lines):
        lineno = first_line + idx
        line = raw.rstrip()
        stripped = line.strip()
        if idx < table_end:
            continue
        if markdown and not in_fence and _GRID_BORDER.fullmatch(stripped):
            flush(lineno - 1)
            rows, table_end = grid_table_rows(lines, idx)
            blocks.extend(Block("item", row, first_line + a, first_line + b) for row, a, b in rows)
            continue
        if markdown and stripped.startswith("```"):
            if not para:
                para_start = lineno
            para.append(line)
            in_fence = not in_fence
            continue
        if in_fence:
            para.append(line)
            continue
        if not stripped:
            flush(lineno - 1)
            continue
        heading = None
        if markdown:
            m = _MD_HEADING.match(stripped)
            if m:
                # closing hashes stripped with str methods: linear even on a megabyte of '#'
                heading = (len(m.group(1)), m.group(2).rstrip().rstrip("#").rstrip() or m.group(2).strip())
            elif _SETEXT.match(stripped) and len(para) == 1 and not LIST_ITEM_LINE.match(para[0]):
                level = 1 if stripped.startswith("=") else 2
                title = para[0].strip()
                para = []
                blocks.append(Block("heading", title, lineno - 1, lineno, level))
                continue
        else:
            heading = _plain_text_heading(lines, idx)
        if heading:
            flush(lineno - 1)
            blocks.append(Block("heading", heading[1], lineno, lineno, heading[0]))
            continue
        if not markdown and _SETEXT.match(stripped):
            continue
        if markdown and stripped.startswith("|"):
            flush(lineno - 1)
            if re.fullmatch(r"\|?[\s:|-]+\|?", stripped):
                continue  # table separator row
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            blocks.append(Block("item", " | ".join(cells), lineno, lineno))
            continue
        if LIST_ITEM_LINE.match(line) and para and not in_fence:
            flush(lineno - 1)
        if not para:
            para_start = lineno
        para.append(line)
    flush(first_line + len(lines) - 1)
    return blocks


def load_text(path: Path, data: bytes) -> LoadedDocument:
    text, encoding = decode_text(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    markdown = path.suffix.lower() in {".md", ".markdown"}
    front, body, fm_lines = split_front_matter(text) if markdown else ({}, text, 0)
    blocks = text_to_blocks(body, markdown=markdown, first_line=fm_lines + 1)
    if not blocks:
        raise LoadError("no text content")
    doc = LoadedDocument(blocks=blocks, span_unit="line", front_matter=front)
    if encoding not in ("utf-8", "utf-8-sig"):
        doc.notes.append(f"decoded as {encoding}")
    return doc


# ---------------------------------------------------------------- PDF

def load_pdf(path: Path, data: bytes) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data.startswith(b"%PDF"):
        raise LoadError("not a PDF file (missing %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise LoadError("encrypted PDF: cannot read without the password")
        blocks: list[Block] = []
        for page_no, page in enumerate(reader.pages, start=1):
            page_text = strip_control_chars(page.extract_text() or "")
            for block in text_to_blocks(page_text, markdown=False):
                blocks.append(Block(block.kind, block.text, page_no, page_no, block.level))
    except LoadError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError,
            ZeroDivisionError, AssertionError) as exc:
        raise LoadError(f"corrupt PDF: {exc.__class__.__name__}: {str(exc)[:120]}") from None
    if not blocks:
        raise LoadError("PDF has no extractable text (scanned image?)")
    return LoadedDocument(blocks=blocks, span_unit="page")


# ---------------------------------------------------------------- zip-based formats

def _check_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise LoadError(f"corrupt {kind}: not a valid Office (zip) file") from None
    total = sum(info.file_size for info in archive.infolist())
    if total > MAX_UNZIPPED_BYTES or (data and total / max(len(data), 1) > MAX_ZIP_RATIO and total > 10_000_000):
        raise LoadError(f"refused {kind}: expands to {total // 1_000_000} MB (possible zip bomb)")
    return archive


def load_docx(path: Path, data: bytes) -> LoadedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    _check_zip(data, "DOCX")
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise LoadError(f"corrupt DOCX: {exc.__class__.__name__}: {str(exc)[:120]}") from None
    except Exception as exc:  # lxml errors and friends: still a corrupt file, not a crash
        raise LoadError(f"corrupt DOCX: {exc.__class__.__name__}: {str(exc)[:120]}") from None
    blocks: list[Block] = []
    para_no = 0
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para_no += 1
            p = docx.text.paragraph.Paragraph(child, document)
            text = p.text.strip()
            if not text:
                continue
            style = (p.style.name if p.style is not None else "") or ""
            if style == "Title":
                blocks.append(Block("heading", text, para_no, para_no, 1))
            elif style.startswith("Heading"):
                level = int(style.split()[-1]) + 1 if style.split()[-1].isdigit() else 2
                blocks.append(Block("heading", text, para_no, para_no, level))
            elif style.startswith("List"):
                blocks.append(Block("item", text, para_no, para_no))
            else:
                blocks.append(Block("text", text, para_no, para_no))
        elif tag == "tbl":
            table = docx.table.Table(child, document)
            for row in table.rows:
                para_no += 1
                cells = []
                for cell in row.cells:
                    value = cell.text.strip()
                    if value and (not cells or cells[-1] != value):
                        cells.append(value)
                if cells:
                    blocks.append(Block("item", " | ".join(cells), para_no, para_no))
    if not blocks:
        raise LoadError("DOCX has no text")
    return LoadedDocument(blocks=blocks, span_unit="paragraph")


# ---------------------------------------------------------------- tables (csv / xlsx)

@dataclass
class TableRows:
    records: list[dict[str, str]]
    numbers: list[int]  # each record's row (line) number in the file
    overflow: dict[int, list[str]]  # record index → non-empty cells beyond the header (an unquoted comma)


def _rows_to_records(rows: list[list[str]], numbers: list[int] | None = None) -> TableRows:
    numbers = numbers or list(range(1, len(rows) + 1))
    kept = [(n, r) for n, r in zip(numbers, rows, strict=True) if any(c.strip() for c in r)]
    if not kept:
        raise LoadError("empty table")
    header_idx = 0
    for i, (_, row) in enumerate(kept[:10]):  # header = first row with mostly non-empty text cells
        filled = [c for c in row if c.strip()]
        if len(filled) >= max(2, len(row) // 2) and all(not _is_number(c) for c in filled):
            header_idx = i
            break
    header = [h.strip() for h in kept[header_idx][1]]
    out = TableRows(records=[], numbers=[], overflow={})
    for number, row in kept[header_idx + 1:]:
        record = {header[i] or f"column {i + 1}": (row[i].strip() if i < len(row) else "") for i in range(len(header))}
        extra = [c.strip() for c in row[len(header):] if c.strip()]
        if extra:
            out.overflow[len(out.records)] = extra
        out.records.append(record)
        out.numbers.append(number)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_csv(path: Path, data: bytes) -> LoadedDocument:
    text, encoding = decode_text(data)
    try:
        sample = text[:4096]
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text), dialect)
        rows: list[list[str]] = []
        numbers: list[int] = []
        previous_line = 0
        for row in reader:
            numbers.append(previous_line + 1)  # the line the record starts on (a quoted cell may span lines)
            previous_line = reader.line_num
            rows.append(row)
    except csv.Error as exc:
        raise LoadError(f"malformed CSV: {exc}") from None
    table = _rows_to_records(rows, numbers)
    doc = LoadedDocument(blocks=[], span_unit="row", table=table.records, table_rows=table.numbers,
                         table_overflow=table.overflow)
    if encoding not in ("utf-8", "utf-8-sig"):
        doc.notes.append(f"decoded as {encoding}")
    return doc


def load_xlsx(path: Path, data: bytes) -> LoadedDocument:
    import openpyxl

    _check_zip(data, "XLSX")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for broken files
        raise LoadError(f"corrupt XLSX: {exc.__class__.__name__}: {str(exc)[:120]}") from None
    best: tuple[str, TableRows] | None = None
    try:
        for sheet in workbook.worksheets:
            try:  # read-only sheets are parsed lazily: a broken part (bad CRC, bad XML) fails here
                rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            except Exception as exc:  # noqa: BLE001 - zipfile, XML and openpyxl errors alike
                raise LoadError(f"corrupt XLSX sheet {sheet.title!r}: {exc.__class__.__name__}: "
                                f"{str(exc)[:120]}") from None
            try:
                table = _rows_to_records(rows)
            except LoadError:
                continue
            if best is None or len(table.records) > len(best[1].records):
                best = (sheet.title, table)
    finally:
        workbook.close()
    if best is None:
        raise LoadError("XLSX has no sheet with a table")
    sheet_name, table = best
    return LoadedDocument(blocks=[], span_unit="row", table=table.records, table_sheet=sheet_name,
                          table_rows=table.numbers, table_overflow=table.overflow)


LOADERS = {
    ".md": load_text,
    ".markdown": load_text,
    ".txt": load_text,
    ".text": load_text,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".csv": load_csv,
    ".xlsx": load_xlsx,
}


def load_file(path: Path) -> LoadedDocument:
    suffix = path.suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        raise LoadError(f"unsupported file type {suffix or '(none)'}")
    data = path.read_bytes()
    if not data.strip():
        raise LoadError("empty file")
    return loader(path, data)
