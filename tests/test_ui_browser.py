"""End to end in a real browser: `isms-assistant ui` on 127.0.0.1, driven by Playwright with Debian's
chromium (never `playwright install`). Asks a question, checks the cited sources, walks every page, downloads
the SoA as XLSX, and saves a screenshot of each page under tests/screenshots/ (git-ignored) for review.

Install the browser with `bash .ci/install-browser.sh` (apt-get install chromium)."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.deployment_load import app_process

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "tests" / "screenshots"
TIMINGS = SHOTS / "timings.json"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
QUESTION = "How often are access rights reviewed?"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium "
                       "(run `bash .ci/install-browser.sh`)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`isms-assistant ui` on a private copy of the sample index, as the ISMS lead."""
    yield from _serve(sample_index, tmp_path_factory, "isms-lead")


@pytest.fixture(scope="module")
def staff_server(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same app signed in as a member of staff (cleared for internal documents only)."""
    yield from _serve(sample_index, tmp_path_factory, "staff")


@pytest.fixture(scope="module")
def users_server(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app in `users` mode: sign-in against a users file holding one member of staff (sam / sam-password)."""
    from assistant.users import add_user

    users = tmp_path_factory.mktemp("users") / "users.yaml"
    add_user(users, "sam", "staff", "sam-password", "Sam Staff")
    yield from _serve(sample_index, tmp_path_factory, "staff", ISMS_AUTH_MODE="users", ISMS_USERS_FILE=str(users))


def _serve(sample_index: Path, tmp_path_factory: pytest.TempPathFactory, role: str, **extra: str) -> Iterator[str]:
    work = tmp_path_factory.mktemp("browser")
    index = work / "index"
    shutil.copytree(sample_index, index, ignore=shutil.ignore_patterns("ingest.lock"))
    env = dict(os.environ, ISMS_INDEX_DIR=str(index), ISMS_CORPUS_DIR=str(CORPUS), ISMS_UI_ROLE=role,
               ISMS_DATABASE_URL=f"sqlite:///{work / 'feedback.db'}", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               ANONYMIZED_TELEMETRY="False")
    env.pop("ISMS_AUTH_MODE", None)
    env.update(extra)
    with app_process(env, _free_port(), work / "streamlit.log") as url:  # the product's `isms-assistant ui`
        yield url


@pytest.fixture(scope="module")
def page(server: str):  # noqa: ANN201 - playwright Page
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 2000}, accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(120_000)
        yield pg
        context.close()
        browser.close()


def _settle(pg) -> None:  # noqa: ANN001 - playwright Page
    """Wait until the script run finished (Streamlit's status widget disappears)."""
    pg.wait_for_timeout(300)
    pg.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=180_000)
    pg.wait_for_timeout(300)


def _shot(pg, name: str) -> None:  # noqa: ANN001 - playwright Page
    _settle(pg)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _open(pg, title: str) -> None:  # noqa: ANN001 - playwright Page
    pg.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    _settle(pg)


def _ask(pg, question: str) -> tuple[float, float]:  # noqa: ANN001 - playwright Page
    """Ask in the chat box; seconds until the answer's first text and until the sources panel are shown."""
    _settle(pg)  # count the messages of a finished run only (a rerun still drawing shows stale ones)
    messages = pg.get_by_test_id("stChatMessage")
    before = messages.count()
    box = pg.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    t0 = time.perf_counter()
    box.press("Enter")
    answer = messages.nth(before + 1).locator(
        '[data-testid="stMarkdownContainer"]:not([data-testid="stSpinner"] [data-testid="stMarkdownContainer"])'
    ).first
    answer.wait_for(state="visible")
    first = time.perf_counter() - t0
    done = messages.nth(before + 1).get_by_text("Sources (").or_(messages.nth(before + 1).get_by_text("Closest documents"))
    done.first.wait_for(state="visible")
    full = time.perf_counter() - t0
    return first, full


