"""Hybrid retrieval: dense (Chroma) + lexical (BM25) fused by reciprocal rank fusion, control-aware.

The clearance filter is applied inside both retrievers, before anything leaves them: dense hits are
filtered on the chunk's own classification (with Chroma's `where` as the fallback; `DenseSearch` in
assistant/index/collection.py), lexical hits come from a per-clearance BM25 index.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

from assistant.config import Settings
from assistant.index.collection import DenseSearch
from assistant.index.encoders import QueryEncoder
from assistant.index.lexical import LexicalIndex
from assistant.models import Chunk
from assistant.retrieval.query import QueryAnalysis
from assistant.text import token_set


@dataclass
class Hit:
    chunk: Chunk
    score: float  # fused score
    dense: float = 0.0  # cosine similarity (0 when not retrieved densely)
    lexical: float = 0.0  # BM25 score (0 when not retrieved lexically)
    dense_rank: int | None = None
    lexical_rank: int | None = None


@dataclass
class SearchResult:
    hits: list[Hit]
    query_vector: np.ndarray
    timings_ms: dict[str, float] = field(default_factory=dict)
    # how far the best dense passage stands above the median of the dense candidates: a question the
    # documents answer has a few passages clearly closer than the rest, whatever the corpus's cosine scale
    dense_peak: float = 0.0
    # the best fused (reciprocal-rank) score before any boost, as a share of its maximum: 1.0 when the dense and
    # the lexical search both rank the same passage first; off-topic questions rarely get that agreement
    rank_agreement: float = 0.0
    # distinct documents of every fused candidate in rank order (not only the top_k passages): the documents
    # related to the question, cited or not
    documents: list[str] = field(default_factory=list)


# the fields of a document control table ("Owner | …", "Next review: …"), one per line
RECORD_FIELD = re.compile(r"^\W*(?:document id|owner|version|approved by|date approved|next review|review date|"
                          r"last reviewed|classification)\W*\s*[|:]", re.I | re.M)
RELATED_DOCUMENTS = 10  # distinct documents kept from the fused candidates (SearchResult.documents)


class HybridRetriever:
    """Dense and lexical hits within one clearance, fused by reciprocal rank; asked-for controls and risks
    boosted; near-duplicates collapsed."""

    def __init__(self, dense: DenseSearch, lexical: LexicalIndex, embedder: QueryEncoder, settings: Settings) -> None:
        self.dense = dense
        self.lexical = lexical
        self.embedder = embedder
        self.settings = settings

    def search(self, analysis: QueryAnalysis, max_rank: int, top_k: int | None = None,
               mode: str = "hybrid") -> SearchResult:
        s = self.settings
        top_k = top_k or s.top_k
        timings: dict[str, float] = {}
        t = time.perf_counter()
        vector = self.embedder.encode_query(analysis.expanded)
        timings["embed"] = (time.perf_counter() - t) * 1000
        hits: dict[str, Hit] = {}
        dense_sims: list[float] = []
        if mode in ("hybrid", "dense"):
            t = time.perf_counter()
            for rank, (chunk, sim) in enumerate(self.dense.visible_neighbours(vector, max_rank, s.dense_k)):
                dense_sims.append(sim)
                hit = hits.setdefault(chunk.id, Hit(chunk, 0.0))
                hit.dense, hit.dense_rank = sim, rank
                hit.score += 1.0 / (s.rrf_k + rank + 1)
            timings["dense"] = (time.perf_counter() - t) * 1000
        if mode in ("hybrid", "lexical"):
            t = time.perf_counter()
            for rank, (chunk, score) in enumerate(self.lexical.search(analysis.expanded, max_rank, s.lexical_k)):
                hit = hits.setdefault(chunk.id, Hit(chunk, 0.0))
                hit.lexical, hit.lexical_rank = score, rank
                hit.score += 1.0 / (s.rrf_k + rank + 1)
            timings["lexical"] = (time.perf_counter() - t) * 1000
        agreement = max((h.score for h in hits.values()), default=0.0) * (s.rrf_k + 1) / 2
        t = time.perf_counter()
        if analysis.explicit_ids and mode == "hybrid":
            # only controls asked for by id: a catalogue name or alias in the question ("encryption") is a
            # soft query expansion, never a boost for whatever passage mentions that control
            wanted = set(analysis.explicit_ids)
            unit = s.control_boost / (s.rrf_k + 1)
            for hit in hits.values():
                if wanted & set(hit.chunk.controls):
                    hit.score += unit
                elif wanted & set(hit.chunk.doc_controls):
                    hit.score += unit / 2
        if analysis.documents and mode == "hybrid" and not analysis.about_registers:
            implementing = set(analysis.documents)
            for hit in hits.values():
                if hit.chunk.source in implementing and hit.chunk.kind not in ("soa", "risk", "row"):
                    hit.score += s.control_boost / (s.rrf_k + 1)
        if analysis.risks and mode == "hybrid":
            wanted_risks = set(analysis.risks)
            for hit in hits.values():
                if wanted_risks & set(hit.chunk.risks):
                    hit.score += s.control_boost / (s.rrf_k + 1)
        if analysis.about_document_record and mode == "hybrid":  # "when is the X policy due for review?"
            for hit in hits.values():
                if is_document_record(hit.chunk):
                    hit.score += s.control_boost / (s.rrf_k + 1)
        ranked = sorted(hits.values(), key=lambda h: h.score, reverse=True)
        documents = list(dict.fromkeys(h.chunk.source for h in ranked))[:RELATED_DOCUMENTS]
        result = collapse_near_duplicates(ranked, limit=top_k)
        timings["fusion"] = (time.perf_counter() - t) * 1000
        peak = float(dense_sims[0] - np.median(dense_sims)) if dense_sims else 0.0
        return SearchResult(hits=result, query_vector=vector, timings_ms=timings, dense_peak=peak,
                            rank_agreement=agreement, documents=documents)


def is_document_record(chunk: Chunk) -> bool:
    """A document register row, or a document's control table (owner, version, next review …)."""
    return chunk.register_kind == "document_register" or len(RECORD_FIELD.findall(chunk.text)) >= 2


def collapse_near_duplicates(hits: list[Hit], threshold: float = 0.9, limit: int | None = None) -> list[Hit]:
    """Drop hits whose text nearly repeats a better-ranked hit (copied boilerplate, duplicated files).
    Stops once `limit` hits are kept (the same result as slicing afterwards, without the extra work)."""
    kept: list[Hit] = []
    kept_sets: list[frozenset[str]] = []
    seen_hashes: set[str] = set()
    for hit in hits:
        if limit is not None and len(kept) >= limit:
            break
        if hit.chunk.text_hash in seen_hashes:
            continue
        tokens = token_set(hit.chunk.text)
        duplicate = False
        for other in kept_sets:
            if tokens and other and len(tokens & other) / len(tokens | other) >= threshold:
                duplicate = True
                break
        if duplicate:
            continue
        kept.append(hit)
        kept_sets.append(tokens)
        seen_hashes.add(hit.chunk.text_hash)
    return kept
