"""Evidence selection for SoA drafting and checks, within the context's clearance: numbered citations
(`CitationBook`), the control's SoA row and linked risks, the documents that implement it and their
best quotable sentence, legal / contractual drivers, and, for an excluded control, the sentences that
support or contradict the exclusion."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.catalogue import Control
from assistant.models import Chunk
from assistant.registers import SoAEntry, soa_text
from assistant.soa.context import SoAContext
from assistant.soa.sentences import explicit_id, is_negated, mentions, meta_penalty, token_set, units
from assistant.soa.types import CONTRACTUAL, LEGAL, Evidence

# Sentences that state a legal or contractual driver.
_LEGAL_CUE = re.compile(
    r"\b(UK GDPR|EU GDPR|GDPR|Data Protection Act|regulat\w*|statutory|legislation|law|legal requirement\w*|ICO)\b"
)
_CONTRACT_CUE = re.compile(r"\b(contract(?!or)\w*|customer agreement\w*|data processing agreement\w*|DPA)\b", re.I)
_GENERIC_HEADING = re.compile(r"^\s*[\d.]*\s*(purpose|scope|document control|references|related documents|"
                              r"review|definitions|introduction|change history)\b", re.I)

MAX_DOCUMENTS = 5
MAX_UNLISTED = 2  # documents the SoA does not list, found by retrieval and metadata
MIN_QUOTE_RELEVANCE = 2.0  # a quoted sentence shares at least ~2 typical words with the control and SoA text
# The last way an auditor finds an implementing document: search the documents for the control's subject.
# A passage this similar (dense cosine, control name + aliases) is about the control: on both sample
# organizations 90 % of such top passages lie in a document the SoA itself lists, and the controls no
# document covers score at most 0.40 (8.11 Data masking 0.40 and 0.35, 8.22 Segregation of networks 0.07).
RETRIEVED_LINK_MIN = 0.5


class CitationBook:
    """Numbers evidence in order of first use; one number per chunk (or register)."""

    def __init__(self) -> None:
        self.items: list[Evidence] = []
        self._by_key: dict[str, Evidence] = {}

    def cite_chunk(self, chunk: Chunk, kind: str, quote: str = "", risk_id: str = "", text: str | None = None) -> int:
        key = chunk.id
        if key in self._by_key:
            ev = self._by_key[key]
            if quote and not ev.quote:
                ev.quote = quote
            return ev.n
        ev = Evidence(n=len(self.items) + 1, kind=kind, source=chunk.source, section=chunk.section,
                      text=chunk.text if text is None else text, span=chunk.span, chunk_id=chunk.id, risk_id=risk_id,
                      quote=quote)
        self.items.append(ev)
        self._by_key[key] = ev
        return ev.n

    def cite_register(self, source: str, title: str, summary: str) -> int:
        key = f"register:{source}:{title}"
        if key in self._by_key:
            return self._by_key[key].n
        ev = Evidence(n=len(self.items) + 1, kind="register", source=source, section=title, text=summary)
        self.items.append(ev)
        self._by_key[key] = ev
        return ev.n


@dataclass
class SectionPick:
    chunk: Chunk
    score: float
    quote: str


@dataclass
class DocumentEvidence:
    source: str
    title: str
    listed: bool
    picks: list[SectionPick]
    how: str = ""  # how the document was linked to the control

    @property
    def best(self) -> SectionPick:
        return self.picks[0]


def cite_soa_row(ctx: SoAContext, book: CitationBook, control_id: str) -> int | None:
    """Cite the control's SoA row, its text without documents above the clearance (never named)."""
    entry, chunk = ctx.knowledge.soa.get(control_id), ctx.knowledge.soa_chunks.get(control_id)
    if entry is None or chunk is None or not ctx.visible(chunk):
        return None
    shown = [d for d in entry.documents if ctx.source_visible(ctx.resolve_document(d) or "")]
    return book.cite_chunk(chunk, "soa", text=soa_text(entry.model_copy(update={"documents": shown})))


def linked_risk_ids(ctx: SoAContext, control_id: str) -> list[str]:
    """SoA "Linked Risks" first, then every risk-register row listing the control."""
    entry = ctx.knowledge.soa.get(control_id)
    ids = list(entry.linked_risks) if entry else []
    for rid in ctx.knowledge.risks_by_control.get(control_id, []):
        if rid not in ids:
            ids.append(rid)
    return ids


