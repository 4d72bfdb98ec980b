"""Helpers shared by the pages: the cached facade, the signed-in user, inert rendering of document text.

Document text is never trusted as markup: every piece of it goes through `md_escape` before
`st.markdown` (which never gets ``unsafe_allow_html``), so a document cannot inject links, images,
HTML, LaTeX or Streamlit colour directives into the page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import streamlit as st

from assistant.answer.types import Answer, Citation
from assistant.models import User
from assistant.service import Assistant, shared_assistant
from assistant.soa.types import SoADraft
from ui.auth import current_user

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=^\"'])")
_CITE = re.compile(r"(?:\\\[\d{1,3}\\\])+")  # one or more escaped [n] markers in a row
_BOLD = re.compile(r"\\\*\\\*(\S(?:.*?\S)?)\\\*\\\*")  # escaped **bold** (as written in Markdown sources)

STARTER_QUESTIONS = [
    "How do I get access to a system?",
    "What do I do if I lose my laptop?",
    "How often are access rights reviewed?",
    "When must critical patches be applied?",
    "How do I report a security incident?",
    "What process sits behind access control?",
]


@st.cache_resource(show_spinner="Loading the embedding model and the index…")
def _assistant_for(index_dir: str, corpus_dir: str) -> Assistant:
    assistant = shared_assistant(index_dir, corpus_dir)  # the server process loads it as it starts
    assistant.warm()  # else now, not on the first question (ONNX when exported: no torch)
    return assistant


def get_assistant() -> Assistant:
    """One facade per server process and index (the embedding model is loaded once, shared by all sessions)."""
    return _assistant_for(os.environ.get("ISMS_INDEX_DIR", ""), os.environ.get("ISMS_CORPUS_DIR", ""))


def get_user() -> User:
    """The signed-in user (app.py has already shown the sign-in form when there is none)."""
    user = current_user(get_assistant())
    if user is None:
        st.stop()
    return user


def is_admin(user: User) -> bool:
    """Admins: corpus upload, re-ingest, SoA approval, feedback report (the facade decides who)."""
    return get_assistant().is_admin(user.role)


def require_index() -> Assistant:
    """The facade, or a clear message (and a stop) when no index has been built yet."""
    assistant = get_assistant()
    if not assistant.has_index():
        st.warning(
            f"No index yet at {md_code(str(assistant.settings.index_dir))}. Build it on the **Corpus** page "
            "or run `isms-assistant ingest`."
        )
        st.stop()
    return assistant


# ---------------------------------------------------------------------------- inert rendering
def md_escape(text: str, bold: bool = True) -> str:
    """Backslash-escape every Markdown/Streamlit special character so text renders literally.

    The one construct kept is ``**bold**`` (common in Markdown sources, and harmless).
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    return _BOLD.sub(r"**\1**", escaped) if bold else escaped


