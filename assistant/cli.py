"""The `isms-assistant` command. Thin: every command calls the service facade."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assistant.errors import ISMSError

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(help="ISMS Assistant: grounded answers over your ISO/IEC 27001 ISMS documents.",
                  no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True)

IndexOpt = Annotated[Path | None, typer.Option("--index", help="index folder (default: ISMS_INDEX_DIR or user data dir)")]
CorpusOpt = Annotated[Path | None, typer.Option("--corpus", help="corpus folder (default: ISMS_CORPUS_DIR or the sample corpus)")]
RoleOpt = Annotated[str | None, typer.Option("--role", help="role deciding what you may see (staff, manager, isms-lead)")]
LlmOpt = Annotated[bool | None, typer.Option(
    "--llm/--no-llm", help="answer with the LLM endpoint (verified citations, grounded fallback); "
                           "default: on when ISMS_LLM_BASE_URL is set")]


# What a user can fix (a missing index, a locked ingest, a bad question or control id, a missing file):
# printed as one "error:" line with exit status 2 by `reports_errors`; anything else is a bug and keeps
# its traceback.
USER_ERRORS = (ISMSError, ValueError, FileNotFoundError, PermissionError)


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line error (exit status 2)."""
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(2)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """The one error handler of the CLI: a user error ends the command through `fail`."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as exc:
            fail(str(exc))

    return run


def _assistant(index: Path | None = None, corpus: Path | None = None):  # noqa: ANN202
    from assistant.service import Assistant

    return Assistant(index_dir=index, corpus_dir=corpus)


def print_summary(summary) -> None:  # noqa: ANN001 - IngestSummary
    console.print(
        f"[bold]Index generation {summary.generation}[/bold]: {summary.files} files, {summary.chunks} chunks "
        f"({summary.embedded} embedded, {summary.copied} reused) in {summary.seconds:.1f} s"
    )
    if summary.sentences_embedded:
        console.print(f"  live after {summary.live_seconds:.1f} s; then {summary.sentences_embedded} answer sentences "
                      f"embedded in {summary.sentence_seconds:.1f} s")
    console.print(f"  added {len(summary.added)} · changed {len(summary.changed)} · removed {len(summary.removed)} "
                  f"· unchanged {len(summary.unchanged)} · skipped {len(summary.skipped)}")
    for source in summary.removed:
        console.print(f"  [yellow]removed[/yellow] {source}")
    for source, reason in sorted(summary.skipped.items()):
        kept = " (previous version kept)" if source in summary.kept_previous else ""
        console.print(f"  [red]skipped[/red] {escape(source)}: {escape(reason)}{kept}")
    for source, errors in sorted(summary.register_errors.items()):
        console.print(f"  [yellow]register[/yellow] {source}: {len(errors)} row error(s)")
        for e in errors[:10]:
            console.print(f"      {escape(str(e))}")
    for source, notes in sorted(summary.notes.items()):
        console.print(f"  [dim]note[/dim] {source}: {'; '.join(notes)}")


def _ingest_with_progress(assistant):  # noqa: ANN001, ANN202 - Assistant, IngestSummary
    """Ingest with a progress bar per stage (files read, passages embedded, answer sentences): done/total, rate,
    elapsed and time left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed:.1f}/s" if task.speed else "", style="progress.data.speed")

    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
               TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return assistant.ingest(progress=progress)


@app.command()
@reports_errors
def ingest(corpus: CorpusOpt = None, index: IndexOpt = None,
           json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False) -> None:
    """Index a corpus folder incrementally (unchanged files are skipped)."""
    assistant = _assistant(index, corpus)
    summary = assistant.ingest() if json_out or not sys.stderr.isatty() else _ingest_with_progress(assistant)
    if json_out:
        print(json.dumps(summary.to_dict(), indent=1))
    else:
        print_summary(summary)


@app.command()
@reports_errors
def status(index: IndexOpt = None) -> None:
    """Show what the index holds."""
    print(json.dumps(_assistant(index).status(), indent=1))


