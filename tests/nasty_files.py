"""Generator of nasty corpus files for the fuzzed-ingest tests.

`write_nasty_corpus(corpus, outside)` writes hostile or broken files into `corpus` (and bait files into
`outside`, which symlinks point at) and returns one `Nasty` record per entry saying what the ingest must
do with it: index it, skip it (with a reason containing `reason`), or either, as long as it never
crashes, never hangs and reports a reason. `secret` texts must never reach the index.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_PDF = REPO / "corpus" / "plans" / "ict-readiness-and-disaster-recovery-plan.pdf"
SAMPLE_DOCX = REPO / "corpus" / "policies" / "acceptable-use-policy.docx"
SAMPLE_XLSX = REPO / "corpus" / "registers" / "statement-of-applicability.xlsx"

OUTSIDE_SECRET = "OUTSIDE-SECRET-7731 must never be indexed"


@dataclass
class Nasty:
    rel: str  # path relative to the corpus root (as the ingest reports it)
    kind: str  # class of fault, for the report table
    expect: str  # "indexed" | "skipped" | "either"
    reason: str = ""  # lower-case substring the skip reason must contain (when skipped)
    secret: str | None = None  # text that must never appear in any indexed chunk


def judge(case: Nasty, indexed: set[str], skipped: dict[str, str]) -> str | None:
    """Why the ingest handled this file wrongly (indexed or skipped against expectation, not reported, a skip
    reason that does not name the problem), or None when it handled it rightly."""
    where = "indexed" if case.rel in indexed else "skipped" if case.rel in skipped else "missing"
    if where == "missing":
        return "neither indexed nor reported"
    if case.expect != "either" and where != case.expect:
        return f"{where}, expected {case.expect} ({skipped.get(case.rel)})"
    if where == "skipped" and (not skipped[case.rel].strip() or case.reason.lower() not in skipped[case.rel].lower()):
        return f"reason {skipped[case.rel]!r} lacks {case.reason!r}"
    return None


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def zip_bomb(inner: dict[str, bytes], bomb_name: str, bomb_bytes: int) -> bytes:
    """A valid-looking Office zip whose `bomb_name` member inflates to `bomb_bytes` of zeros."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in inner.items():
            zf.writestr(name, data)
        info = zipfile.ZipInfo(bomb_name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            block = b"\0" * (1 << 20)
            for _ in range(bomb_bytes >> 20):
                fh.write(block)
    return buf.getvalue()


def _office_parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _replace_part(path: Path, name: str, data: bytes) -> bytes:
    parts = _office_parts(path)
    parts[name] = data
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for part, content in parts.items():
            zf.writestr(part, content)
    return buf.getvalue()


def _billion_laughs_xml(root: str, attrs: str = "") -> bytes:
    ents = ['<!ENTITY lol0 "lolololololololololololololololololololol">']
    for i in range(1, 10):
        ents.append(f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">')
    return (f'<?xml version="1.0"?>\n<!DOCTYPE {root} [\n' + "\n".join(ents) + f"\n]>\n<{root}{attrs}>&lol9;</{root}>").encode()


def _pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A syntactically tidy PDF from object bodies (1-based), with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _page_tree_loop_pdf() -> bytes:
    # Pages node 2 lists itself as a kid: a naive walker recurses forever.
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"])


def _flate_bomb_pdf(megabytes: int) -> bytes:
    import zlib

    raw = b"BT /F1 12 Tf 72 720 Td (" + b"A" * 64 + b") Tj ET\n" + b" " * (megabytes << 20)
    stream = zlib.compress(raw, 9)
    content = f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream + b"\nendstream"
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                 b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
                 content])


def _deep_array_pdf(depth: int) -> bytes:
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R /Junk " + b"[" * depth + b"]" * depth + b" >>",
                 b"<< /Type /Pages /Kids [] /Count 0 >>"])


GOOD_DOCS: dict[str, str] = {
    "good/visitor-badges.md": "# Visitor Badge Procedure\n\nVisitors wear a magenta lanyard-badge issued by "
    "reception and return it at the quokka desk when they leave.\n",
    "good/tape-rotation.txt": "TAPE ROTATION GUIDE\n\nBackup tapes rotate to the Whitby vault every Thursday "
    "under a tamper-evident seal.\n",
    # walked last: its "duration" also holds the post-reading work, so the per-file timing skips it
    "zzz/last.md": "# Last file\n\nThe ostrich-feather duster is kept in the comms room cupboard.\n",
}
GOOD_QUERIES = {
    "good/visitor-badges.md": "magenta lanyard badge quokka desk",
    "good/tape-rotation.txt": "backup tapes Whitby vault Thursday",
    "zzz/last.md": "ostrich-feather duster comms room",
}


