"""SoA justification drafting, grounded in the risk register, the SoA and the indexed documents.

For one Annex A control the drafter gathers

* the SoA row (applicability, reasons, status, owner, implementing documents),
* the linked risks: the SoA's "Linked Risks" column plus every risk-register row listing the control,
* the implementing documents and their best sections: the SoA's "Implementing Documents" column,
  hybrid retrieval on the control title and aliases, and chunks whose metadata name the control,
* legal / contractual drivers stated in those sections,

and composes a 2–5 sentence justification in which every sentence cites its source: risk ids
(``R-012``) with the risk-register row, and ``[n]`` → path + heading. Quotes are verbatim single
sentences from the cited section. Everything respects the role's clearance: a chunk, a listed document
or a risk row above the clearance is never cited, named or counted.

Optionally an LLM (``assistant.llm``) rewrites the same evidence into fluent prose (`soa.rewrite`); the
rewrite must pass `verify_justification` or the grounded draft is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from assistant.catalogue import Control
from assistant.errors import SoAAccessError
from assistant.models import Chunk
from assistant.registers import RiskRecord, SoAEntry
from assistant.soa.context import SoAContext
from assistant.soa.drivers import Driver
from assistant.soa.evidence import (
    CitationBook,
    DocumentEvidence,
    cite_soa_row,
    driver_evidence,
    exclusion_evidence,
    implementing_documents,
    linked_risk_ids,
)
from assistant.soa.sentences import reason_code
from assistant.soa.types import (
    CONTRACTUAL,
    LEGAL,
    REASON_CODES,
    RISK_TREATMENT,
    DocumentLink,
    Provenance,
    RiskLink,
    SoADraft,
)

MAX_RISKS_NAMED = 3


@dataclass
class _Draft:
    """One control's draft in progress: the citations so far and the sentences and warnings written."""

    ctx: SoAContext
    control: Control
    entry: SoAEntry | None
    book: CitationBook = field(default_factory=CitationBook)
    sentences: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    soa_ref: str = ""  # " [n]" citing the control's SoA row, when the role may see it

    def register_ref(self) -> str:
        """Cite the risk register as a whole (for "no risk lists this control")."""
        register = self.ctx.register_source("risk_register")
        if not register or not self.ctx.source_visible(register):
            return ""
        n = self.book.cite_register(register, "Risk register",
                                    f"{len(self.ctx.knowledge.risks)} risks; none lists {self.control.id} among its controls")
        return f" [{n}]"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _quote(sentence: str) -> str:
    return sentence.rstrip(" .;:")


def _risk_details(r: RiskLink) -> str:
    return f"{r.risk_id} {r.title} ({', '.join(p for p in (r.level, r.treatment) if p)}) [{r.n}]"


def _search(ctx: SoAContext, control: Control) -> list[Chunk]:
    if ctx.search is None:
        return []
    query = " ".join([control.title, *control.aliases[:4]])
    return [c for c in ctx.search(query, 12) if ctx.visible(c)]


# ---------------------------------------------------------------------------------------------- evidence
def _risk_links(d: _Draft) -> list[RiskLink]:
    """Linked risks the clearance may see, highest score first, each citing its risk-register row."""
    ctx, entry = d.ctx, d.entry
    visible_risks: list[tuple[RiskRecord, Chunk]] = []
    for rid in linked_risk_ids(ctx, d.control.id):
        risk, chunk = ctx.knowledge.risks.get(rid), ctx.knowledge.risk_chunks.get(rid)
        if risk is None or chunk is None or not ctx.visible(chunk):
            if risk is None and entry and rid in entry.linked_risks:
                d.warnings.append(f"the SoA links {rid}, which is not in the risk register")
            continue
        visible_risks.append((risk, chunk))
    visible_risks.sort(key=lambda rc: -(rc[0].score or 0))
    risk_links: list[RiskLink] = []
    for risk, chunk in visible_risks:
        n = d.book.cite_chunk(chunk, "risk", risk_id=risk.risk_id)
        risk_links.append(RiskLink(risk.risk_id, risk.title, risk.level, risk.score, risk.treatment, risk.owner,
                                   risk.status, n))
    return risk_links


def _stated_reasons(entry: SoAEntry | None, drivers: list[Driver]) -> tuple[list[str], dict[str, str]]:
    """Reason codes stated in the SoA (its reasons column, then the drivers its justification states), and
    where each came from ("soa")."""
    reasons: list[str] = []
    origins: dict[str, str] = {}
    codes = [reason_code(raw) for raw in (entry.reasons if entry else [])] + [d.code for d in drivers]
    for code in codes:
        if code and code not in reasons:
            reasons.append(code)
            origins[code] = "soa"
    return reasons, origins


