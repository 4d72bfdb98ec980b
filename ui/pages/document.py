"""One whole document, opened from a citation (chat, Controls, SoA workbench, Audit readiness): its title, owner,
classification and review date, every passage in order with the cited one highlighted and scrolled into view, and
a download of the original file. Only within the reader's clearance: a document above it reads as not found."""

from __future__ import annotations

import streamlit as st
import streamlit.components.v1 as components

from ui.common import get_user, md_escape, md_lines, require_index

assistant = require_index()
user = get_user()

source = st.query_params.get("source", "")
cited = st.query_params.get("chunk", "")
view = assistant.document_view(source, user.role) if source else None
if view is None:
    st.title("Document")
    st.info("This document is not available to you, or it is no longer in the index.")
    st.stop()

doc = view.document
st.title(doc.title or source)
st.markdown(f":gray[{md_escape(source)}] · classification **{md_escape(doc.classification or '—')}** · owner "
            f"**{md_escape(doc.owner or '—')}** · review date **{md_escape(doc.review_date or '—')}**")
if view.path is not None:
    st.download_button("Download the original file", view.path.read_bytes(), file_name=view.path.name,
                       icon=":material/download:")
if cited:
    st.html("<style>.st-key-cited_passage { background: rgba(255, 190, 0, 0.14); border-radius: 0.5rem; }</style>")

last_heading = None
for passage in view.passages:
    heading = " > ".join(passage.trail)  # none before the first heading (the title above says it)
    if heading and heading != last_heading:
        st.markdown(f"#### {md_escape(heading)}")
        last_heading = heading
    if passage.id == cited:
        with st.container(border=True, key="cited_passage"):
            st.markdown(f":orange-badge[cited] :gray[{md_escape(passage.span)}]")
            st.markdown(md_lines(passage.text))
    else:
        st.caption(md_escape(passage.span))
        st.markdown(md_lines(passage.text))

if cited:  # bring the cited passage into view (the component's frame shares the page's origin)
    components.html("<script>const e = window.parent.document.querySelector('.st-key-cited_passage');"
                    "if (e) { e.scrollIntoView({block: 'center'}); }</script>", height=0)