def sentence_score(ctx: SoAContext, sentence: str, control: Control, query: set[str]) -> float:
    """How well one sentence evidences the control: rare words shared with the control's names and the SoA
    justification (IDF-weighted, length-normalised), naming the control, not boilerplate about the document."""
    toks = token_set(sentence)
    if not toks or not 30 <= len(sentence) <= 400 or len(sentence.split()) < 7 or sentence.endswith(":"):
        return -9.0
    score = ctx.weight(toks & query) / (3.0 * (len(toks) ** 0.5 + 1.0))  # ~3 = a typical word's IDF
    score += 0.5 if mentions(sentence, control) else 0.0
    score += 0.2 if 40 <= len(sentence) <= 260 else -0.3 if len(sentence) > 260 else 0.0
    score -= 0.6 if " | " in sentence else 0.0
    return score - meta_penalty(sentence)


def relevance(ctx: SoAContext, sentence: str, control: Control, query: set[str]) -> float:
    """Roughly how many typical words the sentence shares with the query (a sentence naming the control
    counts as relevant)."""
    return 9.0 if mentions(sentence, control) else ctx.weight(token_set(sentence) & query) / 3.0


def best_sentence(ctx: SoAContext, chunks: list[tuple[float, Chunk]], control: Control,
                  query: set[str]) -> tuple[Chunk, str] | None:
    """The best quotable sentence across a document's top sections (section score counts a little)."""
    best: tuple[float, Chunk, str] | None = None
    for section_score, chunk in chunks:
        for sentence in units(chunk):
            score = sentence_score(ctx, sentence, control, query) + 0.25 * section_score
            if not chunk.trail or _GENERIC_HEADING.match(chunk.trail[-1]):
                score -= 0.5
            if best is None or score > best[0]:
                best = (score, chunk, sentence)
    return (best[1], best[2]) if best else None


def listed_links(ctx: SoAContext, entry: SoAEntry | None) -> dict[str, str]:
    """Documents the SoA row itself points to, visible to the clearance → how: its documents/reference column
    (a path, title or document id resolved through the document's own id or the document register) and the
    documents its justification names by title."""
    links: dict[str, str] = {}
    for name in entry.documents if entry else []:
        source = ctx.resolve_document(name)
        if not source or source in links or not ctx.source_visible(source):
            continue
        found = ctx.document_id(name)
        if found is None or found.source != source:
            links[source] = "listed in the SoA"
        elif found.how == "document":
            links[source] = f"SoA reference {found.doc_id}, the document's own id"
        else:
            links[source] = f"SoA reference {found.doc_id}, resolved through the document register ({found.title})"
    for source in ctx.named_documents(entry.justification if entry else ""):
        if source not in links and ctx.source_visible(source):
            links[source] = "named in the SoA justification"
    return links


def _candidate_sources(ctx: SoAContext, control: Control, listed_sources: list[str], hits: list[Chunk]) -> list[str]:
    """Listed documents first, then retrieved and indexed sections whose metadata name the control."""
    candidate_sources = list(listed_sources)
    for chunk in hits:
        if chunk.kind == "section" and (control.id in chunk.controls or control.id in chunk.doc_controls):
            candidate_sources.append(chunk.source)
    for chunk in ctx.chunks:
        if chunk.kind == "section" and ctx.visible(chunk) and control.id in chunk.controls and (
            control.id in chunk.doc_controls or explicit_id(" ".join(chunk.trail) + " " + chunk.text, control)
        ):
            candidate_sources.append(chunk.source)
    return list(dict.fromkeys(candidate_sources))