def _add_evidence_reasons(reasons: list[str], origins: dict[str, str], treating: list[RiskLink],
                          drivers: dict[str, tuple[Chunk, str]]) -> None:
    """Add the drivers the evidence shows (risk treatment, legal, contractual), in REASON_CODES order."""
    if treating and RISK_TREATMENT not in reasons:
        reasons.append(RISK_TREATMENT)
        origins[RISK_TREATMENT] = "evidence"
    for code in drivers:
        if code not in reasons:
            reasons.append(code)
            origins[code] = "evidence"
    reasons.sort(key=REASON_CODES.index)


def _document_links(d: _Draft, docs: list[DocumentEvidence]) -> list[DocumentLink]:
    """Every implementing document with its cited sections (cited after the sentences' quotes); a warning
    when the SoA marks the control implemented and there is none."""
    doc_links: list[DocumentLink] = []
    for doc in docs:
        nums = [d.book.cite_chunk(p.chunk, "section", quote=p.quote) for p in doc.picks]
        headings = list(dict.fromkeys(p.chunk.trail[-1] if p.chunk.trail else doc.title for p in doc.picks))
        doc_links.append(DocumentLink(
            doc.source, doc.title, headings, list(dict.fromkeys(nums)),
            doc.listed, str(d.ctx.files.get(doc.source, {}).get("classification", "")),
            str(d.ctx.files.get(doc.source, {}).get("review_date", "")), doc.how,
        ))
    status = d.entry.status if d.entry else ""
    if not docs and (status or "").lower().startswith(("implemented", "partially")):
        d.warnings.append("marked implemented but no implementing document was found")
    return doc_links


# ---------------------------------------------------------------------------------------------- sentences
def _applicability_sentence(d: _Draft, applicable: bool | None) -> None:
    """Sentence 1: applicability, status, owner."""
    control, entry = d.control, d.entry
    owner = entry.owner if entry else ""
    status = entry.status if entry else ""
    if entry is None:
        soa_source = d.ctx.register_source("soa")
        ref = ""
        if soa_source and d.ctx.source_visible(soa_source):
            summary = f"{len(d.ctx.knowledge.soa)} controls; {control.id} is not among them"
            ref = f" [{d.book.cite_register(soa_source, 'Statement of Applicability', summary)}]"
        first = f"{control.label} is not yet in the Statement of Applicability{ref}"
        first += "; the risks and documents below support including it" if applicable else ""
        d.sentences.append(first + ".")
    elif entry.applicable is False:
        d.sentences.append(f"{control.label} is excluded from the Statement of Applicability (not applicable)"
                           + (f", with {owner} as control owner" if owner else "") + f"{d.soa_ref}.")
    else:
        state = f" and {status.lower()}" if status else ""
        d.sentences.append(f"{control.label} is applicable{state}"
                           + (f", owned by the {owner}" if owner and not owner.lower().startswith("the ") else
                              f", owned by {owner}" if owner else "") + f"{d.soa_ref}.")


def _risk_sentence(d: _Draft, risk_links: list[RiskLink], treating: list[RiskLink], reasons: list[str],
                   quoted: bool = False) -> None:
    """Sentence 2 of an included control: the risks it treats, or why it is selected without one (`quoted`:
    the next sentence quotes the drivers the SoA states)."""
    cid = d.control.id
    if treating:
        named = [_risk_details(r) for r in treating[:MAX_RISKS_NAMED]]
        rest = [f"{r.risk_id} [{r.n}]" for r in treating[MAX_RISKS_NAMED:]]
        d.sentences.append(f"It treats {_join(named + rest)} from the risk register.")
    elif risk_links:
        d.sentences.append("It is linked to the accepted risk" + ("s " if len(risk_links) > 1 else " ")
                           + _join([f"{r.risk_id} {r.title} ({r.level or 'level not stated'}) [{r.n}]"
                                    for r in risk_links[:MAX_RISKS_NAMED]]) + ".")
    else:
        stated = [r for r in reasons if r != RISK_TREATMENT]
        reg_ref = d.register_ref()
        if stated and quoted and reg_ref:
            d.sentences.append(f"No risk in the risk register lists {cid}{reg_ref}.")
        elif stated:
            d.sentences.append(f"No risk in the risk register lists {cid}{reg_ref}; it is selected as "
                               f"{_join([r.lower() for r in stated])}{d.soa_ref or reg_ref}.")
        else:
            d.sentences.append(f"No risk in the risk register lists {cid} and the SoA states no other reason for "
                               f"selecting it{reg_ref}.")
            d.warnings.append("no linked risk and no stated driver: record why the control is applicable")


