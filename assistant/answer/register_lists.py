"""Questions that ask which register rows have a given value: "which controls are only partly implemented?",
"have we transferred any risks?", "is anything still Open?", "which risks still quote 2013 control ids?".

No passage answers such a question: the answer is the rows themselves. They are read from the typed register
records (assistant/registers.py) and matched on the register's own field (SoA status or applicability, risk
treatment or status, legacy ids), each row quoted and cited, within the reader's clearance. The values are the
standard ISO 27001 vocabulary every register uses (Accept, Transfer, Partially implemented …), nothing of one
organization.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from assistant.answer.types import Answer, Citation
from assistant.knowledge import Knowledge
from assistant.models import Chunk
from assistant.registers import RiskRecord, SoAEntry
from assistant.text import SENTENCE_SPLIT

MAX_ROWS = 12  # rows listed in full; more are counted
EXPLAINED_ROWS = 3  # up to this many rows, each also names its owner

# asks for rows, not how a value is decided: "which risks …", "any risk we …", "anything in the risk register …"
# ("what's the process to accept a risk?" is not one)
_ASKS_ROWS = re.compile(
    r"\b(?:which|what|any|list(?: all| the)?|how many|are there(?: any)?)\s+(?:[\w-]+\s+){0,3}?(?:risks?|controls?)\b|"
    r"\banything (?:in|on) (?:the |our )?(?:risk register|soa|statement of applicability|register)\b", re.I)
_ABOUT_CONTROLS = re.compile(r"\b(?:controls?|soa|statement of applicability|annex a)\b", re.I)
_ABOUT_RISKS = re.compile(r"\brisks?\b|\brisk register\b", re.I)


@dataclass(frozen=True)
class RowFilter:
    register: str  # "soa" | "risk"
    question: re.Pattern[str]  # how the question asks for it
    label: str  # what the matching rows have, for the answer's first line
    stem: str  # the word the row's own sentence about it carries ("partial", "transfer")
    test: Callable[[SoAEntry | RiskRecord], bool]
    # what the row's cells say that its indexed text does not (the 2013 ids as written in the register)
    note: Callable[[SoAEntry | RiskRecord], str] | None = None
    # what the answer says when no row matches, for a value that is itself a "no" ("no control linked")
    none_found: str = ""


def _field(name: str, word: str) -> Callable[[SoAEntry | RiskRecord], bool]:
    return lambda record: word in str(getattr(record, name, "")).lower()


FILTERS: list[RowFilter] = [
    RowFilter("soa", re.compile(r"\bpart(?:ial(?:ly)?|ly)\b", re.I), "the status Partially implemented", "partial",
              _field("status", "partial")),
    RowFilter("soa", re.compile(r"\bplanned\b|\bnot (?:yet )?(?:been )?started\b|\bhaven'?t (?:been )?started\b", re.I),
              "the status Planned", "plan", _field("status", "plan")),
    RowFilter("soa", re.compile(r"\bnot (?:yet )?implemented\b", re.I), "the status Not implemented",
              "not implemented", _field("status", "not implemented")),
    RowFilter("soa", re.compile(r"\bexclud\w*|\bnot applicable\b", re.I), "been excluded (not applicable)", "exclu",
              lambda record: getattr(record, "applicable", None) is False),
    RowFilter("soa", re.compile(r"\b(?:no|without(?: a| any)?) (?:linked |related )?risks?\b", re.I),
              "no linked risk although applicable", "reasons:",
              lambda record: getattr(record, "applicable", None) is True and not getattr(record, "linked_risks", None),
              none_found="every applicable control has a linked risk"),
    RowFilter("risk", re.compile(r"\b(?:no|without(?: a| any)?) (?:linked |treating )?controls?\b", re.I),
              "no control linked", "controls:", lambda record: not getattr(record, "controls", None),
              none_found="every risk has a control linked"),
    RowFilter("risk", re.compile(r"\baccept\w*|\blive with\b|\btolerat\w*|\bdo(?:ing)? nothing\b", re.I),
              "the treatment Accept", "accept", _field("treatment", "accept")),
    RowFilter("risk", re.compile(r"\btransfer\w*|\binsur\w*", re.I), "the treatment Transfer", "transfer",
              _field("treatment", "transfer")),
    RowFilter("risk", re.compile(r"\bavoid\w*", re.I), "the treatment Avoid", "avoid", _field("treatment", "avoid")),
    RowFilter("risk", re.compile(r"\b(?:still |left )?open\b|\buntreated\b|\bno treatment\b", re.I),
              "the status Open", "open", _field("status", "open")),
    RowFilter("risk", re.compile(r"\b2013\b|\bold (?:annex a |control )?(?:ids?|numbers|numbering)\b|\blegacy\b", re.I),
              "2013 control ids", "controls:", lambda record: bool(getattr(record, "legacy_controls", None)),
              lambda record: "written in the register as " + ", ".join(getattr(record, "legacy_controls", []))),
]


def asked_filter(question: str) -> RowFilter | None:
    """The row filter a "which … ?" question about the SoA or the risks asks for, or None."""
    if not _ASKS_ROWS.search(question):
        return None
    registers = [r for r, pattern in (("risk", _ABOUT_RISKS), ("soa", _ABOUT_CONTROLS)) if pattern.search(question)]
    for register in registers:  # risks first: "which risks still quote old control ids?" is about risks
        found = next((f for f in FILTERS if f.register == register and f.question.search(question)), None)
        if found is not None:
            return found
    return None


def register_list_answer(question: str, knowledge: Knowledge, max_rank: int) -> Answer | None:
    """The rows the question asks for, quoted and cited, or a line saying no row has that value; None when it asks
    for none or the reader may see no row of that register (the question is then answered like any other)."""
    wanted = asked_filter(question)
    if wanted is None:
        return None
    if wanted.register == "soa":
        rows: list[tuple[str, SoAEntry | RiskRecord, Chunk]] = [
            (e.control_id, e, knowledge.soa_chunks[e.control_id]) for e in knowledge.soa.values()
            if e.control_id in knowledge.soa_chunks]
        register = "Statement of Applicability"
    else:
        rows = [(r.risk_id, r, knowledge.risk_chunks[r.risk_id]) for r in knowledge.risks.values()
                if r.risk_id in knowledge.risk_chunks]
        register = "risk register"
    visible = [(key, record, chunk) for key, record, chunk in rows if chunk.class_rank <= max_rank]
    matching = [(key, record, chunk) for key, record, chunk in visible if wanted.test(record)]
    if not visible:
        return None
    if not matching:  # "have we accepted any risks?" — none: say so, naming the register read
        sources = list(dict.fromkeys(chunk.source for _, _, chunk in visible))
        found = (f"In the {len(visible)} rows of the {register}, {wanted.none_found}" if wanted.none_found
                 else f"None of the {len(visible)} rows of the {register} has {wanted.label}")
        return Answer(question=question, answer=f"{found} ({', '.join(sources)}).", abstained=False,
                      retrieved_sources=sources)
    citations: list[Citation] = []
    has = "has" if len(matching) == 1 else "have"
    lines = [f"{len(matching)} of the {len(visible)} rows of the {register} {has} {wanted.label}:"]
    for _, record, chunk in matching[:MAX_ROWS]:
        quotes = [_first_sentence(chunk.text)]
        quotes += [s for s in _sentences_with(chunk.text, wanted.stem) if s not in quotes][:1]  # the value itself
        if len(matching) <= EXPLAINED_ROWS:
            quotes += [s for s in _sentences_with(chunk.text, "owner:") if s not in quotes][:1]
            # what the register says in words besides its fields ("Existing controls: … insurance covers …")
            notes = record.notes if isinstance(record, RiskRecord) else []
            quotes += [s for note in notes for s in _sentences_with(chunk.text, note.lower()[:40]) if s not in quotes]
        n = len(citations) + 1
        citations.append(Citation(n=n, source=chunk.source, section=chunk.section, text=chunk.text, score=1.0,
                                  span=chunk.span, chunk_id=chunk.id, quotes=quotes))
        note = f" ({wanted.note(record)})" if wanted.note else ""
        lines.append(f"- {' '.join(quotes)}{note} [{n}]")
    if len(matching) > MAX_ROWS:
        lines.append(f"… and {len(matching) - MAX_ROWS} more in the {register}.")
    risks = [key for key, record, _ in matching if isinstance(record, RiskRecord)]
    controls = [key for key, record, _ in matching if isinstance(record, SoAEntry)]
    return Answer(question=question, answer="\n".join(lines), abstained=False, citations=citations,
                  controls=controls[:MAX_ROWS], risks=risks[:MAX_ROWS],
                  retrieved_sources=list(dict.fromkeys(c.source for c in citations)))


def _first_sentence(text: str) -> str:
    """The row's opening sentence: "Risk R-037: Financial loss from a major data breach." / "Statement of
    Applicability: control 5.21 … is applicable."."""
    return SENTENCE_SPLIT.split(text, maxsplit=1)[0].strip()


def _sentences_with(text: str, stem: str) -> list[str]:
    return [s.strip() for s in SENTENCE_SPLIT.split(text)[1:] if stem in s.lower()]
