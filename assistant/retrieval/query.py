"""Query analysis: control ids (2022 / 2013 / names / aliases), risk ids, roles, follow-up context."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.catalogue import Catalogue
from assistant.ingest.metadata import detect_risks, detect_roles
from assistant.text import (
    CHAT_WORDS,
    NUMBER_TOKEN,
    QUESTION_ID_2013,
    QUESTION_ID_2013_BLANK,
    QUESTION_ID_2022,
    tokenize,
)

_FOLLOWUP_START = re.compile(r"^\s*(and|but|also|what about|how about|what if|so|then|ok|okay)\b", re.I)
_PRONOUN = re.compile(r"\b(it|its|this|that|these|those|they|them|there|he|she|one)\b|"
                      r"\bthe (?:\w+ )?(?:bit|part|step|stage|phase)\b", re.I)  # "the review bit" of the last answer
_CHAT_TOKENS = frozenset(tokenize(" ".join(CHAT_WORDS)))  # "how quickly tho?" has one word of its own
# The user says the question is a new one: the previous topic and controls are dropped.
_NEW_TOPIC = re.compile(
    r"\b(?:different|unrelated|new|another|separate|other) (?:question|topic|thing|subject)\b|\bunrelated\b|"
    r"\bby the way\b|\bchang(?:e|ing) (?:the )?(?:topic|subject)\b", re.I)
# Words of a question about the SoA, the risk register or a control's status.
REGISTER_QUESTION = re.compile(
    r"\b(?:soa|statement of applicability|applicab\w*|risks?|risk register|justif\w*|status|implemented|"
    r"implementation|treatment|register|excluded|exclusion|annex a)\b|\bR-\d{2,4}\b", re.I)
# A question about a document's own record: when it is next reviewed, its version, who approved it.
DOCUMENT_RECORD_QUESTION = re.compile(
    r"\b(?:review date|(?:next|last) review\w*|(?:due|up) (?:for )?(?:a |its |another )?review|"
    r"(?:last|next) (?:reviewed|updated)|reviewed (?:last|next)|(?:which|what|current|latest) version|"
    r"version (?:number|is)|who approved (?:it|this|that|the)|approval date|when was (?:it|this|that|the [\w ]{1,40}) "
    r"(?:last )?(?:reviewed|approved|updated))\b", re.I)
TOPIC_CHARS = 300  # how much of a chain of follow-ups is carried as the topic


@dataclass
class Conversation:
    """What the previous turn was about, so an elliptical follow-up ("and who do I tell?") is read against it.

    Only the previous turn counts: its controls and its topic (the question as it was read, so a chain of
    follow-ups keeps the subject). A question that stands on its own replaces both."""

    controls: list[str] = field(default_factory=list)
    last_question: str = ""
    turns: int = 0
    topic: str = ""
    answered: bool = False  # the previous turn was answered (not refused)

    def update(self, question: str, controls: list[str], topic: str = "", answered: bool = True) -> None:
        self.controls = controls[:4]
        self.last_question = question
        self.answered = answered
        self.topic = (topic or question)[-TOPIC_CHARS:]
        self.turns += 1


@dataclass
class QueryAnalysis:
    question: str
    controls: list[str]  # 2022 ids the question names (by id, 2013 id, title or alias)
    explicit_ids: list[str]  # ids written as numbers
    legacy_ids: list[str]
    risks: list[str]
    roles: list[str]
    followup: bool
    expanded: str  # the text retrieval actually uses
    content_tokens: list[str]  # the question's content words, with the topic's for a follow-up (coverage, abstention)
    topic: str = ""  # the question as read: the previous topic + the question for a follow-up
    documents: list[str] = field(default_factory=list)  # implementing documents of the controls named by id
    continues_answer: bool = False  # a follow-up of a turn that was answered: its topic is in the documents

    @property
    def about_registers(self) -> bool:
        """About the SoA, risks or a control's status (not how a control is carried out); a follow-up also when the
        turn it follows was ("which risk covers peak load?" → "and what are we doing to bring it down?")."""
        return bool(self.risks or REGISTER_QUESTION.search(self.question)
                    or (self.followup and REGISTER_QUESTION.search(self.topic)))

    @property
    def about_document_record(self) -> bool:
        """About a document's review date, version or approval (its document control table or register row)."""
        return bool(DOCUMENT_RECORD_QUESTION.search(self.question))


def is_followup(question: str, conversation: Conversation | None) -> bool:
    """Elliptical: starts like a continuation ("and ...", "what about ..."), or is short and points back
    ("who owns it?") or has hardly a word of its own ("who do I tell?"). "Different question: ..." is not."""
    if conversation is None or not conversation.last_question or _NEW_TOPIC.search(question):
        return False
    words = question.split()
    own = [t for t in tokenize(question) if not NUMBER_TOKEN.fullmatch(t) and t not in _CHAT_TOKENS]
    return (bool(_FOLLOWUP_START.match(question)) or (len(words) <= 10 and bool(_PRONOUN.search(question)))
            or (len(words) <= 6 and len(own) <= 1))


def may_continue(question: str, conversation: Conversation | None) -> bool:
    """Could a question that is not elliptical still continue an answered turn? It points back ("pretty sure it's
    the tool being wrong, how do I flag that?") and does not say it is a new one."""
    return (conversation is not None and bool(conversation.last_question) and conversation.answered
            and not _NEW_TOPIC.search(question) and bool(_PRONOUN.search(question)))


def analyse(question: str, catalogue: Catalogue, conversation: Conversation | None = None,
            as_followup: bool = False) -> QueryAnalysis:
    """The question read for retrieval; `as_followup` reads it against the conversation even when it does not
    look elliptical (its answer is then not exempt from refusal: `continues_answer` stays False)."""
    explicit: list[str] = []
    legacy: list[str] = []
    for m in QUESTION_ID_2013.finditer(question):
        key = f"A.{int(m.group(1))}.{int(m.group(2))}.{int(m.group(3))}"
        for control in catalogue.from_legacy(key):
            legacy.append(key)
            if control.id not in explicit:
                explicit.append(control.id)
    stripped = QUESTION_ID_2013_BLANK.sub(" ", question)
    for m in QUESTION_ID_2022.finditer(stripped):
        cid = f"{m.group(1)}.{int(m.group(2))}"
        if cid in catalogue and cid not in explicit:
            explicit.append(cid)
    controls = list(explicit)
    for cid in catalogue.search_names(question):
        if cid not in controls:
            controls.append(cid)
    followup = as_followup or is_followup(question, conversation)
    expansion = [catalogue.controls[c].title for c in controls]
    topic = question
    if followup and conversation is not None:
        for cid in conversation.controls:
            if cid not in controls:
                controls.append(cid)
                expansion.append(catalogue.controls[cid].title)
        topic = f"{conversation.topic or conversation.last_question} {question}"
        expansion.append(conversation.topic or conversation.last_question)
    expanded = " ".join([question, *expansion])
    return QueryAnalysis(
        question=question, controls=controls, explicit_ids=explicit, legacy_ids=legacy,
        risks=detect_risks(question), roles=detect_roles(question), followup=followup, expanded=expanded,
        content_tokens=list(dict.fromkeys(t for t in tokenize(topic) if not NUMBER_TOKEN.fullmatch(t))),
        topic=topic,
        continues_answer=followup and not as_followup and conversation is not None and conversation.answered,
    )
