"""Auditor-style checks of the Statement of Applicability against the risk register and the documents.

What a certification auditor tests for ISO/IEC 27001 6.1.3 (d): every Annex A control is in the SoA
once, under its 2022 id; each inclusion traces to the risk treatment or another stated driver; each
exclusion is justified and not contradicted by the risk register or by the documents; implemented
controls have implementing documents that are in date; justifications are specific, not template text.

Each `Finding` has a severity, the control, a kind, what is wrong, evidence with numbered citations
(SoA rows, risk-register rows, document sections) and a suggested fix. Evidence respects the role's
clearance: a finding that could only be shown with evidence above the clearance is not reported.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from assistant.catalogue import normalise
from assistant.register_kinds import KIND_TITLES
from assistant.registers import SoAEntry
from assistant.soa.context import SoAContext
from assistant.soa.draft import require_registers
from assistant.soa.evidence import (
    CitationBook,
    cite_soa_row,
    exclusion_evidence,
    linked_risk_ids,
    retrieved_passage,
)
from assistant.soa.sentences import reason_code
from assistant.soa.types import RISK_TREATMENT, Evidence

SEVERITIES: tuple[str, ...] = ("high", "medium", "low")

# kind → (severity, what an auditor calls it)
KINDS: dict[str, tuple[str, str]] = {
    "no_soa": ("high", "no Statement of Applicability in the index"),
    "control_missing_from_soa": ("high", "Annex A control missing from the SoA"),
    "unknown_control_id": ("medium", "control id that does not exist in ISO/IEC 27001:2022 Annex A"),
    "duplicate_control": ("medium", "control listed more than once in the SoA"),
    "legacy_control_id": ("low", "ISO/IEC 27001:2013 id that should be migrated to 2022"),
    "no_driver": ("medium", "applicable control with no linked risk and no other stated driver"),
    "mitigated_risk_control_excluded": ("high", "mitigated risk whose control is excluded or missing in the SoA"),
    "risk_without_controls": ("medium", "risk treated by mitigation with no controls"),
    "exclusion_unjustified": ("high", "excluded control with no justification"),
    "exclusion_contradicted": ("high", "exclusion contradicted by the documents"),
    "implemented_without_document": ("medium", "implemented control with no implementing document"),
    "document_not_found": ("low", "implementing document listed in the SoA is not in the corpus"),
    "template_justification": ("medium", "template wording reused across many controls"),
    "document_past_review": ("medium", "document past its review date implements applicable controls"),
    "linked_risk_not_in_register": ("medium", "SoA links a risk id that is not in the risk register"),
    "risk_link_mismatch": ("low", "SoA linked risks and risk register disagree"),
    "status_inconsistent": ("low", "implementation status contradicts applicability"),
}

_IMPLEMENTED = re.compile(r"^(implemented|partially implemented|partial|in place|operational)", re.I)
_NOT_APPLICABLE_STATUS = {"not applicable", "n a", "na", "excluded"}
SYSTEMIC_MIN = 10  # a kind that hits at least this many rows…
SYSTEMIC_SHARE = 0.5  # …and at least this share of the rows it applies to is one systemic finding
# kind → which SoA rows it applies to (the share's denominator), what to call them, the systemic fix
SYSTEMIC: dict[str, tuple[str, str]] = {
    "implemented_without_document": ("implemented", "Add a documents or reference column to the SoA naming the "
                                     "policy, procedure or record that implements each control (paths, titles or "
                                     "document ids such as POL-001 from the document register)."),
    "no_driver": ("applicable", "State each control's driver in the SoA: the risks it treats, or the legal, "
                  "contractual or business requirement, with its source."),
    "document_not_found": ("rows", "Add the referenced documents to the corpus, or list their ids with titles in a "
                           "document register."),
    "template_justification": ("rows", "Rewrite the justifications from each control's own evidence "
                               "(`isms-assistant soa draft` proposes one per control)."),
    "risk_link_mismatch": ("applicable", "Make the SoA's linked risks and the risk register (or treatment plan) agree."),
    "unknown_control_id": ("rows", "Correct the ids to ISO/IEC 27001:2022 Annex A ids (see the catalogue)."),
    "legacy_control_id": ("rows", "Migrate the SoA to ISO/IEC 27001:2022 ids."),
}
TEMPLATE_SIMILARITY = 0.85
TEMPLATE_MIN_GROUP = 3
_DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%d/%m/%Y", "%B %Y")


@dataclass
class Finding:
    severity: str
    kind: str
    control: str  # the control the finding is about ("" when it is about no single control)
    message: str  # what is wrong
    fix: str  # suggested fix
    evidence: list[Evidence] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)  # every control concerned
    risks: list[str] = field(default_factory=list)
    document: str = ""  # source path, for findings about one document
    quote: str = ""  # the SoA text the finding is about (the justification, a reference)
    id: str = ""  # F1, F2… in report order (evidence inside a finding is numbered [1], [2]…)

    @property
    def title(self) -> str:
        return KINDS.get(self.kind, (self.severity, self.kind))[1]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["title"] = self.title
        return out


@dataclass
class CheckReport:
    findings: list[Finding]
    as_of: str
    clearance: int
    controls_in_soa: int
    risks_checked: int
    documents_checked: int

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.kind] = counts.get(f.kind, 0) + 1
        return dict(sorted(counts.items()))

    def by_severity(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}

    def for_control(self, control_id: str) -> list[Finding]:
        return [f for f in self.findings if f.control == control_id or control_id in f.controls]

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of, "controls_in_soa": self.controls_in_soa, "risks_checked": self.risks_checked,
            "documents_checked": self.documents_checked, "counts": {"total": len(self.findings),
                                                                  **self.by_severity()},
            "by_kind": self.by_kind(), "findings": [f.to_dict() for f in self.findings],
        }


def parse_date(text: str) -> date | None:
    text = str(text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _words(text: str) -> set[str]:
    return set(normalise(text).split())


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


class _Checker:
    def __init__(self, ctx: SoAContext, as_of: date) -> None:
        self.ctx = ctx
        self.as_of = as_of
        self.findings: list[Finding] = []

    # -- helpers
    def add(self, kind: str, control: str, message: str, fix: str, book: CitationBook | None = None, *,
            controls: list[str] | None = None, risks: list[str] | None = None, document: str = "",
            quote: str | None = None) -> None:
        severity = KINDS[kind][0]
        entry = self.ctx.knowledge.soa.get(control)
        if quote is None:
            quote = entry.justification.strip()[:300] if entry is not None else ""
        self.findings.append(Finding(severity, kind, control, message, fix, book.items if book else [],
                                     controls or ([control] if control else []), risks or [], document, quote))

    def soa_row(self, book: CitationBook, control_id: str) -> str:
        n = cite_soa_row(self.ctx, book, control_id)
        return f" [{n}]" if n else ""

    def risk_row(self, book: CitationBook, risk_id: str) -> str:
        """Cite the risk's register row (the register and row number when no chunk holds it); "" when the
        row is above the clearance, so the finding is not reported."""
        chunk = self.ctx.knowledge.risk_chunks.get(risk_id)
        if chunk is not None:
            return f" [{book.cite_chunk(chunk, 'risk', risk_id=risk_id)}]" if self.ctx.visible(chunk) else ""
        source = self.ctx.register_source("risk_register")
        risk = self.ctx.knowledge.risks.get(risk_id)
        if source is None or risk is None or not self.ctx.source_visible(source):
            return ""
        return f" [{book.cite_register(source, f'Risk register > row {risk.row}', f'{risk_id} {risk.title}'.strip())}]"

    def candidates(self, control_id: str) -> list[str]:
        """Visible documents that declare or name the control (suggestions for fixes)."""
        control = self.ctx.catalogue.controls[control_id]
        found: list[str] = []
        for chunk in self.ctx.chunks:
            if chunk.kind == "section" and self.ctx.visible(chunk) and (
                control_id in chunk.doc_controls or (control_id in chunk.controls and control.title.lower() in chunk.text.lower())
            ):
                found.append(chunk.source)
        return list(dict.fromkeys(found))[:3]

    # -- checks
    def coverage(self) -> None:
        ctx = self.ctx
        soa_source = ctx.register_source("soa")
        if soa_source is None:
            self.add("no_soa", "", "No Statement of Applicability (a CSV/XLSX with control id and applicability "
                     "columns) was found in the corpus.", "Add the SoA to the corpus folder and re-run ingest.")
            return
        for cid, control in ctx.catalogue.controls.items():
            if cid not in ctx.knowledge.soa:
                book = CitationBook()
                book.cite_register(soa_source, "Statement of Applicability", f"{len(ctx.knowledge.soa)} controls")
                self.add("control_missing_from_soa", cid, f"{control.label} is not in the SoA [1]; ISO/IEC 27001 "
                         "6.1.3 d) needs every Annex A control with its applicability.",
                         f"Add a row for {cid} stating whether it applies and why.", book)
        for reg in ctx.registers:
            for err in reg.errors:
                book = CitationBook()
                book.cite_register(reg.source, f"{KIND_TITLES.get(reg.kind, 'Register')} > row {err.row}", err.message)
                if "unknown control id" in err.message:
                    raw = err.message.split("'")[1] if "'" in err.message else ""
                    where = "SoA" if reg.kind == "soa" else KIND_TITLES.get(reg.kind, "register").lower()
                    self.add("unknown_control_id", "", f"Row {err.row} of the {where} uses {raw or 'a control id'}, "
                             f"which is not an ISO/IEC 27001:2022 Annex A or 2013 id [1].",
                             "Correct the id to the 2022 Annex A control meant (see the catalogue), or remove the row.",
                             book)
                elif "duplicate control" in err.message:
                    m = re.search(r"duplicate control (\S+?);", err.message)
                    cid = m.group(1) if m else ""
                    self.add("duplicate_control", cid, f"Row {err.row} of the SoA repeats control {cid} [1]; "
                             "only the first row is used.", "Merge the rows into one entry per control.", book)

    def legacy_ids(self) -> None:
        ctx = self.ctx
        for cid, entry in ctx.knowledge.soa.items():
            if entry.legacy_id:
                book = CitationBook()
                ref = self.soa_row(book, cid)
                self.add("legacy_control_id", cid, f"The SoA row for {cid} is written with the 2013 id "
                         f"{entry.legacy_id}{ref}.", f"Replace {entry.legacy_id} with {cid} "
                         f"({ctx.catalogue.controls[cid].title}).", book)
        for rid, risk in ctx.knowledge.risks.items():
            if not risk.legacy_controls:
                continue
            book = CitationBook()
            ref = self.risk_row(book, rid)
            if not ref:
                continue
            mapped: list[str] = []
            parts = []
            for legacy in risk.legacy_controls:
                targets = [c.id for c in ctx.catalogue.from_legacy(legacy)]
                mapped.extend(t for t in targets if t not in mapped)
                parts.append(f"{legacy} → " + ", ".join(ctx.catalogue.controls[t].label for t in targets))
            self.add("legacy_control_id", mapped[0] if mapped else "", f"{rid} {risk.title} lists ISO/IEC 27001:2013 "
                     f"id{'s' if len(risk.legacy_controls) > 1 else ''} {', '.join(risk.legacy_controls)} among its "
                     f"controls{ref}.", "Migrate to the 2022 ids: " + "; ".join(parts) + ".", book,
                     controls=mapped, risks=[rid])

    def soa_risk_links(self, entry: SoAEntry) -> list[str]:
        """The risks an SoA row links: its linked-risks column, then risk ids its justification names
        ("Treats RSK-08" where the column is empty)."""
        links = list(entry.linked_risks)
        for driver in self.ctx.stated_drivers(entry):
            links += [r for r in driver.risks if r not in links]
        return links

    def drivers(self) -> None:
        """`no_driver`: an applicable control with no linked risk, no reason in a reasons column and no driver
        stated in its justification (template wording states none)."""
        ctx = self.ctx
        for cid, entry in ctx.knowledge.soa.items():
            if entry.applicable is not True:
                continue
            risks = [r for r in linked_risk_ids(ctx, cid) if r in ctx.knowledge.risks]
            codes = {reason_code(r) for r in entry.reasons} - {None}
            other = codes - {RISK_TREATMENT}
            if risks or other or ctx.stated_drivers(entry):
                continue
            book = CitationBook()
            ref = self.soa_row(book, cid)
            register = ctx.register_source("risk_register")
            reg_ref = ""
            if register and ctx.source_visible(register):
                reg_ref = f" [{book.cite_register(register, 'Risk register', f'{len(ctx.knowledge.risks)} risks; none lists {cid}')}]"
            stated = "states only 'Risk treatment' as its reason" if codes else "states no driver for selection"
            self.add("no_driver", cid, f"{cid} {entry.title} is applicable but no risk in the risk register links it"
                     f"{reg_ref} and the SoA {stated}{ref}.",
                     f"Link the risk(s) that {cid} treats in the risk register and the SoA, or record the driver "
                     f"(legal/regulatory, contractual, business requirement or best practice) with its source.", book)

    def risk_treatment(self) -> None:
        ctx = self.ctx
        for rid, risk in ctx.knowledge.risks.items():
            if risk.treatment != "Mitigate":
                continue
            if not risk.controls:
                book = CitationBook()
                ref = self.risk_row(book, rid)
                if ref:
                    self.add("risk_without_controls", "", f"{rid} {risk.title} is treated by mitigation but lists no "
                             f"controls{ref}.", f"Add the Annex A controls that reduce {rid}.", book, risks=[rid])
                continue
            for cid in risk.controls:
                entry = ctx.knowledge.soa.get(cid)
                if entry is not None and entry.applicable is not False:
                    continue
                book = CitationBook()
                ref = self.risk_row(book, rid)
                if not ref:
                    continue
                label = ctx.catalogue.controls[cid].label
                if entry is None:
                    what = f"{label} is missing from the SoA"
                else:
                    what = f"{label} is excluded in the SoA{self.soa_row(book, cid)}"
                self.add("mitigated_risk_control_excluded", cid,
                         f"{rid} {risk.title} ({risk.level or 'level not stated'}) is treated by mitigation with {cid} "
                         f"among its controls{ref}, but {what}.",
                         f"Either include {cid} in the SoA with {rid} as a linked risk, or change the treatment plan "
                         f"of {rid} to controls that are applied.", book, risks=[rid])

    def exclusions(self) -> None:
        ctx = self.ctx
        for cid, entry in ctx.knowledge.soa.items():
            if entry.applicable is not False:
                continue
            control = ctx.catalogue.controls[cid]
            if not entry.justification.strip():
                book = CitationBook()
                ref = self.soa_row(book, cid)
                self.add("exclusion_unjustified", cid, f"{control.label} is excluded without a justification{ref}.",
                         f"State why {cid} is not needed (for example a scope statement) and cite the evidence.", book)
            evidence = exclusion_evidence(ctx, control, entry)
            if not evidence.contradicting:
                continue
            book = CitationBook()
            ref = self.soa_row(book, cid)
            cites = []
            for chunk, sentence in evidence.contradicting[:3]:
                n = book.cite_chunk(chunk, "section", quote=sentence)
                cites.append(f"“{sentence.rstrip(' .')}” [{n}]")
            sources = list(dict.fromkeys(c.source for c, _ in evidence.contradicting))
            self.add("exclusion_contradicted", cid, f"{control.label} is excluded{ref} (“{entry.justification.strip()[:160]}”) "
                     f"but the documents describe it in place: " + "; ".join(cites) + ".",
                     f"Include {cid} as applicable with its implementing documents and linked risks, or correct the "
                     f"documents if the practice has stopped.", book, document=sources[0])

    def documents(self) -> None:
        """`document_not_found`: a reference that is neither an indexed document (path, title, own id) nor a row
        of a document register. `implemented_without_document`: an implemented control whose SoA row names no
        document (column or justification) and no document cites the control."""
        ctx = self.ctx
        for cid, entry in ctx.knowledge.soa.items():
            if entry.applicable is False:
                continue
            for name in entry.documents:
                if ctx.resolve_document(name) is None and ctx.document_id(name) is None:
                    book = CitationBook()
                    ref = self.soa_row(book, cid)
                    self.add("document_not_found", cid, f"The SoA lists “{name}” as implementing {cid}{ref}, but no "
                             "such document is in the corpus or in a document register.", "Add the document to the "
                             "corpus (or to the document register) or correct the reference.", book, quote=name)
            if not _IMPLEMENTED.match(entry.status.strip()) or entry.documents:
                continue
            if ctx.named_documents(entry.justification) or self.candidates(cid):
                continue  # the justification names its document, or a document cites the control
            if retrieved_passage(ctx, ctx.catalogue.controls[cid]) is not None:
                continue  # a document clearly about the control: traceable (the draft shows the passage)
            book = CitationBook()
            ref = self.soa_row(book, cid)
            self.add("implemented_without_document", cid, f"{cid} {entry.title} is marked “{entry.status}” but the SoA "
                     f"names no implementing document{ref} and no document in the corpus cites {cid}.",
                     f"Name the policy, procedure or record that implements {cid} in the SoA, or write one; until "
                     "then the status should not be 'Implemented'.", book)

    def templates(self) -> None:
        ctx = self.ctx
        texts = {cid: _words(e.justification) for cid, e in ctx.knowledge.soa.items() if len(e.justification.strip()) >= 30}
        ids = list(texts)
        parent = {cid: cid for cid in ids}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                if _jaccard(texts[a], texts[b]) >= TEMPLATE_SIMILARITY:
                    parent[find(a)] = find(b)
        groups: dict[str, list[str]] = {}
        for cid in ids:
            groups.setdefault(find(cid), []).append(cid)
        order = {cid: i for i, cid in enumerate(ctx.catalogue.controls)}
        for members in groups.values():
            if len(members) < TEMPLATE_MIN_GROUP:
                continue  # one reused text is one finding listing its controls, as an auditor writes it
            members.sort(key=lambda m: order.get(m, len(order)))
            book = CitationBook()
            refs = "".join(self.soa_row(book, m) for m in members)
            listed = ", ".join(members)
            self.add("template_justification", members[0], f"{len(members)} controls share a near-identical "
                     f"justification ({listed}){refs}: “{ctx.knowledge.soa[members[0]].justification[:140]}”",
                     f"Rewrite the justifications of {listed} from each control's own evidence: the risks it treats, "
                     "the documents that implement it and how (`isms-assistant soa draft <control>` proposes one).",
                     book, controls=members)

    def review_dates(self) -> None:
        ctx = self.ctx
        for source, record in sorted(ctx.files.items()):
            due = parse_date(str(record.get("review_date") or ""))
            if due is None or due >= self.as_of or not ctx.source_visible(source):
                continue
            implemented = [cid for cid, e in ctx.knowledge.soa.items() if e.applicable and any(
                ctx.resolve_document(d) == source for d in e.documents)]
            implemented += [cid for cid in record.get("doc_controls") or []
                            if cid in ctx.knowledge.soa and ctx.knowledge.soa[cid].applicable and cid not in implemented]
            if not implemented:
                continue
            chunks = [c for c in ctx.sections(source) if ctx.visible(c)]
            book = CitationBook()
            ref = f" [{book.cite_chunk(chunks[0], 'section')}]" if chunks else ""
            refs = "".join(self.soa_row(book, cid) for cid in implemented[:3])
            title = record.get("title") or source
            self.add("document_past_review", implemented[0], f"{title} ({source}){ref} was due for review on "
                     f"{due.isoformat()} ({(self.as_of - due).days} days ago) and implements applicable control"
                     f"{'s' if len(implemented) > 1 else ''} {', '.join(implemented)}{refs}.",
                     f"Review and re-approve {source}, then update review_date in its front matter.", book,
                     controls=implemented, document=source)

    def consistency(self) -> None:
        ctx = self.ctx
        for cid, entry in ctx.knowledge.soa.items():
            status = normalise(entry.status)
            if (entry.applicable is True and status in _NOT_APPLICABLE_STATUS) or (
                    entry.applicable is False and _IMPLEMENTED.match(entry.status.strip())):
                book = CitationBook()
                ref = self.soa_row(book, cid)
                self.add("status_inconsistent", cid, f"{cid} is {'applicable' if entry.applicable else 'excluded'} but "
                         f"its status is “{entry.status}”{ref}.", "Make applicability and status agree.", book)
            unknown = [r for r in entry.linked_risks if r not in ctx.knowledge.risks]
            if unknown:
                book = CitationBook()
                ref = self.soa_row(book, cid)
                self.add("linked_risk_not_in_register", cid, f"The SoA links {cid} to {', '.join(unknown)}{ref}, which "
                         "the risk register does not contain.", "Correct the risk ids or add the risks to the register.",
                         book, risks=unknown)
            if entry.applicable is not True:
                continue
            soa_links = self.soa_risk_links(entry)
            register_side = [r for r in ctx.knowledge.risks_by_control.get(cid, []) if r not in soa_links]
            soa_side = [r for r in soa_links if r in ctx.knowledge.risks and cid not in ctx.knowledge.risks[r].controls]
            if register_side or soa_side:
                book = CitationBook()
                ref = self.soa_row(book, cid)
                parts = []
                if register_side:
                    parts.append(", ".join(f"{r}{self.risk_row(book, r)}" for r in register_side)
                                 + f" list{'s' if len(register_side) == 1 else ''} {cid} in the risk register but not in the SoA")
                if soa_side:
                    parts.append(", ".join(f"{r}{self.risk_row(book, r)}" for r in soa_side)
                                 + f" {'is' if len(soa_side) == 1 else 'are'} linked in the SoA but do not list {cid}")
                self.add("risk_link_mismatch", cid, f"Linked risks for {cid} disagree{ref}: " + "; ".join(parts) + ".",
                         "Make the SoA's Linked Risks column and the risk register's controls agree.", book,
                         risks=register_side + soa_side)


def _eligible(ctx: SoAContext) -> dict[str, int]:
    """How many SoA rows each systemic denominator counts."""
    entries = list(ctx.knowledge.soa.values())
    return {"rows": len(entries), "applicable": sum(1 for e in entries if e.applicable is True),
            "implemented": sum(1 for e in entries if e.applicable is not False and _IMPLEMENTED.match(e.status.strip()))}


def _systemic_finding(ctx: SoAContext, kind: str, members: list[Finding], eligible: int) -> Finding:
    """One finding for a gap that runs through the SoA, listing every control it hits."""
    rows, fix = SYSTEMIC[kind]
    controls = list(dict.fromkeys(c for f in members for c in (f.controls or [f.control]) if c))
    book = CitationBook()
    source = ctx.register_source("soa")
    refs = ""
    if source is not None and ctx.source_visible(source):
        refs = f" [{book.cite_register(source, 'Statement of Applicability', f'{eligible} {rows} rows')}]"
    what = {"rows": "rows", "applicable": "applicable controls", "implemented": "implemented controls"}[rows]
    title = KINDS[kind][1]
    listed = ", ".join(controls) if controls else f"{len(members)} rows"
    message = (f"Systemic: {len(members)} of {eligible} {what} in the SoA{refs} have the same gap ({title}): "
               f"{listed}.")
    return Finding(KINDS[kind][0], kind, "", message, fix, book.items, controls,
                   list(dict.fromkeys(r for f in members for r in f.risks)), "", members[0].quote)


def merge_systemic(ctx: SoAContext, findings: list[Finding]) -> list[Finding]:
    """A kind that hits at least SYSTEMIC_MIN rows and SYSTEMIC_SHARE of the rows it applies to is one
    finding listing the controls (an auditor writes one nonconformity, not one per row)."""
    eligible = _eligible(ctx)
    out = list(findings)
    for kind, (rows, _fix) in SYSTEMIC.items():
        members = [f for f in findings if f.kind == kind]
        total = eligible[rows]
        if len(members) >= SYSTEMIC_MIN and total and len(members) >= SYSTEMIC_SHARE * total:
            out = [f for f in out if f.kind != kind] + [_systemic_finding(ctx, kind, members, total)]
    return out


def run_checks(ctx: SoAContext, as_of: date | None = None) -> CheckReport:
    """Run every check on the SoA, risk register and documents of one index generation."""
    require_registers(ctx)
    as_of = as_of or date.today()
    checker = _Checker(ctx, as_of)
    checker.coverage()
    checker.legacy_ids()
    checker.drivers()
    checker.risk_treatment()
    checker.exclusions()
    checker.documents()
    checker.templates()
    checker.review_dates()
    checker.consistency()
    order = {cid: i for i, cid in enumerate(ctx.catalogue.controls)}
    findings = sorted(merge_systemic(ctx, checker.findings),
                      key=lambda f: (SEVERITIES.index(f.severity), list(KINDS).index(f.kind), order.get(f.control, 999)))
    for i, finding in enumerate(findings, start=1):
        finding.id = f"F{i}"
    return CheckReport(findings=findings, as_of=as_of.isoformat(), clearance=ctx.clearance,
                       controls_in_soa=len(ctx.knowledge.soa), risks_checked=_visible_risks(ctx),
                       documents_checked=sum(1 for source in ctx.files if ctx.source_visible(source)))


def _visible_risks(ctx: SoAContext) -> int:
    """Risk rows the clearance may see (a count above it would tell that hidden rows exist)."""
    source = ctx.register_source("risk_register")
    register_visible = source is not None and ctx.source_visible(source)
    return sum(1 for rid in ctx.knowledge.risks
               if (ctx.visible(ctx.knowledge.risk_chunks[rid]) if rid in ctx.knowledge.risk_chunks else register_visible))


__all__ = ["CheckReport", "Finding", "KINDS", "SEVERITIES", "merge_systemic", "parse_date", "run_checks"]