def test_end_to_end_in_chromium(page, server: str, tmp_path: Path) -> None:  # noqa: ANN001 - playwright Page
    from openpyxl import load_workbook

    pg = page
    t0 = time.perf_counter()
    pg.goto(server)
    pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=300_000)
    cold_load = time.perf_counter() - t0
    _shot(pg, "01-chat-start")

    _ask(pg, "How do I report a security incident?")  # warm-up: first question of the process

    # warm: a fresh page load, then the question
    t_load = time.perf_counter()
    pg.goto(server)
    pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible")
    _settle(pg)
    loaded = time.perf_counter() - t_load
    first, full = _ask(pg, QUESTION)
    timings = {"cold_page_load_s": round(cold_load, 2), "warm_page_load_s": round(loaded, 2),
               "enter_to_first_answer_text_s": round(first, 2), "enter_to_full_answer_with_sources_s": round(full, 2),
               "page_load_to_first_answer_text_s": round(loaded + first, 2),
               "page_load_to_full_answer_s": round(loaded + full, 2)}
    TIMINGS.write_text(json.dumps(timings, indent=1))
    print("timings", timings)

    answer = pg.get_by_test_id("stChatMessage").nth(1)
    assert "quarterly" in answer.inner_text()
    sources = answer.get_by_test_id("stExpander").first
    assert "policies/access-control-policy.md" in sources.inner_text()
    assert "Review of access rights" in sources.inner_text()
    answer.get_by_text("Related documents").wait_for()  # ranked documents the answer did not quote (drawn last)
    _shot(pg, "02-chat-answer")
    answer.get_by_text("Open full section").first.click()
    pg.get_by_test_id("stPopoverBody").first.wait_for(state="visible")
    _shot(pg, "03-chat-full-section")
    pg.keyboard.press("Escape")

    answer.get_by_role("radio", name="Thumbs down").click()
    comment = answer.get_by_label("What was wrong or missing? (optional)")
    comment.fill("Should say who runs the review")
    answer.get_by_role("button", name="Send feedback").click()
    pg.get_by_text("your feedback was saved").wait_for()
    _ask(pg, "What is the best recipe for sourdough bread?")
    pg.get_by_text("don't cover this").last.wait_for()
    _shot(pg, "04-chat-abstained")
    _ask(pg, "which annex a controls are still only partly implemented according to the SoA?")
    rows = pg.get_by_test_id("stChatMessage").last.inner_text()
    assert "have the status Partially implemented" in rows and "5.21" in rows, rows
    _shot(pg, "18-chat-register-rows")

    _open(pg, "Controls")
    query = pg.get_by_label("Control id or name")
    query.fill("A.9.2.5")
    query.press("Enter")
    pg.get_by_role("heading", name="5.18 Access rights").wait_for()
    pg.get_by_text("How it works in practice").wait_for()
    _shot(pg, "05-controls")

    _open(pg, "My responsibilities")
    pg.get_by_role("tab", name="When it happens").wait_for()
    _shot(pg, "06-responsibilities")

    _open(pg, "SoA workbench")
    pg.get_by_text("Open control").wait_for()
    _shot(pg, "07-soa-workbench")
    pg.get_by_test_id("stMultiSelect").filter(has_text="Theme").click()
    pg.get_by_role("option", name="People").click()
    pg.keyboard.press("Escape")
    _settle(pg)
    pg.get_by_role("button", name="Prepare export (8 controls)").click()
    download_button = pg.get_by_test_id("stDownloadButton").filter(has_text="Download XLSX")
    download_button.wait_for(timeout=300_000)
    with pg.expect_download() as info:
        download_button.click()
    target = tmp_path / "soa.xlsx"
    info.value.save_as(target)
    rows = list(load_workbook(io.BytesIO(target.read_bytes()))["SoA"].iter_rows(values_only=True))
    assert rows[0][:2] == ("Control ID", "Control title")
    assert sorted(r[0] for r in rows[1:]) == [f"6.{i}" for i in range(1, 9)]
    _shot(pg, "08-soa-export")

    _open(pg, "Audit readiness")
    pg.get_by_text("SoA coverage by theme").wait_for()
    pg.get_by_test_id("stVegaLiteChart").locator("canvas, svg").first.wait_for()
    _shot(pg, "09-audit-readiness")

    _open(pg, "Corpus")
    pg.get_by_text("Documents you can see").wait_for()
    _shot(pg, "10-corpus")

    _open(pg, "Feedback report")
    pg.get_by_role("heading", name="Feedback report").wait_for()
    report = pg.get_by_test_id("stDataFrame").first
    report.wait_for()
    assert pg.get_by_test_id("stMetric").nth(1).inner_text().endswith("1")  # not covered
    assert pg.get_by_test_id("stMetric").nth(2).inner_text().endswith("1")  # rated down
    _shot(pg, "11-feedback-report")

    # each page once more, warm (the index and caches loaded): seconds from the click until the run finished
    warm: dict[str, float] = {}
    for title in ("Chat", "Controls", "My responsibilities", "SoA workbench", "Audit readiness", "Corpus",
                  "Feedback report", "Audit trail"):
        t0 = time.perf_counter()
        _open(pg, title)
        warm[title] = round(time.perf_counter() - t0, 2)  # an upper bound: includes _settle's fixed 0.6 s
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    timings["page_warm_at_most_s"] = warm
    TIMINGS.write_text(json.dumps(timings, indent=1))



