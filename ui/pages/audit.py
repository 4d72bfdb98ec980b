"""Audit readiness: the findings an auditor would raise on the SoA, risk register and documents, by severity
and type, each linking to its control; SoA coverage by theme and status."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from assistant.soa.checks import KINDS, SEVERITIES
from assistant.soa.types import SoAAccessError
from ui.common import get_soa_store, get_user, md_escape, require_index

assistant = require_index()
user = get_user()
catalogue = assistant.catalogue
knowledge = assistant.index.knowledge
max_rank = assistant.clearance(user.role)

STATUS_COLOURS = {
    "Implemented": "#2e7d32", "Partially implemented": "#f9a825", "Planned / other": "#64b5f6",
    "Status not stated": "#bdbdbd", "Excluded": "#757575", "Missing from the SoA": "#c62828",
}

st.title("Audit readiness")
st.caption("What a certification auditor would raise about the Statement of Applicability (ISO/IEC 27001 6.1.3), "
           "checked against the risk register and the documents you may see.")

try:
    report = assistant.check_soa(role=user.role)
except SoAAccessError as exc:
    st.warning(str(exc))
    st.stop()

counts = report.by_severity()
c = st.columns(5)
c[0].metric("Findings", len(report.findings))
c[1].metric("High", counts["high"])
c[2].metric("Medium", counts["medium"])
c[3].metric("Low", counts["low"])
c[4].metric("Controls in the SoA", f"{report.controls_in_soa} / {len(catalogue)}")
st.caption(f"Checked {report.risks_checked} risks and {report.documents_checked} documents as of {md_escape(report.as_of)}.")

# ---------------------------------------------------------------------------- coverage chart
stored = get_soa_store()
edited = set(stored.controls())
coverage = []
for cid, control in catalogue.controls.items():
    entry = knowledge.soa.get(cid)
    chunk = knowledge.soa_chunks.get(cid)
    visible = entry is not None and chunk is not None and chunk.class_rank <= max_rank
    latest = stored.latest(cid) if cid in edited else None
    fields = latest.fields if latest and latest.state != "generated" else {}
    applicable = fields.get("applicable", entry.applicable if visible else None)
    status = (fields.get("status") or (entry.status if visible else "") or "").strip()
    if not visible and not fields:
        label = "Missing from the SoA"
    elif applicable is False:
        label = "Excluded"
    elif status.lower().startswith("partial"):
        label = "Partially implemented"
    elif status.lower().startswith(("implemented", "in place", "operational")):
        label = "Implemented"
    elif status:
        label = "Planned / other"
    else:
        label = "Status not stated"
    coverage.append({"theme": control.theme, "status": label})
frame = pd.DataFrame(coverage).value_counts().rename("controls").reset_index()
order = list(STATUS_COLOURS)
frame["rank"] = frame["status"].map(order.index)
st.subheader("SoA coverage by theme")
chart = (
    alt.Chart(frame)
    .mark_bar()
    .encode(
        y=alt.Y("theme:N", title=None, sort=["Organizational", "People", "Physical", "Technological"],
                axis=alt.Axis(labelOverlap=False, labelLimit=200, labelFontSize=13)),
        x=alt.X("controls:Q", title="controls", stack="zero"),
        color=alt.Color("status:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=order, range=list(STATUS_COLOURS.values()))),
        order=alt.Order("rank:Q"),
        tooltip=["theme", "status", "controls"],
    )
    .properties(height=alt.Step(34))
)
st.altair_chart(chart, width="stretch")

# ---------------------------------------------------------------------------- findings
st.subheader("Findings")
kinds_present = list(report.by_kind())
f1, f2 = st.columns(2)
severity_pick = f1.multiselect("Severity", list(SEVERITIES), default=list(SEVERITIES), key="audit_severity")
kind_pick = f2.multiselect("Type", kinds_present, format_func=lambda k: KINDS.get(k, ("", k))[1], key="audit_kind")
shown = [f for f in report.findings if f.severity in severity_pick and (not kind_pick or f.kind in kind_pick)]
if not shown:
    st.success("No findings to show.")
icons = {"high": ":material/error:", "medium": ":material/warning:", "low": ":material/info:"}
colours = {"high": "red", "medium": "orange", "low": "blue"}
for f in shown:
    where = f.control or f.document or "SoA"
    with st.expander(f":{colours[f.severity]}[{f.severity.upper()}] {md_escape(where)} — {md_escape(f.title)}",
                     icon=icons[f.severity]):
        st.markdown(md_escape(f.message))
        st.markdown(f"**Suggested fix:** {md_escape(f.fix)}")
        for ev in f.evidence:
            quote = f"  \n> {md_escape(ev.quote or ev.text[:300])}" if (ev.quote or ev.text) else ""
            st.markdown(f"**\\[{ev.n}\\]** {md_escape(ev.section)}  \n:gray[{md_escape(ev.source)}"
                        f"{' · ' + md_escape(ev.span) if ev.span else ''}]{quote}")
        links = st.columns(4)
        for j, cid in enumerate(dict.fromkeys(x for x in [f.control, *f.controls] if x in catalogue.controls)):
            links[(2 * j) % 4].page_link("pages/soa.py", label=f"Open {cid} in the SoA workbench",
                                         icon=":material/table_view:", query_params={"control": cid})
            links[(2 * j + 1) % 4].page_link("pages/controls.py", label=f"{cid} on the Controls page",
                                             icon=":material/verified_user:", query_params={"control": cid})

st.download_button("Download findings (JSON)", json.dumps(report.to_dict(), ensure_ascii=False, indent=1).encode(),
                   file_name="soa-findings.json", mime="application/json", icon=":material/download:")
