"""Evaluation metrics (pure functions, no I/O): retrieval, answer, abstention, citation and latency.

Definitions (see evals/README.md):
- Retrieval metrics use binary relevance over the ranked list of *distinct sources*; the rank order is the
  distinct cited sources first, then the remaining retrieved sources (``Answer.retrieved_sources``).
  They are computed over answerable questions that name at least one expected source.
- A term matches case-insensitively, with whitespace collapsed, and not inside a longer word.
- A citation is supported when each of its quotes occurs verbatim (whitespace collapsed) in the cited
  passage; without quotes, when every answer line that cites it has >= 60% of its content words in the
  passage.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

SUPPORT_THRESHOLD = 0.6

_WS = re.compile(r"\s+")
_MARKER = re.compile(r"\[(\d{1,3})\]")
# The metric's own words and stop words (no stemming), deliberately not `assistant.text.tokenize`: the
# yardstick must not move when the product's tokenizer changes.
_WORD = re.compile(r"[0-9a-z]+(?:[.'’-][0-9a-z]+)*")
_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers him his how i if in into is it its itself just me more most my no nor not of off on once only or
    other our ours out over own same she should so some such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which while who whom why
    will with would you your yours""".split()
)


# ----------------------------------------------------------------------------- text helpers

def normalize(text: str) -> str:
    """Lower-case (casefold) and collapse runs of whitespace to one space."""
    return _WS.sub(" ", text).strip().casefold()


def term_in_text(term: str, text: str) -> bool:
    """True when `term` occurs in `text`: case-insensitive, whitespace collapsed, not inside a longer word.

    "Inside a longer word" means a letter, digit or underscore touches the match on either side; for a
    term that starts or ends with a digit, a following ".<digit>" / preceding "<digit>." also counts
    (so "5.1" does not match inside "5.15" or "5.1.2").
    """
    needle = normalize(term)
    if not needle:
        return False
    hay = normalize(text)
    pattern = r"(?<!\w)" + re.escape(needle).replace(r"\ ", r"\s") + r"(?!\w)"
    if needle[-1].isdigit():
        pattern += r"(?!\.\d)"
    if needle[0].isdigit():
        pattern = r"(?<!\d\.)" + pattern
    return re.search(pattern, hay) is not None


def term_coverage(terms: Sequence[str], text: str) -> float | None:
    """Fraction of expected terms found in the answer text (None when there are no terms)."""
    terms = [t for t in terms if t.strip()]
    if not terms:
        return None
    return sum(term_in_text(t, text) for t in terms) / len(terms)


def content_words(text: str) -> list[str]:
    """Lower-cased words and numbers of `text`, without stopwords and citation markers."""
    return [w for w in _WORD.findall(normalize(_MARKER.sub(" ", text))) if w not in _STOPWORDS]


# ----------------------------------------------------------------------------- retrieval

def normalize_source(source: str) -> str:
    s = source.strip().replace("\\", "/")
    while s.startswith("./"):
        s = s[2:]
    return s


def distinct(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(normalize_source(i) for i in items if i))


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int = 5) -> float:
    rel = set(distinct(relevant))
    if not rel:
        raise ValueError("recall needs at least one relevant source")
    top = set(distinct(ranked)[:k])
    return len(rel & top) / len(rel)


def reciprocal_rank(ranked: Sequence[str], relevant: Iterable[str]) -> float:
    rel = set(distinct(relevant))
    for i, source in enumerate(distinct(ranked)):
        if source in rel:
            return 1.0 / (i + 1)
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k with the log2(rank + 1) discount (as trec_eval)."""
    rel = set(distinct(relevant))
    if not rel:
        raise ValueError("nDCG needs at least one relevant source")
    dcg = sum(1.0 / math.log2(i + 2) for i, s in enumerate(distinct(ranked)[:k]) if s in rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / ideal


# ----------------------------------------------------------------------------- citations

def citation_supported(citation: Any, answer_text: str) -> bool:
    """Whether a citation's claims are supported by its passage (quotes verbatim, else 60% content words)."""
    passage = _get(citation, "text", "") or ""
    quotes = [q for q in (_get(citation, "quotes", None) or []) if q and q.strip()]
    flat_passage = normalize(passage)
    if quotes:
        return all(normalize(q) in flat_passage for q in quotes)
    n = _get(citation, "n", None)
    claims = [line for line in answer_text.splitlines() if n is not None and f"[{n}]" in line]
    if not claims:
        return False  # a citation nothing in the answer refers to supports no claim
    passage_words = set(content_words(passage))
    for claim in claims:
        words = content_words(claim)
        if not words:
            continue
        if sum(w in passage_words for w in words) / len(words) < SUPPORT_THRESHOLD:
            return False
    return True


