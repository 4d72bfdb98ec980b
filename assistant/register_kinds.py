"""What kind of register a table is, from its headers (and its cells where headers are ambiguous).

An ISMS keeps a Statement of Applicability, a risk register, a risk treatment plan and other registers
(document register, legal and regulatory register, assets, suppliers, change log, incidents, training,
audit findings). Each is recognised on its own terms, so that a change log is never read as a risk
register and a legal register with a Controls column is never read as an SoA. Tolerant header mapping
(`map_columns`) lives here too: the typed parsers in `registers.py` use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from assistant.catalogue import Catalogue, get_catalogue, normalise

RegisterKind = Literal[
    "risk_register", "risk_treatment_plan", "soa", "document_register", "legal_register", "asset_register",
    "supplier_register", "change_log", "incident_register", "training_register", "audit_register",
]
KIND_TITLES: dict[str, str] = {
    "risk_register": "Risk register",
    "risk_treatment_plan": "Risk treatment plan",
    "soa": "Statement of Applicability",
    "document_register": "Document register",
    "legal_register": "Legal and regulatory register",
    "asset_register": "Asset register",
    "supplier_register": "Supplier register",
    "change_log": "Change log",
    "incident_register": "Incident register",
    "training_register": "Training record",
    "audit_register": "Audit findings register",
}

# The entity an id column names ("Change ID" → change): it says what the table lists.
ID_WORDS = {"id", "ref", "reference", "no", "number", "code", "tag", "nr"}
ENTITY_KINDS: dict[str, str] = {
    "change": "change_log", "rfc": "change_log", "cr": "change_log",
    "document": "document_register", "doc": "document_register", "policy": "document_register",
    "asset": "asset_register",
    "incident": "incident_register", "event": "incident_register", "ticket": "incident_register",
    "supplier": "supplier_register", "vendor": "supplier_register", "contract": "supplier_register",
    "requirement": "legal_register", "legislation": "legal_register", "obligation": "legal_register",
    "finding": "audit_register", "nc": "audit_register", "nonconformity": "audit_register",
    "audit": "audit_register", "car": "audit_register",
    "training": "training_register", "course": "training_register", "employee": "training_register",
}
# Other registers without an id column: headers that name what they list (+2) and headers they usually
# carry (+1). A table needs 3 points.
OTHER_KIND_HEADERS: dict[str, tuple[list[str], list[str]]] = {
    "legal_register": (
        ["requirement", "legal requirement", "legislation", "law", "regulation", "statutory requirement",
         "obligation", "regulatory requirement", "contractual requirement", "act"],
        ["source", "applies to", "jurisdiction", "regulator", "compliance status", "clause", "section", "penalty"],
    ),
    "document_register": (
        ["document", "document title", "document name", "policy", "policy name"],
        ["version", "next review", "review date", "approved by", "classification", "issue date", "last reviewed"],
    ),
    "asset_register": (
        ["asset", "asset name", "asset type", "hostname", "serial number", "device"],
        ["location", "custodian", "classification", "criticality", "value", "type", "model"],
    ),
    "supplier_register": (
        ["supplier", "supplier name", "vendor", "vendor name", "third party", "provider", "service provider"],
        ["service", "contract end", "contract start", "criticality", "dpa", "certification", "data shared",
         "next review", "contract"],
    ),
    "change_log": (
        ["change", "change description", "change request", "change title"],
        ["requested by", "approved by", "implemented on", "rollback", "change type", "cab", "implemented by"],
    ),
    "incident_register": (
        ["incident", "incident description", "incident title"],
        ["reported", "date reported", "reported by", "severity", "category", "root cause", "closed", "lessons learned"],
    ),
    "training_register": (
        ["course", "training", "training module", "employee", "staff member", "trainee"],
        ["completed", "completion date", "completed on", "score", "expiry", "result", "due"],
    ),
    "audit_register": (
        ["finding", "audit finding", "nonconformity", "non conformity", "observation", "corrective action"],
        ["audit", "clause", "root cause", "due", "closed", "raised", "severity"],
    ),
}


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


def id_entity(header: str) -> str:
    """'Change ID' → 'change', 'Risk Ref' → 'risk', 'ID' → '' (the thing an id column numbers)."""
    words = normalise(header).split()
    if len(words) >= 2 and words[-1] in ID_WORDS:
        return words[-2]
    return ""


def _first_entity(headers: list[str]) -> str:
    return next((e for e in (id_entity(h) for h in headers) if e), "")


def has_risk_header(headers: list[str]) -> bool:
    return any("risk" in normalise(h).split() for h in headers)


def cells_are_controls(records: list[Mapping[str, str]] | None, column: str, catalogue: Catalogue | None = None) -> bool:
    """Do at least half of the non-empty cells of `column` name one control each (an SoA's control column)?
    True when there are no records to look at (headers decide alone)."""
    if not records:
        return True
    catalogue = catalogue or get_catalogue()
    cells = [(r.get(column) or "").strip() for r in records]
    cells = [c for c in cells if c]
    if not cells:
        return True
    hits = sum(1 for c in cells if catalogue.lookup(c))
    return hits * 2 >= len(cells)


def names_other_register(headers: list[str]) -> bool:
    """Does a header name what another register lists ("Legislation", "Supplier", "Asset", ...)?"""
    keys = {k for k_list, _ in OTHER_KIND_HEADERS.values() for k in k_list}
    return any(normalise(h) in keys for h in headers if h)


def other_kind(headers: list[str]) -> str | None:
    """The best other register kind by header words, or None: a header that names what the register lists
    ("Requirement", "Supplier") scores 2, a header that contains such a name or that the register usually
    carries ("Applies to", "Next review") scores 1; 3 points are needed, or 2 from a naming header."""
    norms = [normalise(h) for h in headers if h]
    best: tuple[int, bool, str | None] = (0, False, None)
    for kind, (keys, support) in OTHER_KIND_HEADERS.items():
        score, named = 0, False
        for n in norms:
            if n in keys:
                score, named = score + 2, True
            elif any(f" {k} " in f" {n} " for k in keys if len(k) > 3) or n in support:
                score += 1
        if score > best[0]:
            best = (score, named, kind)
    score, named, kind = best
    return kind if score >= 3 or (named and score >= 2) else None


def entity_kind(headers: list[str]) -> str | None:
    """The register kind named by the table's first id column ("Change ID" → change_log), or None."""
    return ENTITY_KINDS.get(_first_entity(headers))
