"""Under load: the facade answers 200 questions from 8 threads (the Streamlit server serves sessions in
threads) with no errors and exactly the answers of a sequential run."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.service import Assistant

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
THREADS = 8
TOTAL = 200
ROLES = ("staff", "manager", "isms-lead")


def workload() -> list[tuple[str, str]]:
    questions = [json.loads(line)["question"] for line in (REPO / "evals" / "questions.jsonl").read_text().splitlines()
                 if line.strip()]
    questions += ["what does 5.15 require?", "A.9.2.5", "Operation Bluebell", "which risks does 8.13 treat?"]
    return [(questions[i % len(questions)], ROLES[i % len(ROLES)]) for i in range(TOTAL)]


def comparable(answer: Any) -> dict[str, Any]:
    out = answer.to_dict()
    out.pop("timings_ms")
    for c in out["citations"]:
        c["score"] = round(c["score"], 3)
    return out


def test_200_questions_from_8_threads_match_the_sequential_run(sample_index: Path) -> None:
    work = workload()
    settings = Settings(corpus_dir=REPO / "corpus", index_dir=sample_index)

    # Concurrent first, on a fresh facade: cold caches, lazy per-clearance indexes and the first index load
    # all race, which is where thread-safety bugs show.
    concurrent = Assistant(settings)
    errors: list[str] = []

    def one(item: tuple[str, str]) -> dict[str, Any] | None:
        question, role = item
        try:
            return comparable(concurrent.ask(question, role=role, llm=False))
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(f"{question!r} ({role}): {exc.__class__.__name__}: {exc}")
            return None

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        parallel = list(pool.map(one, work))
    seconds = time.perf_counter() - t0
    print(f"\nload: {TOTAL} questions, {THREADS} threads, {seconds:.1f} s, {TOTAL / seconds:.1f} q/s, "
          f"{len(errors)} errors")
    assert not errors, "\n".join(errors[:10])

    sequential_assistant = Assistant(settings)
    t0 = time.perf_counter()
    sequential = [comparable(sequential_assistant.ask(q, role=r, llm=False)) for q, r in work]
    print(f"sequential: {TOTAL} questions, {time.perf_counter() - t0:.1f} s")
    different = [work[i] for i in range(TOTAL) if parallel[i] != sequential[i]]
    assert not different, f"{len(different)} answers differ, e.g. {different[:3]}"