def _excluded_risk_sentence(d: _Draft, risk_links: list[RiskLink]) -> None:
    """Sentence 2 of an excluded control: risks that list it as a treatment control contradict the exclusion."""
    cid = d.control.id
    contradicting_risks = [r for r in risk_links if cid in d.ctx.knowledge.risks[r.risk_id].controls]
    if contradicting_risks:
        d.sentences.append("However, " + _join([_risk_details(r) for r in contradicting_risks[:MAX_RISKS_NAMED]])
                           + f" lists {cid} among its treatment controls, so the exclusion conflicts with the risk treatment.")
        d.warnings.append(f"risks list {cid} although it is excluded: " + ", ".join(r.risk_id for r in contradicting_risks))
    else:
        d.sentences.append(f"No risk in the risk register lists {cid} as a treatment control, so no assessed risk "
                           f"requires it{d.register_ref()}.")


def _quotable(d: _Draft, drivers: list[Driver]) -> bool:
    return bool(d.soa_ref) and any(x.code != RISK_TREATMENT for x in drivers)


def _stated_driver_sentence(d: _Draft, drivers: list[Driver]) -> None:
    """The drivers other than risk treatment that the SoA row states, quoted from it (up to two clauses)."""
    if not _quotable(d, drivers):
        return
    quotes: list[str] = []
    codes: list[str] = []
    for driver in drivers:
        if driver.code == RISK_TREATMENT:
            continue
        if driver.code not in codes:
            codes.append(driver.code)
        if driver.quote not in quotes and len(quotes) < 2:
            quotes.append(driver.quote)
    if quotes:
        label = _join([c.lower() for c in codes])
        d.sentences.append(f"The SoA states the {label} driver{'s' if len(codes) > 1 else ''}: "
                           + " and ".join(f"“{_quote(q)}”" for q in quotes) + f"{d.soa_ref}.")


def _document_sentences(d: _Draft, docs: list[DocumentEvidence]) -> None:
    """Sentences 3–4 of an included control: a quote from each of the first two documents with one; when none
    has a quotable sentence, the documents the SoA itself points to, by title."""
    quoted = [doc for doc in docs if doc.best.quote][:2]
    named = [doc for doc in docs if doc.listed]
    if not quoted and named:
        refs = [f"the {doc.title} [{d.book.cite_chunk(doc.best.chunk, 'section')}]" for doc in named[:2]]
        d.sentences.append(f"It is implemented under {_join(refs)}, as the SoA states{d.soa_ref}.")
    for doc in quoted:
        pick = doc.best
        n = d.book.cite_chunk(pick.chunk, "section", quote=pick.quote)
        where = pick.chunk.trail[-1] if pick.chunk.trail else ""
        d.sentences.append(f"The {doc.title}" + (f" ({where})" if where else "") + f" states: “{_quote(pick.quote)}” [{n}].")


def _driver_sentences(d: _Draft, drivers: dict[str, tuple[Chunk, str]]) -> None:
    """Legal and contractual drivers, quoted, while there is room for five sentences."""
    for code in (LEGAL, CONTRACTUAL):
        if code in drivers and len(d.sentences) < 5:
            chunk, sentence = drivers[code]
            if any(_quote(sentence) in s for s in d.sentences):
                continue
            n = d.book.cite_chunk(chunk, "section", quote=sentence)
            label = "Legal/regulatory driver" if code == LEGAL else "Contractual driver"
            d.sentences.append(f"{label}: “{_quote(sentence)}” [{n}].")


