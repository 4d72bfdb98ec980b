"""Evaluation metrics: hand-computed cases, and recall/MRR/nDCG cross-checked against ir_measures."""

from __future__ import annotations

import math

import pytest

from assistant.answer.types import Citation
from assistant.evaluation.metrics import (
    METRIC_KEYS,
    Outcome,
    citation_supported,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
    summarize,
    summarize_with_tags,
    term_coverage,
    term_in_text,
)

# ----------------------------------------------------------------------------- terms

@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        ("quarterly", "Reviews happen QUARTERLY.", True),
        ("line manager", "approved by the line\n   manager and the system owner", True),
        ("Line  Manager", "approved by the line manager", True),
        ("review", "access reviews are quarterly", False),  # inside a longer word
        ("view", "a review", False),
        ("5.1", "control 5.15 applies", False),
        ("5.1", "control 5.1.2 applies", False),
        ("5.15", "see A.5.15.", True),
        ("14 characters", "at least 14 characters long", True),
        ("72 hours", "within 72-hours", False),
        ("on-call", "the on-call engineer", True),
        ("", "anything", False),
    ],
)
def test_term_in_text(term: str, text: str, found: bool) -> None:
    assert term_in_text(term, text) is found


def test_term_coverage_fraction() -> None:
    assert term_coverage(["quarterly", "six months", "annually"], "Quarterly, or every six  months.") == pytest.approx(2 / 3)
    assert term_coverage([], "text") is None


# ----------------------------------------------------------------------------- retrieval, by hand

RANKED = ["a.md", "b.md", "a.md", "c.md", "d.md", "e.md", "f.md"]  # duplicate a.md collapses: a b c d e f


def test_recall_at_5_hand() -> None:
    assert recall_at_k(RANKED, ["c.md", "f.md"], 5) == 0.5  # f is rank 6 of the distinct list
    assert recall_at_k(RANKED, ["a.md"], 5) == 1.0
    assert recall_at_k(RANKED, ["zzz.md"], 5) == 0.0
    assert recall_at_k(["./x/y.md"], ["x/y.md"], 5) == 1.0  # path normalisation
    with pytest.raises(ValueError):
        recall_at_k(RANKED, [], 5)


