"""Grounded extractive composer (the default answerer; no LLM).

Picks the sentences and list items from the top passages that answer the question, keeps numbered
steps in document order, and composes a short answer in which every line is verbatim from the passage
it cites. Abstains, showing the closest documents, when the evidence is weak.
"""

from __future__ import annotations

import difflib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.answer.types import Answer, Citation
from assistant.answer.units import Unit, split_units
from assistant.catalogue import Catalogue
from assistant.index.encoders import QueryEncoder
from assistant.index.sentences import UNIT_EMBED_CHARS, SentenceVectors
from assistant.models import Chunk
from assistant.registers import RiskRecord
from assistant.retrieval.query import QueryAnalysis
from assistant.retrieval.search import Hit
from assistant.text import LIST_MARK, token_set, tokenize

MAX_UNITS = 6
MAX_CHUNKS = 4


# Words that say nothing about the topic of a question (kept out of the coverage and vocabulary signals).
FILLER = frozenset(
    """many much often long need get use way want know tell someone thing anyone anything everyone actually
    really still nowaday nowadays anyway ok okay please thanks hi hello whats what's exactly currently day
    happen happens make sure able allowed""".split()
)


@dataclass
class AbstainSignals:
    best_dense: float  # best cosine similarity between the question and a top passage
    best_sentence: float  # best cosine similarity between the question and one sentence of the top passages
    coverage: float  # idf-weighted share of the question's words found in the top passages (typos forgiven)
    named_entity: bool  # the question names a control or risk id the catalogue / register knows
    missing_words: list[str]

    def abstain_probability(self, weights: list[float]) -> float:
        """Logistic model over the three signals; weights = [bias, dense, sentence, coverage], fitted on dev."""
        bias, w_dense, w_sentence, w_cov = weights
        z = bias + w_dense * self.best_dense + w_sentence * self.best_sentence + w_cov * self.coverage
        return 1.0 / (1.0 + math.exp(-z))


def _closest_known(word: str, df: dict[str, int]) -> str:
    if word in df:
        return word
    candidates = [v for v in df if v[:1] == word[:1] and abs(len(v) - len(word)) <= 2]
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.8)
    return match[0] if match else word


def weighted_coverage(words: list[str], passages_tokens: set[str], df: dict[str, int], n: int) -> tuple[float, list[str]]:
    """Idf-weighted share of `words` present in the passages: a rare word missing counts most."""
    num = den = 0.0
    missing: list[str] = []
    for word in words:
        key = _closest_known(word, df)
        freq = df.get(key, 0)
        idf = math.log(1 + (n - freq + 0.5) / (freq + 0.5))
        den += idf
        if key in passages_tokens:
            num += idf
        else:
            missing.append(word)
    return (num / den if den else 0.0), missing


def evidence_signals(analysis: QueryAnalysis, hits: list[Hit], sentence_sims: np.ndarray | None,
                     frequencies: tuple[dict[str, int], int] | None) -> AbstainSignals:
    top = hits[:3]
    best_dense = max((h.dense for h in top), default=0.0)
    best_sentence = float(np.max(sentence_sims)) if sentence_sims is not None and len(sentence_sims) else 0.0
    words = [w for w in analysis.content_tokens if w not in FILLER]
    seen: set[str] = set()
    for h in top:
        seen.update(token_set(f"{h.chunk.title} {' '.join(h.chunk.trail)} {h.chunk.text}"))
    df, n = frequencies or ({}, 1)
    coverage, missing = weighted_coverage(words, seen, df, n)
    named = bool(analysis.explicit_ids or analysis.risks)
    return AbstainSignals(best_dense, best_sentence, coverage, named, missing)


def should_abstain(signals: AbstainSignals, weights: list[float]) -> bool:
    if signals.named_entity:
        return False  # a control or risk id the catalogue knows always has an answer (even "not in the SoA")
    return signals.abstain_probability(weights) >= 0.5


