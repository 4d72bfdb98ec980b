"""Where the databases live (assistant.database): ISMS_DATABASE_URL holds every store, else an SQLite file
per store in the index folder; the CLI overlays SoA edits stored there just as the app does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect

from assistant.config import Settings
from assistant.database import FEEDBACK_FILE, SOA_HISTORY_FILE, database_exists, database_url
from assistant.feedback import FeedbackStore
from assistant.soa.store import SoAStore

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
POSTGRES = "postgresql+psycopg://isms@db.example/isms"


def test_url_from_settings_environment_or_index_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ISMS_DATABASE_URL", raising=False)
    settings = Settings(index_dir=tmp_path / "index")
    assert database_url(settings, SOA_HISTORY_FILE) == f"sqlite:///{tmp_path / 'index' / 'soa-history.sqlite'}"
    assert database_url(settings, FEEDBACK_FILE) == f"sqlite:///{tmp_path / 'index' / 'app.db'}"
    assert database_url(settings.model_copy(update={"database_url": POSTGRES}), FEEDBACK_FILE) == POSTGRES
    monkeypatch.setenv("ISMS_DATABASE_URL", POSTGRES)  # read when asked, also by settings made before
    assert database_url(settings, FEEDBACK_FILE) == database_url(settings, SOA_HISTORY_FILE) == POSTGRES
    # only an SQLite file that is not there yet counts as "nothing stored"
    assert database_exists(POSTGRES) and database_exists("sqlite://")
    assert not database_exists(f"sqlite:///{tmp_path / 'none.sqlite'}")


def test_both_stores_use_the_configured_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared' / 'isms.sqlite'}"
    monkeypatch.setenv("ISMS_DATABASE_URL", url)
    settings = Settings(index_dir=tmp_path / "index")
    feedback, history = FeedbackStore.for_settings(settings), SoAStore.for_settings(settings)
    assert feedback.url == history.url == url
    history.save_edit("5.15", "Edited [1]. Reviewed [2].", "daniel.okafor")
    assert sorted(inspect(feedback.engine).get_table_names()) == ["answer_feedback", "isms_schema_version",
                                                                  "soa_events"]
    assert not (tmp_path / "index").exists()  # nothing is written next to the index


def test_default_files_keep_their_own_tables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ISMS_DATABASE_URL", raising=False)
    settings = Settings(index_dir=tmp_path / "index")
    feedback, history = FeedbackStore.for_settings(settings), SoAStore.for_settings(settings)
    assert inspect(feedback.engine).get_table_names() == ["answer_feedback", "isms_schema_version"]
    assert inspect(history.engine).get_table_names() == ["isms_schema_version", "soa_events"]
    assert (tmp_path / "index" / "app.db").exists() and (tmp_path / "index" / "soa-history.sqlite").exists()


@pytest.mark.integration
def test_cli_draft_applies_edits_stored_at_the_database_url(monkeypatch: pytest.MonkeyPatch, sample_index: Path,
                                                            tmp_path: Path) -> None:
    """With ISMS_DATABASE_URL set, `soa draft` shows the stored edit (it used to look only for
    <index>/soa-history.sqlite and so skipped it, while the app applied it)."""
    from typer.testing import CliRunner

    from assistant.cli import app
    from assistant.service import Assistant

    db = tmp_path / "elsewhere" / "history.sqlite"
    monkeypatch.setenv("ISMS_DATABASE_URL", f"sqlite:///{db}")
    runner = CliRunner()
    args = ["soa", "draft", "5.15", "--format", "json", "--index", str(sample_index), "--no-llm"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    generated = json.loads(result.stdout)[0]
    assert generated["provenance"]["state"] == "generated"
    assert not db.exists()  # nothing stored yet: drafting creates no database

    assistant = Assistant(Settings(corpus_dir=CORPUS, index_dir=sample_index))
    edited = "Access control is applicable and implemented [1]. The access control policy is approved [2]."
    assistant.soa_store().save_edit("5.15", edited, "daniel.okafor",
                                    evidence_ids=generated["provenance"]["evidence_ids"])
    assert db.exists() and not (sample_index / SOA_HISTORY_FILE).exists()

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)[0]
    assert shown["justification"] == edited
    assert (shown["provenance"]["state"], shown["provenance"]["by"]) == ("edited", "daniel.okafor")
    assert not shown["warnings"]
    assert assistant.draft_soa(["5.15"], llm=False)[0].justification == edited  # the facade, as the app calls it
    assert assistant.draft_soa(["5.15"], llm=False, history=False)[0].provenance.state == "generated"
