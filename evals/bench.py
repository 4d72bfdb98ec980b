"""Performance benchmarks: answer latency by stage, ingest throughput, scale, Chroma server mode.

One run prints tables (or JSON with --json). Figures are from one run on whatever machine runs it;
on a shared machine read the ratios (and the load average printed with them), not absolute times.

    python evals/bench.py                        # latency (+ LangChain tutorial baseline), ingest, cold ask
    python evals/bench.py --scale 1000,10000     # plus synthetic corpora of that many documents
    python evals/bench.py --chroma-server        # plus the query benchmark against `chroma run`
    python evals/bench.py --tiny --json          # a handful of documents and questions (CI smoke run)
    isms-assistant bench [same options]

Sections:
1. latency: warm `ask` (grounded composer, model loaded, index open) over the dev questions, p50/p95
   per stage (Answer.timings_ms). "first" = each question asked for the first time in the process
   (query embedding not cached); "repeat" = the same questions again (caches hot). Versus the
   LangChain tutorial pipeline's retrieval (assistant/evaluation/baselines.py) on the same questions.
2. ingest: fresh ingest chunks/s vs SentenceTransformer.encode alone on the same chunk texts (model
   loaded before both; encode alone timed before and after the ingest, the mean compared), and the
   seconds of an unchanged re-ingest.
3. scale: synthetic corpora (evals/synth_corpus.py), each ingested and queried in a child process:
   ingest time, index size on disk, peak RSS of that process, query p50/p95.
4. server: the latency benchmark against a `chroma run` server on 127.0.0.1 (vectors copied from
   the local index, not re-embedded) next to the embedded client on the same index.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script or loaded by the CLI: make `evals` and `assistant` importable
    sys.path.insert(0, str(REPO))

from assistant.config import Settings  # noqa: E402
from assistant.evaluation.harness import DEFAULT_QUESTIONS, WARMUP_QUESTION, load_questions, select_split  # noqa: E402
from assistant.evaluation.metrics import percentile  # noqa: E402

SAMPLE_CORPUS = REPO / "corpus"
STAGES = ("analysis", "embed", "dense", "lexical", "fusion", "retrieve", "answer", "total")
TINY_FILES = ["procedures/backup-and-restore-procedure.md", "policies/remote-working-policy.md",
              "people/new-starter-security-guide.txt"]
TINY_QUESTIONS = 4
LogFn = Callable[[str], None]


def log_stderr(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def p50_p95(values: list[float]) -> dict[str, float | None]:
    return {"p50": _round(percentile(values, 50)), "p95": _round(percentile(values, 95))}


def _round(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def dir_size_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1_048_576, 2)


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def bench_questions(tiny: bool) -> list[tuple[str, str | None]]:
    questions = select_split(load_questions(DEFAULT_QUESTIONS), "dev")
    if tiny:
        questions = questions[:TINY_QUESTIONS]
    return [(q.question, q.role) for q in questions]


def tiny_corpus(dest: Path) -> Path:
    for rel in TINY_FILES:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE_CORPUS / rel, dest / rel)
    return dest


# ----------------------------------------------------------------------------------- 1. latency
def time_asks(assistant: Any, questions: list[tuple[str, str | None]]) -> dict[str, dict[str, float | None]]:
    """Ask every question once (grounded path); p50/p95 per stage of Answer.timings_ms."""
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    for question, role in questions:
        answer = assistant.ask(question, role=role, llm=False)
        for stage in STAGES:
            per_stage[stage].append(float(answer.timings_ms.get(stage, 0.0)))
    return {stage: p50_p95(values) for stage, values in per_stage.items()}


def latency_section(assistant: Any, corpus: Path, questions: list[tuple[str, str | None]], baseline: bool,
                    log: LogFn) -> dict[str, Any]:
    assistant.ask(WARMUP_QUESTION, llm=False)  # model loaded, index open, lexical index built
    log(f"latency: {len(questions)} questions, first pass")
    first = time_asks(assistant, questions)
    log("latency: repeat pass")
    repeat = time_asks(assistant, questions)
    out: dict[str, Any] = {"questions": len(questions), "first": first, "repeat": repeat, "tutorial": None}
    if baseline:
        from assistant.evaluation.baselines import TutorialBaseline

        log("latency: building the LangChain tutorial pipeline (embeds the corpus again)")
        t = time.perf_counter()
        tutorial = TutorialBaseline(corpus, assistant.settings)
        build_s = time.perf_counter() - t
        try:
            tutorial(WARMUP_QUESTION, None)
            times = []
            for question, role in questions:
                t = time.perf_counter()
                tutorial(question, role)
                times.append((time.perf_counter() - t) * 1000)
        finally:
            tutorial.close()
        out["tutorial"] = {"retrieve": p50_p95(times), "build_seconds": round(build_s, 1),
                           "chunks": len(tutorial.chunks)}
    return out


# ----------------------------------------------------------------------------------- 2. ingest
def ingest_section(assistant: Any, log: LogFn) -> dict[str, Any]:
    from assistant.index import store
    from assistant.ingest.pipeline import run_ingest

    embedder = assistant.embedder
    embedder.encode(["warm up"])  # model loaded before both timings (torch or the int8 backend)
    # a probe ingest into a throw-away folder tells which chunk texts the timed ingest will embed, so that
    # encode alone can be timed before and after it
    probe_dir = assistant.settings.index_dir.parent / "index-probe"
    run_ingest(assistant.settings.model_copy(update={"index_dir": probe_dir, "sentence_vectors": False}),
               embedder=embedder)
    texts = [c.embedding_text() for c in store.load_generation(probe_dir).chunks]
    shutil.rmtree(probe_dir, ignore_errors=True)

    def encode_alone() -> float:
        t = time.perf_counter()
        embedder.encode(texts)
        return time.perf_counter() - t

    # Run-to-run noise of encode alone on 2 cores is about ±10 %: time it before and after the ingest and
    # compare the ingest with the mean of the two.
    log(f"ingest: encode alone on the {len(texts)} chunk texts (before the ingest)")
    encode_before = encode_alone()
    log(f"ingest: fresh ingest of {assistant.settings.corpus_dir}")
    summary = assistant.ingest()
    chunks = store.load_generation(assistant.settings.index_dir).chunks
    if sorted(c.embedding_text() for c in chunks) != sorted(texts):
        raise RuntimeError("the ingest embedded other chunk texts than the bench read")
    log("ingest: encode alone again (after the ingest)")
    encode_after = encode_alone()
    encode_s = (encode_before + encode_after) / 2
    log("ingest: unchanged re-ingest")
    again = assistant.ingest()
    if again.embedded or again.changed_anything:
        raise RuntimeError("an unchanged re-ingest embedded or changed something")
    live_rate = summary.chunks / summary.live_seconds if summary.live_seconds else 0.0
    ingest_rate = summary.chunks / summary.seconds if summary.seconds else 0.0
    encode_rate = len(texts) / encode_s if encode_s else 0.0
    return {
        "files": summary.files, "chunks": summary.chunks, "live_seconds": round(summary.live_seconds, 2),
        "embed_seconds": round(summary.embed_seconds, 2),
        "sentences_embedded": summary.sentences_embedded, "sentence_seconds": round(summary.sentence_seconds, 2),
        "ingest_seconds": round(summary.seconds, 2), "chunks_per_s_to_live": round(live_rate, 2),
        "chunks_per_s": round(ingest_rate, 2),
        "encode_only_seconds": round(encode_s, 2), "encode_only_chunks_per_s": round(encode_rate, 2),
        "encode_only_before_after_seconds": [round(encode_before, 2), round(encode_after, 2)],
        # ratio: until the index answers (the measure); ratio_with_sentences: including the
        # sentence-vector pass that follows (what makes first-time answers need no model call)
        "ratio": round(live_rate / encode_rate, 3) if encode_rate else None,
        "ratio_with_sentences": round(ingest_rate / encode_rate, 3) if encode_rate else None,
        "reingest_unchanged_seconds": round(again.seconds, 2),
        "index_mb": dir_size_mb(assistant.settings.index_dir),
    }


# ----------------------------------------------------------------------------------- cold start
def cold_ask_section(index: Path, question: str) -> dict[str, Any]:
    """Wall time of a fresh `isms-assistant ask --json` process (imports, model load, index open, answer)."""
    env = {**os.environ, "ISMS_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1"}
    script = Path(sys.executable).parent / "isms-assistant"
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "assistant.cli"]
    cmd = [*launcher, "ask", question, "--json", "--no-llm"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"cold ask failed ({proc.returncode}): {proc.stderr[-500:]}")
    timings = json.loads(proc.stdout).get("timings_ms", {})
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import assistant.cli"], check=True, timeout=120, cwd=REPO)
    import_cli = time.perf_counter() - t
    return {"wall_seconds": round(wall, 2), "in_process_total_ms": timings.get("total"),
            "import_cli_seconds": round(import_cli, 2)}


# ----------------------------------------------------------------------------------- 3. scale
def scale_point(corpus: Path, index: Path, tiny: bool, backend: str = "torch") -> dict[str, Any]:
    """Runs in a child process (so peak RSS is this corpus's): ingest, then the query benchmark."""
    from assistant.service import Assistant

    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=index, embedding_backend=backend))
    summary = assistant.ingest()
    questions = bench_questions(tiny)
    assistant.ask(WARMUP_QUESTION, llm=False)
    first = time_asks(assistant, questions)
    return {"backend": backend, "files": summary.files, "chunks": summary.chunks,
            "ingest_seconds": round(summary.seconds, 1), "live_seconds": round(summary.live_seconds, 1),
            "embed_seconds": round(summary.embed_seconds, 1), "query_total": first["total"],
            "query_retrieve": first["retrieve"], "query_stages": first, "peak_rss_mb": peak_rss_mb()}


