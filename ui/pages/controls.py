"""Controls: find an Annex A control by 2022 id, 2013 id or name → the chain behind it: implementing
documents and sections, the process steps, owner, linked risks, the SoA entry and ISO 27002 attributes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from assistant.catalogue import Control
from ui.common import control_draft, document_link, get_user, md_escape, require_index, table_or_cards

assistant = require_index()
user = get_user()
catalogue = assistant.catalogue

st.title("Controls")
st.caption("Search by ISO/IEC 27001:2022 id (5.15), 2013 id (A.9.2.5) or name (access control, MFA, backups).")

linked = st.query_params.get("control")  # e.g. /controls?control=5.15
if linked and st.session_state.get("controls_link_used") != linked:
    st.session_state["controls_query"] = linked[:100]
    st.session_state["controls_link_used"] = linked
query_col, pick_col = st.columns([2, 3])
query = query_col.text_input("Control id or name", key="controls_query", placeholder="e.g. 5.15, A.12.3.1, MFA",
                             max_chars=100).strip()
labels = {c.id: c.label for c in catalogue.controls.values()}
matches: list[Control] = []
if query:
    matches = assistant.find_controls(query)
    if not matches:
        query_col.warning(f"No Annex A control matches “{md_escape(query)}”.")
options = [c.id for c in matches] or list(labels)
picked = pick_col.selectbox(
    "Control" if not matches else f"{len(matches)} matching control(s)", options, format_func=lambda cid: labels[cid],
    index=0 if matches else (options.index("5.15") if "5.15" in options else 0), key=f"controls_pick_{query}",
)
control = catalogue.controls[picked]

st.header(control.label)
facts = [f"Theme: **{md_escape(control.theme)}**"]
if control.legacy_ids:
    facts.append("ISO 27001:2013: " + ", ".join(md_escape(x) for x in control.legacy_ids))
if control.new_in_2022:
    facts.append(":green-badge[new in 2022]")
st.markdown(" · ".join(facts))
st.page_link("pages/soa.py", label=f"Open {control.id} in the SoA workbench", icon=":material/table_view:",
             query_params={"control": control.id})

with st.spinner("Tracing the control through the documents…"):
    draft = control_draft(control.id, user.role)

soa_col, attr_col = st.columns([3, 2])
with soa_col:
    st.subheader("Statement of Applicability")
    colour = {True: "green", False: "orange", None: "gray"}[draft.applicable]
    st.markdown(f"Applicability: :{colour}-badge[{md_escape(draft.applicability)}]  \n"
                f"Implementation status: **{md_escape(draft.status or '—')}**  \n"
                f"Control owner: **{md_escape(draft.owner or '—')}**")
    if draft.reasons:
        st.markdown("Reasons: " + " ".join(f":blue-badge[{md_escape(r)}]" for r in draft.reasons))
    if draft.soa_justification:
        st.markdown("**Justification in the SoA**")
        st.markdown("> " + md_escape(draft.soa_justification))
    elif draft.applicable is not None:
        st.caption("The SoA gives no justification for this control.")
    for w in draft.warnings:
        st.warning(md_escape(w[0].upper() + w[1:]), icon=":material/report:")
with attr_col:
    st.subheader("ISO 27002 attributes")
    for name, values in (("Control type", control.control_type), ("Security properties", control.properties),
                         ("Cybersecurity concepts", control.concepts), ("Operational capabilities", control.capabilities),
                         ("Security domains", control.domains)):
        if values:
            st.markdown(f"{name}: " + " ".join(f":gray-badge[{md_escape(v.replace('_', ' '))}]" for v in values))

st.subheader("Implementing documents")
if draft.documents:
    by_n = {c.n: c for c in draft.citations}
    for doc in draft.documents:
        listed = ":green-badge[listed in the SoA]" if doc.listed_in_soa else ":gray-badge[found in the documents]"
        review = f" · review date {md_escape(doc.review_date)}" if doc.review_date else ""
        st.markdown(f"**{md_escape(doc.title)}** {listed}  \n:gray[{md_escape(doc.source)}{review}]")
        for section, n in zip(doc.sections, doc.citations, strict=False):
            ev = by_n.get(n)
            quote = f"  \n  > {md_escape(ev.quote)}" if ev is not None and ev.quote else ""
            st.markdown(f"- {md_escape(section)}{quote}")
else:
    st.info("No document you may see implements this control." if draft.applicable is not False
            else "The control is excluded, so no implementing document is expected.")

st.subheader("Linked risks")
if draft.risks:
    table_or_cards(
        pd.DataFrame([{"risk": r.risk_id, "title": r.title, "level": r.level, "score": r.score,
                       "treatment": r.treatment, "owner": r.owner, "status": r.status} for r in draft.risks]),
        "risks", lambda r: (f"{r['risk']} {r['title']}", [r["level"], r["treatment"], r["owner"], r["status"]]),
        hide_index=True, width="stretch",
    )
else:
    st.caption("No risk in the risk register (that you may see) lists this control.")

st.subheader("How it works in practice")
st.caption("The process steps in the implementing documents and procedures, quoted as written.")
sections = assistant.process_steps(control.id, [d.source for d in draft.documents], user.role)
if not sections:
    st.info("The documents you may see describe no step-by-step process for this control.")
for ps in sections:
    st.markdown(f"**{md_escape(' > '.join(ps.chunk.trail) or ps.chunk.title)}** — {md_escape(ps.chunk.title)}  \n"
                f":gray[{md_escape(ps.chunk.source)} · {md_escape(ps.chunk.span)}]")
    st.markdown("\n".join(
        f"1. {(':blue-badge[' + md_escape(freq) + '] ') if freq else ''}{md_escape(step)}"
        for freq, step in ps.step_frequencies()[:10]))

with st.expander("Suggested SoA justification (draft, with citations)"):
    st.markdown(md_escape(draft.justification))
    for ev in draft.citations:
        st.markdown(f"**\\[{ev.n}\\]** {md_escape(ev.section)} :gray[{md_escape(ev.source)}"
                    f"{' · ' + md_escape(ev.span) if ev.span else ''}]")
        document_link(ev.source, ev.chunk_id)
    st.caption("Edit and approve it on the SoA workbench.")
