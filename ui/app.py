"""ISMS Assistant — Streamlit app. Start with `isms-assistant ui` or `streamlit run ui/app.py`.

Thin: every page calls the `assistant.service.Assistant` facade (one per process, cached), and the
signed-in user's role decides the clearance used everywhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# One torch thread per request: a server answers many short requests at once, and on a busy 2-core machine
# two threads per request measured 4x slower (median 3.3 s vs 0.8 s per answer). Override to tune.
os.environ.setdefault("OMP_NUM_THREADS", "1")

_REPO = str(Path(__file__).resolve().parents[1])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import streamlit as st  # noqa: E402

from ui.auth import auth_mode, logout, role_picker, role_switch_enabled  # noqa: E402
from ui.common import get_assistant, get_user, is_admin, role_badge  # noqa: E402

st.set_page_config(page_title="ISMS Assistant", page_icon=":material/shield_lock:", layout="wide")

user = get_user()  # shows the sign-in form and stops in `users` mode until someone signs in

pages = {
    "Ask": [
        st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("pages/controls.py", title="Controls", icon=":material/verified_user:"),
        st.Page("pages/responsibilities.py", title="My responsibilities", icon=":material/assignment_ind:"),
    ],
    "Audit": [
        st.Page("pages/soa.py", title="SoA workbench", icon=":material/table_view:"),
        st.Page("pages/audit.py", title="Audit readiness", icon=":material/fact_check:"),
    ],
    "Admin": [
        st.Page("pages/corpus.py", title="Corpus", icon=":material/folder_open:"),
    ],
}
pages["Ask"].append(st.Page("pages/document.py", title="Document", url_path="document", visibility="hidden"))
if is_admin(user):
    pages["Admin"].append(st.Page("pages/feedback_report.py", title="Feedback report", icon=":material/reviews:"))
    pages["Admin"].append(st.Page("pages/audit_trail.py", title="Audit trail", icon=":material/history:"))

nav = st.navigation(pages)

with st.sidebar:
    st.markdown(role_badge(user))
    if role_switch_enabled():
        role_picker(user, sorted(get_assistant().settings.roles))
    if auth_mode() in ("users", "oidc") and st.button("Sign out", icon=":material/logout:"):
        get_assistant().record_event("sign_out", user=user.username, role=user.role)
        logout()
        st.rerun()
    assistant = get_assistant()
    if assistant.has_index():
        info = assistant.status(user.role)  # counts of what this user may see
        st.caption(f"{info['files']} documents · {info['chunks']} passages you can search")

nav.run()
