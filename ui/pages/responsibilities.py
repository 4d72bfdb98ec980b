"""My responsibilities: what the documents assign to a job role — duties with frequencies, owned controls
and risks — each line cited. For newcomers and anyone taking on a new role."""

from __future__ import annotations

import streamlit as st

from assistant.models import Duty
from ui.common import get_user, md_escape, require_index

assistant = require_index()
user = get_user()

st.title("My responsibilities")
st.caption("Pick the job you do (or are taking on). The duties below are quoted from the documents you may see, "
           "each with its source; recurring ones show how often or how fast.")


@st.cache_data(show_spinner=False, max_entries=8)
def roles_for(generation: int, role: str) -> list[str]:
    return assistant.known_roles(role)


@st.cache_data(show_spinner=False, max_entries=8)
def labels_for(generation: int, role: str, roles: tuple[str, ...]) -> dict[str, str]:
    return assistant.role_labels(list(roles), role)


roles = roles_for(assistant.index_generation(), user.role)
labels = labels_for(assistant.index_generation(), user.role, tuple(roles))  # as the documents write them
linked = (st.query_params.get("role") or "").lower()  # from a chat answer: /responsibilities?role=line+manager
if linked in roles and st.session_state.get("resp_link_used") != linked:
    st.session_state["resp_role"] = linked
    st.session_state["resp_typed"] = ""
    st.session_state["resp_link_used"] = linked
col_pick, col_type = st.columns([2, 2])
own_job = assistant.job_role(user.job)
default = own_job if own_job in roles else "line manager" if "line manager" in roles else roles[0] if roles else None
picked = col_pick.selectbox("Job role named in the documents", roles, format_func=lambda r: labels[r],
                            index=roles.index(default) if default in roles else None, key="resp_role")
typed = col_type.text_input("…or type another role", key="resp_typed", placeholder="e.g. asset owner",
                            value=user.job if user.job and own_job not in roles else "", max_chars=80).strip()
job = typed or picked or ""


def duty_line(d: Duty) -> str:
    freq = f":blue-badge[{md_escape(d.frequency)}] " if d.frequency else ""
    return (f"- {freq}{md_escape(d.text)}  \n"
            f"  :gray[{md_escape(d.chunk.section)} · {md_escape(d.source)} · {md_escape(d.chunk.span)}]")


if job:
    with st.spinner("Reading the documents…"):
        found = assistant.responsibilities(job, user.role)
    name = md_escape(labels.get(found.role, found.role))
    if not found.duties and not found.owned:
        st.info(f"The documents you may see assign no duties to “{name}”. Try another name for the role.")
        st.stop()
    export = assistant.export_responsibilities(found, labels.get(found.role, found.role))
    d1, d2, _ = st.columns([1, 1, 3])
    slug = found.role.replace(" ", "-")
    d1.download_button("Checklist (Markdown)", export["md"], file_name=f"responsibilities-{slug}.md",
                       mime="text/markdown", icon=":material/checklist:")
    d2.download_button("Duties (CSV)", export["csv"], file_name=f"responsibilities-{slug}.csv", mime="text/csv",
                       icon=":material/table:")
    groups = found.grouped()
    titles = {"first week": "First week", "recurring": "Recurring", "when it happens": "When it happens",
              "ask someone": "Who to ask", "other": "Other duties"}
    st.caption(" · ".join(f"{titles[g]}: {len(ds)}" for g, ds in groups.items())
               + f" · controls and risks owned: {len(found.owned)}")
    tabs = st.tabs([titles[g] for g in groups] + ["Owned controls and risks"])
    for tab, duties in zip(tabs, groups.values(), strict=False):
        with tab:
            st.markdown("\n".join(duty_line(d) for d in duties))
    tab_owned = tabs[-1]
    with tab_owned:
        controls = [o for o in found.owned if o.kind == "control"]
        risks = [o for o in found.owned if o.kind == "risk"]
        if controls:
            st.markdown("**Controls owned (Statement of Applicability)**")
            st.markdown("\n".join(
                f"- **{md_escape(o.id)}** {md_escape(o.title)} — {md_escape(o.detail)}  \n"
                f"  :gray[{md_escape(o.chunk.section)} · {md_escape(o.chunk.source)} · {md_escape(o.chunk.span)}]"
                for o in controls))
        if risks:
            st.markdown("**Risks owned (risk register)**")
            st.markdown("\n".join(
                f"- **{md_escape(o.id)}** {md_escape(o.title)} — {md_escape(o.detail)}  \n"
                f"  :gray[{md_escape(o.chunk.source)} · {md_escape(o.chunk.span)}]"
                for o in risks))
        if not found.owned:
            st.caption(f"The SoA and risk register name no control or risk owned by “{name}”.")
    if found.controls:
        st.markdown("**Controls these duties implement**")
        shown = [cid for cid, _ in found.controls[:8] if cid in assistant.catalogue.controls]
        cols = st.columns(2)  # two columns: a control's full name fits ("6.3 Information security awareness, …")
        for i, cid in enumerate(shown):
            cols[i % 2].page_link("pages/controls.py", label=assistant.catalogue.controls[cid].label,
                                  icon=":material/verified_user:", query_params={"control": cid})
