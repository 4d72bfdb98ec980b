"""Evaluation harness: question-file loading, system runs, JSON report, the `eval` command and baselines."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from assistant.evaluation.harness import (
    EvalError,
    ask_in_conversation,
    build_table,
    evaluate,
    expand_baselines,
    load_questions,
    with_history,
)
from assistant.evaluation.metrics import METRIC_KEYS

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
RESTRICTED = "records/hr-investigation-note-2026-003.md"

TINY_QUESTIONS = [
    {"id": "T1", "question": "How many characters does a password need to have at minimum?",
     "expected_sources": ["standards/authentication-and-password-standard.md"], "expected_terms": ["14"],
     "abstain": False, "tags": ["fact"], "split": "dev"},
    {"id": "T2", "question": "How often do we check who has admin access to production systems?",
     "expected_sources": ["procedures/user-access-management-procedure.md", "policies/access-control-policy.md"],
     "expected_terms": ["quarterly"], "abstain": False, "tags": ["frequency"], "split": "dev"},
    {"id": "T3", "question": "What colour should the carpets in the London office be?",
     "expected_sources": [], "expected_terms": [], "abstain": True, "tags": ["out-of-scope"], "split": "holdout"},
    {"id": "T4", "question": "What is the status of Operation Bluebell?", "expected_sources": [RESTRICTED],
     "expected_terms": [], "abstain": False, "tags": ["confidential"], "split": "holdout", "role": "isms-lead"},
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def check_metrics(m: dict[str, Any], n: int) -> None:
    assert set(METRIC_KEYS) <= set(m), set(METRIC_KEYS) - set(m)
    assert m["n"] == n
    for key in METRIC_KEYS:
        if key == "n" or m[key] is None:
            continue
        if key.startswith("latency"):
            assert m[key] > 0
        elif key.startswith("answer_chars"):
            assert m[key] >= 0
        else:
            assert 0.0 <= m[key] <= 1.0, (key, m[key])


# ----------------------------------------------------------------------------- fast: loading and running

def test_load_questions_and_defaults(tmp_path: Path) -> None:
    qs = load_questions(write_jsonl(tmp_path / "q.jsonl", TINY_QUESTIONS))
    assert [q.id for q in qs] == ["T1", "T2", "T3", "T4"]
    assert qs[3].role == "isms-lead" and qs[0].role is None
    assert [q.split for q in qs] == ["dev", "dev", "holdout", "holdout"]
    minimal = write_jsonl(tmp_path / "m.jsonl", [{"id": "X", "question": "q?"}])
    (q,) = load_questions(minimal)
    assert q.split == "dev" and q.abstain is False and q.expected_sources == [] and q.tags == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"question": "q?"}', "missing 'id'"),
        ('{"id": "A", "question": "q?", "split": "train"}', "'split'"),
        ('{"id": "A", "question": "q?", "abstain": "no"}', "'abstain'"),
        ('{"id": "A", "question": "q?", "expected_sources": [1]}', "expected_sources"),
    ],
)
def test_load_questions_rejects_bad_lines(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "OK", "question": "fine?"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(EvalError, match="line 2") as info:
        load_questions(path)
    assert message in str(info.value)


def test_duplicate_ids_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="duplicate id"):
        load_questions(write_jsonl(tmp_path / "d.jsonl", [TINY_QUESTIONS[0], TINY_QUESTIONS[0]]))
    with pytest.raises(EvalError, match="not found"):
        load_questions(tmp_path / "missing.jsonl")


def test_expand_baselines() -> None:
    assert expand_baselines(["all"]) == ["tutorial", "bm25", "dense"]
    assert expand_baselines(["dense", "bm25,dense"]) == ["dense", "bm25"]
    with pytest.raises(EvalError):
        expand_baselines(["bm42"])


def test_evaluate_with_stub_systems(tmp_path: Path) -> None:
    """Rank order = cited sources first, then retrieved; exceptions are counted, not fatal."""
    questions = load_questions(write_jsonl(tmp_path / "q.jsonl", TINY_QUESTIONS))
    seen_roles: list[str | None] = []

    def stub(question: str, role: str | None, turns: Sequence[str]) -> dict[str, Any]:
        seen_roles.append(role)
        if "carpets" in question:
            return {"answer": "not covered", "abstained": True, "citations": []}
        if "Bluebell" in question:
            raise RuntimeError("boom")
        passage = "Passwords must be at least 14 characters. Privileged access is reviewed quarterly."
        cited = {"n": 1, "source": "policies/access-control-policy.md", "text": passage,
                 "quotes": ["Privileged access is reviewed quarterly."]}
        return {"answer": "Privileged access is reviewed quarterly [1]. Minimum 14.", "abstained": False,
                "citations": [cited],
                "retrieved_sources": ["standards/authentication-and-password-standard.md",
                                      "policies/access-control-policy.md"]}

    report = evaluate({"stub": stub}, questions, warmup=False)
    check_metrics(report, 4)
    assert seen_roles == [None, None, None, "isms-lead"]
    stub_all = report["systems"]["stub"]["all"]
    assert stub_all["errors"] == 1
    # T1: relevant at rank 2 (cited access-control policy comes first); T2: rank 1; T4 (error): nothing
    assert report["mrr"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert report["term_coverage"] == 1.0
    assert report["abstain_recall"] == 1.0 and report["false_abstain_rate"] == 0.0
    assert report["citation_precision"] == 1.0
    assert set(report["systems"]["stub"]) >= {"all", "dev", "holdout"}
    assert report["systems"]["stub"]["dev"]["n"] == 2
    assert set(report["by_tag"]) == {"fact", "frequency", "out-of-scope", "confidential"}
    rows = {r["id"]: r for r in report["outcomes"]["stub"]}
    assert rows["T1"]["ranked_sources"][:2] == ["policies/access-control-policy.md",
                                                "standards/authentication-and-password-standard.md"]
    assert "boom" in rows["T4"]["error"]
    assert build_table(report).row_count == 3  # dev, holdout, all × one system


def test_turns_asks_and_answer_length(tmp_path: Path) -> None:
    """Multi-turn items reach the system with their earlier turns; an ask counts as answered when any of its
    terms is in the answer; answer length percentiles are over answered, answerable questions."""
    rows = [
        {"id": "M1", "question": "and who do I tell?", "turns": ["I lost my laptop, what now?"],
         "expected_terms": ["Service Desk", "1 hour"],
         "asks": [{"ask": "who", "terms": ["Service Desk", "security@"]}, {"ask": "when", "terms": ["1 hour"]}],
         "split": "dev"},
        {"id": "M2", "question": "How long is a password?", "expected_terms": ["14"],
         "asks": [{"ask": "what", "terms": ["14"]}], "split": "holdout"},
    ]
    questions = load_questions(write_jsonl(tmp_path / "q.jsonl", rows))
    assert questions[0].turns == ["I lost my laptop, what now?"] and questions[1].turns == []
    seen: list[tuple[str, list[str]]] = []

    def stub(question: str, role: str | None, turns: Sequence[str]) -> dict[str, Any]:
        seen.append((question, list(turns)))
        return {"answer": "Tell the Service Desk [1]." if turns else "x" * 40, "abstained": False}

    report = evaluate({"stub": stub}, questions, warmup=False)
    assert seen == [("and who do I tell?", ["I lost my laptop, what now?"]), ("How long is a password?", [])]
    assert report["ask_coverage"] == pytest.approx(1 / 3)  # who answered; when and what not
    assert report["ask_coverage_by_kind"] == {"what": 0.0, "when": 0.0, "who": 1.0}
    assert report["answer_chars_p50"] == pytest.approx((len("Tell the Service Desk [1].") + 40) / 2)
    joined: list[str] = []
    with_history(lambda q, role: joined.append(q))("and who?", None, ["lost laptop"])
    assert joined == ["lost laptop and who?"]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "B", "question": "q", "asks": [{"ask": "who"}]}])
    with pytest.raises(EvalError, match="no terms"):
        load_questions(bad)


# ----------------------------------------------------------------------------- real index

@pytest.mark.integration
def test_harness_on_sample_index(assistant, tmp_path: Path) -> None:  # noqa: ANN001 - service.Assistant
    from assistant.evaluation.baselines import RetrieverBaseline

    questions = load_questions(write_jsonl(tmp_path / "q.jsonl", TINY_QUESTIONS))
    systems = {
        "product": lambda q, role, turns: ask_in_conversation(assistant, q, role, turns),
        "bm25": with_history(RetrieverBaseline(assistant, "lexical")),
        "dense": with_history(RetrieverBaseline(assistant, "dense")),
    }
    report = evaluate(systems, questions)
    check_metrics(report, 4)
    for name in systems:
        for split, n in (("all", 4), ("dev", 2), ("holdout", 2)):
            check_metrics(report["systems"][name][split], n)
            assert report["systems"][name][split]["errors"] == 0
        for tag_metrics in report["systems"][name]["all"]["by_tag"].values():
            check_metrics(tag_metrics, 1)
    product = report["systems"]["product"]["all"]
    assert product["recall_at_5"] >= 0.5  # easy, unambiguous questions
    assert product["citation_precision"] == 1.0  # grounded composer quotes verbatim
    for name in ("bm25", "dense"):  # retrieval-only baselines never abstain
        assert report["systems"][name]["all"]["abstain_recall"] == 0.0
    rows = {r["id"]: r for r in report["outcomes"]["bm25"]}
    assert RESTRICTED in rows["T4"]["ranked_sources"]  # cleared role sees it …
    for name in systems:  # … and nobody else ever does
        for row in report["outcomes"][name]:
            if row["id"] != "T4":
                assert RESTRICTED not in row["ranked_sources"], (name, row["id"])


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four documents of the sample corpus, one of them restricted (keeps the tutorial build fast)."""
    root = tmp_path_factory.mktemp("small-corpus")
    for source in ("standards/authentication-and-password-standard.md", "policies/access-control-policy.md",
                   "procedures/user-access-management-procedure.md", RESTRICTED):
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / source, root / source)
    return root


