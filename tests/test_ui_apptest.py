"""The Streamlit app driven headless with streamlit.testing.v1.AppTest, on the real sample index
(real model, real Chroma), plus the pure pieces behind it: password hashing, users file, upload
validation, the feedback store."""

from __future__ import annotations

import io
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app_driver import CORPUS, app_test  # noqa: E402

from assistant.answer.types import Answer, Citation  # noqa: E402
from assistant.errors import UploadRejected, UsersFileError  # noqa: E402
from assistant.feedback import RATING_DOWN, RATING_UP, FeedbackStore  # noqa: E402
from assistant.uploads import corpus_folders, safe_file_name, save_upload, target_path  # noqa: E402
from assistant.users import add_user, authenticate, hash_password, load_users, verify_password  # noqa: E402

ROLES = {"staff", "manager", "isms-lead"}


# ---------------------------------------------------------------------------- helpers
def walk(node) -> Iterator:  # noqa: ANN001 - AppTest tree node
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def page_text(at) -> str:  # noqa: ANN001 - AppTest
    """Everything the page shows (markdown, captions, tables, widget labels and options), unescaped."""
    parts: list[str] = []
    for node in walk(at._tree):
        kind = getattr(node, "type", "")
        if kind in ("dataframe", "arrow_data_frame", "table"):
            try:
                parts.append(node.value.to_csv())
            except Exception:  # noqa: BLE001 - some tables have no value
                pass
            continue
        for attr in ("value", "label", "options", "body", "placeholder", "help"):
            try:
                v = getattr(node, attr, None)
            except Exception:  # noqa: BLE001 - unset widget values raise
                continue
            if isinstance(v, str):
                parts.append(v)
            elif isinstance(v, list | tuple):
                parts.extend(str(x) for x in v)
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))


def ask(at, question: str):  # noqa: ANN001, ANN201 - AppTest
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def writable_index(sample_index: Path, tmp_path: Path) -> Path:
    """A private copy of the session's sample index (SoA edits and uploads write into the index folder)."""
    dest = tmp_path / "index"
    shutil.copytree(sample_index, dest, ignore=shutil.ignore_patterns("ingest.lock"))
    return dest


# ---------------------------------------------------------------------------- unit: passwords and users
def test_password_hash_roundtrip_and_rejects_wrong_password() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapl", stored)
    assert not verify_password("x", "bcrypt$whatever")
    assert not verify_password("x", "scrypt$garbage")
    assert hash_password("same") != hash_password("same")  # salted