def _scored_sections(ctx: SoAContext, control: Control, source: str, name_tokens: set[str], just_tokens: set[str],
                     hit_rank: dict[str, int]) -> list[tuple[float, Chunk]]:
    """The document's visible sections, best first, scored by how clearly they are about the control."""
    scored: list[tuple[float, Chunk]] = []
    for chunk in ctx.sections(source):
        if not ctx.visible(chunk):
            continue
        toks = ctx.tokens(chunk)
        score = 0.0
        if control.id in chunk.controls:
            score += 3.0 if explicit_id(" ".join(chunk.trail) + "\n" + chunk.text, control) else 1.5
        if control.id in chunk.doc_controls:
            score += 1.0
        if chunk.id in hit_rank:
            score += 0.75 / (1 + hit_rank[chunk.id])
        score += 2.0 * ctx.overlap(name_tokens, toks) + 3.0 * ctx.overlap(just_tokens, toks)
        if not chunk.trail or _GENERIC_HEADING.match(chunk.trail[-1]):
            score -= 1.0  # document control tables, purpose and scope lines
        scored.append((score, chunk))
    scored.sort(key=lambda sc: -sc[0])
    return scored


def _document_evidence(ctx: SoAContext, control: Control, source: str, listed: bool,
                       scored: list[tuple[float, Chunk]], query: set[str]) -> DocumentEvidence | None:
    """The document's best quotable sentence and up to one more section, or None when it is not clearly
    about the control."""
    if not scored:
        return None
    top_score = scored[0][0]
    if not listed and top_score < 3.0:
        return None  # a document the SoA does not list must clearly be about the control
    top_sections = [(sc, c) for sc, c in scored[:3] if sc >= 0.6 * top_score]
    found = best_sentence(ctx, top_sections, control, query)
    if found is None:
        return None
    chunk, quote = found
    if relevance(ctx, quote, control, query) < MIN_QUOTE_RELEVANCE:
        quote = ""  # nothing in the document says it well enough to quote; it is still listed
    picks = [SectionPick(chunk, dict((c.id, sc) for sc, c in scored)[chunk.id], quote)]
    for sc, other in top_sections:
        if len(picks) < 2 and other.id != chunk.id and other.trail != chunk.trail:
            picks.append(SectionPick(other, sc, ""))
    return DocumentEvidence(source, ctx.title_of(source), listed, picks)


def _how_found(ctx: SoAContext, control: Control, source: str, hit_ids: set[str]) -> str:
    """Why a document the SoA does not point to was linked: it cites the control, or retrieval found it."""
    for chunk in ctx.sections(source):
        if control.id in chunk.doc_controls:
            return f"declares {control.id} in its metadata"
        if control.id in chunk.controls and explicit_id(" ".join(chunk.trail) + " " + chunk.text, control):
            return f"cites {control.id} ({chunk.trail[-1] if chunk.trail else chunk.title})"
    if any(c.id in hit_ids for c in ctx.sections(source)):
        return "retrieved for the control's name"
    return "names the control"


def retrieved_passage(ctx: SoAContext, control: Control) -> tuple[Chunk, float] | None:
    """The best passage of a document (not a register row) that a dense search for the control's name finds,
    if it is similar enough to be about the control; None otherwise or without a search."""
    if ctx.passages is None:
        return None
    query = " ".join([control.title, *control.aliases[:4]])
    for chunk, similarity in ctx.passages(query, 5):
        if chunk.kind == "section" and ctx.visible(chunk):
            return (chunk, similarity) if similarity >= RETRIEVED_LINK_MIN else None
    return None


def _retrieved_document(ctx: SoAContext, control: Control, query: set[str]) -> DocumentEvidence | None:
    """A document found only by searching for the control, with the passage and similarity that link it."""
    found = retrieved_passage(ctx, control)
    if found is None:
        return None
    chunk, similarity = found
    best = best_sentence(ctx, [(1.0, chunk)], control, query)
    quote = best[1] if best and relevance(ctx, best[1], control, query) >= MIN_QUOTE_RELEVANCE else ""
    where = chunk.trail[-1] if chunk.trail else chunk.title
    return DocumentEvidence(chunk.source, ctx.title_of(chunk.source), False, [SectionPick(chunk, similarity, quote)],
                            f"best passage a search for the control finds ({where}, similarity {similarity:.2f}); "
                            "the SoA does not name it")