@pytest.mark.integration
def test_eval_command_with_tutorial_baseline(small_corpus: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assistant.cli import app

    questions = write_jsonl(tmp_path / "q.jsonl", TINY_QUESTIONS)
    result = CliRunner().invoke(app, ["eval", "--questions", str(questions), "--corpus", str(small_corpus),
                                      "--index", str(tmp_path / "idx"), "--baseline", "tutorial", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    check_metrics(report, 4)
    assert list(report["systems"]) == ["product", "tutorial"]
    tutorial = report["systems"]["tutorial"]
    check_metrics(tutorial["all"], 4)
    assert tutorial["all"]["errors"] == 0
    assert tutorial["all"]["abstain_recall"] == 0.0  # the tutorial pipeline never abstains
    assert tutorial["all"]["recall_at_5"] > 0
    rows = {r["id"]: r for r in report["outcomes"]["tutorial"]}
    assert rows["T1"]["ranked_sources"][0] == "standards/authentication-and-password-standard.md"
    assert RESTRICTED in rows["T4"]["ranked_sources"]
    for qid in ("T1", "T2", "T3"):  # staff: the restricted note is filtered inside Chroma
        assert RESTRICTED not in rows[qid]["ranked_sources"]

    only_dev = CliRunner().invoke(app, ["eval", "--questions", str(questions), "--corpus", str(small_corpus),
                                        "--index", str(tmp_path / "idx"), "--split", "dev"])
    assert only_dev.exit_code == 0, only_dev.output
    assert "product" in only_dev.stdout and "holdout" not in only_dev.stdout


def test_eval_command_reports_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assistant.cli import app

    result = CliRunner().invoke(app, ["eval", "--questions", str(tmp_path / "nope.jsonl"),
                                      "--index", str(tmp_path / "idx")])
    assert result.exit_code == 2
    assert "not found" in result.output
