"""Latency of `POST /v1/ask` over real HTTP (uvicorn on 127.0.0.1, one keep-alive client) next to the same
questions asked in-process (`Assistant.ask`), on one index, one run, alternating the two per question.

    python evals/api_latency.py --index /path/to/index [--questions evals/questions.jsonl] [--n 60]

Prints p50/p95 in ms for both and the HTTP overhead. The grounded answerer only (no LLM). A warm-up pass asks
every question once on both paths first, so both time the same warm work (question vectors cached).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from assistant.api_tokens import TokenStore, add_token
from assistant.config import Settings
from assistant.doors.http_api import create_app
from assistant.service import Assistant


def percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return {"p50": round(statistics.median(values), 1), "p95": round(cuts[18], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="index folder (default: ISMS_INDEX_DIR)")
    parser.add_argument("--questions", type=Path, default=Path("evals/questions.jsonl"))
    parser.add_argument("--n", type=int, default=60, help="questions to time (the first n of the set)")
    args = parser.parse_args()
    settings = Settings(**({"index_dir": args.index} if args.index else {}), api_rate_per_minute=100_000,
                        llm_base_url=None)
    assistant = Assistant(settings)
    questions = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    asks = [(q.get("question") or q["turns"][0]["question"], q.get("role", "staff")) for q in questions][: args.n]
    with tempfile.TemporaryDirectory() as work:
        tokens_file = Path(work) / "tokens.json"
        tokens = {role: add_token(tokens_file, role, role, set(settings.roles)) for role in settings.roles}
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(assistant, TokenStore(tokens_file)), host="127.0.0.1",
                                               port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        in_process: list[float] = []
        over_http: list[float] = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for question, role in asks:  # warm-up: every question vector cached, so both paths time the same work
                assistant.ask(question, role=role, llm=False)
                client.post("/v1/ask", json={"question": question, "llm": False},
                            headers={"Authorization": f"Bearer {tokens[role]}"})
            for question, role in asks:
                t0 = time.perf_counter()
                assistant.ask(question, role=role, llm=False)
                in_process.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                resp = client.post("/v1/ask", json={"question": question, "llm": False},
                                   headers={"Authorization": f"Bearer {tokens[role]}"})
                over_http.append((time.perf_counter() - t0) * 1000)
                resp.raise_for_status()
        server.should_exit = True
    report = {"questions": len(asks), "in_process_ms": percentiles(in_process), "http_ms": percentiles(over_http)}
    report["http_overhead_ms_p50"] = round(report["http_ms"]["p50"] - report["in_process_ms"]["p50"], 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
