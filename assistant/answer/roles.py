"""Role questions in chat: "what am I responsible for as a line manager?", "what must I do in my first week?".

Such a question is answered with the duties the documents give that role (assistant/responsibilities.py),
grouped (recurring duties with their frequency first, then the others), each quoted verbatim and cited,
with a pointer to the My responsibilities page that lists them all. Nothing here knows a corpus: the role
is read from the question and matched against the roles the documents themselves name.
"""

from __future__ import annotations

import re

from assistant.answer.lists import followers
from assistant.answer.types import Answer, Citation
from assistant.answer.units import Unit, split_units
from assistant.models import Duty, Responsibilities
from assistant.text import LIST_MARK

MAX_DUTIES = 6
MIN_DUTIES = 2  # fewer duties found: the question is answered like any other

_DUTY_QUESTION = re.compile(  # "made responsible for the server room" says what they look after: no duty question
    r"\b(?:responsibilit\w*|responsible(?!\s+for\s+(?:our|the|a|an|this|that|its?)\b)|duties|on the hook|"
    r"expected (?:of me|to do)|what (?:do|must|should|shall) i (?:actually )?"
    r"(?:do|have to do|need to do)|what (?:do|must) i (?:actually )?have to (?:do|get done)|my (?:job|role) (?:is|involves?)|"
    r"what (?:am i|is) (?:expected|required))\b", re.I)
_AS_ROLE = re.compile(
    r"\b(?:i'?m|i am|as|i'?ve (?:just )?(?:been|become)(?: (?:named|made|appointed))?(?: as)?|i (?:just )?became|"
    r"been (?:named|made|appointed|promoted to)(?: as)?|(?:got |was |been )?promoted to)\s+(?:a |an |the |our )?(?:new |newly appointed )?"
    r"(?P<role>[a-z][a-z /&-]{2,40}?)(?=\s*(?:[,.!?;:—–]|\s-\s|\band\b|\bwhat\b|\bhere\b|\bin the\b|\bfor\b|$))", re.I)
_NEWCOMER = re.compile(
    r"\b(?:new (?:starter|joiner|hire|employee|here)|just (?:joined|started)|starting (?:on|next|tomorrow|monday)|"
    r"first (?:day|week|weeks|couple of weeks|month))\b", re.I)
# One job under different names: a question may name it one way and the documents another
_MANAGER_NAMES = ("line manager", "people manager", "team manager", "team lead", "team leader", "manager", "supervisor")
_NOT_ROLES = frozenset({"starting", "new", "sponsoring", "going", "about", "trying", "not", "still", "just", "responsible",
                        "in"})


def may_ask_role(question: str) -> bool:
    """Cheap first test: could this be a responsibilities question at all?"""
    return bool(_DUTY_QUESTION.search(question))


def asked_role(question: str, known_roles: list[str]) -> str | None:
    """The job role a responsibilities question is about ("as a system owner what do I have to do?"), or
    None. A newcomer's question ("what must I do in my first week?") is left to the ordinary answer: the
    onboarding documents answer it better than the duties of "employees"."""
    if not _DUTY_QUESTION.search(question) or _NEWCOMER.search(question):
        return None
    lowered = question.lower()
    named = sorted((r for r in known_roles if re.search(rf"\b{re.escape(r)}\b", lowered)), key=len, reverse=True)
    if named:
        return named[0]
    m = _AS_ROLE.search(question)
    if m:
        role = m.group("role").strip().lower()
        if role in _MANAGER_NAMES and role not in known_roles:  # "team lead" where the documents say "line manager"
            role = next((name for name in _MANAGER_NAMES if name in known_roles), role)
        if role.split()[0] not in _NOT_ROLES:
            return role
    return None


def role_answer(question: str, found: Responsibilities) -> Answer | None:
    """The grouped, cited duties of `found.role`, or None when the documents give it too few."""
    duties = found.duties
    if len(duties) < MIN_DUTIES:
        return None
    chosen = _spread(duties, MAX_DUTIES, found.role)
    citations: dict[str, Citation] = {}

    def cite(duty: Duty) -> int:
        chunk = duty.chunk
        if chunk.id not in citations:
            citations[chunk.id] = Citation(n=len(citations) + 1, source=chunk.source, section=chunk.section,
                                           text=chunk.text, score=0.0, span=chunk.span, chunk_id=chunk.id)
        if duty.verbatim not in citations[chunk.id].quotes:
            citations[chunk.id].quotes.append(duty.verbatim)
        return citations[chunk.id].n

    lines = [f"What the documents give the {found.role} to do:"]
    recurring = [d for d in chosen if d.frequency]
    other = [d for d in chosen if not d.frequency]
    for duty in recurring + other:
        label = f"({duty.frequency}) " if duty.frequency else ""
        n = cite(duty)
        lines.append(f"- {label}{duty.verbatim} [{n}]")
        for item in _items_under(duty):  # "Asset owners must:" comes with what they must do
            citations[duty.chunk.id].quotes.append(item.text)
            lines.append(f"  - {LIST_MARK.sub('', item.text)} [{n}]")
    more = len(duties) - len(chosen)
    owned = f", and owns {len(found.owned)} controls or risks" if found.owned else ""
    lines.append(f"The My responsibilities page lists all {len(duties)} duties of the {found.role}{owned}"
                 + (f" ({more} more than shown here)." if more > 0 else "."))
    return Answer(question=question, answer="\n".join(lines), abstained=False,
                  citations=sorted(citations.values(), key=lambda c: c.n),
                  retrieved_sources=list(dict.fromkeys(c.source for c in citations.values())), duties_of=found.role)


_OBLIGATION = re.compile(r"\b(?:must|shall|should|will|responsible|accountable|approves?|reviews?|ensures?|owns?|"
                         r"agrees?|signs? off|confirms?|attests?)\b", re.I)


def _priority(duty: Duty, role: str) -> int:
    """Duties in a section written for the role, with a frequency, worded as an obligation come first; table
    rows (a role matrix's cells) last."""
    score = 2 if role in duty.chunk.section.lower() else 0
    score += bool(duty.frequency) + bool(_OBLIGATION.search(duty.verbatim))
    return score - 2 * (duty.verbatim.count(" | ") >= 2)


def _items_under(duty: Duty) -> list[Unit]:
    """The list items a duty ending with ":" introduces in its passage."""
    if not duty.verbatim.rstrip().endswith(":"):
        return []
    units = split_units(duty.chunk)
    lead = next((u for u in units if LIST_MARK.sub("", u.text) == duty.verbatim), None)
    return followers(lead, units) if lead is not None else []


def _spread(duties: list[Duty], limit: int, role: str = "") -> list[Duty]:
    """The most telling duties, at most two from one document section, so the answer covers more than one
    place (the sort is stable: the extractor's order decides among equals)."""
    out: list[Duty] = []
    per_chunk: dict[str, int] = {}
    for duty in sorted(duties, key=lambda d: -_priority(d, role)):
        if per_chunk.get(duty.chunk.id, 0) >= 2:
            continue
        out.append(duty)
        per_chunk[duty.chunk.id] = per_chunk.get(duty.chunk.id, 0) + 1
        if len(out) == limit:
            break
    return out
