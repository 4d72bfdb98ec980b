"""Profile warm first-time `ask` calls (grounded path) and print where the time goes.

    python evals/profile_ask.py [--index DIR] [--top 15]

Loads the model and the index, warms up with one question, then profiles each dev question of
evals/questions.jsonl asked once (first time in the process: no query-vector cache hit) with cProfile
and prints the functions with the most own time and the most cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
from pathlib import Path

from assistant.service import Assistant

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--questions", type=Path, default=REPO / "evals/questions.jsonl")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    assistant = Assistant(index_dir=args.index)
    if not assistant.has_index():
        assistant.ingest()
    rows = [json.loads(line) for line in args.questions.open(encoding="utf-8") if line.strip()]
    dev = [r for r in rows if r.get("split", "dev") == "dev"]
    assistant.ask("warm-up: who approves access requests?", llm=False)
    profiler = cProfile.Profile()
    profiler.enable()
    for row in dev:
        assistant.ask(row["question"], role=row.get("role", "staff"), llm=False)
    profiler.disable()
    for sort in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort)
        stats.print_stats(args.top)
        print(f"=== {len(dev)} first-time questions, by {sort} ===")
        print(out.getvalue().split("\n", 6)[-1] if "ncalls" in out.getvalue() else out.getvalue())


if __name__ == "__main__":
    main()
