"""Load through the organization deployment: two app processes (`isms-assistant ui` on two ports) on one
`chroma run` server and one PostgreSQL database (the audit trail on), driven by concurrent browser-free
sessions through Streamlit's agent API (`POST /_stcore/agent/interact`: each session is a real Streamlit
session on the server, the chat input fired as a browser user would). Sessions alternate between the two
processes; each asks its questions one after another.

    python evals/deployment_load.py [--sessions 20] [--questions 5] [--corpus corpus] [--json]

Prints questions per second (all sessions, wall clock), p50/p95 latency of one question (the request until
the finished page comes back), failures, and the audit rows counted in PostgreSQL afterwards against the
questions asked (none may be lost or doubled). Questions come from the dev split of evals/questions.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from evals.bench import _free_port, chroma_server  # noqa: E402
from evals.pg_server import start_postgres  # noqa: E402

CHAT_KEY = "chat_prompt"  # the chat page's st.chat_input key
ANSWERED = ("Sources (", "Closest documents", "don't cover")


def dev_questions(limit: int) -> list[str]:
    rows = [json.loads(line) for line in (REPO / "evals" / "questions.jsonl").read_text().splitlines()
            if line.strip() and not line.startswith("//")]
    return [r["question"] for r in rows if r.get("split") == "dev" and not r.get("turns")][:limit]


@contextmanager
def app_process(env: dict[str, str], port: int, log: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """`isms-assistant ui` on `port` with Streamlit's agent API on; yields its URL (named with `host`)."""
    cmd = [sys.executable, "-m", "assistant.cli", "ui", "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env={**env, "STREAMLIT_SERVER_ENABLE_AGENT_API": "true"},
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"app on {port} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_session(url: str, questions: list[str], latencies: list[float], failures: list[str]) -> None:
    """One browser-free session: create it, then ask each question through the chat input."""
    with httpx.Client(base_url=url, timeout=300) as client:
        created = client.post("/_stcore/agent/interact", json={}).json()
        session = created["session_id"]
        latencies_of_session: list[float] = []
        for question in questions:
            t0 = time.perf_counter()
            reply = client.post("/_stcore/agent/interact",
                                json={"session_id": session, "trigger": {"key": CHAT_KEY, "value": question}})
            elapsed = time.perf_counter() - t0
            body = reply.json() if reply.status_code == 200 else {}
            page = json.dumps(body.get("tree", ""), ensure_ascii=False)
            answers = sum(page.count(a) for a in ANSWERED)  # one per answer in the chat so far
            if body.get("status") != "ready" or answers < len(latencies_of_session) + 1:
                failures.append(f"{url} {question!r}: HTTP {reply.status_code} {str(body)[:200]}")
            latencies_of_session.append(elapsed)
        latencies.extend(latencies_of_session)


def count_questions(database: str, expected: int, wait: float = 20.0) -> int:
    """Audit rows of questions, once the apps' background writers caught up (or `wait` seconds passed)."""
    engine = create_engine(database)
    deadline = time.monotonic() + wait
    while True:
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM audit_events WHERE event = 'question'")).scalar() or 0
        if count >= expected or time.monotonic() > deadline:
            return int(count)
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--questions", type=int, default=5, help="questions per session")
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    questions = dev_questions(max(args.questions * 4, 20))
    server = start_postgres()
    if server is None:
        raise SystemExit("PostgreSQL binaries (initdb, pg_ctl) not found: run .ci/install-postgres.sh")
    work = Path(tempfile.mkdtemp(prefix="isms-load-"))
    try:
        database = server.new_database()
        with chroma_server(work / "chroma") as chroma_port:
            env = dict(os.environ, ISMS_CORPUS_DIR=str(args.corpus.resolve()), ISMS_INDEX_DIR=str(work / "index"),
                       ISMS_CHROMA_HOST="127.0.0.1", ISMS_CHROMA_PORT=str(chroma_port), ISMS_DATABASE_URL=database,
                       ISMS_AUDIT_TRAIL="true", HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
            for key in ("ISMS_AUTH_MODE", "ISMS_UI_ROLE", "ISMS_USERS_FILE"):
                env.pop(key, None)
            subprocess.run([sys.executable, "-m", "assistant.cli", "ingest"], cwd=REPO, env=env, check=True,
                           capture_output=True, timeout=1200)
            ports = [_free_port(), _free_port()]
            with app_process(env, ports[0], work / "app-1.log") as one, \
                 app_process(env, ports[1], work / "app-2.log") as two:
                for url in (one, two):  # load each process's index and model once, outside the timing
                    run_session(url, questions[:1], [], [])
                warm = count_questions(database, 2)
                latencies: list[float] = []
                failures: list[str] = []
                threads = [threading.Thread(target=run_session, args=(
                    (one, two)[i % 2],
                    [questions[(i * args.questions + j) % len(questions)] for j in range(args.questions)],
                    latencies, failures)) for i in range(args.sessions)]
                t0 = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - t0
                asked = args.sessions * args.questions
                audited = count_questions(database, warm + asked) - warm
    finally:
        server.stop()
    ordered = sorted(latencies)
    result = {
        "processes": 2, "sessions": args.sessions, "questions": asked, "seconds": round(wall, 2),
        "questions_per_second": round(asked / wall, 2),
        "p50_ms": round(statistics.median(ordered) * 1000),
        "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000),
        "failures": len(failures), "audit_rows": audited, "audit_rows_missing": asked - audited,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
        for failure in failures[:5]:
            print("failure:", failure)


if __name__ == "__main__":
    main()