def citation_counts(citations: Sequence[Any], answer_text: str) -> tuple[int, int]:
    """(supported citations, citations) for one answer."""
    return sum(citation_supported(c, answer_text) for c in citations), len(citations)


# ----------------------------------------------------------------------------- latency

def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), as numpy's default; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# ----------------------------------------------------------------------------- aggregation

@dataclass
class Outcome:
    """One question's gold data and one system's result, reduced to what the metrics need."""

    qid: str
    expected_sources: list[str]
    expected_terms: list[str]
    should_abstain: bool
    tags: list[str]
    answer: str
    abstained: bool
    ranked_sources: list[str]
    citations: list[Any] = field(default_factory=list)
    latency_ms: float = 0.0
    error: str | None = None
    asks: list[tuple[str, list[str]]] = field(default_factory=list)  # (kind, terms): any term answers the ask


METRIC_KEYS: tuple[str, ...] = (
    "n", "recall_at_5", "mrr", "ndcg_at_10", "term_coverage", "abstain_accuracy", "abstain_recall",
    "false_abstain_rate", "citation_precision", "latency_ms_p50", "latency_ms_p95", "answer_chars_p50",
    "answer_chars_p95", "ask_coverage",
)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """All metrics over a set of outcomes; a metric with no eligible question is None."""
    answerable = [o for o in outcomes if not o.should_abstain]
    with_sources = [o for o in answerable if o.expected_sources]
    with_terms = [o for o in answerable if any(t.strip() for t in o.expected_terms)]
    should_abstain = [o for o in outcomes if o.should_abstain]
    supported = total = 0
    for o in outcomes:
        if o.abstained:
            continue
        s, t = citation_counts(o.citations, o.answer)
        supported += s
        total += t
    latencies = [o.latency_ms for o in outcomes]
    answered = [o for o in answerable if not o.abstained]
    lengths = [float(len(o.answer)) for o in answered]
    return {
        "n": len(outcomes),
        "recall_at_5": _mean([recall_at_k(o.ranked_sources, o.expected_sources, 5) for o in with_sources]),
        "mrr": _mean([reciprocal_rank(o.ranked_sources, o.expected_sources) for o in with_sources]),
        "ndcg_at_10": _mean([ndcg_at_k(o.ranked_sources, o.expected_sources, 10) for o in with_sources]),
        "term_coverage": _mean([term_coverage(o.expected_terms, o.answer) or 0.0 for o in with_terms]),
        "abstain_accuracy": _mean([float(o.abstained == o.should_abstain) for o in outcomes]),
        "abstain_recall": _mean([float(o.abstained) for o in should_abstain]),
        "false_abstain_rate": _mean([float(o.abstained) for o in answerable]),
        "citation_precision": supported / total if total else None,
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p95": percentile(latencies, 95),
        "answer_chars_p50": percentile(lengths, 50),
        "answer_chars_p95": percentile(lengths, 95),
        "ask_coverage": ask_coverage([o for o in answerable if o.asks]),
        "ask_coverage_by_kind": {kind: ask_coverage(answerable, kind) for kind in
                                 sorted({k for o in answerable for k, _ in o.asks})},
        "errors": sum(o.error is not None for o in outcomes),
    }


def ask_coverage(outcomes: Sequence[Outcome], kind: str | None = None) -> float | None:
    """Share of the questions' asks (of one kind, or all) that the answer answers: any of the ask's terms
    found in it. An abstention answers none."""
    hits = [any(term_in_text(t, o.answer) for t in terms) and not o.abstained
            for o in outcomes for k, terms in o.asks if kind is None or k == kind]
    return _mean([float(h) for h in hits])


def summarize_with_tags(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """`summarize` plus `by_tag`: the same metrics for the questions carrying each tag."""
    out = summarize(outcomes)
    tags = sorted({t for o in outcomes for t in o.tags})
    out["by_tag"] = {tag: summarize([o for o in outcomes if tag in o.tags]) for tag in tags}
    return out


def _get(obj: Any, name: str, default: Any) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)
