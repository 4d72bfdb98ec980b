"""Chat: questions answered from the ISMS documents, each line cited, with follow-ups and feedback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import streamlit as st

from assistant.answer.types import Answer
from assistant.errors import IndexNotReady
from ui.common import (
    STARTER_QUESTIONS,
    answer_markdown,
    get_user,
    md_escape,
    render_closest,
    render_related,
    render_sources,
    require_index,
)

assistant = require_index()
user = get_user()

THUMBS_DOWN = 0  # st.feedback("thumbs"): 0 = down, 1 = up (the ratings the feedback store keeps)
MESSAGES = "chat_messages"
CONVERSATION = "chat_conversation"
CHAT_ROLE = "chat_role"  # the role the chat in this session was held as
PENDING = "chat_pending"
AVATARS = {"user": ":material/person:", "assistant": ":material/shield_lock:"}
ANSWERER_NOTES = {
    "grounded": "Quoted word for word from the documents below.",
    "llm": "Written by the language model from the documents below; each sentence was checked against its source.",
}
if st.session_state.get(CHAT_ROLE) != user.role:  # a chat is never shown to another role (role picker, sign-in)
    st.session_state[MESSAGES] = []
    st.session_state[CONVERSATION] = assistant.new_conversation()
    st.session_state[CHAT_ROLE] = user.role


def new_conversation() -> None:
    st.session_state[MESSAGES] = []
    st.session_state[CONVERSATION] = assistant.new_conversation()


def ask_starter(question: str) -> None:
    st.session_state[PENDING] = question


def save_rating(index: int) -> None:
    """Thumbs up/down changed on message `index`: store it with who and when."""
    message = st.session_state[MESSAGES][index]
    rating = st.session_state.get(f"chat_rating_{index}")
    answer: Answer = message["answer"]
    if message.get("feedback_id") is None:
        message["feedback_id"] = assistant.record_feedback(answer, user=user.username, role=user.role, rating=rating)
    else:
        assistant.rate_answer(message["feedback_id"], user=user.username, rating=rating,
                              comment=message.get("comment", ""))
    message["rating"] = rating


def save_comment(index: int) -> None:
    message = st.session_state[MESSAGES][index]
    comment = st.session_state.get(f"chat_comment_{index}", "").strip()
    message["comment"] = comment
    if message.get("feedback_id") is not None:
        assistant.rate_answer(message["feedback_id"], user=user.username, rating=message.get("rating"), comment=comment)
    message["comment_saved"] = True


def render_answer(answer: Answer) -> None:
    if answer.abstained:
        st.markdown(":orange[:material/help: **The documents available to you don't cover this.**]")
        render_closest(answer)
    else:
        st.markdown(answer_markdown(answer.answer))
    if answer.notice:
        st.caption(md_escape(answer.notice))
    if not answer.abstained:
        st.caption(ANSWERER_NOTES.get(answer.answerer, ""))
        render_page_links(answer)


def render_page_links(answer: Answer) -> None:
    """Where a page serves the question better: a role's whole duty list, a control's trace (risks, documents,
    process) and its SoA entry."""
    links: list[tuple[str, str, dict[str, str], str]] = []
    if answer.duties_of:
        links.append(("pages/responsibilities.py", f"All duties of the {answer.duties_of}", {"role": answer.duties_of},
                      ":material/assignment_ind:"))
    for cid in [c for c in answer.controls if c in assistant.catalogue.controls][:2]:
        label = assistant.catalogue.controls[cid].label
        links.append(("pages/controls.py", f"{label}: risks, documents and process", {"control": cid},
                      ":material/verified_user:"))
        links.append(("pages/soa.py", f"{cid} in the SoA workbench", {"control": cid}, ":material/table_view:"))
    if links:
        cols = st.columns(min(3, len(links)))
        for i, (page, label, params, icon) in enumerate(links[:3]):
            cols[i].page_link(page, label=label, query_params=params, icon=icon)


def render_feedback(index: int, message: dict[str, Any]) -> None:
    cols = st.columns([1, 6])
    with cols[0]:
        st.feedback("thumbs", key=f"chat_rating_{index}", on_change=save_rating, args=(index,))
    rating = message.get("rating")
    if rating is None:
        return
    with cols[1]:
        if message.get("comment_saved"):
            st.caption("Thanks — your feedback was saved.")
        else:
            with st.form(f"chat_comment_form_{index}", border=False):
                prompt = "What was wrong or missing? (optional)" if rating == THUMBS_DOWN else "Comment (optional)"
                st.text_input(prompt, key=f"chat_comment_{index}", max_chars=2000)
                st.form_submit_button("Send feedback", on_click=save_comment, args=(index,))


def answer_stream(question: str) -> Iterator[str | Answer]:
    """Text as it is produced (if the facade streams), then the final Answer."""
    conversation = st.session_state[CONVERSATION]
    stream = getattr(assistant, "ask_stream", None)
    if stream is None:
        yield assistant.ask(question, role=user.role, conversation=conversation, user=user.username)
        return
    yield from stream(question, role=user.role, conversation=conversation, user=user.username)


def ask(question: str) -> None:
    messages: list[dict[str, Any]] = st.session_state[MESSAGES]
    messages.append({"role": "user", "content": question})
    with st.chat_message("user", avatar=AVATARS["user"]):
        st.markdown(md_escape(question))
    with st.chat_message("assistant", avatar=AVATARS["assistant"]):
        placeholder = st.empty()
        text = ""
        answer: Answer | None = None
        started = time.perf_counter()
        try:
            with st.spinner("Searching the ISMS documents…"):
                for item in answer_stream(question):
                    if isinstance(item, Answer):
                        answer = item
                    elif isinstance(item, str):
                        text += item
                        placeholder.markdown(answer_markdown(text) + " ▌")
        except (ValueError, IndexNotReady) as exc:
            messages.pop()
            placeholder.error(str(exc))
            return
        if answer is None:
            messages.pop()
            placeholder.error("No answer was produced.")
            return
        placeholder.empty()
        message: dict[str, Any] = {"role": "assistant", "answer": answer, "rating": None,
                                   "seconds": time.perf_counter() - started}
        if answer.abstained:  # the ISMS lead sees every question the documents could not answer
            message["feedback_id"] = assistant.record_feedback(answer, user=user.username, role=user.role)
        messages.append(message)
    st.rerun()


# On a phone the starters stack: three of them keep the welcome within one screen, so the page opens at its
# title (a taller page opens scrolled to the chat box, the title under the toolbar).
PHONE_STARTERS_CSS = ("<style>@media (max-width: 640px) { .st-key-chat_starter_3, .st-key-chat_starter_4, "
                      ".st-key-chat_starter_5 { display: none; } }</style>")

# ---------------------------------------------------------------------------- page
head, action = st.columns([4, 1], vertical_alignment="bottom")
head.title("Ask the ISMS")
action.button("New chat", icon=":material/add_comment:", on_click=new_conversation,
              disabled=not st.session_state[MESSAGES], width="stretch")

messages = st.session_state[MESSAGES]
if not messages:
    st.markdown(
        "Ask in your own words about policies, procedures, controls or risks. Every answer quotes the "
        "documents it comes from, numbered **\\[n\\]** with the sources below it. Follow-up questions "
        "keep the topic. You only see documents your role is cleared for."
    )
    st.markdown("**New here? Try one of these:**")
    st.html(PHONE_STARTERS_CSS)  # a style only (our constant, never document text)
    cols = st.columns(3)
    for i, q in enumerate(STARTER_QUESTIONS):
        cols[i % 3].button(q, key=f"chat_starter_{i}", on_click=ask_starter, args=(q,), width="stretch")

for i, message in enumerate(messages):
    with st.chat_message(message["role"], avatar=AVATARS[message["role"]]):
        if message["role"] == "user":
            st.markdown(md_escape(message["content"]))
            continue
        answer = message["answer"]
        render_answer(answer)
        render_sources(answer.citations, key=f"chat_sources_{i}", expanded=i == len(messages) - 1)
        render_related(answer)
        render_feedback(i, message)

prompt = st.chat_input("Ask about your ISMS…", max_chars=assistant.settings.max_question_chars, key="chat_prompt")
pending = st.session_state.pop(PENDING, None)
question = prompt or pending
if question:
    ask(question)
