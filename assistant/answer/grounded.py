"""Grounded extractive composer (the default answerer; no LLM).

Picks the sentences and list items from the top passages that answer the question, keeps numbered
steps in document order, and composes a short answer in which every line is verbatim from the passage
it cites. Abstains, showing the closest documents, when the evidence is weak.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.answer.asks import Ask, detect_asks, question_parts, states_amount_of, values
from assistant.answer.identity import IdentityAsk, identity_ask
from assistant.answer.lists import FOLLOWER_BUDGET, MAX_FOLLOWERS, items_beyond
from assistant.answer.selection import (
    VALUE_KINDS,
    Line,
    Selection,
    disagreement_text,
    is_control_question,
    select,
)
from assistant.answer.types import Answer, Citation
from assistant.answer.units import Unit, split_units
from assistant.catalogue import Catalogue
from assistant.index.encoders import QueryEncoder
from assistant.index.sentences import UNIT_EMBED_CHARS, SentenceVectors
from assistant.models import Chunk
from assistant.registers import RiskRecord
from assistant.retrieval.query import QueryAnalysis
from assistant.retrieval.search import Hit
from assistant.text import CHAT_WORDS, LIST_MARK, token_set, tokenize

MAX_CHUNKS = 4


# Words that say nothing about the topic of a question (kept out of the coverage and vocabulary signals).
FILLER = frozenset(
    """many much often long need get use way want know tell someone thing anyone anything everyone
    really still nowaday nowadays anyway thanks hi hello whats what's currently day
    happen happens make sure able allowed""".split()
    + sorted(CHAT_WORDS)
    # what is left of a contraction ("I'm", "we're", "don't") once the apostrophe splits it
    + "s m re ve ll d t don".split()
)
FILLER_TOKENS = token_set(" ".join(FILLER))  # as the question's words are read: "actually" is "actual"


# A year or a month in a question names one event ("the 2026 pen test", "the June phishing incident").
EVENT_DATE = re.compile(r"\b(?:19|20)\d\d\b|\b(?:january|february|march|april|june|july|august|september|october|"
                        r"november|december)\b", re.I)


@dataclass
class AbstainSignals:
    best_sentence: float  # best cosine similarity between the question and one sentence of the top passages
    coverage: float  # idf-weighted share of the question's words found in the top passages (typos forgiven)
    named_entity: bool  # the question names a control or risk id the catalogue / register knows
    missing_words: list[str]
    # the question is about a dated event ("the 2026 pen test", "the June incident") that no top passage dates
    undated_event: bool = False
    # the question names a term the reader's documents rarely use ("PCI DSS") and a top passage uses it
    rare_term: bool = False
    # best dense cosine minus the median of the dense candidates' (search.SearchResult.dense_peak): relative to
    # the corpus, so it transfers between document sets whose cosine scales differ
    dense_peak: float = 0.0
    # the dense and lexical searches agree on the best passage (search.SearchResult.rank_agreement, 0–1)
    rank_agreement: float = 0.0
    # a follow-up of a turn that was answered ("and who signs it off?"): its subject is in the documents
    continues_answer: bool = False

    def features(self) -> list[float]:
        """What the abstention model weighs (evals/calibrate_abstention.py fits it on the dev splits)."""
        return [self.best_sentence, self.coverage, self.dense_peak, self.rank_agreement]

    def abstain_probability(self, weights: list[float]) -> float:
        """Logistic model over the four signals; weights = [bias, sentence, coverage, peak, agreement], fitted on
        the dev splits of three corpora. Only signals relative to the corpus or the question are weighed: a raw
        passage cosine runs 0.1 lower on another organization's documents and did not transfer."""
        z = weights[0] + sum(w * f for w, f in zip(weights[1:], self.features(), strict=True))
        return 1.0 / (1.0 + math.exp(-z))


def weighted_coverage(words: list[str], passages_tokens: set[str], df: dict[str, int], n: int) -> tuple[float, list[str]]:
    """Idf-weighted share of `words` present in the passages: a rare word missing counts most. The words come
    typo-corrected from the service (`Assistant._analysis_for`), the one place a question's words are read."""
    num = den = 0.0
    missing: list[str] = []
    for word in words:
        freq = df.get(word, 0)
        idf = math.log(1 + (n - freq + 0.5) / (freq + 0.5))
        den += idf
        if word in passages_tokens:
            num += idf
        else:
            missing.append(word)
    return (num / den if den else 0.0), missing