def _print_answer(answer, show_sources: bool = False, text: bool = True) -> None:  # noqa: ANN001 - Answer
    if answer.notice:
        err.print(f"[yellow]{escape(answer.notice)}[/yellow]")
    if text:
        print(answer.answer)
    if answer.citations:
        console.print()
        for c in answer.citations:
            print(f"[{c.n}] {c.source} — {c.section} ({c.span})")
            if show_sources:
                print("    " + c.text.replace("\n", "\n    "))


def _who() -> str:
    """Who is asking on the command line, for the audit trail: the operating-system account."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _live_output() -> bool:
    """Stream LLM text only to a terminal; pipes and files get just the verified answer."""
    return sys.stdout.isatty()


def _stream_answer(assistant, question: str, role: str | None, conversation, llm: bool | None,  # noqa: ANN001
                   show_sources: bool = False):  # noqa: ANN202 - Answer
    """LLM path: print each sentence as it passes verification, then the citations; when the answer fell back
    to the grounded one (endpoint failure, too little verified, the model declined), print that after a rule."""
    streamed = ""
    answer = None
    for item in assistant.ask_stream(question, role=role, conversation=conversation, llm=llm, user=_who()):
        if isinstance(item, str):
            streamed += item
            sys.stdout.write(item)
            sys.stdout.flush()
        else:
            answer = item
    if streamed:
        sys.stdout.write("\n")
        sys.stdout.flush()
    same = bool(streamed) and streamed.strip() == answer.answer.strip()
    if streamed and not same:
        err.print("[yellow]── " + ("verified answer" if answer.answerer == "llm" else "the answer quoted from the "
                                   "documents") + " ──[/yellow]")
    _print_answer(answer, show_sources, text=not same)
    return answer


@app.command()
@reports_errors
def ask(question: Annotated[str, typer.Argument(help="your question")], role: RoleOpt = None, index: IndexOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="print the answer as JSON")] = False,
        sources: Annotated[bool, typer.Option("--sources", help="print the cited passages")] = False,
        llm: LlmOpt = None) -> None:
    """Ask one question; the answer cites the document sections it used."""
    assistant = _assistant(index)
    if not json_out and _live_output() and assistant.use_llm(llm):
        _stream_answer(assistant, question, role, None, llm, sources)
        return
    answer = assistant.ask(question, role=role, llm=llm, user=_who())
    if json_out:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
    else:
        _print_answer(answer, sources)
    _skip_shutdown_gc()


def _skip_shutdown_gc() -> None:
    """A one-shot command is done: move every live object to the permanent generation so the
    interpreter's shutdown collection does not walk the ~million objects chromadb, numpy and the index
    left behind (measured 0.4-0.5 s of a 3.3 s cold `ask`). Only when this command is the whole process
    (`isms-assistant ...`, `python -m assistant.cli ...`): in-process callers (tests, notebooks) keep
    their normal garbage collection."""
    if Path(sys.argv[0]).name not in ("isms-assistant", "cli.py"):
        return
    import gc

    sys.stdout.flush()
    gc.freeze()


@app.command()
def chat(role: RoleOpt = None, index: IndexOpt = None, llm: LlmOpt = None) -> None:
    """Terminal conversation with follow-ups. /sources shows the last answer's passages; /quit ends."""
    from assistant.retrieval.query import Conversation

    assistant = _assistant(index)
    conversation = Conversation()
    last = None
    console.print("ISMS Assistant — ask about your ISMS. /sources, /new, /quit")
    while True:
        try:
            question = console.input("[bold]> [/bold]").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not question:
            continue
        if question in ("/quit", "/exit"):
            break
        if question == "/new":
            conversation = Conversation()
            continue
        if question == "/sources":
            if last is not None:
                _print_answer(last, show_sources=True)
            continue
        try:
            if _live_output() and assistant.use_llm(llm):
                last = _stream_answer(assistant, question, role, conversation, llm)
                continue
            last = assistant.ask(question, role=role, conversation=conversation, llm=llm, user=_who())
        except USER_ERRORS as exc:  # the conversation goes on
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            continue
        _print_answer(last)