def scale_section(sizes: list[int], work: Path, tiny: bool, log: LogFn, backend: str = "torch") -> list[dict[str, Any]]:
    from evals.synth_corpus import build

    rows = []
    for n in sizes:
        corpus, index = work / f"synth-{n}", work / f"index-synth-{n}"
        build(corpus, n)
        log(f"scale: {n} synthetic documents → ingest ({backend}) and query in a child process")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--scale-point", "--corpus", str(corpus),
               "--index", str(index), "--scale-backend", backend] + (["--tiny"] if tiny else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            raise RuntimeError(f"scale point {n} failed: {proc.stderr[-1000:]}")
        row = {"docs": n, **json.loads(proc.stdout.strip().splitlines()[-1]), "index_mb": dir_size_mb(index),
               "corpus_mb": dir_size_mb(corpus)}
        rows.append(row)
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.rmtree(index, ignore_errors=True)
    return rows


# ----------------------------------------------------------------------------------- 4. server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def chroma_server(data_dir: Path) -> Iterator[int]:
    """A `chroma run` server on 127.0.0.1 (a free port), stopped on exit."""
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        raise RuntimeError(f"`chroma` CLI not found next to {sys.executable}")
    port = _free_port()
    proc = subprocess.Popen([str(chroma), "run", "--path", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as resp:
                    json.load(resp)
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"chroma server exited with {proc.returncode}") from None
                if time.time() > deadline:
                    raise RuntimeError("chroma server did not answer its heartbeat within 60 s") from None
                time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def copy_index_to_server(settings: Settings, local_index: Path, server_index: Path, port: int) -> Settings:
    """Same generation files; vectors copied from the embedded collection into the server (no re-embedding)."""
    from assistant.index import store
    from assistant.index.collection import VectorStore

    number = store.read_current(local_index)
    if number is None:
        raise RuntimeError(f"no index at {local_index}")
    server_index.mkdir(parents=True, exist_ok=True)
    shutil.copytree(store.gen_dir(local_index, number), store.gen_dir(server_index, number))
    shutil.copy(local_index / store.CURRENT, server_index / store.CURRENT)
    source = VectorStore(settings, local_index).open(number)
    remote_settings = settings.model_copy(update={"index_dir": server_index, "chroma_host": "127.0.0.1",
                                                  "chroma_port": port})
    target = VectorStore(remote_settings, server_index).create(number)
    total = target.copy_from(source)
    if target.count() != total:
        raise RuntimeError(f"copied {target.count()} of {total} vectors to the server")
    return remote_settings


def server_section(settings: Settings, work: Path, questions: list[tuple[str, str | None]],
                   log: LogFn) -> dict[str, Any]:
    from assistant.service import Assistant

    with chroma_server(work / "chroma-server-data") as port:
        log(f"server: chroma run on 127.0.0.1:{port}; copying vectors")
        remote = copy_index_to_server(settings, settings.index_dir, work / "index-server", port)
        assistant = Assistant(remote)
        assistant.ask(WARMUP_QUESTION, llm=False)
        server = time_asks(assistant, questions)
    local = Assistant(settings)
    local.ask(WARMUP_QUESTION, llm=False)
    embedded = time_asks(local, questions)
    return {"questions": len(questions), "server": server, "embedded": embedded}


# ----------------------------------------------------------------------------------- run + print
def run(tiny: bool = False, scale: list[int] | None = None, chroma: bool = False, baseline: bool = True,
        cold: bool = True, workdir: Path | None = None, log: LogFn = log_stderr,
        scale_backend: str = "torch") -> dict[str, Any]:
    from assistant.service import Assistant

    owned = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="isms-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_avg_start": load_avg(), "python": sys.version.split()[0],
                    "tiny": tiny},
    }
    started = time.perf_counter()
    try:
        corpus = tiny_corpus(work / "corpus") if tiny else SAMPLE_CORPUS
        settings = Settings(corpus_dir=corpus, index_dir=work / "index")
        assistant = Assistant(settings)
        questions = bench_questions(tiny)
        report["ingest"] = ingest_section(assistant, log)
        report["latency"] = latency_section(assistant, corpus, questions, baseline, log)
        report["cold_ask"] = cold_ask_section(settings.index_dir, questions[0][0]) if cold else None
        report["scale"] = scale_section(scale, work, tiny, log, scale_backend) if scale else []
        report["server"] = server_section(settings, work, questions, log) if chroma else None
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)
    report["machine"]["load_avg_end"] = load_avg()
    report["machine"]["bench_seconds"] = round(time.perf_counter() - started, 1)
    report["machine"]["peak_rss_mb"] = peak_rss_mb()
    return report


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:g}" if isinstance(x, float) else str(x)


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    m = report["machine"]
    console.print(f"[bold]ISMS Assistant benchmark[/bold] — {m['cpus']} CPUs, load average {m['load_avg_start']} → "
                  f"{m.get('load_avg_end')}, {m.get('bench_seconds')} s" + (" (tiny)" if m["tiny"] else ""))
    lat = report["latency"]
    table = Table(title=f"1. Warm ask latency, ms ({lat['questions']} dev questions, grounded composer)")
    table.add_column("stage")
    for col in ("first p50", "first p95", "repeat p50", "repeat p95"):
        table.add_column(col, justify="right")
    for stage in STAGES:
        f, r = lat["first"][stage], lat["repeat"][stage]
        table.add_row(stage, _fmt(f["p50"]), _fmt(f["p95"]), _fmt(r["p50"]), _fmt(r["p95"]))
    if lat.get("tutorial"):
        t = lat["tutorial"]["retrieve"]
        table.add_row("LangChain tutorial retrieval", _fmt(t["p50"]), _fmt(t["p95"]), "", "")
        prod = lat["first"]["retrieve"]
        if prod["p50"] and t["p50"]:
            table.add_row("retrieve ÷ tutorial", f"{prod['p50'] / t['p50']:.2f}×",
                          f"{(prod['p95'] or 0) / (t['p95'] or 1):.2f}×", "", "")
    console.print(table)
    ing = report["ingest"]
    table = Table(title="2. Ingest throughput")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("files", "chunks", "live_seconds", "embed_seconds", "sentences_embedded", "sentence_seconds",
                "ingest_seconds", "chunks_per_s_to_live", "chunks_per_s", "encode_only_before_after_seconds",
                "encode_only_seconds",
                "encode_only_chunks_per_s", "ratio", "ratio_with_sentences", "reingest_unchanged_seconds", "index_mb"):
        table.add_row(key, _fmt(ing[key]))
    if report.get("cold_ask"):
        for key, value in report["cold_ask"].items():
            table.add_row(f"cold ask: {key}", _fmt(value))
    console.print(table)
    if report.get("scale"):
        table = Table(title="3. Scale (synthetic corpora; each in its own process; "
                      f"{report['scale'][0].get('backend', 'torch')} document embeddings)")
        for col in ("docs", "chunks", "ingest s", "index MB", "peak RSS MB", "query p50 ms", "query p95 ms",
                    "retrieve p50 ms", "retrieve p95 ms", "dense p95 ms", "lexical p95 ms", "p95 vs first"):
            table.add_column(col, justify="right")
        base_p95 = report["scale"][0]["query_total"]["p95"]
        for row in report["scale"]:
            stages = row.get("query_stages", {})
            growth = round(row["query_total"]["p95"] / base_p95, 2) if base_p95 else None
            table.add_row(*(_fmt(v) for v in (row["docs"], row["chunks"], row["ingest_seconds"], row["index_mb"],
                                               row["peak_rss_mb"], row["query_total"]["p50"], row["query_total"]["p95"],
                                               row["query_retrieve"]["p50"], row["query_retrieve"]["p95"],
                                               stages.get("dense", {}).get("p95"), stages.get("lexical", {}).get("p95"),
                                               growth)))
        console.print(table)
    if report.get("server"):
        srv = report["server"]
        table = Table(title=f"4. Chroma server vs embedded, ms ({srv['questions']} questions; query vectors cached)")
        table.add_column("stage")
        for col in ("server p50", "server p95", "embedded p50", "embedded p95"):
            table.add_column(col, justify="right")
        for stage in ("dense", "retrieve", "total"):
            s, e = srv["server"][stage], srv["embedded"][stage]
            table.add_row(stage, _fmt(s["p50"]), _fmt(s["p95"]), _fmt(e["p50"]), _fmt(e["p95"]))
        console.print(table)