DATED_SENTENCES = 8  # the sentences closest to the question that must date an event the question dates


def evidence_signals(analysis: QueryAnalysis, hits: list[Hit], sentence_sims: np.ndarray | None,
                     frequencies: tuple[dict[str, int], int] | None, units: list[Unit] | None = None,
                     dense_peak: float = 0.0, rank_agreement: float = 0.0) -> AbstainSignals:
    top = hits[:3]
    best_sentence = float(np.max(sentence_sims)) if sentence_sims is not None and len(sentence_sims) else 0.0
    words = [w for w in analysis.content_tokens if w not in FILLER_TOKENS]
    seen: set[str] = set()
    for h in top:
        seen.update(token_set(f"{h.chunk.title} {' '.join(h.chunk.trail)} {h.chunk.text}"))
    df, n = frequencies or ({}, 1)
    coverage, missing = weighted_coverage(words, seen, df, n)
    named = bool(analysis.explicit_ids or analysis.risks)
    dates = {m.group(0).lower() for m in EVENT_DATE.finditer(analysis.question)}
    undated = False
    if dates and units and sentence_sims is not None and len(sentence_sims) == len(units):
        closest = " ".join(units[i].text.lower() for i in np.argsort(-sentence_sims)[:DATED_SENTENCES])
        undated = not any(re.search(rf"\b{re.escape(d)}\b", closest) for d in dates)
    rare = any(0 < df.get(key, 0) <= RARE_TERM_DF and key in seen for key in _named_terms(analysis.question))
    return AbstainSignals(best_sentence, coverage, named, missing, undated, rare, dense_peak,
                          rank_agreement, analysis.continues_answer)


RARE_TERM_DF = 3  # passages (of those the reader may see) that may use a term for it to count as rare
# A name in a question: an acronym ("PCI", "DSS", "KMS") or a capitalized word inside the sentence ("Okta").
_NAME = re.compile(r"(?<!^)(?<![.?!] )\b(?:[A-Z]{2,}[0-9]*|[A-Z][a-z]+[A-Z0-9]\w*|[A-Z][a-z]{2,})\b")


def _named_terms(question: str) -> list[str]:
    return [t for name in _NAME.findall(question.strip()) for t in tokenize(name)]


def should_abstain(signals: AbstainSignals, weights: list[float]) -> bool:
    if signals.named_entity:
        return False  # a control or risk id the catalogue knows always has an answer (even "not in the SoA")
    if signals.undated_event:
        return True  # general rules about pen tests do not tell what "the 2026 pen test" found
    if signals.rare_term:
        return False  # "are we subject to PCI DSS?" and a passage the reader may see says "PCI DSS. …"
    if signals.continues_answer:
        return False  # the topic was answered a turn ago; an ask it leaves open is said to be unsaid
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
        self._flat: tuple[SentenceVectors, np.ndarray, list[str]] | None = None

    def stored(self) -> SentenceVectors | None:
        with self._lock:
            if self._stored is None and self.folder is not None and time.monotonic() >= self._next_check:
                self._next_check = time.monotonic() + self.RECHECK_SECONDS
                self._stored = SentenceVectors.load(self.folder)
            return self._stored

    def nearest_chunks(self, vector: np.ndarray, allowed: Callable[[str], bool], k: int) -> list[str]:
        """Ids of the chunks holding the stored sentences nearest to `vector` (only chunks `allowed` says
        the reader may see), nearest first. A sentence-level search finds one rule inside a long passage
        that a passage-level search misses. Empty when the generation has no stored sentence vectors."""
        stored = self.stored()
        if stored is None:
            return []
        with self._lock:
            if self._flat is None or self._flat[0] is not stored:
                ids = [cid for cid, rows in stored.by_id.items() for _ in range(len(rows))]
                parts = list(stored.by_id.values())
                matrix = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 1), np.float32)
                self._flat = (stored, matrix, ids)
            _, matrix, ids = self._flat
        if not len(ids):
            return []
        sims = matrix @ vector.astype(np.float32)
        top = np.argpartition(-sims, min(len(sims) - 1, k * 10))[: k * 10]
        out: list[str] = []
        for i in top[np.argsort(-sims[top])]:
            cid = ids[int(i)]
            if cid not in out and allowed(cid):
                out.append(cid)
                if len(out) == k:
                    break
        return out

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