def test_reciprocal_rank_hand() -> None:
    assert reciprocal_rank(RANKED, ["c.md", "f.md"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKED, ["b.md"]) == 0.5
    assert reciprocal_rank(RANKED, ["nope.md"]) == 0.0


def test_ndcg_hand() -> None:
    # relevant c (rank 3) and f (rank 6): DCG = 1/log2(4) + 1/log2(7); IDCG = 1 + 1/log2(3)
    expected = (1 / math.log2(4) + 1 / math.log2(7)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(RANKED, ["c.md", "f.md"], 10) == pytest.approx(expected)
    assert ndcg_at_k(RANKED, ["a.md"], 10) == 1.0
    assert ndcg_at_k(RANKED, ["f.md"], 5) == 0.0  # beyond the cutoff


# ----------------------------------------------------------------------------- retrieval vs ir_measures

def test_retrieval_metrics_match_ir_measures() -> None:
    ir_measures = pytest.importorskip("ir_measures")
    from ir_measures import RR, R, nDCG

    docs = [f"d{i}.md" for i in range(14)]
    runs = {
        "q1": ["d3.md", "d1.md", "d7.md", "d0.md", "d9.md", "d2.md", "d5.md", "d11.md", "d4.md", "d8.md", "d6.md"],
        "q2": ["d5.md", "d6.md", "d0.md", "d13.md", "d12.md"],
        "q3": docs[::-1],
        "q4": ["d1.md", "d2.md", "d3.md"],
        "q5": ["d9.md", "d10.md", "d11.md", "d12.md", "d13.md", "d0.md", "d1.md", "d2.md", "d3.md", "d4.md", "d5.md"],
    }
    qrels_map = {
        "q1": ["d7.md", "d4.md", "d6.md"],
        "q2": ["d12.md"],
        "q3": ["d0.md", "d1.md"],
        "q4": ["d8.md"],  # never retrieved
        "q5": ["d4.md", "d5.md", "d9.md", "d13.md", "d2.md", "d1.md", "d0.md", "d3.md", "d10.md", "d11.md", "d12.md"],
    }
    qrels = [ir_measures.Qrel(q, d, 1) for q, ds in qrels_map.items() for d in ds]
    # Distinct ranks → strictly decreasing scores, so trec_eval's tie-breaking never matters.
    run = [ir_measures.ScoredDoc(q, d, float(100 - i)) for q, ds in runs.items() for i, d in enumerate(ds)]
    expected = ir_measures.calc_aggregate([R @ 5, RR, nDCG @ 10], qrels, run)
    ours_r5 = sum(recall_at_k(runs[q], qrels_map[q], 5) for q in runs) / len(runs)
    ours_rr = sum(reciprocal_rank(runs[q], qrels_map[q]) for q in runs) / len(runs)
    ours_ndcg = sum(ndcg_at_k(runs[q], qrels_map[q], 10) for q in runs) / len(runs)
    assert ours_r5 == pytest.approx(expected[R @ 5], abs=1e-9)
    assert ours_rr == pytest.approx(expected[RR], abs=1e-9)
    assert ours_ndcg == pytest.approx(expected[nDCG @ 10], abs=1e-9)
    per_query = {(m.query_id, str(m.measure)): m.value
                 for m in ir_measures.iter_calc([R @ 5, RR, nDCG @ 10], qrels, run)}
    for q in runs:
        assert recall_at_k(runs[q], qrels_map[q], 5) == pytest.approx(per_query[(q, "R@5")])
        assert reciprocal_rank(runs[q], qrels_map[q]) == pytest.approx(per_query[(q, "RR")])
        assert ndcg_at_k(runs[q], qrels_map[q], 10) == pytest.approx(per_query[(q, "nDCG@10")])


# ----------------------------------------------------------------------------- citations

PASSAGE = ("Access reviews are performed quarterly for privileged accounts.\n"
           "All other systems are reviewed every six months by the system owner.")


def test_citation_quotes_verbatim() -> None:
    good = Citation(1, "p.md", "s", PASSAGE, 0.5, quotes=["Access reviews are performed quarterly for privileged accounts."])
    assert citation_supported(good, "anything")
    # whitespace differences do not matter; changed words do
    wrapped = Citation(1, "p.md", "s", PASSAGE, 0.5, quotes=["accounts. All other  systems are reviewed"])
    assert citation_supported(wrapped, "")
    altered = Citation(1, "p.md", "s", PASSAGE, 0.5, quotes=["Access reviews are performed monthly for privileged accounts."])
    assert not citation_supported(altered, "")
    one_bad = Citation(1, "p.md", "s", PASSAGE, 0.5, quotes=["Access reviews are performed", "annually by auditors"])
    assert not citation_supported(one_bad, "")


def test_citation_fallback_content_words() -> None:
    cite = {"n": 2, "source": "p.md", "text": PASSAGE}  # dict form, as `ask --json` prints it
    supported = "- Privileged accounts are reviewed quarterly [2]"  # privileged accounts reviewed quarterly: 4/4
    assert citation_supported(cite, supported)
    # content words: privileged accounts reviewed weekly external auditor → 2/6 present
    unsupported = "- Privileged accounts are reviewed weekly by an external auditor [2]"
    assert not citation_supported(cite, unsupported)
    # one unsupported line among the lines citing [2] makes the citation unsupported
    assert not citation_supported(cite, supported + "\n" + unsupported)
    assert not citation_supported(cite, "no line cites it [1]")


# ----------------------------------------------------------------------------- aggregation

def _outcome(qid: str, *, abstain: bool, abstained: bool, ranked: list[str] | None = None,
             expected: list[str] | None = None, terms: list[str] | None = None, answer: str = "",
             citations: list | None = None, latency: float = 10.0, tags: list[str] | None = None) -> Outcome:
    return Outcome(qid=qid, expected_sources=expected or [], expected_terms=terms or [], should_abstain=abstain,
                   tags=tags or [], answer=answer, abstained=abstained, ranked_sources=ranked or [],
                   citations=citations or [], latency_ms=latency)


def test_summarize_hand_computed() -> None:
    good = Citation(1, "a.md", "s", PASSAGE, 1.0, quotes=["All other systems are reviewed every six months"])
    bad = Citation(2, "b.md", "s", PASSAGE, 1.0, quotes=["reviewed every year"])
    outcomes = [
        # answerable, answered: a.md at rank 1, terms 1/2, citations 1 of 2 supported
        _outcome("q1", abstain=False, abstained=False, ranked=["a.md", "b.md"], expected=["a.md"],
                 terms=["six months", "owner"], answer="Every six months [1] [2]", citations=[good, bad],
                 latency=10, tags=["process"]),
        # answerable, wrongly abstained: relevant doc at rank 2, terms 0/1
        _outcome("q2", abstain=False, abstained=True, ranked=["x.md", "a.md"], expected=["a.md"],
                 terms=["quarterly"], answer="The documents don't cover this.", latency=20, tags=["process"]),
        # should abstain, did
        _outcome("q3", abstain=True, abstained=True, ranked=["x.md"], latency=30, tags=["out-of-scope"]),
        # should abstain, did not (its citation counts in citation precision)
        _outcome("q4", abstain=True, abstained=False, ranked=["x.md"], answer="x [1]",
                 citations=[good], latency=40, tags=["out-of-scope"]),
    ]
    m = summarize(outcomes)
    assert set(METRIC_KEYS) <= set(m)
    assert m["n"] == 4
    assert m["recall_at_5"] == 1.0
    assert m["mrr"] == pytest.approx((1 + 0.5) / 2)
    assert m["ndcg_at_10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert m["term_coverage"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["abstain_accuracy"] == 0.5
    assert m["abstain_recall"] == 0.5
    assert m["false_abstain_rate"] == 0.5
    assert m["citation_precision"] == pytest.approx(2 / 3)
    assert m["latency_ms_p50"] == 25.0
    assert m["latency_ms_p95"] == pytest.approx(38.5)
    tagged = summarize_with_tags(outcomes)["by_tag"]
    assert set(tagged) == {"process", "out-of-scope"}
    assert tagged["process"]["n"] == 2 and tagged["process"]["false_abstain_rate"] == 0.5
    assert tagged["out-of-scope"]["recall_at_5"] is None  # no answerable questions under this tag
    assert tagged["out-of-scope"]["abstain_recall"] == 0.5


def test_summarize_empty_parts_are_none() -> None:
    m = summarize([_outcome("q", abstain=True, abstained=True)])
    assert m["recall_at_5"] is None and m["false_abstain_rate"] is None and m["citation_precision"] is None
    assert m["abstain_accuracy"] == 1.0


def test_percentile_matches_numpy() -> None:
    np = pytest.importorskip("numpy")
    values = [12.0, 3.5, 40.1, 7.7, 19.0, 25.2, 5.0]
    for q in (0, 50, 90, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([], 50) is None
