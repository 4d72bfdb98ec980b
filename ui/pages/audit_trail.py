"""Audit trail: who asked what, SoA edits, approvals and exports, sign-ins; for the ISMS lead only."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from ui.common import get_assistant, get_user, is_admin, table_or_cards

user = get_user()
st.title("Audit trail")
if not is_admin(user):
    st.error("The audit trail is for the ISMS lead.")
    st.stop()

assistant = get_assistant()
EVENT_LABELS = {"question": "question asked", "soa_edit": "SoA edited", "soa_approve": "SoA approved",
                "soa_export": "SoA exported", "sign_in": "signed in", "sign_in_failed": "sign-in failed",
                "sign_out": "signed out"}
c1, c2, c3 = st.columns(3)
since_day = c1.date_input("Since", datetime.now(UTC).date() - timedelta(days=30), key="audit_since")
who = c2.text_input("User", key="audit_user").strip()
kind = c3.selectbox("Event", ["all", *EVENT_LABELS], format_func=lambda k: EVENT_LABELS.get(k, "all events"),
                    key="audit_event")
since = datetime.combine(since_day, time.min, tzinfo=UTC)
events = assistant.audit_events(user.role, since=since, user=who or None, event=None if kind == "all" else kind)
settings = assistant.settings
st.caption(f"Times are UTC. Question text: {settings.audit_questions} (ISMS_AUDIT_QUESTIONS); kept for "
           f"{settings.audit_retention_days or 'ever'}{' days' if settings.audit_retention_days else ''} "
           "(ISMS_AUDIT_RETENTION_DAYS). Also on the command line: `isms-assistant audit --json`.")
if not events:
    st.info("No events for these filters.")
    st.stop()

frame = pd.DataFrame([
    {
        "when": e.to_json()["time"].replace("T", " ").removesuffix("Z"),
        "who": e.user,
        "role": e.role,
        "event": EVENT_LABELS.get(e.event, e.event),
        "question or change": e.question or (f"(hashed {e.question_sha256[:12]}…)" if e.question_sha256 else e.detail),
        "not answered": "yes" if e.abstained else "",
        "sources": ", ".join(e.sources),
    }
    for e in events
])
st.metric("Events", len(events))
table_or_cards(frame, "audit_trail", lambda r: (r["question or change"] or r["event"], [
    r["event"], f"{r['who']} ({r['role']})", r["when"], "not answered" if r["not answered"] else ""]),
    hide_index=True, width="stretch",
             column_config={"question or change": st.column_config.TextColumn(width="large")})
st.download_button("Download CSV", assistant.audit_csv(events).encode("utf-8"), file_name="isms-audit-trail.csv",
                   mime="text/csv", icon=":material/download:")
