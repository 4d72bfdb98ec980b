"""Sentence-level text rules of SoA drafting and checks: a section's quotable sentences and list items,
a justification's sentences, whether a text names a control (id, title or alias) or negates it, and the
reason code a "reasons" cell states."""

from __future__ import annotations

import re

from assistant.catalogue import Control, normalise
from assistant.models import Chunk
from assistant.soa.types import BEST_PRACTICE, BUSINESS, CONTRACTUAL, LEGAL, RISK_TREATMENT
from assistant.text import (
    LIST_MARK,
    SOA_CLAUSE_CONTEXT,
    SOA_CONTROL_ID,
    SOA_SENTENCE_SPLIT,
    sentences,
    tokenize,
)

# The words that identify a reason code in a "reasons" cell.
_REASON_WORDS: list[tuple[str, str]] = [
    ("risk", RISK_TREATMENT), ("legal", LEGAL), ("regulat", LEGAL), ("statut", LEGAL), ("law", LEGAL),
    ("contract", CONTRACTUAL), ("customer", CONTRACTUAL), ("business", BUSINESS), ("best practice", BEST_PRACTICE),
    ("good practice", BEST_PRACTICE), ("industry", BEST_PRACTICE),
]
_HYPOTHETICAL = re.compile(r"^\s*(if|should|were|unless|in case)\b|\b(were ever|ever plan\w*|would first)\b", re.I)
_META_START = re.compile(r"^\s*(this|the purpose|it supports|it puts|it covers|it applies|see\b|owner|approved|"
                         r"version|document|next review|classification|sign.off)", re.I)
_NEGATION = re.compile(
    r"\b(not applicable|n/a|excluded|exclusion|out of scope|not in scope|not|no|never|none|nor|without|cannot|"
    r"can't|don't|doesn't|isn't|aren't|won't)\b",
    re.I,
)
_MD_EMPHASIS = re.compile(r"(\*\*|__|`)")


def clean_text(text: str) -> str:
    return re.sub(r"\s+", " ", _MD_EMPHASIS.sub("", text)).strip()


def units(chunk: Chunk) -> list[str]:
    """Sentences and list items of a section, markdown emphasis removed, verbatim otherwise."""
    out: list[str] = []
    for line in chunk.text.split("\n"):
        line = _MD_EMPHASIS.sub("", line).strip()
        if not line or set(line) <= set("|-: "):
            continue
        line = LIST_MARK.sub("", line)
        if " | " in line or line.startswith("|"):
            row = line.strip("| ")
            if len(row) >= 12:
                out.append(row)  # a table row is one unit, verbatim
            continue
        out.extend(sentences(line, SOA_SENTENCE_SPLIT))
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of a justification; text inside “…” quotes never splits."""
    masked = re.sub(r"“[^”]*”", lambda m: "“" + "x" * (len(m.group(0)) - 2) + "”", text)
    pieces: list[str] = []
    start = 0
    for m in SOA_SENTENCE_SPLIT.finditer(masked):
        pieces.append(text[start:m.start()].strip())
        start = m.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


def control_names(control: Control) -> list[str]:
    return [n for n in {normalise(control.title), *(normalise(a) for a in control.aliases)} if len(n) >= 3]


def explicit_id(text: str, control: Control) -> bool:
    """Does the text write the control's id (not as a clause or section number)?"""
    for m in SOA_CONTROL_ID.finditer(text):
        if f"{m.group(1)}.{int(m.group(2))}" == control.id and not SOA_CLAUSE_CONTEXT.search(text[max(0, m.start() - 20):m.start()]):
            return True
    return False


def mentions(text: str, control: Control) -> bool:
    """Does the text name the control (its id, its title or an alias)?"""
    if explicit_id(text, control):
        return True
    norm = f" {normalise(text)} "
    return any(f" {name} " in norm for name in control_names(control))


def is_negated(sentence: str) -> bool:
    """Negated or hypothetical: says the control is not (or only would be) in place."""
    return bool(_NEGATION.search(sentence) or _HYPOTHETICAL.search(sentence))


def meta_penalty(sentence: str) -> float:
    """Sentences about the document itself (purpose lines, lists of Annex A ids) make weak evidence."""
    penalty = 0.0
    if "annex a" in sentence.lower() or len(SOA_CONTROL_ID.findall(sentence)) >= 2:
        penalty += 1.5
    if _META_START.match(sentence):
        penalty += 0.6
    return penalty


def reason_code(text: str) -> str | None:
    norm = normalise(text)
    for word, code in _REASON_WORDS:
        if word in norm:
            return code
    return None


def token_set(text: str) -> set[str]:
    return set(tokenize(text))
