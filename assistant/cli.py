"""The `isms-assistant` command. Thin: every command calls the service facade."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="ISMS Assistant: grounded answers over your ISO/IEC 27001 ISMS documents.",
                  no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True)

IndexOpt = Annotated[Path | None, typer.Option("--index", help="index folder (default: ISMS_INDEX_DIR or user data dir)")]
CorpusOpt = Annotated[Path | None, typer.Option("--corpus", help="corpus folder (default: ISMS_CORPUS_DIR or the sample corpus)")]
RoleOpt = Annotated[str | None, typer.Option("--role", help="role deciding what you may see (staff, manager, isms-lead)")]


def _assistant(index: Path | None = None, corpus: Path | None = None):  # noqa: ANN202
    from assistant.service import Assistant

    return Assistant(index_dir=index, corpus_dir=corpus)


def print_summary(summary) -> None:  # noqa: ANN001 - IngestSummary
    console.print(
        f"[bold]Index generation {summary.generation}[/bold]: {summary.files} files, {summary.chunks} chunks "
        f"({summary.embedded} embedded, {summary.copied} reused) in {summary.seconds:.1f} s"
    )
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


@app.command()
def ingest(corpus: CorpusOpt = None, index: IndexOpt = None,
           json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False) -> None:
    """Index a corpus folder incrementally (unchanged files are skipped)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from assistant.index.store import IngestLocked

    assistant = _assistant(index, corpus)
    try:
        if json_out or not sys.stderr.isatty():
            summary = assistant.ingest()
        else:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=err, transient=True) as bar:
                tasks: dict[str, int] = {}

                def progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(stage, total=total)
                    bar.update(tasks[stage], completed=done, total=total)

                summary = assistant.ingest(progress=progress)
    except IngestLocked as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if json_out:
        print(json.dumps(summary.to_dict(), indent=1))
    else:
        print_summary(summary)


@app.command()
def status(index: IndexOpt = None) -> None:
    """Show what the index holds."""
    from assistant.index.store import IndexError_

    try:
        info = _assistant(index).status()
    except IndexError_ as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    print(json.dumps(info, indent=1))


def _print_answer(answer, show_sources: bool = False) -> None:  # noqa: ANN001 - Answer
    if answer.notice:
        err.print(f"[yellow]{answer.notice}[/yellow]")
    print(answer.answer)
    if answer.citations:
        console.print()
        for c in answer.citations:
            print(f"[{c.n}] {c.source} — {c.section} ({c.span})")
            if show_sources:
                print("    " + c.text.replace("\n", "\n    "))


@app.command()
def ask(question: Annotated[str, typer.Argument(help="your question")], role: RoleOpt = None, index: IndexOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="print the answer as JSON")] = False,
        sources: Annotated[bool, typer.Option("--sources", help="print the cited passages")] = False) -> None:
    """Ask one question; the answer cites the document sections it used."""
    from assistant.index.store import IndexError_

    assistant = _assistant(index)
    try:
        answer = assistant.ask(question, role=role)
    except (IndexError_, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if json_out:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
    else:
        _print_answer(answer, sources)


@app.command()
def chat(role: RoleOpt = None, index: IndexOpt = None) -> None:
    """Terminal conversation with follow-ups. /sources shows the last answer's passages; /quit ends."""
    from assistant.index.store import IndexError_
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
            last = assistant.ask(question, role=role, conversation=conversation)
        except (IndexError_, ValueError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            continue
        _print_answer(last)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
