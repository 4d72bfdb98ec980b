"""Per class of hostile input: how many nasty files, how many the ingest gets wrong. For the reliability report.

Writes the nasty corpus of tests/nasty_files.py once per folder of it (each folder in its own corpus, with
the good files beside it), ingests each corpus in a child process with a time limit, and judges every
file by the rules of tests/test_fuzz_ingest.py: indexed or skipped as expected, a skip reason that names
the problem, no text from outside the corpus in the index. A crash or a hang fails every file of its corpus.

    python evals/fault_table.py                      # this checkout's ingest
    python evals/fault_table.py --code /tmp/old      # another checkout's ingest (e.g. before a fix)
    python evals/fault_table.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from nasty_files import GOOD_DOCS, Nasty, judge, write_nasty_corpus  # noqa: E402

# Run in the child: ingest with the code on PYTHONPATH, print indexed files, skip reasons and chunk texts.
CHILD = """
import json, sys
from pathlib import Path
from assistant.config import Settings
from assistant.index import store
from assistant.ingest.pipeline import run_ingest
corpus, index = Path(sys.argv[1]), Path(sys.argv[2])
summary = run_ingest(Settings(corpus_dir=corpus, index_dir=index, per_file_seconds=20.0))
gen = store.load_generation(index)
print(json.dumps({"indexed": sorted(gen.manifest["files"]), "skipped": summary.skipped,
                  "texts": [c.text for c in gen.chunks]}))
"""


def top(case: Nasty) -> str:
    return case.rel.split("/", 1)[0]


def corpus_of_folder(folder: Path, name: str) -> list[Nasty]:
    """The nasty corpus reduced to one of its folders (plus the good files); returns the cases it keeps.
    (Cases are removed by folder, not by file: some file names are not what the report prints.)"""
    corpus, outside = folder / "corpus", folder / "outside"
    cases = write_nasty_corpus(corpus, outside)
    keep_tops = {name} | {top(Nasty(rel, "", "")) for rel in GOOD_DOCS}
    for entry in corpus.iterdir():
        if entry.name not in keep_tops:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    return [c for c in cases if top(c) in keep_tops]


def judge_result(case: Nasty, result: dict | None) -> str | None:
    """judge() of tests/nasty_files.py, plus: a crash or hang fails the case; no outside text in the index."""
    if result is None:
        return "the ingest crashed or hung"
    why = judge(case, set(result["indexed"]), result["skipped"])
    if why is None and case.secret and any(case.secret in t for t in result["texts"]):
        return "text from outside the corpus was indexed"
    return why


def run(code: Path, timeout: float) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="isms-faults-"))
    try:
        probe = write_nasty_corpus(work / "probe" / "corpus", work / "probe" / "outside")
        good_tops = {top(c) for c in probe if c.rel in GOOD_DOCS}
        folders = list(dict.fromkeys(top(c) for c in probe if top(c) not in good_tops))
        env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
        rows: dict[str, dict] = {}
        for i, name in enumerate(folders):
            folder = work / f"folder-{i:02d}"
            cases = corpus_of_folder(folder, name)
            try:
                proc = subprocess.run([sys.executable, "-c", CHILD, str(folder / "corpus"), str(folder / "index")],
                                      capture_output=True, text=True, timeout=timeout, env=env, cwd=code)
                result = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
                error = None if result else (proc.stderr.strip().splitlines() or ["no output"])[-1]
            except subprocess.TimeoutExpired:
                result, error = None, f"no answer within {timeout:g} s"
            for case in cases:
                kind = "good file (beside the nasty ones)" if case.rel in GOOD_DOCS else case.kind
                row = rows.setdefault(kind, {"kind": kind, "cases": 0, "failures": 0, "errors": [], "notes": []})
                row["cases"] += 1
                why = judge_result(case, result)
                if why:
                    row["failures"] += 1
                    row["notes"].append(f"{case.rel}: {why}")
                if error and error[:200] not in row["errors"]:
                    row["errors"].append(error[:200])
            print(f"[faults] {name}/: {'crashed or hung: ' + error if error else 'ran'}", file=sys.stderr, flush=True)
        return list(rows.values())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose `assistant` package ingests")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per class before it counts as a hang")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(args.code.resolve(), args.timeout)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| class of fault | cases | handled wrongly | crash / hang of the ingest |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['kind']} | {row['cases']} | {row['failures']} | {'; '.join(row['errors'])} |")
    print(f"| **all** | {sum(r['cases'] for r in rows)} | {sum(r['failures'] for r in rows)} | |")


if __name__ == "__main__":
    main()