def test_chat_as_a_new_member_of_staff(page, staff_server: str) -> None:  # noqa: ANN001 - playwright Page
    """The chat cases a new user met: the useful sentence first, no register rows, a follow-up that keeps the
    topic, documents that disagree, a role question, a restricted topic refused; screenshots for review."""
    pg = page
    pg.goto(staff_server)
    pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=300_000)
    messages = pg.get_by_test_id("stChatMessage")
    _ask(pg, "What do I do if I lose my laptop?")
    first = messages.nth(1).inner_text()
    assert "Report a lost or stolen laptop" in first and "Risk R-" not in first
    _ask(pg, "and who do I tell?")
    assert "Service Desk" in messages.nth(3).inner_text()
    _ask(pg, "when do I have to report a lost laptop?")
    disagree = messages.nth(5).inner_text()
    assert "The documents disagree" in disagree and "1 hour" in disagree and "same day" in disagree
    _shot(pg, "12-chat-lost-laptop")
    pg.get_by_role("button", name="New chat").click()
    _settle(pg)
    _ask(pg, "I'm a new line manager - what am I responsible for?")
    duties = messages.nth(1).inner_text()
    assert "What the documents give the line manager to do" in duties and "My responsibilities page" in duties
    _ask(pg, "what were the corrective actions from the June phishing incident?")
    refused = messages.nth(3).inner_text()
    assert "don't cover this" in refused and "FIDO2" not in refused
    _shot(pg, "13-chat-role-and-restricted")
    page_text = pg.inner_text("body")
    assert "****" not in page_text and " ms" not in page_text and "grounded answer" not in page_text


def test_soa_workbench_row_click_and_whole_export(page, server: str, tmp_path: Path) -> None:  # noqa: ANN001 - playwright Page
    """An ISMS lead clicks a row of the SoA table to open that control, then exports all 93 controls; the export
    time (click to download button) is recorded with the other timings."""
    from openpyxl import load_workbook

    pg = page
    pg.goto(server)
    pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=300_000)
    _open(pg, "SoA workbench")
    pg.get_by_text("Open control").wait_for()
    table = pg.get_by_test_id("stDataFrame").first
    table.wait_for()
    box = table.bounding_box()
    assert box is not None
    row = 2  # the grid draws a 35 px header and 35 px rows; the row marker sits at the left edge
    pg.mouse.click(box["x"] + 12, box["y"] + 35 * (row + 1) + 17)
    _settle(pg)
    pg.get_by_role("heading", name="5.3 Segregation of duties").wait_for()
    _shot(pg, "14-soa-row-click")

    t0 = time.perf_counter()
    pg.get_by_role("button", name="Prepare export (93 controls)").click()
    download_button = pg.get_by_test_id("stDownloadButton").filter(has_text="Download XLSX")
    download_button.wait_for(timeout=300_000)
    export_s = time.perf_counter() - t0
    with pg.expect_download() as info:
        download_button.click()
    target = tmp_path / "soa-all.xlsx"
    info.value.save_as(target)
    rows = list(load_workbook(io.BytesIO(target.read_bytes()))["SoA"].iter_rows(values_only=True))
    assert len(rows) == 94 and rows[0][0] == "Control ID"
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    timings["soa_export_93_controls_s"] = round(export_s, 2)
    TIMINGS.write_text(json.dumps(timings, indent=1))
    print("soa export of 93 controls", round(export_s, 2), "s")