def write_nasty_corpus(corpus: Path, outside: Path) -> list[Nasty]:
    """Write every nasty case (plus `GOOD_DOCS`) and return what the ingest must do with each."""
    cases: list[Nasty] = []
    corpus.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)

    for rel, text in GOOD_DOCS.items():
        _write(corpus / rel, text)
        cases.append(Nasty(rel, "good file", "indexed"))

    # --- truncated and hostile PDFs
    pdf = SAMPLE_PDF.read_bytes()
    for frac in (0.05, 0.3, 0.6, 0.95):
        rel = f"pdf/truncated-{int(frac * 100):02d}.pdf"
        _write(corpus / rel, pdf[: int(len(pdf) * frac)])
        cases.append(Nasty(rel, "truncated PDF", "either"))
    _write(corpus / "pdf/header-only.pdf", b"%PDF-1.7\n")
    cases.append(Nasty("pdf/header-only.pdf", "truncated PDF", "skipped", "pdf"))
    _write(corpus / "pdf/page-tree-loop.pdf", _page_tree_loop_pdf())
    cases.append(Nasty("pdf/page-tree-loop.pdf", "hostile PDF", "skipped"))
    _write(corpus / "pdf/flate-bomb.pdf", _flate_bomb_pdf(300))
    cases.append(Nasty("pdf/flate-bomb.pdf", "hostile PDF", "either"))
    _write(corpus / "pdf/deep-arrays.pdf", _deep_array_pdf(50_000))
    cases.append(Nasty("pdf/deep-arrays.pdf", "hostile PDF", "skipped"))

    # --- zip bombs disguised as Office files, XML entity bombs
    docx_parts = _office_parts(SAMPLE_DOCX)
    _write(corpus / "zip/bomb.docx", zip_bomb(docx_parts, "word/media/padding.bin", 300 << 20))
    cases.append(Nasty("zip/bomb.docx", "zip bomb", "skipped", "zip bomb"))
    xlsx_parts = _office_parts(SAMPLE_XLSX)
    _write(corpus / "zip/bomb.xlsx", zip_bomb(xlsx_parts, "xl/media/padding.bin", 300 << 20))
    cases.append(Nasty("zip/bomb.xlsx", "zip bomb", "skipped", "zip bomb"))
    # Under the absolute cap but inflating 1000x: still refused by the ratio rule.
    _write(corpus / "zip/ratio.docx", zip_bomb(docx_parts, "word/media/padding.bin", 150 << 20))
    cases.append(Nasty("zip/ratio.docx", "zip bomb", "skipped", "zip bomb"))
    _write(corpus / "zip/laughs.docx", _replace_part(SAMPLE_DOCX, "word/document.xml", _billion_laughs_xml(
        "w:document", ' xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"')))
    cases.append(Nasty("zip/laughs.docx", "XML entity bomb", "either"))
    _write(corpus / "zip/laughs.xlsx", _replace_part(SAMPLE_XLSX, "xl/sharedStrings.xml", _billion_laughs_xml("sst")))
    cases.append(Nasty("zip/laughs.xlsx", "XML entity bomb", "either"))

    # --- deeply nested Markdown and YAML
    _write(corpus / "deep/blockquotes.md", "# Deep quotes\n\n" + ">" * 200_000 + " quoted\n")
    cases.append(Nasty("deep/blockquotes.md", "deep nesting", "either"))
    _write(corpus / "deep/lists.md", "# Deep lists\n\n" + "".join("  " * i + "- level\n" for i in range(3000)))
    cases.append(Nasty("deep/lists.md", "deep nesting", "either"))
    _write(corpus / "deep/headings.md", "".join("#" * (1 + i % 6) + f" Heading {i}\n" for i in range(20_000)))
    cases.append(Nasty("deep/headings.md", "deep nesting", "either"))
    _write(corpus / "deep/yaml-nested.md", "---\ntitle: " + "[" * 20_000 + "]" * 20_000 + "\n---\n# Deep YAML\n\nBody.\n")
    cases.append(Nasty("deep/yaml-nested.md", "deep nesting", "either"))
    laughs = ["---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        laughs.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
        prev = name
    laughs += ["title: *i", "controls: *i", "classification: *i", "---", "# Laughing policy", "", "Body text here."]
    _write(corpus / "deep/yaml-laughs.md", "\n".join(laughs) + "\n")
    cases.append(Nasty("deep/yaml-laughs.md", "YAML alias bomb", "either"))

    # --- very long single lines
    _write(corpus / "long/ten-mb-line.txt", "lorem ipsum " * (10 * 1024 * 1024 // 12))
    cases.append(Nasty("long/ten-mb-line.txt", "10 MB single line", "either"))
    _write(corpus / "long/heading-redos.md", "# " + "#" * 200_000 + "x\n")
    cases.append(Nasty("long/heading-redos.md", "regex blow-up", "either"))
    _write(corpus / "long/list-redos.md", "1. " + " " * 300_000 + "\n")
    cases.append(Nasty("long/list-redos.md", "regex blow-up", "either"))
    _write(corpus / "long/control-ids.md", "# Ids\n\n" + "A.5.1 " * 200_000 + "\n")
    cases.append(Nasty("long/control-ids.md", "regex blow-up", "either"))
    _write(corpus / "long/no-spaces.md", "# Blob\n\n" + "x" * (3 * 1024 * 1024) + "\n")
    cases.append(Nasty("long/no-spaces.md", "10 MB single line", "either"))

    # --- NUL bytes
    _write(corpus / "nul/leading.md", b"\0\0\0\0# Title\n\nText.\n" + b"\0" * 5000)
    cases.append(Nasty("nul/leading.md", "NUL bytes", "skipped", "binary"))
    _write(corpus / "nul/late.md", b"# Late NUL\n\n" + b"Plain words here. " * 400 + b"\0\0 after the NULs.\n")
    cases.append(Nasty("nul/late.md", "NUL bytes", "either"))
    _write(corpus / "nul/only.txt", b"\0" * 4096)
    cases.append(Nasty("nul/only.txt", "NUL bytes", "skipped"))

    # --- encodings
    _write(corpus / "enc/mixed.md", "# Mixed\n\nCafé in UTF-8.\n".encode() + "Réception in cp1252.\n".encode("cp1252"))
    cases.append(Nasty("enc/mixed.md", "mixed encodings", "indexed"))
    _write(corpus / "enc/utf16-nobom.txt", "PAPER SHREDDING\n\nShred paper in the grey bins.\n".encode("utf-16-le"))
    cases.append(Nasty("enc/utf16-nobom.txt", "mixed encodings", "either"))
    _write(corpus / "enc/utf32.txt", "UTF THIRTY TWO\n\nSome text.\n".encode("utf-32"))
    cases.append(Nasty("enc/utf32.txt", "mixed encodings", "either"))
    _write(corpus / "enc/bad-utf16.txt", b"\xff\xfe" + b"\x00\xd8" * 50)  # lone surrogates after a BOM
    cases.append(Nasty("enc/bad-utf16.txt", "mixed encodings", "either"))
    _write(corpus / "enc/bom-only.md", b"\xef\xbb\xbf")
    cases.append(Nasty("enc/bom-only.md", "mixed encodings", "skipped"))
    _write(corpus / "enc/control-chars.md", "# Ctl\n\n" + "".join(chr(i) for i in range(1, 32)) * 50 + "\n")
    cases.append(Nasty("enc/control-chars.md", "mixed encodings", "either"))

    # --- symlinks and special files
    bait = outside / "bait.md"
    _write(bait, f"# Bait\n\n{OUTSIDE_SECRET}.\n")
    (outside / "folder").mkdir(exist_ok=True)
    _write(outside / "folder" / "inner.md", f"# Inner bait\n\n{OUTSIDE_SECRET} (folder).\n")
    links = corpus / "links"
    links.mkdir(parents=True, exist_ok=True)
    (links / "abs.md").symlink_to(bait)
    cases.append(Nasty("links/abs.md", "symlink out of corpus", "skipped", "outside", OUTSIDE_SECRET))
    (links / "rel.md").symlink_to(os.path.relpath(bait, links))
    cases.append(Nasty("links/rel.md", "symlink out of corpus", "skipped", "outside", OUTSIDE_SECRET))
    (links / "hop.md").symlink_to("abs.md")  # link → link → outside
    cases.append(Nasty("links/hop.md", "symlink out of corpus", "skipped", "outside", OUTSIDE_SECRET))
    (links / "folder").symlink_to(outside / "folder", target_is_directory=True)
    cases.append(Nasty("links/folder/", "symlink out of corpus", "skipped", "outside", OUTSIDE_SECRET))
    (links / "passwd.txt").symlink_to("/etc/passwd")
    cases.append(Nasty("links/passwd.txt", "symlink out of corpus", "skipped", "outside", "root:x:0:0"))
    (links / "zero.md").symlink_to("/dev/zero")
    cases.append(Nasty("links/zero.md", "symlink out of corpus", "skipped", "outside"))
    (links / "loop-a.md").symlink_to("loop-b.md")
    (links / "loop-b.md").symlink_to("loop-a.md")
    cases.append(Nasty("links/loop-a.md", "symlink loop / broken", "skipped"))
    cases.append(Nasty("links/loop-b.md", "symlink loop / broken", "skipped"))
    (links / "dangling.md").symlink_to("does-not-exist.md")
    cases.append(Nasty("links/dangling.md", "symlink loop / broken", "skipped", "broken"))
    (links / "self").symlink_to(".", target_is_directory=True)
    cases.append(Nasty("links/self/", "symlink loop / broken", "skipped"))
    os.mkfifo(corpus / "links" / "pipe.md")
    cases.append(Nasty("links/pipe.md", "special file (FIFO)", "skipped", "not a regular file"))

    # --- wrong extensions
    _write(corpus / "ext/pdf-as.md", pdf[:20_000])
    cases.append(Nasty("ext/pdf-as.md", "wrong extension", "skipped", "binary"))
    _write(corpus / "ext/docx-as.pdf", SAMPLE_DOCX.read_bytes())
    cases.append(Nasty("ext/docx-as.pdf", "wrong extension", "skipped", "pdf"))
    _write(corpus / "ext/md-as.docx", "# Not a docx\n\nJust text.\n")
    cases.append(Nasty("ext/md-as.docx", "wrong extension", "skipped", "docx"))
    _write(corpus / "ext/xlsx-as.csv", SAMPLE_XLSX.read_bytes())
    cases.append(Nasty("ext/xlsx-as.csv", "wrong extension", "skipped", "binary"))
    _write(corpus / "ext/csv-as.xlsx", "Risk ID,Title\nR-1,Flood\n")
    cases.append(Nasty("ext/csv-as.xlsx", "wrong extension", "skipped", "xlsx"))
    _write(corpus / "ext/png-as.txt", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 20)
    cases.append(Nasty("ext/png-as.txt", "wrong extension", "skipped", "binary"))
    _write(corpus / "ext/docx-as.xlsx", SAMPLE_DOCX.read_bytes())
    cases.append(Nasty("ext/docx-as.xlsx", "wrong extension", "skipped", "xlsx"))
    _write(corpus / "ext/html-as.md", "<html><body><h1>Page</h1><p>Some web page text.</p></body></html>\n")
    cases.append(Nasty("ext/html-as.md", "wrong extension", "indexed"))

    # --- odd file names
    _write(corpus / "names" / "new\nline.md", "# Newline name\n\nA file whose name has a newline.\n")
    cases.append(Nasty("names/new\\nline.md", "odd file name", "skipped", "control characters"))
    latin1_name = os.fsdecode(b"caf\xe9-latin1.md")  # not valid UTF-8: decoded with surrogate escapes
    _write(corpus / "names" / latin1_name, "# Latin-1 name\n\nA file whose name is not UTF-8.\n")
    cases.append(Nasty("names/caf\\xe9-latin1.md", "odd file name", "skipped", "not valid utf-8"))
    long_name = "n" * 240 + ".md"
    _write(corpus / "names" / long_name, "# Long name\n\nA file with a very long name.\n")
    cases.append(Nasty(f"names/{long_name}", "odd file name", "either"))
    _write(corpus / "names" / "ctrl\x1bname.md", "# Escape\n\nA name with an escape character.\n")
    cases.append(Nasty("names/ctrl\\x1bname.md", "odd file name", "skipped", "control characters"))
    return cases
