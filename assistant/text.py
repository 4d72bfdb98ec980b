"""Text rules: control and risk ids, sentence and list-item splitting, and the search tokenizer.

One home for the patterns every layer reads text with, so a rule is written once. It depends on nothing
in the project. Where two callers need a different rule (a question is read more tolerantly than a
document, a register cell is anchored, an LLM answer carries citation markers), each rule is its own
named constant below, with where it is used and why it differs: they are not to be unified silently.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache

# ---------------------------------------------------------------------------------------------- control ids
# Document text (ingest/metadata.py `detect_controls`, also run on passages by answer/verify.py):
# "5.15", "A.5.15", "Annex A 5.15", "A 5.15" — but not "v5.2" or "5.1.2". "clause 5.1" is left out by
# CLAUSE_CONTEXT, not here.
CONTROL_ID_2022 = re.compile(r"(?<![\w.])(?:Annex\s+A\s*|A\s?\.?\s?)?([5-8])\.(\d{1,2})(?![\d]|\.\d)", re.I)
# 2013 ids in document text ("A.9.2.5", "A 9.2.5"); the "A" is required, so a section "9.2.5" is no id.
CONTROL_ID_2013 = re.compile(r"(?<![\w.])A\.?\s?(\d{1,2})\.(\d{1,2})\.(\d{1,2})(?![\d]|\.\d)", re.I)
# Words just before a number that make it a clause, section, version or step number (document text).
CLAUSE_CONTEXT = re.compile(
    r"(clause|clauses|section|sections|version|v|step|steps|iso/iec 27001:20\d\d|chapter|table|figure|page|rto|rpo)\s*$",
    re.I,
)

# Questions (retrieval/query.py `analyse`) are read more tolerantly than documents: the prefix may be
# written "AnnexA", a bare "9.2.5" counts as a 2013 id, and no clause words are filtered. "A .5.15"
# (space before the dot) is not accepted, unlike CONTROL_ID_2022.
QUESTION_ID_2022 = re.compile(r"(?<![\w.])(?:annex\s*a\s*|a\.?\s?)?([5-8])\.(\d{1,2})(?![\d]|\.\d)", re.I)
QUESTION_ID_2013 = re.compile(r"(?<![\w.])A?\.?\s?(\d{1,2})\.(\d{1,2})\.(\d{1,2})(?![\d])", re.I)
# What `analyse` blanks out (2013-like ids) before looking for 2022 ids. It has no look-ahead, so it also
# blanks the start of a longer number ("1.2.345" → "5") that QUESTION_ID_2013 does not take as an id.
QUESTION_ID_2013_BLANK = re.compile(r"(?<![\w.])A?\.?\s?\d{1,2}\.\d{1,2}\.\d{1,2}", re.I)

# LLM answers (answer/verify.py): an id is "explicit" when prefixed ("Annex A 5.15", "A.5.15", "control
# 5.15") — then any theme number and a 2013 third part are read, so an invented "A.9.9" or "control 4.2"
# is caught — and "bare" otherwise ("5.15"), where a price or percentage ("£5.50", "5.5%") is no id.
ANSWER_ID_EXPLICIT = re.compile(
    r"(?<![\w.])(?:Annex\s+A\s*|A\s?\.\s?|controls?\s+)(\d{1,2})\.(\d{1,2})(?:\.(\d{1,2}))?(?![\d]|\.\d)", re.I
)
ANSWER_ID_BARE = re.compile(r"(?<![\w.£$€])([5-8])\.(\d{1,2})(?![\d%]|\.\d)")

# SoA justifications and their evidence sentences (soa/draft.py): only "5.15" and "A.5.15", case-sensitive;
# the clause words differ from CLAUSE_CONTEXT (also "for example", "e.g.", "such as", an opening bracket).
SOA_CONTROL_ID = re.compile(r"(?<![\w.])(?:A\.)?([5-8])\.(\d{1,2})(?![\d]|\.\d)")
SOA_CLAUSE_CONTEXT = re.compile(
    r"(clause|clauses|section|sections|version|v|step|steps|chapter|table|page|for example|e\.g\.|such as)\s*\(?$", re.I)

# A whole cell or argument that is one id (catalogue.py `Catalogue.lookup` / `from_legacy`): anchored, and
# matched against lower-cased text with spaces removed or punctuation turned into dots.
LOOKUP_ID_2022 = re.compile(r"^(?:annex\s*a\s*\.?\s*|a\s*\.?\s*)?([5-8])\s*[.]\s*(\d{1,2})$")
LOOKUP_ID_2013 = re.compile(r"^a?\s*[.]?\s*(\d{1,2})\s*[.]\s*(\d{1,2})\s*[.]\s*(\d{1,2})$")
# Register cells (registers.py): a control reference written as a 2013 id (the cell upper-cased, spaces
# removed), and the looser test that an SoA "Control ID" cell holds any three-part number.
CELL_ID_2013 = re.compile(r"^A?\.?\d{1,2}\.\d{1,2}\.\d{1,2}$")
CELL_THREE_PART = re.compile(r"\d+\.\d+\.\d+")


def contains_id(written: str, text: str) -> bool:
    """Does `written` ("5.15", "9.2.5") occur in `text` as a whole id, not inside a longer number or word?"""
    return re.search(rf"(?<![\w.]){re.escape(written)}(?![\d]|\.\d)", text) is not None


# ---------------------------------------------------------------------------------------------- risk ids
# Risk ids in document text, questions, answers and SoA justifications: "R-004".
RISK_ID = re.compile(r"\bR-\d{2,4}\b")
# A register's "Linked Risks" cell (registers.py) accepts any 1–4 letter prefix ("RSK-01", "IS-104"), an
# organisation's own numbering; in free text that looser form would also take "SHA-256" or "AES-256".
REGISTER_RISK_ID = re.compile(r"\b[A-Z]{1,4}-\d{2,4}\b")

# ---------------------------------------------------------------------------------------------- splitting
# A list-item marker: "1.", "1)", "-", "*", "+", "•", "a.", "a)", and roman sub-items "ii.", "iv)".
LIST_MARKER = r"(?:\d{1,3}[.)]|[-*+•]|[a-z][.)]|[ivx]{2,5}[.)])"
LIST_MARK = re.compile(rf"^\s*{LIST_MARKER}\s+")  # at the start of a line
# The loader's list-item line (ingest/loaders.py): the same markers, at most 8 spaces of indent, text after.
LIST_ITEM_LINE = re.compile(rf"^\s{{0,8}}{LIST_MARKER}\s+\S")
# A numbered step ("1.", "12)") at the start of a line (responsibilities.py process steps).
NUMBERED_STEP = re.compile(r"^\s*\d{1,2}[.)]\s+")
# A bullet or numbered marker of an LLM answer line (answer/verify.py): unlike LIST_MARK, no letter
# markers ("a.", "a)").
ANSWER_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")

# Sentence ends. Answer units (passage_units, responsibilities.py): a new sentence starts with a capital,
# a bracket or a quote.
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
# Over-long paragraphs in the chunker (ingest/chunker.py) are cut at sentence ends; unlike SENTENCE_SPLIT,
# a digit may start the next sentence.
CHUNK_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
# SoA evidence and justifications (soa/draft.py): also before a digit, a curly quote and a "[n]" citation.
SOA_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'“\[])")
# The end of a sentence of an LLM answer (answer/verify.py), with the citation groups that follow it
# ("… quarterly. [1, 2] The …"), before a capital, digit, bracket, quote, emphasis or the end of line.
ANSWER_SENTENCE_END = re.compile(r"[.!?](?:\s*\[\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*\])*(?=\s+[A-Z0-9(\"'*\[]|\s*$)")

MIN_SENTENCE_CHARS = 12  # a shorter piece ("Yes.", "See 5.3.") is no unit of its own
UNITS_VERSION = 1  # bump when passage_units changes: stored unit vectors of older versions are ignored


def sentences(line: str, split: re.Pattern[str] = SENTENCE_SPLIT) -> list[str]:
    """The sentences of one line of prose, stripped; pieces under MIN_SENTENCE_CHARS are dropped."""
    out: list[str] = []
    for sentence in split.split(line):
        sentence = sentence.strip()
        if len(sentence) >= MIN_SENTENCE_CHARS:
            out.append(sentence)
    return out


def passage_units(text: str, whole_lines: bool = False) -> list[tuple[str, bool]]:
    """A passage's answer units in order: (text, is_item).

    A list item or a table row ("a | b") is one unit, verbatim with its marker; other lines are split
    into sentences. With `whole_lines` (register rows, SoA rows) every line is one unit.
    """
    units: list[tuple[str, bool]] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if LIST_MARK.match(line) or " | " in line or whole_lines:
            units.append((line, True))
        else:
            units.extend((sentence, False) for sentence in sentences(line))
    return units


# ---------------------------------------------------------------------------------------------- tokenizing
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until till up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves us our i'm we're what's who's get got also may must shall
    whats hows whos wheres whens thats dont doesnt cant isnt im ive""".split()  # as typed without apostrophes
)
# Words of chat that add nothing of a question's own ("how quickly tho?", "ok, who signs it off?")
CHAT_WORDS = frozenset("tho though pls please lol ok okay exactly actually".split())
_TOKEN = re.compile(r"[a-z0-9]+(?:[.\-/][a-z0-9]+)*")
NUMBER_TOKEN = re.compile(r"[\d.]+(?:st|nd|rd|th)?")  # only a number, id or ordinal ("5.15", "29th"), matched whole