def implementing_documents(ctx: SoAContext, control: Control, entry: SoAEntry | None,
                           hits: list[Chunk]) -> list[DocumentEvidence]:
    """Documents (and their best sections) that implement the control, visible to the clearance."""
    links = listed_links(ctx, entry)
    listed_sources = list(links)
    name_tokens = token_set(" ".join([control.title, *control.aliases]))
    just_tokens = token_set(entry.justification) if entry else set()
    hit_rank = {c.id: i for i, c in enumerate(hits)}
    docs: list[DocumentEvidence] = []
    for source in _candidate_sources(ctx, control, listed_sources, hits):
        scored = _scored_sections(ctx, control, source, name_tokens, just_tokens, hit_rank)
        doc = _document_evidence(ctx, control, source, source in listed_sources, scored, name_tokens | just_tokens)
        if doc is not None:
            doc.how = links.get(source) or _how_found(ctx, control, source, set(hit_rank))
            docs.append(doc)
    if not docs and entry is not None and entry.applicable is not False:
        retrieved = _retrieved_document(ctx, control, name_tokens | just_tokens)
        docs = [retrieved] if retrieved else []
    docs.sort(key=lambda d: (not d.listed, -d.best.score))
    listed_docs = [d for d in docs if d.listed]
    others = [d for d in docs if not d.listed][: MAX_UNLISTED if listed_docs else MAX_UNLISTED + 1]
    return (listed_docs + others)[:MAX_DOCUMENTS]


def driver_evidence(ctx: SoAContext, control: Control, docs: list[DocumentEvidence],
                    hits: list[Chunk]) -> dict[str, tuple[Chunk, str]]:
    """Legal / contractual drivers stated in the sections that are about the control."""
    found: dict[str, tuple[Chunk, str]] = {}
    chunks = [p.chunk for d in docs for p in d.picks]
    chunks += [c for c in hits[:6] if c.kind == "section" and ctx.visible(c) and control.id in c.controls]
    for chunk in chunks:
        for sentence in units(chunk):
            if (len(sentence) > 400 or len(sentence.split()) < 7 or " | " in sentence or meta_penalty(sentence)
                    or not mentions(sentence, control)):
                continue  # a driver must be a real sentence that names the control
            if LEGAL not in found and _LEGAL_CUE.search(sentence):
                found[LEGAL] = (chunk, sentence)
            if CONTRACTUAL not in found and _CONTRACT_CUE.search(sentence):
                found[CONTRACTUAL] = (chunk, sentence)
    return found


@dataclass
class ExclusionEvidence:
    supporting: list[tuple[Chunk, str]]  # sections that say the control does not apply
    contradicting: list[tuple[Chunk, str]]  # sections that describe the control in place


def exclusion_evidence(ctx: SoAContext, control: Control, entry: SoAEntry | None,
                       hits: list[Chunk] | None = None) -> ExclusionEvidence:
    """For an excluded control: document sentences naming it, split into negated (support) and affirmative."""
    listed = {ctx.resolve_document(d) for d in (entry.documents if entry else [])}
    supporting: list[tuple[Chunk, str]] = []
    contradicting: list[tuple[Chunk, str]] = []
    seen: set[str] = set()
    candidates = [c for c in ctx.chunks if c.kind == "section" and control.id in c.controls]
    candidates += [c for c in hits or [] if c.kind == "section"]
    for chunk in candidates:
        if chunk.id in seen or not ctx.visible(chunk):
            continue
        seen.add(chunk.id)
        heading_names_it = mentions(chunk.trail[-1] if chunk.trail else "", control)
        body = units(chunk)
        affirmative = [s for s in body if mentions(s, control) and not is_negated(s)]
        negated = [s for s in body if mentions(s, control) and is_negated(s)]
        if affirmative and (heading_names_it or len(affirmative) > len(negated)):
            contradicting.append((chunk, affirmative[0]))
        elif negated:
            supporting.append((chunk, negated[0]))
        elif heading_names_it and body:
            negated_body = [s for s in body if is_negated(s)]
            if negated_body:
                supporting.append((chunk, negated_body[0]))
            else:
                contradicting.append((chunk, body[0]))
    # documents the SoA cites for the exclusion first; sections whose heading or text gives the id first
    supporting.sort(key=lambda cs: (cs[0].source not in listed, not explicit_id(cs[0].text, control)))
    contradicting.sort(key=lambda cs: (not explicit_id(" ".join(cs[0].trail), control),
                                       not explicit_id(cs[0].text, control)))
    return ExclusionEvidence(supporting, contradicting)