def parse_sizes(text: str | None) -> list[int]:
    if not text:
        return []
    sizes = [int(x) for x in text.split(",") if x.strip()]
    if any(n <= 0 for n in sizes):
        raise argparse.ArgumentTypeError("--scale takes positive document counts, e.g. 1000,10000")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="isms-assistant bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a handful of documents and questions (CI)")
    parser.add_argument("--scale", type=parse_sizes, default=[], help="synthetic corpus sizes, e.g. 1000,10000")
    parser.add_argument("--scale-backend", choices=["torch", "onnx-int8"], default="torch",
                        help="document embeddings of the synthetic corpora (onnx-int8: ~1.7x faster ingest)")
    parser.add_argument("--chroma-server", action="store_true", help="also benchmark against `chroma run`")
    parser.add_argument("--no-baseline", action="store_true", help="skip the LangChain tutorial pipeline")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold `ask` process timing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON report to this file")
    parser.add_argument("--workdir", type=Path, help="keep indexes and corpora here (default: a temp dir, removed)")
    parser.add_argument("--scale-point", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scale_point:
        print(json.dumps(scale_point(args.corpus, args.index, args.tiny, args.scale_backend)))
        return 0
    report = run(tiny=args.tiny, scale=args.scale, chroma=args.chroma_server, baseline=not args.no_baseline,
                 cold=not args.no_cold, workdir=args.workdir, scale_backend=args.scale_backend)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
