"""The audit trail (assistant/audit.py) and the shared stores on SQLite and on a real PostgreSQL server:
every question, SoA edit/approval/export and sign-in recorded; question text kept, hashed or dropped; a
broken database never fails an answer; concurrent SoA edits of one control end in one save and one conflict
message, nothing lost or doubled."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from assistant.audit import AuditEvent, AuditTrail, events_csv
from assistant.database import SCHEMA_VERSION, open_engine
from assistant.errors import DatabaseSchemaError, SoAConflict
from assistant.feedback import FeedbackRow, FeedbackStore
from assistant.soa.store import SoAStore

REPO = Path(__file__).resolve().parents[1]
QUESTION = "How long do I have to report a lost laptop?"


def _question(user: str = "amira", sources: list[str] | None = None, rank: int = 1) -> AuditEvent:
    return AuditEvent(user=user, role="staff", event="question", question=QUESTION,
                      sources=sources or ["policies/mobile-devices.md"], abstained=False, answerer="grounded",
                      max_class_rank=rank)


def test_events_written_read_filtered_and_exported(database: str) -> None:
    trail = AuditTrail(database)
    trail.record(_question())
    trail.record(_question(user="daniel", rank=3))
    trail.record(AuditEvent(user="daniel", role="isms-lead", event="soa_approve", detail="5.15 approved",
                            sources=["5.15"]))
    assert trail.flush() and trail.written == 3 and trail.failed == 0
    newest_first = trail.events(3)
    assert [e.event for e in newest_first] == ["soa_approve", "question", "question"]
    assert [e.user for e in trail.events(3, user="amira")] == ["amira"]
    assert [e.event for e in trail.events(3, event="soa_approve")] == ["soa_approve"]
    # a reader sees only events that show nothing above their clearance
    assert [e.user for e in trail.events(1, event="question")] == ["amira"]
    assert trail.events(3, since=datetime.now(UTC) + timedelta(minutes=1)) == []
    line = newest_first[-1].to_json()
    assert set(line) >= {"time", "user", "role", "event", "question", "sources", "abstained"}
    assert line["question"] == QUESTION and line["sources"] == ["policies/mobile-devices.md"]
    assert line["abstained"] is False and line["time"].endswith("Z")
    csv_text = events_csv(newest_first)
    assert csv_text.splitlines()[0].startswith("time,user,role,event,question")
    assert "5.15 approved" in csv_text and csv_text.count("\n") == 4


@pytest.mark.parametrize(("mode", "kept", "hashed"), [("full", True, True), ("hash", False, True), ("off", False, False)])
def test_question_text_kept_hashed_or_dropped(tmp_path: Path, mode: str, kept: bool, hashed: bool) -> None:
    trail = AuditTrail(f"sqlite:///{tmp_path / 'app.db'}", questions=mode)  # type: ignore[arg-type]
    trail.record(_question())
    assert trail.flush()
    (event,) = trail.events(3)
    assert event.question == (QUESTION if kept else "")
    digest = hashlib.sha256(QUESTION.encode()).hexdigest()
    assert event.question_sha256 == (digest if hashed else "")
    assert event.sources and event.abstained is False  # the rest of the event is always kept


def test_retention_deletes_old_events_only(tmp_path: Path) -> None:
    trail = AuditTrail(f"sqlite:///{tmp_path / 'app.db'}", retention_days=30)
    old = _question(user="former")
    old.time = datetime.now(UTC) - timedelta(days=31)
    trail.record(old)
    trail.record(_question(user="current"))
    assert trail.flush()
    trail.purge()
    assert [e.user for e in trail.events(3)] == ["current"]


def test_a_broken_database_logs_and_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    trail = AuditTrail(f"sqlite:///{blocker / 'app.db'}")
    trail.record(_question())  # returns at once; the writer fails in the background
    assert trail.flush(10.0)
    assert trail.failed == 1 and trail.written == 0
    assert "could not be written" in caplog.text
    trail.record(AuditEvent(user="x", role="staff", event="no-such-event"))  # logged, not raised
    assert trail.failed == 2


def test_disabled_trail_writes_nothing(tmp_path: Path) -> None:
    trail = AuditTrail(f"sqlite:///{tmp_path / 'app.db'}", enabled=False)
    trail.record(_question())
    assert trail.flush() and trail.written == 0


def test_concurrent_writers_lose_and_double_nothing(database: str) -> None:
    trails = [AuditTrail(database), AuditTrail(database)]  # two processes' trails on one database

    def ask_many(trail: AuditTrail, who: str) -> None:
        for _ in range(50):
            trail.record(_question(user=who))

    threads = [threading.Thread(target=ask_many, args=(trails[i % 2], f"user{i}")) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(t.flush(30.0) for t in trails)
    events = trails[0].events(3)
    assert len(events) == 300 and sum(t.written for t in trails) == 300
    assert {e.user: sum(x.user == e.user for x in events) for e in events} == {f"user{i}": 50 for i in range(6)}


def test_stores_share_one_database_and_record_the_schema_version(database: str) -> None:
    feedback, history, trail = FeedbackStore(database), SoAStore(database), AuditTrail(database)
    trail.record(_question())
    assert trail.flush()
    history.save_edit("5.15", "Edited.", "daniel")
    with create_engine(database).connect() as conn:
        assert conn.execute(text("SELECT version FROM isms_schema_version")).scalar() == SCHEMA_VERSION
        assert conn.execute(text("SELECT count(*) FROM soa_events")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 1
    assert feedback.counts(3)["total"] == 0


def test_a_newer_schema_is_refused_with_a_clear_error(database: str) -> None:
    open_engine(database, [FeedbackRow])
    with create_engine(database).begin() as conn:
        conn.execute(text("UPDATE isms_schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    with pytest.raises(DatabaseSchemaError, match="upgrade the app"):
        FeedbackStore(database)


def test_concurrent_edits_of_one_control_one_saves_one_conflict(database: str) -> None:
    stores = [SoAStore(database), SoAStore(database)]
    start = stores[0].save_edit("5.15", "First text.", "daniel").id
    results: list[str] = []
    barrier = threading.Barrier(2)

    def edit(store: SoAStore, who: str) -> None:
        barrier.wait()
        try:
            store.save_edit("5.15", f"Text by {who}.", who, expected_version=start)
            results.append("saved")
        except SoAConflict as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=edit, args=(s, w)) for s, w in zip(stores, ("amira", "chen"), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r == "saved" for r in results) == [False, True]
    conflict = next(r for r in results if r != "saved")
    assert "since you opened it; nothing was saved" in conflict
    history = stores[1].history("5.15")
    assert len(history) == 2 and history[-1].justification in ("Text by amira.", "Text by chen.")
    with pytest.raises(SoAConflict, match="re-read it first"):  # approving what one did not read
        stores[0].approve("5.15", "daniel", version=start)


def test_audit_json_lines_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from assistant.cli import app

    index = tmp_path / "index"
    trail = AuditTrail(f"sqlite:///{index / 'app.db'}")
    trail.record(_question())
    trail.record(AuditEvent(user="daniel", role="isms-lead", event="sign_in", detail="users file"))
    assert trail.flush()
    monkeypatch.delenv("ISMS_DATABASE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "--index", str(index), "--json", "--user", "amira"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [(x["user"], x["event"], x["question"]) for x in lines] == [("amira", "question", QUESTION)]
    out = tmp_path / "audit.csv"
    assert runner.invoke(app, ["audit", "--index", str(index), "--csv", str(out)]).exit_code == 0
    assert out.read_text().count("\n") == 3
    refused = runner.invoke(app, ["audit", "--index", str(index), "--role", "staff"])
    assert refused.exit_code == 2 and "ISMS lead" in refused.output
    bad = runner.invoke(app, ["audit", "--index", str(index), "--since", "yesterday"])
    assert bad.exit_code == 2 and "not a date" in bad.output


@pytest.mark.integration
def test_every_question_soa_change_and_sign_in_is_recorded(sample_index: Path, database: str, tmp_path: Path) -> None:
    from assistant.config import Settings
    from assistant.service import Assistant
    from assistant.users import add_user

    assistant = Assistant(Settings(corpus_dir=REPO / "corpus", index_dir=sample_index, database_url=database))
    answer = assistant.ask(QUESTION, role="staff", user="amira")
    refused = assistant.ask("What is the capital of France?", role="staff", user="amira")
    draft = assistant.with_soa_history(assistant.draft_soa(["5.15"], role="isms-lead")[0])
    assistant.save_soa_edit(draft, "daniel", justification=draft.justification + " Reviewed.",
                            applicability="applicable", status=draft.status, owner=draft.owner,
                            reasons=draft.reasons, approve=True, role="isms-lead")
    assistant.export_soa([draft], user="daniel", role="isms-lead")
    users = tmp_path / "users.yaml"
    add_user(users, "daniel", "isms-lead", "a long enough password")
    assistant.sign_in(users, "daniel", "a long enough password")
    assistant.sign_in(users, "daniel", "wrong password")
    assert assistant.audit_trail.flush()
    events = assistant.audit_events("isms-lead")
    kinds = [e.event for e in reversed(events)]
    assert kinds == ["question", "question", "soa_edit", "soa_approve", "soa_export", "sign_in", "sign_in_failed"]
    asked = [e for e in reversed(events) if e.event == "question"]
    assert asked[0].user == "amira" and asked[0].role == "staff" and asked[0].question == QUESTION
    assert asked[0].sources == list(dict.fromkeys(c.source for c in answer.citations)) and not asked[0].abstained
    assert asked[1].abstained is refused.abstained is True and asked[1].answerer == "grounded"
    with pytest.raises(PermissionError):
        assistant.audit_events("staff")


@pytest.mark.integration
def test_an_unreachable_database_still_answers(sample_index: Path, caplog: pytest.LogCaptureFixture) -> None:
    from assistant.config import Settings
    from assistant.service import Assistant

    dead = "postgresql+psycopg://isms@127.0.0.1:9/isms?connect_timeout=2"  # nothing listens on port 9
    assistant = Assistant(Settings(corpus_dir=REPO / "corpus", index_dir=sample_index, database_url=dead))
    answer = assistant.ask(QUESTION, role="staff", user="amira")
    assert answer.citations and not answer.abstained
    assert assistant.audit_trail.flush(30.0) and assistant.audit_trail.failed == 1
    assert "could not be written" in caplog.text


def test_a_full_queue_drops_and_counts_instead_of_growing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.audit as audit

    monkeypatch.setattr(audit, "MAX_QUEUED", 2)
    trail = AuditTrail(f"sqlite:///{tmp_path / 'app.db'}")
    blocked = threading.Event()
    monkeypatch.setattr(trail, "_write", lambda batch: blocked.wait(10))  # a database that hangs
    trail.record(_question())
    deadline = time.monotonic() + 10
    while trail._queue.qsize() and time.monotonic() < deadline:  # the writer took it and hangs on the database
        time.sleep(0.01)
    for _ in range(4):
        trail.record(_question())  # never waits, never raises
    assert trail.failed == 2  # two wait in the queue; the rest are dropped and counted
    blocked.set()
    assert trail.flush(10.0)