def _exclusion_sentences(d: _Draft, hits: list[Chunk]) -> None:
    """Sentences 3–5 of an excluded control: documents supporting the exclusion (or the SoA's reason), then
    one that describes the control in place."""
    entry = d.entry
    evidence = exclusion_evidence(d.ctx, d.control, entry, hits)
    for chunk, sentence in evidence.supporting[:2]:
        n = d.book.cite_chunk(chunk, "section", quote=sentence)
        where = chunk.trail[-1] if chunk.trail else ""
        d.sentences.append(f"The {chunk.title}" + (f" ({where})" if where else "") + f" states: “{_quote(sentence)}” [{n}].")
    if not evidence.supporting and entry and entry.justification:
        d.sentences.append(f"The SoA gives the reason: “{_quote(entry.justification)}”{d.soa_ref}.")
    for chunk, sentence in evidence.contradicting[:1]:
        n = d.book.cite_chunk(chunk, "section", quote=sentence)
        where = chunk.trail[-1] if chunk.trail else ""
        d.sentences.append(f"However, the {chunk.title}" + (f" ({where})" if where else "")
                           + f" describes it in place: “{_quote(sentence)}” [{n}].")
        d.warnings.append(f"the exclusion is contradicted by {chunk.source}")
    if entry and not entry.justification.strip():
        d.warnings.append("the SoA gives no justification for the exclusion")


# ---------------------------------------------------------------------------------------------- drafting
def draft_control(ctx: SoAContext, reference: str) -> SoADraft:
    """Draft the SoA entry of one control (2022 id, 2013 id, title or alias)."""
    control = ctx.catalogue.resolve(reference)
    cid = control.id
    entry = ctx.knowledge.soa.get(cid)
    d = _Draft(ctx, control, entry)
    hits = _search(ctx, control)
    soa_n = cite_soa_row(ctx, d.book, cid)
    d.soa_ref = f" [{soa_n}]" if soa_n else ""
    status = entry.status if entry else ""
    applicable = entry.applicable if entry else None

    risk_links = _risk_links(d)  # only rows the clearance may see
    treating = [r for r in risk_links if r.treatment != "Accept"]
    soa_drivers = ctx.stated_drivers(entry)
    reasons, origins = _stated_reasons(entry, soa_drivers)  # stated in the SoA, plus drivers the evidence shows
    docs: list[DocumentEvidence] = []
    drivers: dict[str, tuple[Chunk, str]] = {}
    if applicable is not False:
        docs = implementing_documents(ctx, control, entry, hits)
        drivers = driver_evidence(ctx, control, docs, hits)
        _add_evidence_reasons(reasons, origins, treating, drivers)
    if applicable is None and entry is None:
        applicable = True if (treating or docs) else None
        d.warnings.append(f"{cid} is not in the Statement of Applicability" +
                          ("; the evidence below supports including it" if applicable else ""))

    _applicability_sentence(d, applicable)
    doc_links: list[DocumentLink] = []
    if applicable is not False:
        _risk_sentence(d, risk_links, treating, reasons, _quotable(d, soa_drivers))
        _stated_driver_sentence(d, soa_drivers)
        _document_sentences(d, docs)
        _driver_sentences(d, {k: v for k, v in drivers.items() if k not in {x.code for x in soa_drivers}})
        doc_links = _document_links(d, docs)
    else:
        _excluded_risk_sentence(d, risk_links)
        _exclusion_sentences(d, hits)

    evidence_ids = [e.chunk_id or e.source for e in d.book.items] + [r.risk_id for r in risk_links]
    return SoADraft(
        control_id=cid, title=control.title, theme=control.theme, legacy_ids=list(control.legacy_ids),
        applicable=applicable, reasons=reasons, status=status or "Not stated", owner=entry.owner if entry else "",
        justification=" ".join(d.sentences[:5]), citations=d.book.items, risks=risk_links, documents=doc_links,
        provenance=Provenance(at=_now(), evidence_ids=list(dict.fromkeys(evidence_ids)), index_generation=ctx.generation),
        soa_justification=entry.justification if entry else "", reason_origins=origins, warnings=d.warnings,
    )


def require_registers(ctx: SoAContext) -> None:
    """Raise SoAAccessError when the SoA or risk register is classified above the context's clearance."""
    for kind in ("soa", "risk_register"):
        source = ctx.register_source(kind)
        if source is not None and not ctx.source_visible(source):
            raise SoAAccessError(f"{source} is classified above this role's clearance; SoA drafting and checks need it")


def draft_controls(ctx: SoAContext, references: Iterable[str] | None = None) -> list[SoADraft]:
    """Drafts for the given controls (all 93 when none are given). Unknown ids raise ValueError first."""
    require_registers(ctx)
    refs = list(references or [])
    controls = [ctx.catalogue.resolve(r).id for r in refs] if refs else list(ctx.catalogue.controls)
    return [draft_control(ctx, cid) for cid in dict.fromkeys(controls)]
