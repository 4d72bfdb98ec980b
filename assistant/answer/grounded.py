"""Grounded extractive composer (the default answerer; no LLM).

Picks the sentences and list items from the top passages that answer the question, keeps numbered
steps in document order, and composes a short answer in which every line is verbatim from the passage
it cites. Abstains, showing the closest documents, when the evidence is weak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from assistant.answer.types import Answer, Citation
from assistant.catalogue import Catalogue
from assistant.index.embedder import Embedder
from assistant.index.lexical import tokenize
from assistant.models import Chunk
from assistant.registers import RiskRecord
from assistant.retrieval.query import QueryAnalysis
from assistant.retrieval.search import Hit

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_LIST_MARK = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*+•]|[a-z][.)])\s+")
MAX_UNITS = 6
MAX_CHUNKS = 4


@dataclass
class Unit:
    text: str  # verbatim from the chunk
    chunk: Chunk
    hit_rank: int
    position: int  # order inside the chunk
    is_item: bool
    score: float = 0.0


@dataclass
class AbstainSignals:
    best_dense: float
    coverage: float
    confidence: float
    named_entity: bool


def evidence_signals(analysis: QueryAnalysis, hits: list[Hit]) -> AbstainSignals:
    top = hits[:3]
    best_dense = max((h.dense for h in top), default=0.0)
    words = set(analysis.content_tokens)
    seen: set[str] = set()
    for h in top:
        seen.update(tokenize(f"{h.chunk.title} {' '.join(h.chunk.trail)} {h.chunk.text}"))
    coverage = len(words & seen) / len(words) if words else 0.0
    named = bool(analysis.explicit_ids or analysis.risks)
    confidence = 0.6 * best_dense + 0.4 * coverage
    return AbstainSignals(best_dense=best_dense, coverage=coverage, confidence=confidence, named_entity=named)


def should_abstain(signals: AbstainSignals, threshold: float) -> bool:
    if signals.named_entity:
        return False  # a control or risk id the catalogue knows always has an answer (even "not in the SoA")
    return signals.confidence < threshold


def split_units(chunk: Chunk, hit_rank: int) -> list[Unit]:
    units: list[Unit] = []
    pos = 0
    for block in chunk.text.split("\n"):
        block = block.strip()
        if not block:
            continue
        if _LIST_MARK.match(block) or " | " in block or chunk.kind != "section":
            units.append(Unit(block, chunk, hit_rank, pos, True))
            pos += 1
            continue
        for sentence in _SENTENCE_SPLIT.split(block):
            sentence = sentence.strip()
            if len(sentence) >= 12:
                units.append(Unit(sentence, chunk, hit_rank, pos, False))
                pos += 1
    return units


def select_units(analysis: QueryAnalysis, hits: list[Hit], query_vector: np.ndarray,
                 embedder: Embedder | None) -> list[Unit]:
    units: list[Unit] = []
    for rank, hit in enumerate(hits[:MAX_CHUNKS]):
        units.extend(split_units(hit.chunk, rank))
    if not units:
        return []
    q_words = set(analysis.content_tokens)
    exp_words = set(tokenize(analysis.expanded)) - q_words
    sims = np.zeros(len(units), dtype=np.float32)
    if embedder is not None:
        vectors = embedder.encode([u.text[:500] for u in units])
        sims = vectors @ query_vector
    for i, unit in enumerate(units):
        words = set(tokenize(unit.text + " " + " ".join(unit.chunk.trail[-1:])))
        lex = (len(words & q_words) + 0.5 * len(words & exp_words)) / max(1.0, len(q_words) + 0.5 * len(exp_words))
        prior = 1.0 / (1 + unit.hit_rank)
        unit.score = 0.55 * float(sims[i]) + 0.30 * lex + 0.15 * prior
    best = max(u.score for u in units)
    chosen: list[Unit] = []
    chosen_words: list[set[str]] = []
    for unit in sorted(units, key=lambda u: u.score, reverse=True):
        if len(chosen) >= MAX_UNITS or unit.score < 0.7 * best:
            break
        words = set(tokenize(unit.text))
        if any(words and len(words & w) / len(words | w) > 0.6 for w in chosen_words):
            continue
        chosen.append(unit)
        chosen_words.append(words)
    # Keep numbered steps together: a chosen list item pulls in its chosen siblings' order (document order).
    order = {}
    for unit in chosen:
        order.setdefault(unit.chunk.id, min(u.score for u in chosen if u.chunk.id == unit.chunk.id))
    chunk_rank = {cid: i for i, cid in enumerate(dict.fromkeys(u.chunk.id for u in sorted(chosen, key=lambda u: -u.score)))}
    return sorted(chosen, key=lambda u: (chunk_rank[u.chunk.id], u.position))


def compose(
    analysis: QueryAnalysis,
    hits: list[Hit],
    query_vector: np.ndarray,
    embedder: Embedder | None,
    catalogue: Catalogue,
    linked_risks: list[tuple[RiskRecord, Chunk]],
    threshold: float,
) -> Answer:
    signals = evidence_signals(analysis, hits)
    if not hits or should_abstain(signals, threshold):
        return abstain(analysis, hits)
    units = select_units(analysis, hits, query_vector, embedder)
    if not units:
        return abstain(analysis, hits)
    citations: dict[str, Citation] = {}

    def cite(chunk: Chunk, score: float, quote: str) -> int:
        if chunk.id not in citations:
            citations[chunk.id] = Citation(
                n=len(citations) + 1, source=chunk.source, section=chunk.section, text=chunk.text,
                score=score, span=chunk.span, chunk_id=chunk.id,
            )
        citations[chunk.id].quotes.append(quote)
        return citations[chunk.id].n

    hit_scores = {h.chunk.id: h.score for h in hits}
    body: list[str] = []
    for unit in units:
        n = cite(unit.chunk, hit_scores.get(unit.chunk.id, 0.0), unit.text)
        text = _LIST_MARK.sub("", unit.text) if unit.is_item else unit.text
        body.append(f"- {text} [{n}]")
    lines: list[str] = []
    controls = [c for c in analysis.controls if c in catalogue]
    by_title: dict[str, list[int]] = {}
    for u in units:
        nums = by_title.setdefault(u.chunk.title, [])
        if citations[u.chunk.id].n not in nums:
            nums.append(citations[u.chunk.id].n)
    doc_titles = [f"{title} " + "".join(f"[{n}]" for n in nums) for title, nums in by_title.items()]
    lead = []
    if controls:
        lead.append("Control" + ("s" if len(controls) > 1 else "") + ": " +
                    ", ".join(catalogue.controls[c].label for c in controls[:4]))
    lead.append("Sources: " + "; ".join(doc_titles[:4]))
    lines.append(" · ".join(lead))
    lines.extend(body)
    risk_ids: list[str] = []
    if linked_risks:
        parts = []
        for risk, chunk in linked_risks[:3]:
            n = cite(chunk, 0.0, risk_text_quote(risk))
            level = f", {risk.level}" if risk.level else ""
            parts.append(f"{risk.risk_id} {risk.title}{level} [{n}]")
            risk_ids.append(risk.risk_id)
        lines.append("Linked risks (risk register): " + "; ".join(parts))
    return Answer(
        question=analysis.question, answer="\n".join(lines), abstained=False,
        citations=sorted(citations.values(), key=lambda c: c.n), controls=controls,
        risks=list(dict.fromkeys(risk_ids + [r for u in units for r in u.chunk.risks])),
        retrieved_sources=ranked_sources(list(citations.values()), hits),
    )


def risk_text_quote(risk: RiskRecord) -> str:
    return f"Risk {risk.risk_id}: {risk.title}." if risk.title else f"Risk {risk.risk_id}."


def ranked_sources(citations: list[Citation], hits: list[Hit]) -> list[str]:
    """Distinct cited sources in citation order, then the remaining retrieved sources."""
    order = [c.source for c in sorted(citations, key=lambda c: c.n)] + [h.chunk.source for h in hits]
    return list(dict.fromkeys(order))


def abstain(analysis: QueryAnalysis, hits: list[Hit]) -> Answer:
    closest = []
    for source in dict.fromkeys(h.chunk.source for h in hits[:6]):
        hit = next(h for h in hits if h.chunk.source == source)
        closest.append({"source": source, "title": hit.chunk.title, "section": hit.chunk.section})
        if len(closest) == 3:
            break
    text = "The documents available to you don't cover this, so I can't answer it from the ISMS."
    if closest:
        text += " The closest documents are: " + "; ".join(f"{c['title']} ({c['source']})" for c in closest) + "."
    return Answer(
        question=analysis.question, answer=text, abstained=True, closest=closest,
        controls=list(analysis.controls), retrieved_sources=ranked_sources([], hits),
    )
