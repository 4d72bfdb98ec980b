"""Audit readiness: the findings an auditor would raise on the SoA, risk register and documents, by severity
and type, each linking to its control; SoA coverage by theme and status."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from assistant.errors import SoAAccessError
from ui.common import document_link, get_user, md_escape, require_index

assistant = require_index()
user = get_user()
catalogue = assistant.catalogue

STATUS_COLOURS = {  # the coverage categories of `Assistant.soa_overview`, in the order the chart stacks them
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
coverage = [{"theme": row.theme, "status": row.coverage} for row in assistant.soa_overview(user.role)]
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
kind_titles = {f.kind: f.title for f in report.findings}  # what an auditor calls each kind
severities = list(counts)  # high, medium, low
f1, f2 = st.columns(2)
severity_pick = f1.multiselect("Severity", severities, default=severities, key="audit_severity")
kind_pick = f2.multiselect("Type", kinds_present, format_func=lambda k: kind_titles.get(k, k), key="audit_kind")
shown = [f for f in report.findings if f.severity in severity_pick and (not kind_pick or f.kind in kind_pick)]
if not shown:
    st.success("No findings to show.")
icons = {"high": ":material/error:", "medium": ":material/warning:", "low": ":material/info:"}
colours = {"high": "red", "medium": "orange", "low": "blue"}
for f in shown:
    where = f.control or f.document or ("SoA-wide" if len(f.controls) > 1 else "SoA")
    with st.expander(f"{md_escape(f.id)} :{colours[f.severity]}[{f.severity.upper()}] {md_escape(where)} — "
                     f"{md_escape(f.title)}", icon=icons[f.severity]):
        st.markdown(md_escape(f.message))
        if f.quote:
            st.markdown(f"> {md_escape(f.quote)}")
        st.markdown(f"**Suggested fix:** {md_escape(f.fix)}")
        for ev in f.evidence:
            quote = f"  \n> {md_escape(ev.quote or ev.text[:300])}" if (ev.quote or ev.text) else ""
            st.markdown(f"**\\[{ev.n}\\]** {md_escape(ev.section)}  \n:gray[{md_escape(ev.source)}"
                        f"{' · ' + md_escape(ev.span) if ev.span else ''}]{quote}")
            document_link(ev.source, ev.chunk_id)
        links = st.columns(4)
        for j, cid in enumerate(dict.fromkeys(x for x in [f.control, *f.controls] if x in catalogue.controls)):
            links[(2 * j) % 4].page_link("pages/soa.py", label=f"Open {cid} in the SoA workbench",
                                         icon=":material/table_view:", query_params={"control": cid})
            links[(2 * j + 1) % 4].page_link("pages/controls.py", label=f"{cid} on the Controls page",
                                             icon=":material/verified_user:", query_params={"control": cid})

st.download_button("Download findings (JSON)", json.dumps(report.to_dict(), ensure_ascii=False, indent=1).encode(),
                   file_name="soa-findings.json", mime="application/json", icon=":material/download:")
