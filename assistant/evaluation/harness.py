"""Evaluation harness: a JSONL question set → systems (product and baselines) → metrics, JSON and a table.

A *system* is any callable ``(question, role) -> Answer-like`` (an `Answer`, or a dict shaped like
`ask --json`). The harness times each call, ranks the distinct sources (cited first, then the rest
retrieved) and hands the outcomes to `assistant.evaluation.metrics`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from assistant.config import REPO_DIR, get_settings
from assistant.errors import EvalError
from assistant.evaluation.metrics import Outcome, distinct, summarize_with_tags

DEFAULT_QUESTIONS = REPO_DIR / "evals" / "questions.jsonl"
SPLITS: tuple[str, ...] = ("dev", "holdout")
DEFAULT_SPLIT = "dev"
WARMUP_QUESTION = "What is the information security policy?"

# A system answers (question, role, earlier turns of the same conversation, oldest first).
SystemFn = Callable[[str, str | None, Sequence[str]], Any]
LogFn = Callable[[str], None]


@dataclass
class Ask:
    """One thing a question asks (who, how often, ...) and the terms of which any one answers it."""

    kind: str
    terms: list[str]


@dataclass
class Question:
    id: str
    question: str
    expected_sources: list[str] = field(default_factory=list)
    expected_terms: list[str] = field(default_factory=list)
    abstain: bool = False
    tags: list[str] = field(default_factory=list)
    split: str = DEFAULT_SPLIT
    role: str | None = None
    turns: list[str] = field(default_factory=list)  # earlier questions of the same conversation
    asks: list[Ask] = field(default_factory=list)


def _asks(value: Any, where: str) -> list[Ask]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EvalError(f"{where}: 'asks' must be a list of {{\"ask\": kind, \"terms\": [...]}} objects")
    asks: list[Ask] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("ask"), str):
            raise EvalError(f"{where}: each ask needs an 'ask' kind and 'terms'")
        terms = _str_list(item.get("terms"), "terms", where)
        if not terms:
            raise EvalError(f"{where}: ask {item['ask']!r} has no terms")
        asks.append(Ask(kind=item["ask"], terms=terms))
    return asks


def _str_list(value: Any, key: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EvalError(f"{where}: {key!r} must be a list of strings")
    return list(value)


def parse_question(data: Any, where: str) -> Question:
    if not isinstance(data, dict):
        raise EvalError(f"{where}: expected a JSON object")
    qid, text = data.get("id"), data.get("question")
    if not isinstance(qid, str) or not qid.strip():
        raise EvalError(f"{where}: missing 'id'")
    if not isinstance(text, str) or not text.strip():
        raise EvalError(f"{where}: missing 'question'")
    abstain = data.get("abstain", False)
    if not isinstance(abstain, bool):
        raise EvalError(f"{where}: 'abstain' must be true or false")
    split = data.get("split", DEFAULT_SPLIT)
    if split not in SPLITS:
        raise EvalError(f"{where}: 'split' must be one of {', '.join(SPLITS)}")
    role = data.get("role")
    if role is not None and not isinstance(role, str):
        raise EvalError(f"{where}: 'role' must be a string")
    return Question(
        id=qid.strip(), question=text.strip(),
        expected_sources=_str_list(data.get("expected_sources"), "expected_sources", where),
        expected_terms=_str_list(data.get("expected_terms"), "expected_terms", where),
        abstain=abstain, tags=_str_list(data.get("tags"), "tags", where), split=split, role=role or None,
        turns=_str_list(data.get("turns"), "turns", where), asks=_asks(data.get("asks"), where),
    )


def load_questions(path: Path) -> list[Question]:
    """Read a JSONL question set (blank lines and lines starting with // are skipped)."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"question file not found: {path}")
    questions: list[Question] = []
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{path.name} line {lineno}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{where}: invalid JSON ({exc.msg})") from None
        q = parse_question(data, where)
        if q.id in seen:
            raise EvalError(f"{where}: duplicate id {q.id!r}")
        seen.add(q.id)
        questions.append(q)
    if not questions:
        raise EvalError(f"no questions in {path}")
    return questions


def select_split(questions: Sequence[Question], split: str) -> list[Question]:
    if split == "all":
        return list(questions)
    if split not in SPLITS:
        raise EvalError(f"unknown split {split!r}; use {', '.join(SPLITS)} or all")
    return [q for q in questions if q.split == split]


# ----------------------------------------------------------------------------- running systems

def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def to_outcome(question: Question, result: Any, latency_ms: float, error: str | None = None) -> Outcome:
    citations = sorted(_get(result, "citations", None) or [], key=lambda c: _get(c, "n", 0) or 0)
    cited = [_get(c, "source", "") or "" for c in citations]
    retrieved = list(_get(result, "retrieved_sources", None) or [])
    return Outcome(
        qid=question.id, expected_sources=question.expected_sources, expected_terms=question.expected_terms,
        should_abstain=question.abstain, tags=question.tags, asks=[(a.kind, a.terms) for a in question.asks],
        answer=str(_get(result, "answer", "") or ""), abstained=bool(_get(result, "abstained", False)),
        ranked_sources=distinct(cited + retrieved), citations=citations, latency_ms=latency_ms, error=error,
    )


def run_system(system: SystemFn, questions: Sequence[Question], warmup: bool = True) -> list[Outcome]:
    """Ask every question (timed, wall clock); an exception becomes an empty, non-abstaining answer."""
    if warmup:
        system(WARMUP_QUESTION, None, ())  # loads models and indexes so the latencies are warm
    outcomes: list[Outcome] = []
    for q in questions:
        t = time.perf_counter()
        try:
            result: Any = system(q.question, q.role, q.turns)
            error = None
        except Exception as exc:  # noqa: BLE001 - one failing question must not stop the run
            result, error = {}, f"{type(exc).__name__}: {exc}"
        outcomes.append(to_outcome(q, result, (time.perf_counter() - t) * 1000, error))
    return outcomes


def split_report(questions: Sequence[Question], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Metrics for 'all' and for each split present: {"all": {...}, "dev": {...}, "holdout": {...}}."""
    by_id = {q.id: q for q in questions}
    report: dict[str, Any] = {"all": summarize_with_tags(outcomes)}
    for split in SPLITS:
        part = [o for o in outcomes if by_id[o.qid].split == split]
        if part:
            report[split] = summarize_with_tags(part)
    return report


def evaluate(systems: dict[str, SystemFn], questions: Sequence[Question], warmup: bool = True,
             log: LogFn | None = None) -> dict[str, Any]:
    """Run each system over the questions. Top-level keys = the first system's metrics (docs/architecture.md's
    `eval --json` contract); `systems` holds every system's metrics per split; `outcomes` per question."""
    per_system: dict[str, Any] = {}
    details: dict[str, list[dict[str, Any]]] = {}
    for name, system in systems.items():
        if log:
            log(f"running {name} on {len(questions)} questions")
        t = time.perf_counter()
        outcomes = run_system(system, questions, warmup=warmup)
        per_system[name] = split_report(questions, outcomes)
        per_system[name]["seconds"] = round(time.perf_counter() - t, 2)
        details[name] = [_outcome_detail(o) for o in outcomes]
    first = next(iter(per_system.values()))
    return {**first["all"], "systems": per_system, "outcomes": details}


def _outcome_detail(o: Outcome) -> dict[str, Any]:
    from assistant.evaluation.metrics import citation_counts, ndcg_at_k, reciprocal_rank, term_coverage

    supported, cited = citation_counts(o.citations, o.answer) if not o.abstained else (0, 0)
    row: dict[str, Any] = {
        "id": o.qid, "abstained": o.abstained, "should_abstain": o.should_abstain,
        "ranked_sources": o.ranked_sources[:10], "latency_ms": round(o.latency_ms, 1),
        "citations_supported": supported, "citations": cited,
    }
    if o.expected_sources and not o.should_abstain:
        row["rr"] = reciprocal_rank(o.ranked_sources, o.expected_sources)
        row["ndcg_at_10"] = round(ndcg_at_k(o.ranked_sources, o.expected_sources), 4)
    if o.expected_terms and not o.should_abstain:
        row["term_coverage"] = term_coverage(o.expected_terms, o.answer)
    if o.error:
        row["error"] = o.error
    return row


# ----------------------------------------------------------------------------- the eval command

BASELINE_NAMES: tuple[str, ...] = ("tutorial", "bm25", "dense")


def expand_baselines(names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for raw in names:
        for name in (n.strip().lower() for n in raw.split(",")):
            if not name:
                continue
            if name == "all":
                out.extend(BASELINE_NAMES)
            elif name in BASELINE_NAMES:
                out.append(name)
            else:
                raise EvalError(f"unknown baseline {name!r}; use {', '.join(BASELINE_NAMES)} or all")
    return list(dict.fromkeys(out))


def ask_in_conversation(assistant: Any, question: str, role: str | None, turns: Sequence[str]) -> Any:
    """The product in one chat: the earlier turns are asked first, in the same conversation."""
    conversation = assistant.new_conversation()
    for turn in turns:
        assistant.ask(turn, role=role, conversation=conversation)
    return assistant.ask(question, role=role, conversation=conversation)


def with_history(baseline: Callable[[str, str | None], Any]) -> SystemFn:
    """A single-question baseline in a chat: it gets the earlier turns prepended to the question (the
    usual history-concatenation of a retrieval pipeline without conversation handling)."""
    def system(question: str, role: str | None, turns: Sequence[str]) -> Any:
        return baseline(" ".join([*turns, question]), role)
    return system


def run_eval(questions_path: Path | None = None, corpus: Path | None = None, index: Path | None = None,
             baselines: Sequence[str] = (), split: str = "all", log: LogFn | None = None) -> dict[str, Any]:
    """What `isms-assistant eval` does: ingest (incremental), then product + baselines over the questions."""
    from assistant.evaluation.baselines import RetrieverBaseline, TutorialBaseline
    from assistant.service import Assistant

    questions_path = Path(questions_path or DEFAULT_QUESTIONS)
    questions = select_split(load_questions(questions_path), split)
    if not questions:
        raise EvalError(f"no questions in split {split!r} of {questions_path}")
    names = expand_baselines(baselines)
    # an evaluation is not a person asking: nothing goes to the audit trail
    assistant = Assistant(get_settings().model_copy(update={"audit_trail": False}), corpus_dir=corpus, index_dir=index)
    summary = assistant.ingest()
    if log:
        log(f"index generation {summary.generation}: {summary.files} files, {summary.chunks} chunks "
            f"({summary.embedded} embedded) in {summary.seconds:.1f} s")
    systems: dict[str, SystemFn] = {"product": lambda q, role, turns: ask_in_conversation(assistant, q, role, turns)}
    tutorial: TutorialBaseline | None = None
    try:
        for name in names:
            if name == "tutorial":
                if log:
                    log("building the tutorial baseline (RecursiveCharacterTextSplitter 1000/200 + Chroma)")
                t = time.perf_counter()
                tutorial = TutorialBaseline(assistant.settings.corpus_dir, assistant.settings)
                systems["tutorial"] = with_history(tutorial)
                if log:
                    log(f"tutorial baseline: {len(tutorial.chunks)} chunks indexed in {time.perf_counter() - t:.1f} s")
            else:
                systems[name] = with_history(RetrieverBaseline(assistant, "lexical" if name == "bm25" else "dense"))
        report = evaluate(systems, questions, log=log)
    finally:
        if tutorial is not None:
            tutorial.close()
    return {"questions": str(questions_path), "split": split, **report}


# ----------------------------------------------------------------------------- table

COLUMNS: tuple[tuple[str, str], ...] = (
    ("n", "n"), ("recall_at_5", "R@5"), ("mrr", "MRR"), ("ndcg_at_10", "nDCG@10"), ("term_coverage", "terms"),
    ("abstain_accuracy", "abst.acc"), ("abstain_recall", "abst.rec"), ("false_abstain_rate", "false abst"),
    ("citation_precision", "cite prec"), ("latency_ms_p50", "p50 ms"), ("latency_ms_p95", "p95 ms"),
    ("answer_chars_p50", "chars p50"), ("ask_coverage", "asks"),
)


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key == "n":
        return str(value)
    if key.startswith("latency"):
        return f"{value:.0f}"
    return f"{value:.3f}"


def build_table(report: dict[str, Any], title: str = "ISMS Assistant evaluation") -> Table:
    """One row per system and split (dev, holdout, then all when both are present)."""
    table = Table(title=title)
    table.add_column("split")
    table.add_column("system")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    systems: dict[str, Any] = report["systems"]
    first = next(iter(systems.values()))
    splits = [s for s in SPLITS if s in first]
    if len(splits) != 1:
        splits.append("all")
    for i, split in enumerate(splits):
        for j, (name, per_split) in enumerate(systems.items()):
            metrics = per_split.get(split)
            if metrics is None:
                continue
            table.add_row(split if j == 0 else "", name, *(_fmt(k, metrics.get(k)) for k, _ in COLUMNS),
                          end_section=(j == len(systems) - 1 and i < len(splits) - 1))
    return table


TABLE_WIDTH = 150


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = build_table(report, title=f"ISMS Assistant evaluation — {report.get('questions', '')}")
    if console.width < TABLE_WIDTH:  # never squeeze the numbers into "0.…"; let a narrow terminal wrap
        console = Console(file=console.file, width=TABLE_WIDTH, force_terminal=console.is_terminal)
    console.print(table)
    errors = {name: s["all"].get("errors", 0) for name, s in report["systems"].items()}
    if any(errors.values()):
        console.print("[yellow]errors:[/yellow] " + ", ".join(f"{k}: {v}" for k, v in errors.items() if v))
