"""Metadata detection: control ids (2022, 2013, names), risk ids, roles, classification, title, type."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from assistant.catalogue import Catalogue, normalise
from assistant.config import CLASSIFICATIONS
from assistant.text import CLAUSE_CONTEXT, CONTROL_ID_2013, CONTROL_ID_2022, RISK_ID

_CLASSIFICATION_LINE = re.compile(
    r"(?:classification|classified|sensitivity|protective marking)\s*[:\-–]?\s*\**\s*(public|internal|confidential|restricted)\b",
    re.I,
)
_TAG = re.compile(r"\[(CONFIDENTIAL|RESTRICTED)\]")

# Role names detected in text; generic job-title patterns cover organizations with other titles.
ROLE_TERMS = [
    "line manager", "system owner", "asset owner", "information owner", "risk owner", "control owner",
    "data protection officer", "dpo", "ciso", "chief information security officer", "isms manager",
    "service desk", "help desk", "all staff", "employees", "contractors", "third parties",
    "security steering group", "change advisory board", "cab", "internal auditor", "top management",
    "incident manager", "security operations", "hr", "people team", "facilities",
]
_TITLE_PATTERN = re.compile(
    r"\b((?:Chief|Head of|Director of|VP of)\s+[A-Z][A-Za-z]+(?:\s+(?:and\s+)?[A-Z][A-Za-z]+){0,3}"
    r"|[A-Z][A-Za-z]+(?:\s+[A-Z][A-Za-z]+){0,3}\s+(?:Manager|Lead|Officer|Owner|Counsel|Administrator|Auditor))\b"
)

DOC_TYPES = ("policy", "procedure", "standard", "guidance", "guideline", "plan", "record", "register", "manual", "form")


def detect_controls(text: str, catalogue: Catalogue, names: bool = True) -> tuple[list[str], list[str]]:
    """Control ids referenced in text → (2022 ids, 2013 ids as written). Names count if `names`."""
    found: list[str] = []
    legacy: list[str] = []
    for m in CONTROL_ID_2013.finditer(text):
        key = f"A.{int(m.group(1))}.{int(m.group(2))}.{int(m.group(3))}"
        targets = catalogue.legacy_map.get(key)
        if targets:
            legacy.append(key)
            found.extend(t for t in targets if t not in found)
    stripped = CONTROL_ID_2013.sub(" ", text)
    for m in CONTROL_ID_2022.finditer(stripped):
        prefix = stripped[max(0, m.start() - 30):m.start()]
        explicit = m.group(0)[0] in "Aa"
        if not explicit and CLAUSE_CONTEXT.search(prefix):
            continue
        cid = f"{m.group(1)}.{int(m.group(2))}"
        if cid in catalogue and cid not in found:
            found.append(cid)
    if names:
        for cid in catalogue.search_names(text):
            if cid not in found:
                found.append(cid)
    return found, legacy


_HEADING_NUMBER = re.compile(r"^\s*(\d{1,2}(?:\.\d{1,2})*)\.?\s+(?=\S)")


def heading_without_section_number(heading: str, catalogue: Catalogue) -> str:
    """A heading as control detection reads it: its leading section number ("5.3 Distribute", "5.1 High") is a
    section number, not control 5.3, unless the heading goes on to name that control ("5.15 Access control")."""
    m = _HEADING_NUMBER.match(heading)
    if not m:
        return heading
    rest = heading[m.end():]
    control = catalogue.controls.get(m.group(1))
    if control is not None and control.id in catalogue.search_names(rest):
        return heading
    return rest


def detect_risks(text: str) -> list[str]:
    return list(dict.fromkeys(RISK_ID.findall(text)))


def detect_roles(text: str) -> list[str]:
    norm = f" {normalise(text)} "
    roles = [r for r in ROLE_TERMS if f" {r} " in norm]
    for m in _TITLE_PATTERN.finditer(text):
        title = m.group(1).strip()
        if title.lower() not in roles:
            roles.append(title.lower())
    return list(dict.fromkeys(roles))


def detect_classification(front_matter: dict[str, Any], text: str, default: str = "internal") -> str:
    value = str(front_matter.get("classification", "")).strip().lower()
    if value in CLASSIFICATIONS:
        return value
    head = text[:3000]
    m = _CLASSIFICATION_LINE.search(head)
    if m:
        return m.group(1).lower()
    tag = _TAG.search(head)
    if tag:
        return tag.group(1).lower()
    return default


TITLE_SEARCH_CHARS = 2000  # where a title-less document is looked at for its own casing of the file name


def infer_title(front_matter: dict[str, Any], headings: list[tuple[int, str]], path: str, text: str = "") -> str:
    """Front matter title, else the top heading, else the file name written the way the document's own first
    lines write it ("ICT readiness and …" rather than "Ict readiness and …")."""
    title = str(front_matter.get("title") or front_matter.get("name") or "").strip()
    if title:
        return title
    if headings:
        top = min(level for level, _ in headings[:5])
        for level, heading in headings[:5]:
            if level == top:
                return heading.strip("# ").strip()
    words = re.sub(r"[-_]+", " ", PurePosixPath(path).stem).split()
    if words:
        own = re.search(r"\b" + r"[\s\-_]+".join(map(re.escape, words)) + r"\b", text[:TITLE_SEARCH_CHARS], re.I)
        if own:
            return " ".join(own.group(0).split())
    return " ".join(words).capitalize()


def infer_doc_type(front_matter: dict[str, Any], title: str, path: str) -> str:
    value = str(front_matter.get("type", "")).strip().lower()
    if value:
        return value
    haystack = f"{title} {path}".lower()
    for kind in DOC_TYPES:
        if kind in haystack:
            return "guidance" if kind == "guideline" else kind
    if "soa" in haystack or "applicability" in haystack:
        return "register"
    return "document"


def front_matter_controls(front_matter: dict[str, Any], catalogue: Catalogue) -> list[str]:
    raw = front_matter.get("controls") or []
    if isinstance(raw, str | int | float):
        raw = re.split(r"[;,]", str(raw))
    ids: list[str] = []
    for item in raw:
        for control in catalogue.lookup(str(item)):
            if control.id not in ids:
                ids.append(control.id)
    return ids


# A document's own id: front matter, or a "Document ID: POL-001" line near the top of the text.
DOCUMENT_ID_KEYS = ("document_id", "doc_id", "document_ref", "document_reference", "id", "ref", "reference")
DOCUMENT_ID_VALUE = re.compile(r"^[A-Z][A-Z0-9]{1,9}(?:[-_/.][A-Z0-9]{1,10}){1,3}$")
_DOCUMENT_ID_LINE = re.compile(
    r"\b(?:document|doc|policy|procedure|standard)\s*(?:id|ref(?:erence)?|no\.?|number)\s*[:\-–]\s*\**\s*"
    r"([A-Z][A-Z0-9]{1,9}(?:[-_/.][A-Z0-9]{1,10}){1,3})\b",
    re.I,
)


def detect_document_id(front_matter: dict[str, Any], text: str) -> str:
    """The document's own id ("POL-001"): front matter `document_id`/`id`/…, else a "Document ID: …" line in
    the first 3,000 characters; "" when it states none."""
    for key in DOCUMENT_ID_KEYS:
        value = str(front_matter.get(key, "") or "").strip().upper()
        if DOCUMENT_ID_VALUE.match(value):
            return value
    m = _DOCUMENT_ID_LINE.search(text[:3000])
    return m.group(1).upper() if m else ""
