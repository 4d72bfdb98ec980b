"""SoA workbench: the 93 Annex A controls with filters; open one → drafted justification with citations →
edit → approve (who and when kept) → download the SoA as XLSX, CSV or Markdown."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from assistant.errors import SoAAccessError
from assistant.soa.types import REASON_CODES, SoADraft
from ui.common import (
    control_draft,
    document_link,
    get_user,
    is_admin,
    md_escape,
    require_index,
    table_or_cards,
)

assistant = require_index()
user = get_user()
editor = is_admin(user)
catalogue = assistant.catalogue

st.title("SoA workbench")
st.caption("Statement of Applicability: every Annex A control, its applicability, status and the evidence behind it. "
           + ("Open a control to edit its justification and approve it." if editor else
              "Editing and approval are for the ISMS lead."))

try:
    report = assistant.check_soa(role=user.role)
except SoAAccessError as exc:
    report = None
    st.warning(str(exc))

# ---------------------------------------------------------------------------- the table of controls
rows = []
for row in assistant.soa_overview(user.role):  # SoA rows within the role's clearance, stored edits on top
    findings = report.for_control(row.control_id) if report else []
    rows.append({
        "control": row.control_id, "title": row.title, "theme": row.theme, "applicability": row.applicability,
        "status": row.status, "owner": row.owner, "findings": len(findings),
        "worst": findings[0].severity if findings else "", "text": row.text, "by": row.by,
    })
table = pd.DataFrame(rows)

f1, f2, f3, f4, f5 = st.columns(5)
themes = f1.multiselect("Theme", sorted(table["theme"].unique()), key="soa_theme")
applicability = f2.multiselect("Applicability", ["Applicable", "Excluded", "Not stated"], key="soa_applicability")
statuses = f3.multiselect("Status", sorted(table["status"].unique()), key="soa_status")
findings_filter = f4.selectbox("Findings", ["All controls", "With findings", "Without findings"], key="soa_findings")
states = f5.multiselect("Text", ["generated", "edited", "approved"], key="soa_state",
                        help="generated = drafted from the evidence; edited / approved by a person")


def control_card(row: dict) -> tuple[str, list[str]]:
    """A control on a phone: id and name, then applicability, status and findings."""
    findings = int(row["findings"])
    return f"{row['control']} {row['title']}", [
        str(row["applicability"]), str(row["status"]) or "status not stated",
        f"{findings} finding{'s' if findings != 1 else ''}" if findings else "no findings"]


view = table
if themes:
    view = view[view["theme"].isin(themes)]
if applicability:
    view = view[view["applicability"].isin(applicability)]
if statuses:
    view = view[view["status"].isin(statuses)]
if findings_filter == "With findings":
    view = view[view["findings"] > 0]
elif findings_filter == "Without findings":
    view = view[view["findings"] == 0]
if states:
    view = view[view["text"].isin(states)]

# the columns that matter; theme, owner, worst finding and who edited show when a control is opened
# (stacked cards on a phone)
clicked = table_or_cards(
    view, "soa", control_card, hide_index=True, width="stretch", height=320, key="soa_table",
    on_select="rerun", selection_mode="single-row",
    column_order=["control", "title", "applicability", "status", "findings"],
    column_config={
        "control": st.column_config.TextColumn("Control", width="small"),
        "title": st.column_config.TextColumn("Name", width="large"),
        "applicability": st.column_config.TextColumn("Applicability"),
        "status": st.column_config.TextColumn("Status"),
        "findings": st.column_config.NumberColumn("Findings", width="small",
                                                  help="audit-readiness findings for this control"),
    },
)
st.caption(f"{len(view)} of {len(table)} controls · "
           f"{(table['text'] == 'approved').sum()} approved · {(table['text'] == 'edited').sum()} edited · "
           "click a row to open the control")

# ---------------------------------------------------------------------------- one control
options = list(view["control"]) or list(table["control"])


def open_control(control_id: str, source: str, value: str) -> None:
    """Open `control_id` once per new `value` of `source` (a link, a row click, a search)."""
    if st.session_state.get(f"soa_used_{source}") != value:
        st.session_state[f"soa_used_{source}"] = value
        st.session_state["soa_open"] = control_id


wanted = st.query_params.get("control")  # links from the Audit readiness page: ?control=7.4
if wanted in catalogue.controls:
    open_control(wanted, "link", wanted)
selected_rows = clicked.selection.rows if clicked else []
if selected_rows and selected_rows[0] < len(view):
    row_id = str(view.iloc[selected_rows[0]]["control"])
    open_control(row_id, "row", row_id)
query = st.text_input("Find a control", key="soa_find", placeholder="8.13, A.12.3.1 (2013) or a name such as backup",
                      help="A 2022 id, a 2013 id (mapped to its 2022 control) or a control name or alias")
if query.strip():
    found = assistant.find_controls(query)
    if found:
        open_control(found[0].id, "find", query)
    else:
        st.info(f"No Annex A control matches {query!r}.")
opened = st.session_state.get("soa_open")
if opened in catalogue.controls and opened not in options:
    options = [opened, *options]  # opened by id, link or click although the filters hide it
if opened not in options:
    st.session_state["soa_open"] = options[0]
cid = st.selectbox("Open control", options, key="soa_open",
                   format_func=lambda c: catalogue.controls[c].label)
control = catalogue.controls[cid]

with st.spinner(f"Drafting {cid} from the risks and documents…"):
    draft: SoADraft = control_draft(cid, user.role)

st.subheader(control.label)
colour = {True: "green", False: "orange", None: "gray"}[draft.applicable]
st.markdown(
    f":{colour}-badge[{md_escape(draft.applicability)}] · {md_escape(control.theme)} · status **{md_escape(draft.status or '—')}** · owner "
    f"**{md_escape(draft.owner or '—')}** · reasons " + (", ".join(md_escape(r) for r in draft.reasons) or "none stated")
)
st.caption(f"Text: {md_escape(draft.provenance.label)}")
for w in draft.warnings:
    st.warning(md_escape(w[0].upper() + w[1:]), icon=":material/report:")
for f in (report.for_control(cid) if report else []):
    st.error(f"**{md_escape(f.severity.upper())} · {md_escape(f.title)}** — {md_escape(f.message)}  \n"
             f"Suggested fix: {md_escape(f.fix)}", icon=":material/gavel:")

text_col, evidence_col = st.columns([3, 2])
with evidence_col:
    st.markdown("**Evidence**")
    for ev in draft.citations:
        quote = f"  \n> {md_escape(ev.quote)}" if ev.quote else ""
        st.markdown(f"**\\[{ev.n}\\]** {md_escape(ev.section)}  \n:gray[{md_escape(ev.source)}"
                    f"{' · ' + md_escape(ev.span) if ev.span else ''}]{quote}")
        document_link(ev.source, ev.chunk_id)
    if draft.risks:
        st.markdown("**Linked risks**")
        st.markdown("\n".join(
            f"- **{md_escape(r.risk_id)}** {md_escape(r.title)} — {md_escape(', '.join(p for p in (r.level, r.treatment) if p))}"
            f" **\\[{r.n}\\]**" for r in draft.risks))

with text_col:
    if not editor:  # the editor sees the text once, in the form below
        st.markdown("**Justification**")
        st.markdown(md_escape(draft.justification))
    if draft.soa_justification and draft.soa_justification != draft.justification:
        with st.expander("What the SoA says today"):
            st.markdown(md_escape(draft.soa_justification))
    if editor:
        # the stored version this person opened: a save or approval based on it is refused (conflict message)
        # when someone else, in this or another app process, changed the control since
        seen_key = f"soa_seen_{cid}"
        seen_version = st.session_state.setdefault(seen_key, draft.provenance.version)
        with st.form(f"soa_edit_{cid}"):
            text = st.text_area("Edit the justification (keep the [n] citations and risk ids)", draft.justification,
                                height=200, key=f"soa_text_{cid}")
            c1, c2, c3 = st.columns(3)
            appl = c1.selectbox("Applicability", ["Applicable", "Excluded", "Not stated"],
                                index=["Applicable", "Excluded", "Not stated"].index(draft.applicability),
                                key=f"soa_appl_{cid}")
            status = c2.text_input("Implementation status", draft.status, key=f"soa_stat_{cid}")
            owner = c3.text_input("Owner", draft.owner, key=f"soa_owner_{cid}")
            reasons = st.multiselect("Reasons", list(REASON_CODES),
                                     default=[r for r in draft.reasons if r in REASON_CODES], key=f"soa_reasons_{cid}")
            note = st.text_input("Note for the history (optional)", key=f"soa_note_{cid}")
            b1, b2 = st.columns(2)
            save = b1.form_submit_button("Save edit", icon=":material/save:")
            approve = b2.form_submit_button("Approve", type="primary", icon=":material/verified:",
                                            help="Approve the text as shown (an unsaved edit is saved first)")
        if save or approve:
            draft.provenance.version = seen_version
            st.session_state.pop(seen_key, None)  # after a save or a conflict, the next run reads the latest
            try:  # verified, then stored; the problems found are shown, the person decides
                problems = assistant.save_soa_edit(draft, user.username, justification=text, applicability=appl,
                                                   status=status, owner=owner, reasons=reasons, note=note,
                                                   approve=approve, role=user.role)
            except ValueError as exc:
                st.error(str(exc))
            else:
                for p in problems:
                    st.toast(f"Check the edited text: {md_escape(p)}", icon=":material/warning:")
                st.toast(("Approved" if approve else "Saved") + f" by {md_escape(user.username)}.",
                         icon=":material/check_circle:")
                st.rerun()
        history = assistant.soa_history(cid)
        if history:
            with st.expander(f"History ({len(history)})"):
                st.dataframe(pd.DataFrame([{"state": e.state, "by": e.by, "at (UTC)": e.at, "note": e.note,
                                            "justification": e.justification} for e in reversed(history)]),
                             hide_index=True, width="stretch")

# ---------------------------------------------------------------------------- export
st.divider()
st.subheader("Download the SoA")
export_ids = list(view["control"])
st.caption(f"Exports the {len(export_ids)} controls in the table above (change the filters to export fewer), "
           "with approved and edited texts as stored, and the rest drafted from the evidence you may see.")
key = (str(assistant.settings.index_dir), assistant.index_generation(), assistant.soa_history_version(),
       user.role, tuple(export_ids))
if st.button(f"Prepare export ({len(export_ids)} controls)", icon=":material/download:", key="soa_prepare"):
    with st.spinner(f"Drafting {len(export_ids)} controls…"):  # one facade call: drafts cached per generation
        drafts = assistant.draft_soa(export_ids, role=user.role)
        st.session_state["soa_export"] = {"key": key, **assistant.export_soa(drafts, user=user.username,
                                                                             role=user.role)}
export = st.session_state.get("soa_export")
if export and export["key"] == key:
    d1, d2, d3 = st.columns(3)
    d1.download_button("Download XLSX", export["xlsx"], file_name="statement-of-applicability.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/table:", type="primary", key="soa_dl_xlsx")
    d2.download_button("Download CSV", export["csv"], file_name="statement-of-applicability.csv", mime="text/csv",
                       icon=":material/csv:", key="soa_dl_csv")
    d3.download_button("Download Markdown", export["md"], file_name="statement-of-applicability.md",
                       mime="text/markdown", icon=":material/description:", key="soa_dl_md")
