"""Single sign-on end to end in Chromium: a real OpenID Connect provider process (the PyPI package
oidc-provider-mock) and the app started as the README says (`isms-assistant ui` with ISMS_AUTH_MODE=oidc).
A member of staff and an ISMS lead sign in; the role comes from the `groups` claim through ISMS_OIDC_ROLE_MAP;
staff never see a restricted document; a reload keeps the sign-in; sign-out works; the sign-ins and the
question are in the ISMS lead's audit trail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_ui_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, _ask, _free_port, _open, _settle

from evals.deployment_load import app_process

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
STAFF = {"sub": "sam@example.org", "name": "Sam Staff", "groups": ["everyone"]}
LEAD = {"sub": "lena@example.org", "name": "Lena Lead", "groups": ["everyone", "isms-leads"]}
ROLE_MAP = {"isms-leads": "isms-lead", "managers": "manager"}
QUESTION = "What did the last penetration test find?"  # only a restricted record answers it

@dataclass(frozen=True)
class SSOApp:
    url: str
    database: str  # where the app's audit trail is


pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
]


def _wait(url: str, proc: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up: {log.read_text()[-2000:]}")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The identity provider: `python -m oidc_provider_mock` with two predefined users and their groups."""
    port = _free_port()
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    cmd = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--user-claims", json.dumps(STAFF),
           "--user-claims", json.dumps(LEAD)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}"
    try:
        _wait(f"{url}/.well-known/openid-configuration", proc, log)
        yield url
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def sso_app(provider: str, sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSOApp]:
    """`isms-assistant ui` in `oidc` mode on a copy of the sample index."""
    work = tmp_path_factory.mktemp("sso-app")
    index = work / "index"
    shutil.copytree(sample_index, index, ignore=shutil.ignore_patterns("ingest.lock"))
    port = _free_port()
    database = f"sqlite:///{work / 'app.db'}"
    env = dict(os.environ, ISMS_INDEX_DIR=str(index), ISMS_CORPUS_DIR=str(CORPUS), ISMS_AUTH_MODE="oidc",
               ISMS_OIDC_ISSUER=provider, ISMS_OIDC_CLIENT_ID="isms-assistant", ISMS_OIDC_CLIENT_SECRET="a-client-secret", ISMS_OIDC_ROLE_MAP=json.dumps(ROLE_MAP),
               ISMS_DATABASE_URL=database, HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    for key in ("ISMS_UI_ROLE", "ISMS_USERS_FILE", "ISMS_OIDC_REDIRECT_URI"):
        env.pop(key, None)
    with app_process(env, port, work / "app.log", host="localhost") as url:  # the redirect URI's host
        yield SSOApp(url, database)


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201 - playwright Browser
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _sign_in(browser, app: str, who: dict[str, object]):  # noqa: ANN001, ANN202 - playwright Browser, Page
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # the provider's pages link a stylesheet on a CDN this machine cannot reach
    context.route(lambda url: "cdn.jsdelivr.net" in url, lambda route: route.abort())
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    pg.goto(app)
    pg.get_by_role("button", name="Sign in").click()
    pg.get_by_role("button", name=str(who["sub"])).click()  # the provider's form: a predefined user
    pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=300_000)
    _settle(pg)
    return pg


def _sidebar(pg) -> str:  # noqa: ANN001 - playwright Page
    return pg.get_by_test_id("stSidebar").inner_text()


def test_staff_and_isms_lead_sign_in_with_their_roles(browser, sso_app: SSOApp, sample_index: Path) -> None:  # noqa: ANN001
    from assistant.config import Settings
    from assistant.service import Assistant

    reader = Assistant(Settings(corpus_dir=CORPUS, index_dir=sample_index))
    staff_docs = {d.source for d in reader.visible_documents("staff")}
    restricted = sorted({d.source for d in reader.visible_documents("isms-lead")} - staff_docs)
    assert restricted  # the sample holds documents above staff clearance

    pg = _sign_in(browser, sso_app.url, STAFF)
    sidebar = _sidebar(pg)
    assert "Sam Staff" in sidebar and "role staff" in sidebar and "cleared to internal" in sidebar
    assert f"{len(staff_docs)} documents" in sidebar
    assert "Audit trail" not in sidebar and "Feedback report" not in sidebar
    _ask(pg, QUESTION)
    _settle(pg)
    text = pg.locator("body").inner_text()
    assert not [s for s in restricted if s in text], "a restricted document shows for staff"
    pg.screenshot(path=str(SHOTS / "sso-staff.png"), full_page=True)
    pg.reload()  # Streamlit's identity cookie keeps the sign-in
    pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible")
    assert "role staff" in _sidebar(pg)
    pg.get_by_role("button", name="Sign out").click()  # the app's cookie goes, the provider's session ends
    pg.wait_for_url("**/oauth2/end_session**", wait_until="commit")  # the provider asks to confirm

    pg.get_by_role("button", name="End session").click()
    pg.get_by_role("button", name="Sign in").wait_for()
    assert "_streamlit_user" not in {c["name"] for c in pg.context.cookies()}
    pg.reload()
    pg.get_by_role("button", name="Sign in").wait_for()  # signed out stays signed out
    assert pg.get_by_test_id("stChatInputTextArea").count() == 0
    pg.context.close()

    lead = _sign_in(browser, sso_app.url, LEAD)
    sidebar = _sidebar(lead)
    assert "Lena Lead" in sidebar and "role isms-lead" in sidebar and "cleared to restricted" in sidebar
    assert f"{len(reader.visible_documents('isms-lead'))} documents" in sidebar
    _open(lead, "Audit trail")
    lead.get_by_text("Events", exact=True).wait_for()
    lead.screenshot(path=str(SHOTS / "sso-audit-trail.png"), full_page=True)
    lead.context.close()
    trail = Assistant(Settings(corpus_dir=CORPUS, index_dir=sample_index, database_url=sso_app.database))
    events = [(e.user, e.role, e.event) for e in reversed(trail.audit_events("isms-lead"))]
    assert events[0] == ("sam@example.org", "staff", "sign_in")
    assert ("sam@example.org", "staff", "question") in events and ("sam@example.org", "staff", "sign_out") in events
    assert ("lena@example.org", "isms-lead", "sign_in") in events
    assert sum(e == ("sam@example.org", "staff", "sign_in") for e in events) == 1  # a reload is not a sign-in

