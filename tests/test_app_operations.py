"""The facade's operations for the app's pages (assistant.service.Assistant, "the app's operations"): every
clearance decision is made there, so each is checked here for the roles below and above the material."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from assistant.answer.types import Answer, Citation
from assistant.config import DEFAULT_ROLES, Settings, classification_rank
from assistant.errors import TooManySignIns, UploadRejected, UsersFileError
from assistant.service import Assistant
from assistant.users import MAX_FAILED_LOGINS, add_user

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
ROLES = {**DEFAULT_ROLES, "visitor": "public"}  # a role below the SoA and the risk register (internal)


@pytest.fixture
def app(sample_index: Path, tmp_path: Path) -> Assistant:
    """A facade on the sample index whose SoA history and feedback go to a private database."""
    return Assistant(Settings(corpus_dir=CORPUS, index_dir=sample_index, roles=ROLES,
                              database_url=f"sqlite:///{tmp_path / 'app.db'}"))


def test_admin_is_the_highest_clearance(tmp_path: Path) -> None:
    app = Assistant(Settings(index_dir=tmp_path / "index", roles=ROLES))
    assert [app.is_admin(r) for r in ("visitor", "staff", "manager", "isms-lead")] == [False, False, False, True]


def test_find_controls_by_id_legacy_id_name_and_words(tmp_path: Path) -> None:
    app = Assistant(Settings(index_dir=tmp_path / "index"))
    assert [c.id for c in app.find_controls("5.15")] == ["5.15"]
    assert [c.id for c in app.find_controls("A.9.2.5")] == ["5.18"]
    assert app.find_controls("MFA")[0].id == "8.5"
    assert "5.18" in [c.id for c in app.find_controls("rights access")]  # every word in the label
    assert app.find_controls("sourdough bread") == []


@pytest.mark.integration
def test_visible_documents_stay_within_the_clearance(app: Assistant) -> None:
    files = app.index.generation.manifest["files"]
    for role in ("staff", "manager", "isms-lead"):
        clearance = classification_rank(ROLES[role])
        docs = app.visible_documents(role)
        expected = sorted(src for src, rec in files.items()
                          if classification_rank(rec.get("classification", "internal")) <= clearance)
        assert [d.source for d in docs] == expected
    staff = {d.source for d in app.visible_documents("staff")}
    assert "records/hr-investigation-note-2026-003.md" not in staff
    assert "records/hr-investigation-note-2026-003.md" in {d.source for d in app.visible_documents("isms-lead")}


@pytest.mark.integration
@pytest.mark.parametrize("role", ["visitor", "staff", "isms-lead"])
def test_soa_overview_never_shows_a_row_above_the_clearance(app: Assistant, role: str) -> None:
    knowledge = app.index.knowledge
    clearance = app.clearance(role)
    rows = app.soa_overview(role)
    assert [r.control_id for r in rows] == list(app.catalogue.controls)
    allowed = {cid for cid, chunk in knowledge.soa_chunks.items() if chunk.class_rank <= clearance} & set(knowledge.soa)
    for row in rows:
        if row.control_id not in allowed:  # nothing of the SoA row may show
            assert (row.applicable, row.status, row.owner, row.coverage) == (None, "Not stated", "",
                                                                             "Missing from the SoA"), row
    shown = {r.control_id for r in rows if r.coverage != "Missing from the SoA"}
    assert shown == allowed & set(app.catalogue.controls)
    assert (not shown) if role == "visitor" else len(shown) > 50


@pytest.mark.integration
def test_soa_edit_is_verified_stored_and_approved(app: Assistant) -> None:
    draft = app.draft_soa(["6.3"], role="isms-lead", history=False)[0]
    assert app.save_soa_edit(draft, "dan", justification=draft.justification, applicability=draft.applicability,
                             status=draft.status, owner=draft.owner, reasons=draft.reasons) == []
    assert [e.state for e in app.soa_history("6.3")] == ["generated"]  # nothing changed: the draft is stored
    problems = app.save_soa_edit(draft, "dan", justification="Trust us. It is fine.", applicability="Excluded",
                                 status=draft.status, owner="Dan", reasons=draft.reasons, note="why",
                                 approve=True)
    assert any("without a citation" in p for p in problems), problems
    history = app.soa_history("6.3")
    assert [(e.state, e.by, e.note) for e in history[1:]] == [("edited", "dan", "why"), ("approved", "dan", "why")]
    assert history[1].fields["applicable"] is False and history[1].fields["owner"] == "Dan"
    row = {r.control_id: r for r in app.soa_overview("isms-lead")}["6.3"]
    assert (row.text, row.by, row.applicability, row.owner, row.coverage) == ("approved", "dan", "Excluded",
                                                                              "Dan", "Excluded")
    shown = app.with_soa_history(app.draft_soa(["6.3"], role="isms-lead", history=False)[0])
    assert shown.justification == "Trust us. It is fine." and shown.provenance.state == "approved"
    with pytest.raises(ValueError, match="empty"):
        app.save_soa_edit(draft, "dan", justification="  ", applicability="Applicable", status="", owner="",
                          reasons=[])
    assert len(app.soa_history("6.3")) == 3
    files = app.export_soa([shown])
    assert files["xlsx"][:2] == b"PK" and b"6.3," in files["csv"] and b"## 6.3 " in files["md"]


@pytest.mark.integration
def test_feedback_report_stays_within_the_readers_clearance(app: Assistant) -> None:
    chunks = app.index.generation.chunks
    secret = next(c for c in chunks if c.classification == "restricted")
    internal = next(c for c in chunks if c.classification == "internal")

    def answer(question: str, chunk_id: str) -> Answer:
        return Answer(question=question, answer="x [1]", abstained=False,
                      citations=[Citation(1, "src", "section", "text", 0.5, chunk_id=chunk_id)])

    gap = app.record_feedback(Answer(question="banana bread?", answer="", abstained=True), user="sam", role="staff")
    open_id = app.record_feedback(answer("reviews?", internal.id), user="sam", role="staff", rating=0)
    secret_id = app.record_feedback(answer("hr case?", secret.id), user="dan", role="isms-lead", rating=0)
    app.rate_answer(open_id, user="sam", rating=0, comment="  outdated ")
    assert [r.id for r in app.feedback_report("staff")] == [open_id, gap]
    assert [r.id for r in app.feedback_report("isms-lead")] == [secret_id, open_id, gap]
    assert app.feedback_report("staff")[0].comment == "outdated"
    assert app.feedback_counts("staff") == {"total": 2, "abstained": 1, "up": 0, "down": 1}


@pytest.mark.integration
def test_responsibilities_and_process_steps_use_only_visible_passages(app: Assistant) -> None:
    roles = app.known_roles("staff")
    assert "line manager" in roles and app.job_role("The Line Manager\nsecond line") == "line manager"
    found = app.responsibilities("line manager", "staff")
    assert found.duties and all(d.chunk.class_rank <= app.clearance("staff") for d in found.duties)
    assert all(o.chunk.class_rank <= app.clearance("staff") for o in found.owned)
    assert any("within 2 working days" in d.text for d in found.duties)
    steps = app.process_steps("5.18", ["procedures/user-access-management-procedure.md"], "staff")
    assert steps and all(ps.chunk.class_rank <= app.clearance("staff") for ps in steps)
    assert all([step for _, step in ps.step_frequencies()] == ps.steps for ps in steps)


def test_uploads_use_the_configured_limits(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "policies").mkdir(parents=True)
    app = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", max_file_mb=0.001,
                             max_uploads_per_batch=2))
    assert app.upload_folders() == ["policies", "uploads"] and "md" in app.upload_types()
    with pytest.raises(UploadRejected, match="the limit is 2 files"):
        app.check_upload_batch([("a.md", 1), ("b.md", 1), ("c.md", 1)])
    with pytest.raises(UploadRejected, match="over the 0.001 MB limit"):
        app.save_upload("uploads", "big.md", b"# Big\n" + b"x" * 5000)
    saved = app.save_upload("policies", "new.md", b"# New\n\nStaff lock screens.\n")
    assert saved.source == "policies/new.md" and (corpus / "policies" / "new.md").is_file()


def test_sign_in_checks_the_users_file_and_locks_a_name_out(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    add_user(users, "olga", "manager", "olga-password", "Olga")
    app = Assistant(Settings(index_dir=tmp_path / "index", roles=ROLES))
    app.check_users_file(users)
    with pytest.raises(UsersFileError, match="not found"):
        app.check_users_file(tmp_path / "missing.yaml")
    user = app.sign_in(users, "olga", "olga-password")
    assert (user.username, user.name, user.role) == ("olga", "Olga", "manager")
    for _ in range(MAX_FAILED_LOGINS):
        assert app.sign_in(users, "olga", "wrong") is None
    with pytest.raises(TooManySignIns, match="Too many failed sign-ins"):
        app.sign_in(users, "olga", "olga-password")  # locked out even with the right password


@pytest.mark.integration
def test_soa_drafts_are_cached_but_never_stale(app: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from assistant.soa import draft as draft_module

    first = app.draft_soa(role="isms-lead")
    assert len(first) == 93
    started = time.perf_counter()
    again = app.draft_soa(role="isms-lead")
    files = app.export_soa(again)
    assert time.perf_counter() - started < 3.0 and files["xlsx"][:2] == b"PK"  # the 93-control export, cached
    assert [d.justification for d in again] == [d.justification for d in first]
    assert app.draft_soa(["A.12.3.1"], role="isms-lead")[0].control_id == "8.13"  # 2013 ids resolve

    # an edit, then an approval, shows at once; the cached generated draft is not changed by the overlay
    before = app.soa_history_version()
    draft = app.draft_soa(["6.3"], role="isms-lead")[0]
    app.save_soa_edit(draft, "dan", justification="Edited text.", applicability="Applicable", status="Implemented",
                      owner="Dan", reasons=[])
    assert app.soa_history_version() > before
    assert app.draft_soa(["6.3"], role="isms-lead")[0].justification == "Edited text."
    app.save_soa_edit(app.draft_soa(["6.3"], role="isms-lead")[0], "dan", justification="Edited text.",
                      applicability="Applicable", status="Implemented", owner="Dan", reasons=[], approve=True)
    shown = app.draft_soa(role="isms-lead")
    assert {d.control_id: d for d in shown}["6.3"].provenance.state == "approved"
    assert app.draft_soa(["6.3"], role="isms-lead", history=False)[0].justification == draft.justification

    # a re-ingest publishes a new generation: everything is drafted afresh
    drafted: list[str] = []
    real = draft_module.draft_controls

    def counting(ctx, refs=None):  # noqa: ANN001, ANN202
        drafted.extend(refs or [])
        return real(ctx, refs)

    monkeypatch.setattr(draft_module, "draft_controls", counting)
    app.draft_soa(["5.1"], role="isms-lead")
    assert drafted == []  # cached
    monkeypatch.setattr(Assistant, "index_generation", lambda self: 999)
    app.draft_soa(["5.1"], role="isms-lead")
    assert drafted == ["5.1"]
    assert all(key[0] == 999 for key in app._draft_cache)  # the old generation's drafts are dropped


def test_roles_written_as_the_documents_write_them_and_a_checklist_to_keep(assistant: Any) -> None:
    roles = assistant.known_roles("staff")
    labels = assistant.role_labels(roles, "staff")
    assert labels["it operations manager"] == "IT Operations Manager" and labels["dpo"] == "DPO"
    assert labels["line manager"] == "Line manager"
    found = assistant.responsibilities("line manager", "staff")
    export = assistant.export_responsibilities(found, labels["line manager"])
    md_lines = export["md"].splitlines()
    assert md_lines[0] == "# My responsibilities: Line manager"
    boxes = [ln for ln in md_lines if ln.startswith("- [ ] ")]
    assert len(boxes) == len(found.duties) + len(found.owned) and any("**quarterly**" in b for b in boxes)
    rows = list(csv.reader(io.StringIO(export["csv"])))
    assert rows[0] == ["kind", "frequency", "duty", "section", "source", "span"] and len(rows) == len(boxes) + 1
    assert all(r[4] in {d.source for d in assistant.visible_documents("staff")} for r in rows[1:])


def test_duties_are_the_roles_own_grouped_by_when_they_come_up(assistant: Any) -> None:
    found = assistant.responsibilities("line manager", "staff")
    texts = [d.text for d in found.duties]
    assert not [t for t in texts if t.startswith(("**People team", "People team,", "O6"))]  # other teams' steps
    others = ("The People team records", "System owners approve", "Requester:", "None of them take long")
    assert not [t for t in texts if any(o in t for o in others)]  # their sentences, a table row, the guide's intro
    assert "The line manager collects the leaver's equipment on the last working day" in " ".join(texts)
    assert "Line managers: Approve requests; attest in reviews; notify movers and leavers promptly" in texts
    groups = found.grouped()
    assert list(groups)[0] == "first week" and set(groups) <= {"first week", "recurring", "when it happens",
                                                               "ask someone", "other"}
    leaving = next(d for d in found.duties if d.text.startswith("collect the laptop"))
    assert (leaving.frequency, leaving.group) == ("on the last working day", "when it happens")
    assert any(d.group == "first week" and d.frequency == "in the first week" for d in found.duties)
    assert any(d.group == "ask someone" and "ask the system owner" in d.text for d in found.duties)
    assert len({d.text for d in found.duties}) == len(found.duties)
    assert all(d.verbatim in d.chunk.text for d in found.duties)  # what an answer quotes stays word for word
    answer = assistant.ask("I'm a new line manager - what am I responsible for?", role="staff", llm=False)
    for citation in answer.citations:
        assert all(q in citation.text for q in citation.quotes), citation.quotes


def test_session_tokens_prove_a_sign_in_until_they_expire(tmp_path: Path) -> None:
    from assistant.users import load_users, make_session_token, read_session_token, session_secret

    users_file = tmp_path / "users.yaml"
    add_user(users_file, "sam", "staff", "sam-password", "Sam Staff")
    secret = session_secret(users_file)
    assert secret == session_secret(users_file) and oct((tmp_path / "users.yaml.session-key").stat().st_mode & 0o777) == "0o600"
    users = load_users(users_file, {"staff", "isms-lead"})
    token = make_session_token("sam", secret, hours=1, now=1_000_000)
    assert read_session_token(token, secret, users, now=1_000_100).name == "Sam Staff"
    assert read_session_token(token, secret, users, now=1_000_000 + 3601) is None  # expired
    assert read_session_token(token, b"another key", users, now=1_000_100) is None
    name, expires, signature = token.split(".")
    assert read_session_token(f"{name}.{int(expires) + 9999}.{signature}", secret, users, now=1_000_100) is None
    assert read_session_token("garbage", secret, users) is None
    assert read_session_token(token, secret, {}, now=1_000_100) is None  # a removed user is signed out


@pytest.mark.integration
def test_the_app_server_shares_one_facade_and_loads_it_before_the_first_page(sample_index: Path) -> None:
    """`isms-assistant ui` starts `assistant.app_server`, which warms the facade the app's sessions share while
    Streamlit starts: the index, the question encoder and each clearance's lexical model are loaded once."""
    from assistant.service import shared_assistant

    index, corpus = str(sample_index), str(CORPUS)
    shared = shared_assistant(index, corpus)
    assert shared is shared_assistant(index, corpus) and shared is not shared_assistant(index, "")
    shared.warm()
    loaded = shared.index
    assert loaded.generation.chunks and loaded.lexical._by_rank.keys() == {shared.clearance(r)
                                                                          for r in shared.settings.roles}
    shared.warm()
    assert shared.index is loaded  # a second warm-up (the first page's) loads nothing again
