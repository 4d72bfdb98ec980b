"""What the audit trail costs an answer: in-process `Assistant.ask` latency with the trail on (SQLite, the
background writer) and off, on one index, alternating the two per question after a warm-up pass.

    python evals/audit_overhead.py --index /path/to/index [--questions evals/questions.jsonl]

Prints p50/p95 in ms for both, and how many events the writer stored (and failed to).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from assistant.config import Settings
from assistant.service import Assistant

REPO = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, round(q * len(ordered)) - 1)] * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=REPO / "evals" / "questions.jsonl")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.questions.read_text().splitlines()
            if line.strip() and not line.startswith("//")]
    questions = [r["question"] for r in rows if not r.get("turns")]
    database = Path(tempfile.mkdtemp(prefix="isms-audit-")) / "app.db"
    on = Assistant(Settings(index_dir=args.index, database_url=f"sqlite:///{database}"))
    off = Assistant(Settings(index_dir=args.index, audit_trail=False))
    for question in questions:  # warm both: question vectors cached, index loaded
        on.ask(question, role="staff", user="warm-up")
        off.ask(question, role="staff")
    with_trail: list[float] = []
    without: list[float] = []
    for question in questions:
        t0 = time.perf_counter()
        on.ask(question, role="staff", user="bench")
        with_trail.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        off.ask(question, role="staff")
        without.append(time.perf_counter() - t0)
    on.audit_trail.flush(30.0)
    print(json.dumps({"questions": len(questions), "audit_on_p50_ms": percentile(with_trail, 0.5),
                      "audit_on_p95_ms": percentile(with_trail, 0.95), "audit_off_p50_ms": percentile(without, 0.5),
                      "audit_off_p95_ms": percentile(without, 0.95), "written": on.audit_trail.written,
                      "failed": on.audit_trail.failed}))


if __name__ == "__main__":
    main()