@app.command("eval")
@reports_errors
def eval_command(
    questions: Annotated[Path | None, typer.Option("--questions", help="JSONL question set (default: evals/questions.jsonl)")] = None,
    corpus: CorpusOpt = None, index: IndexOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
    baseline: Annotated[list[str] | None, typer.Option("--baseline", help="tutorial, bm25, dense or all (repeatable)")] = None,
    split: Annotated[str, typer.Option("--split", help="dev, holdout or all")] = "all",
) -> None:
    """Evaluate the product (and baselines) on a question set: retrieval, answers, abstention, citations, latency."""
    from assistant.evaluation.harness import print_report, run_eval

    report = run_eval(questions, corpus=corpus, index=index, baselines=baseline or [], split=split,
                      log=lambda msg: err.print(f"[dim]{escape(msg)}[/dim]"))
    if json_out:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print_report(report, console)


@app.command("export-onnx")
def export_onnx_command(
    force: Annotated[bool, typer.Option("--force", help="export again even when an export exists")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="also make the int8 copy used by ISMS_EMBEDDING_BACKEND=onnx-int8")] = False,
) -> None:
    """Export the embedding model to ONNX locally (no download) for fast cold starts of `ask`.
    `ingest` does this too; the query path falls back to torch while no export exists."""
    from assistant.config import get_settings
    from assistant.index.onnx_export import build_export, build_int8

    settings = get_settings()
    try:
        path = build_export(settings, force=force)
        if int8:
            err.print(f"int8 copy (ISMS_EMBEDDING_BACKEND=onnx-int8): {build_int8(settings)}")
    except Exception as exc:  # noqa: BLE001 - report any exporter failure as a CLI error
        err.print(f"[red]error:[/red] ONNX export failed: {escape(f'{exc.__class__.__name__}: {exc}')}")
        raise typer.Exit(1) from None
    print(path)


@app.command()
@reports_errors
def ui(corpus: CorpusOpt = None, index: IndexOpt = None, role: RoleOpt = None,
       port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8501,
       address: Annotated[str, typer.Option("--address", help="address to listen on")] = "127.0.0.1") -> None:
    """Start the Streamlit app (ingests the corpus first when there is no index yet)."""
    import math
    import os

    app_path = Path(__file__).resolve().parents[1] / "ui" / "app.py"
    if not app_path.is_file():
        fail(f"the Streamlit app is not at {app_path} (it ships with the source checkout)")
    assistant = _assistant(index, corpus)
    if role and role not in assistant.settings.roles:
        fail(f"unknown role {role!r}; configured roles: {', '.join(sorted(assistant.settings.roles))}")
    if not assistant.has_index():
        # one line, never wrapped at the terminal width: a long path must not split the message
        err.print(f"No index at {assistant.settings.index_dir}: indexing {assistant.settings.corpus_dir} first; the app "
                  f"starts at http://{address}:{port} when this is done.", soft_wrap=True)
        print_summary(_ingest_with_progress(assistant) if sys.stderr.isatty() else assistant.ingest())
    env = dict(os.environ, ISMS_INDEX_DIR=str(assistant.settings.index_dir),
               ISMS_CORPUS_DIR=str(assistant.settings.corpus_dir))
    env.setdefault("HF_HUB_OFFLINE", "1")
    if role:
        env["ISMS_UI_ROLE"] = role
    auth: list[str] = []
    if assistant.settings.auth_mode == "oidc":  # st.login reads the provider from Streamlit secrets
        from assistant.oidc import write_streamlit_secrets

        auth = ["--secrets.files", str(write_streamlit_secrets(assistant.settings, port))]
    cmd = [sys.executable, "-m", "assistant.app_server", str(app_path), "--server.headless", "true",
           "--server.address", address, "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer", "--theme.light.primaryColor", "#1f5fae",
           "--theme.dark.primaryColor", "#6ea8fe",
           "--server.maxUploadSize", str(max(1, math.ceil(assistant.settings.max_file_mb))), *auth]
    err.print(f"ISMS Assistant: http://{address}:{port}  (Ctrl+C stops it)")
    sys.stderr.flush()
    os.execve(sys.executable, cmd, env)  # become the Streamlit server, the index loading as it starts