class UnitVectors:
    """Sentence vectors per chunk: read from the generation's ``sentences.npz`` (written by the ingest),
    else embedded on demand and kept in an LRU cache by chunk id (ids embed the document hash: never stale)."""

    RECHECK_SECONDS = 2.0  # the ingest writes the file just after the generation goes live

    def __init__(self, embedder: QueryEncoder, folder: Path | None = None, max_chunks: int = 2048) -> None:
        self.embedder = embedder
        self.folder = folder
        self._stored: SentenceVectors | None = None
        self._next_check = 0.0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._max = max_chunks
        self._lock = threading.Lock()

    def stored(self) -> SentenceVectors | None:
        with self._lock:
            if self._stored is None and self.folder is not None and time.monotonic() >= self._next_check:
                self._next_check = time.monotonic() + self.RECHECK_SECONDS
                self._stored = SentenceVectors.load(self.folder)
            return self._stored

    def for_units(self, units: list[Unit]) -> np.ndarray:
        """Vectors of `units`, which hold all units of each of their chunks (as candidate_units gives)."""
        by_chunk: dict[str, list[int]] = {}
        for i, unit in enumerate(units):
            by_chunk.setdefault(unit.chunk.id, []).append(i)
        stored = self.stored()
        found: dict[str, np.ndarray] = {}
        if stored is not None:
            for cid, rows in by_chunk.items():
                vectors = stored.by_id.get(cid)
                if vectors is not None and len(vectors) == len(rows):
                    found[cid] = vectors
        with self._lock:
            for cid in by_chunk:
                if cid not in found and cid in self._cache:
                    found[cid] = self._cache[cid]
        missing = [cid for cid in by_chunk if cid not in found]
        if missing:
            texts = [units[i].text[:UNIT_EMBED_CHARS] for cid in missing for i in by_chunk[cid]]
            vectors = self.embedder.encode(texts)
            offset = 0
            with self._lock:
                for cid in missing:
                    count = len(by_chunk[cid])
                    found[cid] = self._cache[cid] = vectors[offset:offset + count]
                    offset += count
                while len(self._cache) > self._max:
                    self._cache.popitem(last=False)
        out = np.zeros((len(units), 0), dtype=np.float32)
        if by_chunk:
            stacked = np.concatenate([found[cid] for cid in by_chunk]).astype(np.float32)
            order = [i for cid in by_chunk for i in by_chunk[cid]]
            out = np.empty_like(stacked)
            out[order] = stacked
        return out


def candidate_units(hits: list[Hit]) -> list[Unit]:
    units: list[Unit] = []
    for rank, hit in enumerate(hits[:MAX_CHUNKS]):
        units.extend(split_units(hit.chunk, rank))
    return units


def select_units(analysis: QueryAnalysis, units: list[Unit], sims: np.ndarray) -> list[Unit]:
    if not units:
        return []
    q_words = set(analysis.content_tokens)
    exp_words = set(tokenize(analysis.expanded)) - q_words
    for i, unit in enumerate(units):
        words = token_set(unit.text + " " + " ".join(unit.chunk.trail[-1:]))
        lex = (len(words & q_words) + 0.5 * len(words & exp_words)) / max(1.0, len(q_words) + 0.5 * len(exp_words))
        prior = 1.0 / (1 + unit.hit_rank)
        unit.score = 0.55 * float(sims[i]) + 0.30 * lex + 0.15 * prior
    best = max(u.score for u in units)
    chosen: list[Unit] = []
    chosen_words: list[frozenset[str]] = []
    for unit in sorted(units, key=lambda u: u.score, reverse=True):
        if len(chosen) >= MAX_UNITS or unit.score < 0.7 * best:
            break
        words = token_set(unit.text)
        if any(words and len(words & w) / len(words | w) > 0.6 for w in chosen_words):
            continue
        chosen.append(unit)
        chosen_words.append(words)
    # Passages in order of their best sentence; inside a passage, document order (numbered steps stay in order).
    chunk_rank = {cid: i for i, cid in enumerate(dict.fromkeys(u.chunk.id for u in chosen))}
    return sorted(chosen, key=lambda u: (chunk_rank[u.chunk.id], u.position))


def compose(
    analysis: QueryAnalysis,
    hits: list[Hit],
    query_vector: np.ndarray,
    unit_vectors: UnitVectors | None,
    catalogue: Catalogue,
    linked_risks: list[tuple[RiskRecord, Chunk]],
    abstain_weights: list[float],
    frequencies: tuple[dict[str, int], int] | None = None,
) -> Answer:
    units = candidate_units(hits)
    sims = np.zeros(len(units), dtype=np.float32)
    if units and unit_vectors is not None:
        sims = unit_vectors.for_units(units) @ query_vector
    signals = evidence_signals(analysis, hits, sims, frequencies)
    if not units or should_abstain(signals, abstain_weights):
        return abstain(analysis, hits)
    units = select_units(analysis, units, sims)
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
        text = LIST_MARK.sub("", unit.text) if unit.is_item else unit.text
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