@lru_cache(maxsize=200_000)  # pure; the vocabulary is small, so repeated words cost a dict lookup
def stem(word: str) -> str:
    """A light English suffix stripper: enough to join review/reviews/reviewed/reviewing."""
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ations", "ate"), ("ation", "ate"), ("ings", ""),
                         ("ing", ""), ("edly", ""), ("ed", ""), ("ers", "er"), ("ly", ""), ("es", "e"), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            if suffix == "ly" and (len(word) < 6 or word[-3] in "aiopub"):  # "apply", "reply", "daily", "assembly"
                return word
            return word[: len(word) - len(suffix)] + repl
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed words without stop words; "role-based" also gives "role" and "based"."""
    tokens: list[str] = []
    for raw in _TOKEN.findall(text.lower()):
        if raw in STOPWORDS:
            continue
        tokens.append(stem(raw))
        if any(sep in raw for sep in ".-/") and not NUMBER_TOKEN.fullmatch(raw):
            tokens.extend(stem(p) for p in re.split(r"[.\-/]", raw) if p and p not in STOPWORDS)
    return tokens


@lru_cache(maxsize=32_768)  # passages and sentences recur across questions: tokenise each once
def token_set(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


# A sentence about the document itself ("This guide is for anyone who …", "This policy defines the high level
# objectives …", "The purpose of this procedure is …", "It covers Annex A 8.15 …"): it says what the document covers,
# never the answer.
ABOUT_DOCUMENT = re.compile(
    r"\b(?:this|the present) (?:[\w-]+ ){0,3}(?:guide|document|policy|procedure|standard|page|note|plan|programme|"
    r"program)\b[^.]{0,40}?\b(?:is for|explains|describes|defines|sets out|establishes|outlines|applies to|covers|"
    r"is intended|aims)\b|\bthe purpose of this\b|"
    # "It covers Annex A 8.15 Logging, 8.16 …": which controls the document implements
    r"^\s*(?:it|this|these)\s+(?:\w+\s+)?(?:covers?|implements?|addresses|supports?)\b[^.]{0,30}\b(?:annex a|iso)\b",
    re.I)


TYPO_MIN_CHARS = 6  # shorter words are too often another real word one letter away ("spend" / "send")
TYPO_SUBSTITUTION_MIN_CHARS = 7  # a wrong letter is guessed only in longer words ("parent" / "patent" is no typo)
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_NEIGHBOURS = {row[i]: {row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)}
                   for row in _KEYBOARD_ROWS for i in range(len(row))}


def _one_slip(typed: str, word: str) -> bool:
    """Is `typed` `word` with one slip of the fingers: a letter left out or doubled, two neighbours swapped, or (in
    a longer word) one letter replaced by a key next to it ("minimun")? A replaced letter that is no neighbour
    makes another word ("charge" / "change", "thread" / "threat"), not a typo."""
    if abs(len(typed) - len(word)) > 1 or typed == word:
        return False
    if len(typed) != len(word):
        short, long_ = sorted((typed, word), key=len)
        return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))
    diff = [i for i, (a, b) in enumerate(zip(typed, word, strict=True)) if a != b]
    if len(diff) == 2 and diff[1] == diff[0] + 1:
        return typed[diff[0]] == word[diff[1]] and typed[diff[1]] == word[diff[0]]
    return (len(diff) == 1 and len(typed) >= TYPO_SUBSTITUTION_MIN_CHARS
            and word[diff[0]] in _KEY_NEIGHBOURS.get(typed[diff[0]], set()))


def closest_word(word: str, vocabulary: Collection[str]) -> str | None:
    """The vocabulary word a mistyped `word` stands for ("pasword" → "password", "lenght" → "length"): one slip
    of the fingers away (`_one_slip`); None when the word is known, short, not a word, or nothing is that close.
    Of several, the one the documents use most (a dict of document frequencies), else the first in order."""
    if word in vocabulary or not word.isalpha():
        return None
    # the stemmer's "charged" → "charg" is the documents' "charge", its "coordinated" → "coordinat" their "coordinate"
    for same in ((word + "e") if len(word) >= 4 else "", word.removesuffix("e") if len(word) >= 7 else ""):
        if same and same != word and same in vocabulary:
            return same
    if len(word) < TYPO_MIN_CHARS:
        return None
    matches = sorted(v for v in vocabulary if v[:1] == word[:1] and _one_slip(word, v))
    if isinstance(vocabulary, dict):
        matches.sort(key=lambda v: -vocabulary[v])
    return matches[0] if matches else None