def test_users_file_validation(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    add_user(path, "alice", "staff", "pw-alice", "Alice Example")
    add_user(path, "dan", "isms-lead", "pw-dan")
    users = load_users(path, ROLES)
    assert users["alice"].role == "staff" and users["alice"].name == "Alice Example"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert authenticate(users, "alice", "pw-alice").role == "staff"
    assert authenticate(users, "alice", "pw-dan") is None
    assert authenticate(users, "mallory", "pw-alice") is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("users:\n  eve:\n    role: root\n    password: " + hash_password("x") + "\n")
    with pytest.raises(UsersFileError, match="unknown role 'root'"):
        load_users(bad, ROLES)
    bad.write_text("users:\n  eve:\n    role: staff\n    password: plaintext\n")
    with pytest.raises(UsersFileError, match="scrypt hash"):
        load_users(bad, ROLES)
    with pytest.raises(UsersFileError, match="not found"):
        load_users(tmp_path / "missing.yaml", ROLES)


# ---------------------------------------------------------------------------- unit: uploads
@pytest.mark.parametrize("name", ["../../etc/passwd.md", "/etc/passwd.md", "..\\..\\x.md", "sub/dir.md", ".hidden.md",
                                  "a..b.md", "", "evil\x00.md", "run.exe", "noext", "spaced name?.md"])
def test_upload_names_that_are_refused(name: str) -> None:
    with pytest.raises(UploadRejected):
        safe_file_name(name)


def test_upload_validation_and_no_traversal(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "policies").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (corpus / "escape").symlink_to(tmp_path / "outside")
    assert safe_file_name("New Policy (v2).md") == "New Policy (v2).md"
    assert corpus_folders(corpus) == ["policies", "uploads"]  # the symlinked folder is not offered
    with pytest.raises(UploadRejected, match="not a folder of the corpus"):
        target_path(corpus, "escape", "x.md")
    with pytest.raises(UploadRejected, match="not a folder of the corpus"):
        target_path(corpus, "../outside", "x.md")
    with pytest.raises(UploadRejected, match="cannot be read as .pdf"):
        save_upload(corpus, "uploads", "report.pdf", b"MZ\x90\x00 this is no pdf", max_mb=1)
    with pytest.raises(UploadRejected, match="cannot be read as .md"):
        save_upload(corpus, "uploads", "binary.md", bytes(range(256)) * 20, max_mb=1)
    with pytest.raises(UploadRejected, match="over the 0.001 MB limit"):
        save_upload(corpus, "uploads", "big.md", b"# Big\n" + b"x" * 5000, max_mb=0.001)
    with pytest.raises(UploadRejected, match="empty"):
        save_upload(corpus, "uploads", "empty.md", b"", max_mb=1)
    saved = save_upload(corpus, "policies", "new.md", b"# New policy\n\nStaff must lock screens.\n", max_mb=1)
    assert saved.source == "policies/new.md" and (corpus / "policies" / "new.md").is_file()
    with pytest.raises(UploadRejected, match="already exists"):
        save_upload(corpus, "policies", "new.md", b"# New policy v2\n\nText.\n", max_mb=1)
    assert save_upload(corpus, "policies", "new.md", b"# New policy v2\n\nText.\n", max_mb=1, replace=True).replaced
    assert list((tmp_path / "outside").iterdir()) == []
    assert not any(p.name.startswith(".upload-") for p in corpus.rglob("*"))


# ---------------------------------------------------------------------------- unit: feedback store
def _answer(question: str, abstained: bool = False) -> Answer:
    cites = [] if abstained else [Citation(1, "policies/a.md", "A > 1", "text", 0.5, chunk_id="c1")]
    return Answer(question=question, answer="x [1]", abstained=abstained, citations=cites,
                  closest=[{"source": "policies/b.md", "title": "B", "section": "B > 2"}] if abstained else [])


def test_feedback_store_records_who_when_and_filters_by_clearance(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}")
    gap = store.record(user="alice", role="staff", answer=_answer("banana bread?", abstained=True), max_class_rank=1)
    good = store.record(user="bob", role="staff", answer=_answer("reviews?"), rating=RATING_UP, max_class_rank=1)
    secret = store.record(user="dan", role="isms-lead", answer=_answer("hr case?"), rating=RATING_DOWN,
                          comment="wrong person", max_class_rank=3)
    store.rate(good, user="bob", rating=RATING_DOWN, comment="  outdated  ")
    rec = store.get(good)
    assert rec.rating == RATING_DOWN and rec.comment == "outdated" and rec.rated_by == "bob" and rec.rated_at
    assert store.get(gap).sources == ["policies/b.md"] and store.get(gap).user == "alice"
    assert [r.id for r in store.report(max_rank=1)] == [good, gap]
    assert [r.id for r in store.report(max_rank=3)] == [secret, good, gap]
    assert store.counts(3) == {"total": 3, "abstained": 1, "up": 0, "down": 2}
    with pytest.raises(ValueError):
        store.rate(good, user="bob", rating=5)
    with pytest.raises(KeyError):
        store.rate(999, user="bob", rating=RATING_UP)


# ---------------------------------------------------------------------------- AppTest: pages
@pytest.mark.integration
def test_chat_answer_with_sources_follow_up_and_feedback(monkeypatch, sample_index: Path, tmp_path: Path) -> None:
    at = app_test(monkeypatch, sample_index, tmp_path, role="staff")
    assert "Try one of these" in page_text(at)
    ask(at, "How often are access rights reviewed?")
    assert len(at.chat_message) == 2
    answer_md = at.chat_message[1].markdown[0].value
    assert "quarterly" in answer_md and re.search(r"\\\[1\\\]", answer_md), answer_md
    assert any(e.label.startswith("Sources (") for e in at.expander)
    text = page_text(at)
    assert "policies/access-control-policy.md" in text and "Review of access rights" in text
    answer = at.session_state["chat_messages"][-1]["answer"]
    related = [s for s in answer.retrieved_sources if s not in {c.source for c in answer.citations}]
    assert related and "Related documents" in text and related[0] in text  # uncited documents found too

    ask(at, "and for the other systems?")  # follow-up keeps the topic
    conversation = at.session_state["chat_conversation"]
    assert conversation.turns == 2 and "5.18" in conversation.controls
    second = at.chat_message[3].markdown[0].value
    assert "six months" in second, second

    at.feedback[-1].set_value(RATING_DOWN).run()
    at.text_input[-1].set_value("Should say who runs the review")
    at.form_submit_button[-1].click().run()
    assert not at.exception
    assert "your feedback was saved" in page_text(at)
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    [row] = store.report(max_rank=3)
    assert (row.user, row.role, row.rating, row.comment) == ("local", "staff", RATING_DOWN, "Should say who runs the review")
    assert row.question == "and for the other systems?" and "policies/access-control-policy.md" in row.sources


@pytest.mark.integration
def test_chat_never_shows_an_invented_sentence_of_the_llm(monkeypatch, writable_index: Path, tmp_path: Path) -> None:
    """With an LLM endpoint, the chat streams the answer; the model's second sentence names an invented control
    (5.99): it is in no markdown the page ever renders, not even while streaming."""
    import streamlit.delta_generator as dg
    from llm_stub import Reply, StubLLM
    from test_llm import sentence_with

    rendered: list[str] = []
    original = dg.DeltaGenerator.markdown

    def recording(self, body, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - Streamlit's signature
        rendered.append(str(body))
        return original(self, body, *args, **kwargs)

    def respond(body: dict) -> Reply:
        n, _source, sentence = sentence_with(body, "quarterly")
        return Reply(text=f"{sentence} [{n}]. This is control 5.99 of the Annex [{n}]. Reviews are attested [{n}].",
                     chunk_chars=6)

    monkeypatch.setattr(dg.DeltaGenerator, "markdown", recording)
    with StubLLM() as stub:
        stub.script(respond)
        at = app_test(monkeypatch, writable_index, tmp_path, role="staff", ISMS_LLM_BASE_URL=stub.url,
                      ISMS_LLM_TIMEOUT="20")
        ask(at, "How often are access rights reviewed?")
        assert stub.requests and stub.requests[0].stream
    final = at.chat_message[1].markdown[0].value
    assert "quarterly" in final and "5.99" not in final
    streamed = [r for r in rendered if "▌" in r]
    assert streamed, "the answer was streamed into the page"
    assert not [r for r in rendered if "5.99" in r]


@pytest.mark.integration
def test_role_picker_only_when_switching_is_on_and_the_chat_starts_afresh(monkeypatch, sample_index: Path,
                                                                        tmp_path: Path) -> None:
    fixed = app_test(monkeypatch, sample_index, tmp_path, role="staff")
    assert not [s for s in fixed.selectbox if s.key == "ui_role_picker"]  # the role is fixed by ISMS_UI_ROLE
    at = app_test(monkeypatch, sample_index, tmp_path, role="staff", ISMS_UI_ROLE_SWITCH="true")
    assert "role **staff**" in "\n".join(m.value for m in at.sidebar.markdown)
    assert at.selectbox(key="ui_role_picker").options == ["isms-lead", "manager", "staff"]
    at.selectbox(key="ui_role_picker").set_value("manager").run()  # the picker itself (AppTest draws no sidebar
    assert at.session_state["ui_role_choice"] == "manager"         # after the first run: read the choice)
    at.session_state["ui_role_choice"] = "staff"
    at.run()
    hr_note = "records/hr-investigation-note-2026-003.md"

    def cited() -> set[str]:
        return {c.source for c in at.session_state["chat_messages"][-1]["answer"].citations}

    ask(at, "What did the HR investigation 2026-003 find?")
    assert hr_note not in cited()
    assert len(at.chat_message) == 2
    at.session_state["ui_role_choice"] = "isms-lead"  # what the sidebar picker sets
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.chat_message) == 0  # the staff chat is not carried into another role's session
    ask(at, "What did the HR investigation 2026-003 find?")
    assert hr_note in cited()  # the lead's clearance applies now


@pytest.mark.integration
def test_chat_answers_link_to_the_page_that_serves_the_question(monkeypatch, sample_index: Path,
                                                                 tmp_path: Path) -> None:
    at = app_test(monkeypatch, sample_index, tmp_path, role="staff")
    ask(at, "I'm a new line manager - what am I responsible for?")
    links = [(p.proto.page, p.proto.label, p.proto.query_string) for p in walk(at._tree)
             if getattr(p, "type", "") == "page_link"]
    assert any(label == "All duties of the line manager" and "role=line+manager" in query
               for _page, label, query in links), links
    ask(at, "How is A.9.2.5 done here?")
    links = [(p.proto.label, p.proto.query_string) for p in walk(at._tree) if getattr(p, "type", "") == "page_link"]
    assert ("5.18 Access rights: risks, documents and process", "control=5.18") in links, links
    assert ("5.18 in the SoA workbench", "control=5.18") in links
    at.query_params["role"] = "system owner"  # the link's target preselects the role
    at.switch_page("pages/responsibilities.py").run()
    assert not at.exception and at.selectbox(key="resp_role").value == "system owner"


@pytest.mark.integration
def test_whole_document_view_from_a_citation_within_the_clearance(monkeypatch, sample_index: Path,
                                                                  tmp_path: Path) -> None:
    at = app_test(monkeypatch, sample_index, tmp_path, role="staff")
    ask(at, "How often are access rights reviewed?")
    answer = at.session_state["chat_messages"][-1]["answer"]
    cited = answer.citations[0]
    links = [p.proto.query_string for p in walk(at._tree) if getattr(p, "type", "") == "page_link"
             and p.proto.label == "Open the whole document"]
    assert any(f"chunk={cited.chunk_id}" in q for q in links), links
    at.query_params["source"] = cited.source
    at.query_params["chunk"] = cited.chunk_id
    at.switch_page("pages/document.py").run()
    assert not at.exception, [e.value for e in at.exception]
    text = page_text(at)
    assert "Access Control Policy" in text and "classification **internal**" in "\n".join(m.value for m in at.markdown)
    assert "cited" in text and "quarterly" in text
    assert at.get("download_button") and at.get("download_button")[0].proto.label == "Download the original file"
    hidden = "records/hr-investigation-note-2026-003.md"  # restricted: staff get the same page as for no document
    at.query_params["source"] = hidden
    at.query_params["chunk"] = ""
    at.run()
    assert "not available to you" in page_text(at) and "Bluebell" not in page_text(at)


def test_document_view_checks_clearance_and_stays_in_the_corpus(assistant: Any) -> None:
    view = assistant.document_view("policies/access-control-policy.md", "staff")
    assert view is not None and view.path is not None and view.path.name == "access-control-policy.md"
    assert [p.start for p in view.passages] == sorted(p.start for p in view.passages)
    assert assistant.document_view("records/hr-investigation-note-2026-003.md", "staff") is None
    assert assistant.document_view("records/hr-investigation-note-2026-003.md", "isms-lead") is not None
    assert assistant.document_view("../pyproject.toml", "isms-lead") is None


@pytest.mark.integration
def test_chat_abstains_with_closest_documents_and_report_lists_it(monkeypatch, sample_index: Path,
                                                                  tmp_path: Path) -> None:
    at = app_test(monkeypatch, sample_index, tmp_path, role="isms-lead")
    ask(at, "What is the best recipe for sourdough bread?")
    text = page_text(at)
    assert "don't cover this" in text and "Closest documents" in text
    at.switch_page("pages/feedback_report.py").run()
    assert not at.exception
    text = page_text(at)
    assert "What is the best recipe for sourdough bread?" in text and "not covered" in text
    at.switch_page("pages/audit_trail.py").run()  # the ISMS lead's audit trail has the question, who and that it
    assert not at.exception                       # was not answered
    trail = at.dataframe[0].value
    asked = trail[trail["event"] == "question asked"].iloc[0]
    assert asked["question or change"] == "What is the best recipe for sourdough bread?"
    assert (asked["who"], asked["role"], asked["not answered"]) == ("local", "isms-lead", "yes")


@pytest.mark.integration
def test_controls_page_by_2013_id_shows_the_chain(monkeypatch, writable_index: Path, tmp_path: Path) -> None:
    at = app_test(monkeypatch, writable_index, tmp_path, role="isms-lead")
    at.switch_page("pages/controls.py").run()
    at.text_input(key="controls_query").set_value("A.9.2.5").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.header[0].value == "5.18 Access rights"
    text = page_text(at)
    for expected in ("Statement of Applicability", "IT Operations Manager", "Implementing documents",
                     "procedures/user-access-management-procedure.md", "How it works in practice", "Preventive"):
        assert expected in text, expected
    risks = [df.value for df in at.dataframe if "risk" in df.value.columns][0]
    assert "R-001" in set(risks["risk"]) and {"level", "treatment"} <= set(risks.columns)
    at.text_input(key="controls_query").set_value("MFA").run()
    assert at.header[0].value == "8.5 Secure authentication"


@pytest.mark.integration
def test_responsibilities_for_line_manager_are_cited(monkeypatch, sample_index: Path, tmp_path: Path) -> None:
    at = app_test(monkeypatch, sample_index, tmp_path, role="staff")
    at.switch_page("pages/responsibilities.py").run()
    assert not at.exception
    at.selectbox(key="resp_role").set_value("line manager").run()
    text = page_text(at)
    assert "within 2 working days" in text and "procedures/user-access-management-procedure.md" in text
    assert "Onboarding and Offboarding Procedure" in text


@pytest.mark.integration
def test_soa_edit_approve_and_export(monkeypatch, writable_index: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from assistant.soa.store import SoAStore

    at = app_test(monkeypatch, writable_index, tmp_path, role="isms-lead")
    at.switch_page("pages/soa.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.dataframe[0].value.shape[0] == 93
    at.multiselect(key="soa_theme").set_value(["People"]).run()
    assert set(at.dataframe[0].value["control"]) == {f"6.{i}" for i in range(1, 9)}
    at.selectbox(key="soa_open").set_value("6.3").run()
    assert at.subheader[0].value == "6.3 Information security awareness, education and training"
    original = at.text_area(key="soa_text_6.3").value
    assert "[1]" in original
    edited = original + " Reviewed by the ISMS lead."
    at.text_area(key="soa_text_6.3").set_value(edited)
    at.text_input(key="soa_note_6.3").set_value("tightened wording")
    submit = [b for b in at.form_submit_button if b.label == "Save edit"][0]
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]
    approve = [b for b in at.form_submit_button if b.label == "Approve"][0]
    approve.click().run()
    assert not at.exception, [e.value for e in at.exception]

    store = SoAStore(f"sqlite:///{tmp_path / 'feedback.db'}")  # ISMS_DATABASE_URL holds SoA history too
    history = store.history("6.3")
    assert [(e.state, e.by) for e in history] == [("edited", "local"), ("approved", "local")]
    assert history[-1].justification == edited.strip() and history[0].note == "tightened wording"
    table = at.dataframe[0].value.set_index("control")
    assert table.loc["6.3", "text"] == "approved" and table.loc["6.3", "by"] == "local"
    assert "approved" in page_text(at)

    at.button(key="soa_prepare").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert {b.label for b in at.download_button} >= {"Download XLSX", "Download CSV", "Download Markdown"}
    export = at.session_state["soa_export"]
    wb = load_workbook(io.BytesIO(export["xlsx"]))
    rows = list(wb["SoA"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert len(body) == 8
    row = dict(zip(header, [r for r in body if r[0] == "6.3"][0], strict=True))
    assert row["Justification"] == edited.strip() and row["Provenance"].startswith("approved")
    assert b"6.3," in export["csv"] and b"## 6.3 Information security awareness" in export["md"]
    # someone else (another app process) changes 6.3 while this page is open: the next save is refused
    store.save_edit("6.3", edited + " Changed elsewhere.", "chen")
    at.text_area(key="soa_text_6.3").set_value(edited + " Mine.")
    [b for b in at.form_submit_button if b.label == "Save edit"][0].click().run()
    assert "since you opened it; nothing was saved" in " ".join(e.value for e in at.error)
    assert store.latest("6.3").by == "chen" and len(store.history("6.3")) == 3


@pytest.mark.integration
def test_soa_picker_opens_2013_ids_names_and_clicked_rows(monkeypatch, writable_index: Path, tmp_path: Path) -> None:
    at = app_test(monkeypatch, writable_index, tmp_path, role="isms-lead")
    at.switch_page("pages/soa.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key="soa_find").set_value("A.12.3.1").run()  # 2013 id → 8.13
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="soa_open").value == "8.13"
    assert at.subheader[0].value == "8.13 Information backup"
    at.text_input(key="soa_find").set_value("secure authentication").run()  # a name
    assert at.selectbox(key="soa_open").value == "8.5"
    at.text_input(key="soa_find").set_value("sourdough bread").run()
    assert any("No Annex A control matches" in i.value for i in at.info)
    at.selectbox(key="soa_open").set_value("5.1").run()  # the picker still works after a search
    assert at.subheader[0].value.startswith("5.1 ")
    # the justification is shown once (in the editor's form), the table shows the columns that matter
    text = at.text_area(key="soa_text_5.1").value
    assert sum(m.value.count(text[:60]) for m in at.markdown) == 0
    table = at.dataframe[0]
    assert list(table.proto.column_order) == ["control", "title", "applicability", "status", "findings"]
    # a row click opens that control (selection state set as the browser would)
    row = list(table.value["control"]).index("7.4")
    at.session_state["soa_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="soa_open").value == "7.4"


@pytest.mark.integration
def test_audit_readiness_lists_findings_linked_to_controls(monkeypatch, writable_index: Path, tmp_path: Path) -> None:
    at = app_test(monkeypatch, writable_index, tmp_path, role="isms-lead")
    at.switch_page("pages/audit.py").run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [re.sub(r"\\(.)", r"\1", e.label) for e in at.expander]
    assert any("HIGH" in label and "7.4 — exclusion contradicted" in label for label in labels), labels
    assert int(at.metric[1].value) >= 1  # high findings
    links = [n for n in walk(at._tree) if getattr(n, "type", "") == "page_link"]
    assert any("Open 7.4 in the SoA workbench" in n.label for n in links)


@pytest.mark.integration
def test_corpus_upload_rejects_bad_files_and_reingests_good_ones(monkeypatch, writable_index: Path, corpus_copy: Path,
                                                                tmp_path: Path) -> None:
    at = app_test(monkeypatch, writable_index, tmp_path, role="isms-lead", corpus=corpus_copy)
    at.switch_page("pages/corpus.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Documents you can see" in page_text(at)
    at.file_uploader[0].upload("incident-report.pdf", b"this is not a PDF at all", "application/pdf")
    at.form_submit_button[0].click().run()
    errors = [e.value for e in at.error]
    assert any("Not uploaded" in e and "incident-report.pdf" in e and "cannot be read as .pdf" in e for e in errors), errors
    assert not (corpus_copy / "uploads").exists()

    good = b"---\ntitle: Visitor Wifi Standard\n---\n# Visitor Wifi Standard\n\nGuests use the isolated Guest-Net wifi only.\n"
    at.file_uploader[0].upload("visitor-wifi-standard.md", good, "text/markdown")
    at.form_submit_button[0].click().run()
    assert (corpus_copy / "uploads" / "visitor-wifi-standard.md").read_bytes() == good
    [reingest] = [b for b in at.button if b.label == "Re-ingest now"]
    reingest.click().run()
    assert not at.exception, [e.value for e in at.exception]
    success = " ".join(s.value for s in at.success)
    assert "added 1" in success, success
    at.switch_page("pages/chat.py").run()
    ask(at, "Which wifi do guests use?")
    assert "uploads/visitor-wifi-standard.md" in page_text(at)


@pytest.mark.integration
def test_corpus_upload_batch_over_the_count_limit_writes_nothing(monkeypatch, tmp_path: Path) -> None:
    from assistant.config import Settings
    from assistant.ingest.pipeline import run_ingest

    corpus = tmp_path / "corpus"
    (corpus / "policies").mkdir(parents=True)
    shutil.copy(CORPUS / "policies" / "access-control-policy.md", corpus / "policies")
    index = tmp_path / "index"  # a one-document index: the page needs one, the sample index is not needed
    run_ingest(Settings(corpus_dir=corpus, index_dir=index, sentence_vectors=False))
    at = app_test(monkeypatch, index, tmp_path, role="isms-lead", corpus=corpus, ISMS_MAX_UPLOADS_PER_BATCH="2")
    at.switch_page("pages/corpus.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "2 files at a time" in at.file_uploader[0].label

    def notes(count: int) -> list[tuple[str, bytes, str]]:
        return [(f"visitor-note-{i}.md", f"# Visitor note {i}\n\nVisitors sign in at reception.\n".encode(),
                 "text/markdown") for i in range(count)]

    at.file_uploader[0].set_value(notes(3))
    at.form_submit_button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]
    assert any("Nothing uploaded" in e and "3 files chosen; the limit is 2 files per upload" in e
               and "ISMS_MAX_UPLOADS_PER_BATCH" in e for e in errors), errors
    assert not at.success and not (corpus / "uploads").exists()  # nothing written, not even the first two

    at.file_uploader[0].set_value(notes(2))  # exactly at the limit
    at.form_submit_button[0].click().run()
    assert not at.error, [e.value for e in at.error]
    assert sorted(p.name for p in (corpus / "uploads").iterdir()) == ["visitor-note-0.md", "visitor-note-1.md"]


@pytest.mark.integration
@pytest.mark.parametrize("role", ["staff", "manager"])
def test_users_mode_never_shows_documents_above_the_role(monkeypatch, writable_index: Path, tmp_path: Path,
                                                        role: str) -> None:
    from assistant.config import DEFAULT_ROLES, classification_rank
    from assistant.index import store

    clearance = classification_rank(DEFAULT_ROLES[role])
    users = tmp_path / "users.yaml"
    add_user(users, "sam", role, "sam-password", "Sam Staff")
    add_user(users, "dan", "isms-lead", "dan-password", "Daniel Okafor")
    at = app_test(monkeypatch, writable_index, tmp_path, ISMS_AUTH_MODE="users", ISMS_USERS_FILE=str(users))
    assert not at.chat_input  # nothing but the sign-in form
    at.text_input(key="login_user").set_value("sam")
    at.text_input(key="login_password").set_value("wrong")
    at.form_submit_button[0].click().run()
    assert any("Wrong user name or password" in e.value for e in at.error)
    at.text_input(key="login_user").set_value("sam")
    at.text_input(key="login_password").set_value("sam-password")
    at.form_submit_button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"Sam Staff · role **{role}**" in page_text(at)
    sidebar = "\n".join(c.value for c in at.sidebar.caption)

    generation = store.load_generation(writable_index)
    above = [c for c in generation.chunks if c.class_rank > clearance]
    secret_sources = {c.source for c in above}
    assert "records/hr-investigation-note-2026-003.md" in secret_sources
    visible_texts = [re.sub(r"[*_`]", "", c.text) for c in generation.chunks if c.class_rank <= clearance]
    snippets = {line[:60] for c in above for line in re.sub(r"[*_`]", "", c.text).split("\n")
                if len(line) >= 40 and not any(line[:60] in t for t in visible_texts)}
    assert len(snippets) > 10

    seen: list[str] = []
    for q in ("What did the HR investigation 2026-003 find?", "How does break-glass privileged access work?",
              "What did the 2026 penetration test find?", "How often are encryption keys rotated?",
              "What happened in incident INC-2026-014?", "What is the disaster recovery RTO?"):
        ask(at, q)
        seen.append(page_text(at))
    for page, action in (("pages/controls.py", lambda: at.text_input(key="controls_query").set_value("8.2").run()),
                         ("pages/responsibilities.py", lambda: at.selectbox(key="resp_role").set_value("head of people").run()),
                         ("pages/soa.py", lambda: at.selectbox(key="soa_open").set_value("8.24").run()),
                         ("pages/audit.py", lambda: at), ("pages/corpus.py", lambda: at)):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        seen.append(page_text(at))
        action()
        assert not at.exception, (page, [e.value for e in at.exception])
        seen.append(page_text(at))
    documents = at.dataframe[0].value  # the Corpus page (the last page visited) lists only what the role may see
    allowed_levels = {"public", "internal"} | ({"confidential"} if role == "manager" else set())
    assert set(documents["classification"]) <= allowed_levels and len(documents) == {"staff": 42, "manager": 47}[role]  # of 48 files
    try:  # the feedback report is not registered for this role; if the page still runs, it refuses
        at.switch_page("pages/feedback_report.py").run()
    except ValueError:
        pass
    assert "Answers with feedback" not in page_text(at)
    try:  # nor the audit trail
        at.switch_page("pages/audit_trail.py").run()
    except ValueError:
        pass
    assert "question asked" not in page_text(at)
    everything = "\n".join(seen)
    # A path may appear where a visible (internal) passage names it, e.g. the SoA's "Implementing documents"
    # column; anywhere else (citation headers, closest documents, tables) it would reveal a document above
    # the clearance.
    leaked_sources = sorted({
        m.group(0) for src in secret_sources for m in re.finditer(re.escape(src), everything)
        if not any(everything[max(0, m.start() - 40):m.end()] in t for t in visible_texts)
    })
    leaked_text = sorted(s for s in snippets if s.strip() and s in everything)
    assert not leaked_sources, leaked_sources
    assert not leaked_text, leaked_text
    # counts too: how many documents and passages lie above the clearance is itself information
    visible_files = {"staff": 42, "manager": 47}[role]
    visible_chunks = sum(1 for c in generation.chunks if c.class_rank <= clearance)
    assert f"{visible_files} documents · {visible_chunks} passages you can search" in sidebar
    totals = (f"{len(generation.manifest['files'])} documents", f"{len(generation.chunks)} passages",
              f"{len(generation.manifest['files'])} in the index", "skipped at the last ingest")
    assert not [t for t in totals if t in everything], [t for t in totals if t in everything]


# ---------------------------------------------------------------------------- the `ui` command
@pytest.mark.integration
def test_ui_command_ingests_first_then_serves(tmp_path: Path) -> None:
    import os
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    corpus = tmp_path / "corpus"
    (corpus / "policies").mkdir(parents=True)
    shutil.copy(CORPUS / "policies" / "access-control-policy.md", corpus / "policies")
    index = tmp_path / "index"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # a narrow terminal: the "starts at" message must stay on one line however long the temporary paths are
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", COLUMNS="60")
    bad = subprocess.run([sys.executable, "-m", "assistant.cli", "ui", "--index", str(index), "--role", "root"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown role 'root'" in bad.stderr
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "ui", "--corpus", str(corpus), "--index", str(index),
                             "--port", str(port)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the app did not come up"
            time.sleep(0.5)
        assert (index / "CURRENT").is_file()  # ingested before serving
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    output = proc.stdout.read().decode()
    assert "indexing" in output and "Index generation 1" in output and f"http://127.0.0.1:{port}" in output
    # says, on one line, when the app will be usable
    assert f"first; the app starts at http://127.0.0.1:{port} when this is done." in output
    assert re.search(r"^No index at \S+: indexing \S+ first;", output, re.M)