# ---------------------------------------------------------------------------------------------- other doors
@app.command()
@reports_errors
def serve(index: IndexOpt = None,
          host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8800) -> None:
    """Serve the HTTP API (POST /v1/ask, /v1/search, /v1/soa/draft; GET /v1/soa/check, /v1/controls/{id},
    /healthz; OpenAPI at /docs). Bearer tokens from `isms-assistant api-token add`."""
    from assistant.doors.http_api import serve as serve_api

    assistant = _assistant(index)
    if not assistant.has_index():
        fail(f"no index at {assistant.settings.index_dir}: run `isms-assistant ingest` first")
    tokens = assistant.settings.tokens_path()
    err.print(f"ISMS Assistant API: http://{host}:{port}  (tokens: {tokens}; Ctrl+C stops it)")
    serve_api(assistant, host, port)


@app.command("mcp")
@reports_errors
def mcp_command(role: RoleOpt = None, index: IndexOpt = None,
                transport: Annotated[str, typer.Option("--transport", help="stdio or http (streamable HTTP)")] = "stdio",
                host: Annotated[str, typer.Option("--host", help="HTTP transport: address")] = "127.0.0.1",
                port: Annotated[int, typer.Option("--port", help="HTTP transport: port")] = 8801) -> None:
    """Serve the ISMS to AI assistants over the Model Context Protocol (tools: ask_isms, search_isms,
    get_control, draft_soa_justification, check_soa). stdio: the role is --role; http: bearer tokens."""
    from assistant.doors.mcp_server import run_server

    assistant = _assistant(index)
    if not assistant.has_index():
        fail(f"no index at {assistant.settings.index_dir}: run `isms-assistant ingest` first")
    if transport == "http" and role:
        fail("--role applies to stdio; over http each bearer token carries its role")
    run_server(assistant, role, transport, host, port)


token_app = typer.Typer(help="Bearer tokens for the HTTP API and the MCP server over HTTP.", no_args_is_help=True,
                        add_completion=False)
app.add_typer(token_app, name="api-token")


@token_app.command("add")
@reports_errors
def api_token_add(name: Annotated[str, typer.Argument(help="who or what uses the token, e.g. service-desk-bot")],
                  role: Annotated[str, typer.Argument(help="the role whose clearance it gets")],
                  index: IndexOpt = None) -> None:
    """Make a token for NAME with ROLE; it is printed once, only its hash is stored."""
    from assistant.api_tokens import add_token

    settings = _assistant(index).settings
    path = settings.tokens_path()
    token = add_token(path, name, role, set(settings.roles))
    err.print(f"Token for {name} ({role}) stored as a hash in {path}. Copy it now; it is not shown again:")
    print(token)


# ---------------------------------------------------------------------------------------------- soa
soa_app = typer.Typer(help="Statement of Applicability: justifications with citations, auditor-style checks, exports.",
                      no_args_is_help=True, add_completion=False)
app.add_typer(soa_app, name="soa")


@soa_app.command("draft")
@reports_errors
def soa_draft(
    controls: Annotated[list[str] | None, typer.Argument(help="controls: 2022 id, 2013 id or name (default: all 93)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md, csv, xlsx or json")] = "md",
    out: Annotated[Path | None, typer.Option("--out", help="write to this file (required for xlsx)")] = None,
    role: RoleOpt = None, index: IndexOpt = None, llm: LlmOpt = None,
    history: Annotated[bool, typer.Option("--history/--no-history", help="show stored edits and approvals")] = True,
) -> None:
    """Draft SoA entries: applicability, reasons, status, owner and a justification citing risks and sections."""
    import time

    from assistant.soa import export

    fmt = fmt.lower().lstrip(".")
    if fmt not in export.FORMATS:
        fail(f"unknown format {fmt!r}; use one of {', '.join(export.FORMATS)}")
    if fmt == "xlsx" and out is None:
        fail("--format xlsx needs --out FILE.xlsx")
    assistant = _assistant(index)
    t0 = time.perf_counter()
    drafts = assistant.draft_soa(controls or None, role=role, llm=llm, history=history)
    seconds = time.perf_counter() - t0
    if fmt == "xlsx":
        export.write_xlsx(drafts, out)
    else:
        text = {"md": export.to_markdown, "csv": export.to_csv,
                "json": lambda ds: json.dumps([d.to_dict() for d in ds], ensure_ascii=False, indent=1) + "\n"}[fmt](drafts)
        if out is None:
            sys.stdout.write(text)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
    warned = sum(1 for d in drafts if d.warnings)
    err.print(f"Drafted {len(drafts)} control(s) in {seconds:.1f} s" + (f"; {warned} with warnings" if warned else "")
              + (f"; written to {out}" if out else ""))


