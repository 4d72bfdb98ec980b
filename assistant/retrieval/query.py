"""Query analysis: control ids (2022 / 2013 / names / aliases), risk ids, roles, follow-up context."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.catalogue import Catalogue
from assistant.ingest.metadata import detect_risks, detect_roles
from assistant.text import NUMBER_TOKEN, QUESTION_ID_2013, QUESTION_ID_2013_BLANK, QUESTION_ID_2022, tokenize

_FOLLOWUP_START = re.compile(r"^\s*(and|but|also|what about|how about|so|then|ok|okay)\b", re.I)
_PRONOUN = re.compile(r"\b(it|its|this|that|these|those|they|them|there|he|she|one)\b", re.I)


@dataclass
class Conversation:
    """What the previous turns were about, so short follow-ups stay on topic."""

    controls: list[str] = field(default_factory=list)
    last_question: str = ""
    turns: int = 0

    def update(self, question: str, controls: list[str]) -> None:
        if controls:
            self.controls = controls[:4]
        self.last_question = question
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
    content_tokens: list[str]  # the question's own content words (for coverage / abstention)


def is_followup(question: str, conversation: Conversation | None) -> bool:
    if conversation is None or not conversation.last_question:
        return False
    words = question.split()
    return bool(_FOLLOWUP_START.match(question)) or (len(words) <= 8 and bool(_PRONOUN.search(question)))


def analyse(question: str, catalogue: Catalogue, conversation: Conversation | None = None) -> QueryAnalysis:
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
    followup = is_followup(question, conversation)
    expansion = [catalogue.controls[c].title for c in controls]
    if followup and conversation is not None:
        for cid in conversation.controls:
            if cid not in controls:
                controls.append(cid)
                expansion.append(catalogue.controls[cid].title)
        expansion.append(conversation.last_question)
    expanded = " ".join([question, *expansion])
    return QueryAnalysis(
        question=question, controls=controls, explicit_ids=explicit, legacy_ids=legacy,
        risks=detect_risks(question), roles=detect_roles(question), followup=followup, expanded=expanded,
        content_tokens=list(dict.fromkeys(t for t in tokenize(question) if not NUMBER_TOKEN.fullmatch(t))),
    )