def _naming_units(units: list[Unit], hits: list[Hit], identity: IdentityAsk,
                  nearest: Callable[[], list[Chunk]] | None) -> tuple[list[Unit], list[Unit]]:
    """The units that give the name or contact detail asked for, and the units of a passage beyond the four read
    that had to be read for it (both empty when none does). Found once per question: they open the answer, and
    without them the question is refused."""
    naming = [u for u in units if identity.answered_by(u.text)]
    if naming:
        return naming, []
    later = _passage_naming_party([h.chunk for h in hits[MAX_CHUNKS:]], identity)
    if not later and identity.contact_of_named_party() and nearest is not None:
        later = _passage_naming_party(nearest(), identity)
    return [u for u in later if identity.answered_by(u.text)], later


def _passage_naming_party(passages: list[Chunk], identity: IdentityAsk) -> list[Unit]:
    """"Who's our facilities manager?" when no sentence of the passages read names the party: the first of these
    later passages (the retrieved ones past the four read, or those holding the sentences nearest the question) with
    a sentence that does ("Report broken badge readers to Tom Becker, the Facilities Manager"), read whole (a table
    row is quoted under its header). There the name must be tied to the party's own words: what a party does
    ("which company did the pen test?") is near too many other names. A contact detail is looked for there only with
    the party it belongs to ("Service Desk: … servicedesk@…" for "the service desk's email"): a later passage's
    number alone is seldom the asked one's."""
    if identity.contact and not identity.contact_of_named_party():
        return []
    for rank, chunk in enumerate(passages, start=MAX_CHUNKS):
        passage = split_units(chunk, rank)
        if any(identity.answered_by(u.text, own_words_only=True) for u in passage):
            return passage
    return []


def _lists_across_passages(lines: list[Line], passage_at: Callable[[Chunk, int], Chunk | None]) -> None:
    """A quoted list or table that the chunker split over two passages is quoted whole: its items in the passage
    before and after (`passage_at(chunk, -1 | +1)`, the same document's neighbouring passage the reader may see)
    join the line, in document order, within twice the usual list budget."""
    for line in lines:
        if not line.followers:
            continue
        def passage_units(step: int, chunk: Chunk = line.unit.chunk) -> list[Unit]:
            other = passage_at(chunk, step)
            return split_units(other) if other is not None else []

        earlier, later = items_beyond(line.unit, line.followers, passage_units)
        while later and _list_too_long([*earlier, *line.followers, *later]):
            later.pop()
        while earlier and _list_too_long([*earlier, *line.followers, *later]):
            earlier.pop(0)
        line.followers = [*earlier, *line.followers, *later]


def _asks_only_an_amount_none_gives(question: str, words: frozenset[str], units: list[Unit]) -> bool:
    """A question that asks only how many or how much, where no sentence of the passages read states a number near
    one of its `words`: the documents talk about the topic, not the amount (quoting them would look like an answer)."""
    asks = detect_asks(question)
    if not asks or any(a.kind != "amount" for a in asks):
        return False
    return not any(states_amount_of(words, u.text) for u in units)


# A template's instruction left where a value belongs: "located at [list the address of the alternate work site that
# the organization will use]" (a bracketed value such as "[quarterly]" is a filled-in choice, not an instruction)
PLACEHOLDER = re.compile(r"\[(?:list|set|insert|enter|specify|add|describe|name|state|provide|define)\b[^\][]{8,}\]",
                         re.I)


def _opens_with_a_blank(selection: Selection, words: frozenset[str]) -> bool:
    """The sentence that best answers the question names the asked thing (one of `words`, the question's own) only
    inside a template's unfilled instruction ("what's the address of the backup site?" → "… located at [list the
    address of the alternate work site …]": "address" is only in the blank): the documents do not give it."""
    if not selection.lines:
        return False
    text = selection.lines[0].unit.text
    blanks = token_set(" ".join(m.group(0) for m in PLACEHOLDER.finditer(text)))
    return bool(blanks & words - token_set(PLACEHOLDER.sub(" ", text)))


