"""The organization deployment, as the README describes it: one `chroma run` server, one PostgreSQL database,
one shared index folder, and two app processes (`isms-assistant ui` on two ports). Both answer; an ingest
started from one app is picked up by the other without a restart; feedback given in one shows in the other's
feedback report, an SoA approval in one in the other's workbench; both processes' questions land in the one
audit trail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_ui_browser import CHROMIUM, CHROMIUM_ARGS, _ask, _free_port, _open, _settle

from evals.bench import chroma_server
from evals.deployment_load import app_process

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
SMALL = ["procedures/backup-and-restore-procedure.md", "policies/access-control-policy.md",
         "people/new-starter-security-guide.txt", "registers/risk-register.csv"]
NEW_DOC = "policies/physical-security-and-clear-desk-policy.md"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def deployment(postgres_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], dict, Path]]:  # noqa: ANN001
    work = tmp_path_factory.mktemp("deployment")
    corpus = work / "corpus"
    for rel in SMALL:
        (corpus / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / rel, corpus / rel)
    with chroma_server(work / "chroma-data") as chroma_port:
        env = dict(os.environ, ISMS_CORPUS_DIR=str(corpus), ISMS_INDEX_DIR=str(work / "index"),
                   ISMS_CHROMA_HOST="127.0.0.1", ISMS_CHROMA_PORT=str(chroma_port),
                   ISMS_DATABASE_URL=postgres_server.new_database(), ISMS_UI_ROLE="isms-lead",
                   HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
        for key in ("ISMS_AUTH_MODE", "ISMS_USERS_FILE"):
            env.pop(key, None)
        subprocess.run([sys.executable, "-m", "assistant.cli", "ingest"], cwd=REPO, env=env, check=True,
                       capture_output=True, timeout=600)
        one, two = _free_port(), _free_port()
        with app_process(env, one, work / "app-1.log") as first, app_process(env, two, work / "app-2.log") as second:
            yield [first, second], env, corpus


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201 - playwright Browser
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _cites(pg, source: str) -> None:  # noqa: ANN001 - playwright Page
    """The last answer cites `source` (waits while the message is still being drawn)."""
    _settle(pg)
    pg.get_by_test_id("stChatMessage").last.get_by_text(source).first.wait_for(state="attached", timeout=60_000)


def _interact(url: str, body: dict) -> dict:
    import httpx

    reply = httpx.post(f"{url}/_stcore/agent/interact", json=body, timeout=300)
    assert reply.status_code == 200, reply.text[:500]
    return reply.json()


def _page(browser, url: str):  # noqa: ANN001, ANN202 - playwright Browser, Page
    pg = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    pg.set_default_timeout(180_000)
    pg.goto(url)
    pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible")
    _settle(pg)
    return pg


def test_two_app_processes_share_index_database_and_audit_trail(browser, deployment) -> None:  # noqa: ANN001
    (one, two), env, corpus = deployment
    a, b = _page(browser, one), _page(browser, two)
    for pg in (a, b):  # both answer from the one Chroma server
        _ask(pg, "How often are backups restore-tested?")
        _cites(pg, "procedures/backup-and-restore-procedure.md")

    a.get_by_test_id("stChatMessage").last.get_by_role("radio", name="Thumbs down").click()
    a.get_by_text("What was wrong or missing?").wait_for()
    _open(b, "Feedback report")  # the other process reads the one database
    assert b.get_by_test_id("stMetric").nth(2).inner_text().split()[-1] == "1"  # rated down: 1

    (corpus / NEW_DOC).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(CORPUS / NEW_DOC, corpus / NEW_DOC)
    _open(a, "Corpus")  # an ingest started in the first app...
    a.get_by_role("button", name="Re-ingest now").click()
    a.get_by_text("added 1,").first.wait_for(timeout=600_000)
    _open(b, "Chat")  # ...is picked up by the second without a restart
    _ask(b, "May I leave papers on my desk overnight?")
    _cites(b, NEW_DOC)

    # an SoA approval in the first process (a browser-free session: Streamlit's agent API) shows in the second
    control = "6.3 Information security awareness, education and training"
    opened = _interact(one, {"page": "soa"})
    opened = _interact(one, {"session_id": opened["session_id"], "widget_state": {"soa_open": control}})
    approve = next(a["key"] for a in opened["actions"] if a.get("label") == "Approve")
    _interact(one, {"session_id": opened["session_id"], "trigger": {"key": approve}})
    other = _interact(two, {"page": "soa"})
    other = _interact(two, {"session_id": other["session_id"], "widget_state": {"soa_open": control}})
    assert "Text: approved" in json.dumps(other["tree"]) and "by local" in json.dumps(other["tree"])

    from assistant.config import Settings
    from assistant.service import Assistant

    reader = Assistant(Settings(index_dir=Path(env["ISMS_INDEX_DIR"]), database_url=env["ISMS_DATABASE_URL"]))
    events = reader.audit_events("isms-lead")
    asked = [e for e in events if e.event == "question"]
    assert len(asked) == 3 and all(e.role == "isms-lead" for e in asked)
    assert [e.detail for e in events if e.event == "soa_approve"] == ["6.3 approved"]


@pytest.mark.integration
def test_load_through_two_app_processes_loses_no_audit_row(tmp_path: Path) -> None:
    """evals/deployment_load.py, small: browser-free sessions (Streamlit's agent API) on both processes, every
    question answered and in the PostgreSQL audit trail exactly once."""
    from evals.pg_server import postgres_bin

    if postgres_bin() is None and not os.environ.get("CI"):
        pytest.skip("PostgreSQL binaries not installed")
    corpus = tmp_path / "corpus"
    for rel in SMALL:
        (corpus / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / rel, corpus / rel)
    run = subprocess.run([sys.executable, "evals/deployment_load.py", "--sessions", "4", "--questions", "2",
                          "--corpus", str(corpus), "--json"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["questions"] == 8 and result["failures"] == 0
    assert result["audit_rows"] == 8 and result["audit_rows_missing"] == 0