def _background(pg) -> tuple[int, ...]:  # noqa: ANN001 - playwright Page
    colour = pg.evaluate("getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor")
    return tuple(int(x) for x in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3])


def test_follows_the_os_dark_preference_shows_the_settings_menu_and_fits_a_phone(page, server: str) -> None:  # noqa: ANN001
    """Dark when the OS prefers dark, light otherwise; the settings menu is there; at 400 px nothing scrolls
    sideways. Screenshots 15-dark.png and 16-phone-400px.png are for review."""
    browser = page.context.browser  # the module's browser (one Playwright per process)
    for scheme, viewport in (("dark", {"width": 1400, "height": 1000}), ("light", {"width": 400, "height": 800})):
        context = browser.new_context(viewport=viewport, color_scheme=scheme)
        pg = context.new_page()
        pg.set_default_timeout(120_000)
        pg.goto(server)
        pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=300_000)
        _settle(pg)
        red, green, blue = _background(pg)
        if scheme == "dark":
            assert max(red, green, blue) < 80, (red, green, blue)
            assert pg.get_by_test_id("stMainMenu").count() == 1  # the settings menu (theme, print)
            _shot(pg, "15-dark")
        else:
            assert min(red, green, blue) > 200, (red, green, blue)
            box = pg.get_by_test_id("stChatInputTextArea").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 400  # no sideways scroll
            assert pg.evaluate("document.documentElement.scrollWidth") <= 400
            title = pg.get_by_role("heading", name="Ask the ISMS").bounding_box()
            assert title is not None and title["y"] >= 60, title  # opens at the title, not under the toolbar
            _shot(pg, "16-phone-400px")
            pg.goto(f"{server}/soa")  # a table too narrow to read becomes stacked cards
            _settle(pg)
            cards = pg.locator(".st-key-cards_soa")
            cards.get_by_text("5.15 Access control").wait_for()
            assert "Applicable" in cards.inner_text()
            assert not pg.locator(".st-key-wide_soa").is_visible()
            _shot(pg, "16b-phone-soa-cards")
            pg.goto(f"{server}/corpus")  # every wide table does the same
            _settle(pg)
            pg.locator(".st-key-cards_documents").get_by_text("policies/access-control-policy.md").wait_for()
            assert not pg.locator(".st-key-wide_documents").is_visible()
            context.close()
            continue
        context.close()


def test_a_citation_opens_the_whole_document_at_the_cited_passage(page, staff_server: str) -> None:  # noqa: ANN001
    pg = page
    pg.goto(staff_server)
    pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=300_000)
    _ask(pg, QUESTION)
    pg.get_by_text("Open the whole document").first.click()
    cited = pg.locator(".st-key-cited_passage")
    cited.wait_for(state="visible")
    _settle(pg)
    pg.wait_for_timeout(500)
    box = cited.bounding_box()
    assert box is not None and 0 <= box["y"] < pg.viewport_size["height"]  # scrolled into view
    assert "quarterly" in cited.inner_text()
    assert pg.get_by_role("heading", name="Access Control Policy", exact=True).count() == 1
    assert pg.get_by_test_id("stDownloadButton").filter(has_text="Download the original file").count() == 1
    _shot(pg, "17-document-view")


def test_a_reload_keeps_the_user_signed_in_until_sign_out(page, users_server: str) -> None:  # noqa: ANN001
    pg = page.context.browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    pg.set_default_timeout(120_000)
    pg.goto(users_server)
    pg.get_by_label("User name").fill("sam")
    pg.get_by_role("textbox", name="Password").fill("sam-password")
    pg.get_by_role("button", name="Sign in").click()
    pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=300_000)
    _settle(pg)
    assert any(c["name"] == "isms_session" for c in pg.context.cookies())
    pg.reload()
    pg.get_by_test_id("stChatInputTextArea").wait_for(state="visible")  # still signed in after a reload
    assert pg.get_by_text("Sam Staff").count() >= 1
    pg.get_by_role("button", name="Sign out").click()
    pg.get_by_role("button", name="Sign in").wait_for()
    _settle(pg)
    pg.reload()
    pg.get_by_role("button", name="Sign in").wait_for()  # signed out stays signed out
    assert pg.get_by_test_id("stChatInputTextArea").count() == 0
    pg.context.close()