def _list_too_long(items: list[Unit]) -> bool:
    return len(items) > 2 * MAX_FOLLOWERS or sum(len(u.text) for u in items) > 2 * FOLLOWER_BUDGET


def missing_text(missing: Sequence[Ask]) -> str:
    """One line for the asks no quoted sentence answers; two asks of one kind are named once."""
    return "The documents found don't say " + " or ".join(dict.fromkeys(a.label for a in missing)) + "."


def compose(
    analysis: QueryAnalysis,
    hits: list[Hit],
    query_vector: np.ndarray,
    unit_vectors: UnitVectors | None,
    catalogue: Catalogue,
    linked_risks: list[tuple[RiskRecord, Chunk]],
    abstain_weights: list[float],
    frequencies: tuple[dict[str, int], int] | None = None,
    neighbours: Callable[[np.ndarray], list[Chunk]] | None = None,
    dense_peak: float = 0.0,
    rank_agreement: float = 0.0,
    passage_at: Callable[[Chunk, int], Chunk | None] | None = None,
) -> Answer:
    """The grounded answer to `analysis` from `hits`. `neighbours` (a sentence vector → the passages the
    reader may see that are nearest to it) lets the composer look beyond the hits for a document that
    states the same rule with another time limit or frequency."""
    units = candidate_units(hits)
    identity = identity_ask(analysis.question)
    naming: list[Unit] = []  # the sentences that give the name or contact detail asked for
    if identity is not None:
        nearest = (lambda: neighbours(query_vector)) if neighbours is not None else None
        naming, later = _naming_units(units, hits, identity, nearest)
        units += later
    sims = np.zeros(len(units), dtype=np.float32)
    vectors: np.ndarray | None = None
    if units and unit_vectors is not None:
        vectors = unit_vectors.for_units(units).astype(np.float32)
        sims = vectors @ query_vector
    signals = evidence_signals(analysis, hits, sims, frequencies, units, dense_peak, rank_agreement)
    if not units or should_abstain(signals, abstain_weights):
        return abstain(analysis, hits)
    if identity is not None and not naming:
        return abstain(analysis, hits)  # "who is our DPO?": no sentence names one, the duties of the role don't answer
    question_words = token_set(analysis.question) - FILLER_TOKENS  # the question's own words, for the two checks below
    if _asks_only_an_amount_none_gives(analysis.question, question_words, units):
        return abstain(analysis, hits)  # "how much storage do the sticks have?" and no passage states a number
    parts = question_parts(analysis.question)
    part_sims = None
    part_vectors = np.zeros((0, len(query_vector)), dtype=np.float32)
    if len(parts) > 1 and unit_vectors is not None and vectors is not None:
        part_vectors = unit_vectors.embedder.encode(parts).astype(np.float32)
        part_sims = (vectors @ part_vectors.T).T
    nearby = _nearby_units(units, sims, vectors, hits, unit_vectors, neighbours,
                           _parts_in_context(part_vectors, query_vector))
    selection = select(analysis, units, sims, part_sims, vectors, nearby, query_vector.astype(np.float32), naming)
    if _opens_with_a_blank(selection, question_words):
        return abstain(analysis, hits)  # the asked value is a template's unfilled "[list the address of …]"
    if passage_at is not None:
        _lists_across_passages(selection.lines, passage_at)
    citations: dict[str, Citation] = {}
    hit_scores = {h.chunk.id: h.score for h in hits}

    def cite(chunk: Chunk, quote: str, score: float | None = None) -> int:
        if chunk.id not in citations:
            citations[chunk.id] = Citation(
                n=len(citations) + 1, source=chunk.source, section=chunk.section, text=chunk.text,
                score=hit_scores.get(chunk.id, 0.0) if score is None else score, span=chunk.span, chunk_id=chunk.id,
            )
        if quote not in citations[chunk.id].quotes:
            citations[chunk.id].quotes.append(quote)
        return citations[chunk.id].n

    def marks(*quoted: Unit) -> str:
        return "".join(f"[{n}]" for n in dict.fromkeys(cite(u.chunk, u.text) for u in quoted))

    lines: list[str] = []
    numbers: dict[int, int] = {}
    for line in selection.lines:
        lines.append(f"- {_plain(line.unit)} {marks(line.unit, *line.also)}")
        numbers[id(line.unit)] = citations[line.unit.chunk.id].n
        lines.extend(f"  - {_plain(item)} {marks(item)}" for item in line.followers)
    for ask, first, second in selection.disagreements:
        lines.append(disagreement_text(ask, first, second, cite(first.chunk, first.text),
                                       cite(second.chunk, second.text)))
    if selection.missing:
        lines.append(missing_text(selection.missing))
    quoted_chunks = [line.unit.chunk for line in selection.lines]
    controls = named_controls(analysis, quoted_chunks, catalogue)
    if controls:
        lines.append("Control" + ("s" if len(controls) > 1 else "") + ": " +
                     ", ".join(catalogue.controls[c].label for c in controls[:4]))
    risk_ids: list[str] = []
    if linked_risks and is_control_question(analysis):
        parts = []
        for risk, chunk in linked_risks[:3]:
            n = cite(chunk, risk_text_quote(risk), 0.0)
            level = f", {risk.level}" if risk.level else ""
            parts.append(f"{risk.risk_id} {risk.title}{level} [{n}]")
            risk_ids.append(risk.risk_id)
        lines.append("Linked risks (risk register): " + "; ".join(parts))
    return Answer(
        question=analysis.question, answer="\n".join(lines), abstained=False,
        citations=sorted(citations.values(), key=lambda c: c.n), controls=controls,
        risks=list(dict.fromkeys(risk_ids + [r for c in quoted_chunks for r in c.risks])),
        retrieved_sources=ranked_sources(list(citations.values()), hits),
    )