def md_code(text: str) -> str:
    """Text as an inline code span (inert; backticks inside are replaced)."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def md_lines(text: str) -> str:
    """Escaped text with its line breaks kept."""
    return "  \n".join(md_escape(line) for line in text.splitlines())


def quote_block(text: str) -> str:
    """Escaped text as a Markdown block quote (line breaks kept)."""
    lines = [md_escape(line) for line in text.strip().splitlines()]
    return "\n".join("> " + (line if line.strip() else "") for line in lines)


def _cite_marks(escaped: str) -> str:
    """Citation markers in blue bold; adjacent ones ("[1][2]") share one span (two spans side by side would
    leave a literal "****" between them)."""
    return _CITE.sub(lambda m: f"**:blue[{m.group(0)}]**", escaped)


def answer_markdown(text: str) -> str:
    """The answer text as safe Markdown: bullets kept, [n] markers highlighted, everything else literal."""
    out: list[str] = []
    in_list = False
    for line in text.splitlines():
        if line.startswith("- "):
            out.append("- " + _cite_marks(md_escape(line[2:])))
            in_list = True
        elif line.startswith("  - ") and in_list:  # a list item under a lead-in line
            out.append("    - " + _cite_marks(md_escape(line[4:])))
        elif line.strip():
            if in_list:
                out.append("")  # a plain line after a list starts a new paragraph, not a continuation
            out.append(_cite_marks(md_escape(line)))
            in_list = False
        else:
            out.append("")
            in_list = False
    return "\n".join(out)


def distinct_quotes(quotes: Iterable[str]) -> list[str]:
    """Quotes in order, without repeats or quotes contained in a longer one."""
    kept: list[str] = []
    for q in dict.fromkeys(q.strip() for q in quotes if q.strip()):
        if any(q in other for other in kept):
            continue
        kept = [k for k in kept if k not in q] + [q]
    return kept


def citation_heading(c: Citation) -> str:
    span = f" · {md_escape(c.span)}" if c.span else ""
    return f"**:blue[\\[{c.n}\\]]** **{md_escape(c.section)}**  \n:gray[{md_escape(c.source)}{span}]"


def render_sources(citations: Iterable[Citation], key: str, expanded: bool = True) -> None:
    """Sources panel: document, section, the cited passage, and the full section on demand."""
    citations = list(citations)
    if not citations:
        return
    with st.expander(f"Sources ({len(citations)})", expanded=expanded, icon=":material/menu_book:"):
        for c in citations:
            st.markdown(citation_heading(c))
            quotes = distinct_quotes(c.quotes) or [c.text[:400]]
            st.markdown("\n>\n".join(quote_block(q) for q in quotes))
            cols = st.columns([1, 2])
            with cols[0].popover("Open full section", width="content"):
                st.markdown(f"**{md_escape(c.section)}**  \n:gray[{md_escape(c.source)} · {md_escape(c.span)}]")
                st.markdown(md_lines(c.text))
            document_link(c.source, c.chunk_id, cols[1])


def document_link(source: str, chunk_id: str = "", where: Any = None, label: str = "Open the whole document") -> None:
    """A link to the whole document (the Document page), with the cited passage highlighted when given."""
    (where or st).page_link("pages/document.py", label=label, icon=":material/description:",
                            query_params={"source": source, "chunk": chunk_id} if chunk_id else {"source": source})


RELATED_SHOWN = 3  # uncited documents the retrieval also ranked high, listed under an answer


def render_related(answer: Answer) -> None:
    """Documents the retrieval ranked high for the question that the answer did not quote (the reader's own
    clearance: they come from the same search)."""
    cited = {c.source for c in answer.citations}
    related = [s for s in answer.retrieved_sources if s not in cited][:RELATED_SHOWN]
    if answer.abstained or not related:
        return
    st.caption("Related documents")
    for source in related:
        document_link(source, label=source)


def render_closest(answer: Answer) -> None:
    if not answer.closest:
        return
    st.markdown("**Closest documents**")
    for c in answer.closest:
        st.markdown(f"- {md_escape(c.get('title', ''))} — {md_escape(c.get('section', ''))}  \n"
                    f"  :gray[{md_escape(c.get('source', ''))}]")


def role_badge(user: User) -> str:
    level = get_assistant().settings.roles.get(user.role, "")
    return f"{md_escape(user.name)} · role **{md_escape(user.role)}** · cleared to *{md_escape(level)}*"


# ---------------------------------------------------------------------------- SoA drafts (assistant.soa)
def control_draft(control_id: str, role: str, with_history: bool = True) -> SoADraft:
    """The control chain (SoA row, linked risks, implementing documents, justification with citations)
    within the role's clearance; stored edits and approvals overlaid (the facade caches generated drafts
    per index generation and role; each call returns a private copy)."""
    return get_assistant().draft_soa([control_id], role=role, history=with_history)[0]


# ---------------------------------------------------------------------------- tables on a phone
# CSS picks one of two renderings by the screen width: the table, or the same rows as stacked cards (a table
# too narrow to read at 400 px). A style only (our constant, never document text).
PHONE_CSS = ("<style>@media (max-width: 640px) { [class*='st-key-wide_'] { display: none; } } "
             "@media (min-width: 641px) { [class*='st-key-cards_'] { display: none; } }</style>")
Card = Callable[[dict[str, Any]], tuple[str, list[str]]]  # a row -> (heading, facts)


def cards_markdown(rows: Iterable[dict[str, Any]], card: Card, empty: str = "Nothing to show.") -> str:
    """Rows as stacked cards (Markdown, every text escaped): the heading in bold, the facts on a line below."""
    lines = []
    for row in rows:
        heading, facts = card(row)
        lines.append(f"- **{md_escape(heading, bold=False)}**  \n  "
                     f"{md_escape(' · '.join(f for f in facts if f), bold=False)}")
    return "\n".join(lines) or empty


def table_or_cards(frame: Any, name: str, card: Card, **dataframe: Any) -> Any:  # noqa: ANN401 - pandas
    """`st.dataframe(frame, **dataframe)` on a wide screen, the same rows as cards on a phone (≤ 640 px).
    Returns what st.dataframe returns (the selection, with on_select)."""
    st.html(PHONE_CSS)
    with st.container(key=f"cards_{name}", height=400 if len(frame) > 6 else "content"):
        st.markdown(cards_markdown(frame.to_dict("records"), card))
    return st.container(key=f"wide_{name}").dataframe(frame, **dataframe)
