"""Feedback report: questions the documents did not cover and answers rated down, for the ISMS lead."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.common import get_assistant, get_user, is_admin, table_or_cards

user = get_user()
st.title("Feedback report")
if not is_admin(user):
    st.error("The feedback report is for the ISMS lead.")
    st.stop()

assistant = get_assistant()
counts = assistant.feedback_counts(user.role)  # of the answers within this reader's clearance
cols = st.columns(4)
cols[0].metric("Answers with feedback or abstained", counts["total"])
cols[1].metric("Not covered by the documents", counts["abstained"])
cols[2].metric("Rated down", counts["down"])
cols[3].metric("Rated up", counts["up"])

show_all = st.toggle("Show all feedback (also answers rated up)", value=False)
records = assistant.feedback_report(user.role, problems_only=not show_all)
st.caption("Each row is something to fix in the documents: a gap (not covered) or an answer people found wrong. "
           "Times are UTC.")
if not records:
    st.info("Nothing to fix yet: no abstained questions and no answers rated down.")
    st.stop()

frame = pd.DataFrame([
    {
        "when": r.created_at.strftime("%Y-%m-%d %H:%M"),
        "who": r.user,
        "role": r.role,
        "question": r.question,
        "problem": "not covered" if r.abstained else ("rated down" if r.rating == 0 else "rated up" if r.rating == 1 else ""),
        "comment": r.comment,
        "sources / closest documents": ", ".join(r.sources),
        "rated by": r.rated_by,
    }
    for r in records
])
table_or_cards(frame, "feedback", lambda r: (r["question"], [r["problem"], f"{r['who']} ({r['role']})", r["when"],
                                                          r["comment"]]), hide_index=True, width="stretch",
             column_config={"question": st.column_config.TextColumn(width="large"),
                            "comment": st.column_config.TextColumn(width="medium")})
safe = frame.map(lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v)
st.download_button("Download CSV", safe.to_csv(index=False).encode("utf-8"), file_name="isms-feedback.csv",
                   mime="text/csv", icon=":material/download:")