RIVAL_PASSAGES = 6


def _parts_in_context(part_vectors: np.ndarray, query_vector: np.ndarray) -> list[np.ndarray]:
    """Each part of a question that asks several things, read with the whole question: "who has to ok me
    sending it out?" alone is about anything; with "a payroll extract for the auditors" it is about sharing
    Restricted data outside."""
    mixed = part_vectors + query_vector.astype(np.float32)
    norms = np.linalg.norm(mixed, axis=1, keepdims=True)
    return list(mixed / np.where(norms > 0, norms, 1.0))


def _nearby_units(units: list[Unit], sims: np.ndarray, vectors: np.ndarray | None, hits: list[Hit],
                  unit_vectors: UnitVectors | None, neighbours: Callable[[np.ndarray], list[Chunk]] | None,
                  part_seeds: list[np.ndarray]) -> tuple[list[Unit], np.ndarray] | None:
    """Units of passages beyond the hits, found by stored sentence vectors (no model call): those nearest
    to the best sentence that states a time limit or frequency (another document may give a different
    value) and those nearest to each part of the question (a part the hits leave open: "…, and what about
    high-rated ones?" answered by the patching rule of another document)."""
    if neighbours is None or vectors is None or unit_vectors is None:
        return None
    with_value = [i for i, u in enumerate(units) if any(values(k, u.text) for k in VALUE_KINDS)]
    seeds = [vectors[max(with_value, key=lambda i: sims[i])]] if with_value else []
    seeds += part_seeds
    seen = {h.chunk.id for h in hits[:MAX_CHUNKS]}
    chunks = {chunk.id: chunk for seed in seeds for chunk in neighbours(seed) if chunk.id not in seen}
    extra = [u for chunk in chunks.values() for u in split_units(chunk, MAX_CHUNKS)][:200]
    if not extra:
        return None
    return extra, unit_vectors.for_units(extra).astype(np.float32)


def _plain(unit: Unit) -> str:
    """A unit's text as an answer line: a list item without its marker (the answer has its own bullets)."""
    return LIST_MARK.sub("", unit.text) if unit.is_item else unit.text


def named_controls(analysis: QueryAnalysis, quoted: list[Chunk], catalogue: Catalogue) -> list[str]:
    """Controls the answer names: those the question gives by id, and those it names by title or alias that
    the quoted passages are tagged with (a catalogue alias alone never puts a control into an answer)."""
    tagged = {c for chunk in quoted for c in (*chunk.controls, *chunk.doc_controls)}
    return [c for c in analysis.controls if c in catalogue and (c in analysis.explicit_ids or c in tagged)]


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