@soa_app.command("check")
@reports_errors
def soa_check(
    json_out: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
    role: RoleOpt = None, index: IndexOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="date for review-date checks (YYYY-MM-DD; default today)")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="exit with status 1 when there are findings")] = False,
) -> None:
    """Check the SoA like an auditor: drivers, risk treatment, exclusions, documents, template wording, ids."""
    from datetime import date

    when = date.fromisoformat(as_of) if as_of else None
    report = _assistant(index).check_soa(role, as_of=when)
    if json_out:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        counts = report.by_severity()
        console.print(f"[bold]SoA check[/bold] (as of {report.as_of}): {len(report.findings)} finding(s) — "
                      + ", ".join(f"{n} {s}" for s, n in counts.items()))
        for f in report.findings:
            colour = {"high": "red", "medium": "yellow", "low": "cyan"}[f.severity]
            console.print(f"\n{f.id} [{colour}]{f.severity.upper()}[/{colour}] {f.control or '-'} [bold]{f.kind}[/bold]: "
                          f"{escape(f.message)}")
            console.print(f"    [dim]fix:[/dim] {escape(f.fix)}")
            for e in f.evidence:
                console.print(f"    [{e.n}] {e.source} — {e.section}", markup=False, highlight=False)
    if strict and report.findings:
        raise typer.Exit(1)


@app.command()
@reports_errors
def audit(since: Annotated[str | None, typer.Option("--since", help="from this date (YYYY-MM-DD, UTC)")] = None,
          user: Annotated[str | None, typer.Option("--user", help="only this user's events")] = None,
          event: Annotated[str | None, typer.Option("--event", help="question, soa_edit, soa_approve, soa_export, "
                                                                    "sign_in, sign_in_failed, sign_out")] = None,
          json_out: Annotated[bool, typer.Option("--json", help="JSON lines: {time, user, role, event, question, "
                                                                "sources, abstained, ...}")] = False,
          csv_out: Annotated[Path | None, typer.Option("--csv", help="write the events to this CSV file")] = None,
          role: RoleOpt = None, index: IndexOpt = None) -> None:
    """The audit trail: who asked what, SoA edits, approvals and exports, sign-ins (newest first)."""
    from datetime import UTC, datetime

    from assistant.audit import EVENTS

    if event and event not in EVENTS:
        fail(f"unknown event {event!r}; one of {', '.join(EVENTS)}")
    try:
        start = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC) if since else None
    except ValueError:
        fail(f"--since {since!r} is not a date like 2026-12-01")
    assistant = _assistant(index)
    events = assistant.audit_events(role or "isms-lead", since=start, user=user, event=event)
    if csv_out is not None:
        csv_out.write_text(assistant.audit_csv(events), encoding="utf-8")
        err.print(f"{len(events)} events written to {csv_out}")
    elif json_out:
        for e in events:
            print(json.dumps(e.to_json(), ensure_ascii=False))
    else:
        table = Table("time (UTC)", "user", "role", "event", "question / detail", "sources")
        for e in events:
            row = e.to_json()
            table.add_row(row["time"], e.user, e.role, e.event, escape(e.question or e.detail),
                          escape("; ".join(e.sources[:3])))
        console.print(table)
        err.print(f"{len(events)} events")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def bench(ctx: typer.Context) -> None:
    """Performance benchmarks (evals/bench.py): latency by stage, ingest throughput, scale, Chroma server.
    Options pass through: --tiny, --scale 1000,10000, --chroma-server, --json, --out FILE, --help."""
    import importlib.util

    bench_path = Path(__file__).resolve().parents[1] / "evals" / "bench.py"
    if not bench_path.is_file():
        fail(f"the benchmark script is not at {bench_path} (it ships with the source checkout)")
    spec = importlib.util.spec_from_file_location("isms_bench", bench_path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    raise typer.Exit(module.main(list(ctx.args)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
