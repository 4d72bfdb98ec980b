"""Which answer units a grounded answer quotes, and in what order.

The answer opens with the unit that best answers the main ask, then gives one unit per remaining ask of
the question (assistant/answer/asks.py), then a little more supporting evidence while the answer stays
short. A lead-in ("... must include the following:") brings its list items; near-duplicate units of
different documents collapse into one line citing both; when two documents give different time limits
or frequencies for the same ask, both are kept and the disagreement is named. Register rows (risk register,
SoA) are quoted only when the question is about risks, controls or the SoA.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.answer.asks import (
    ASK_WORDS,
    LEAD_TIME,
    LEAD_TIME_QUESTION,
    TOLD_US,
    TOLD_US_QUESTION,
    VALUE_WORDS,
    Ask,
    answers,
    answers_ask,
    comparable,
    detect_asks,
    one_sentence_each,
    shared_words,
    value_phrases,
    values,
)
from assistant.answer.lists import followers, introduces, lead_in, list_score, numbered_steps, table_header
from assistant.answer.units import Unit
from assistant.retrieval.query import QueryAnalysis
from assistant.retrieval.search import RECORD_FIELD
from assistant.text import ABOUT_DOCUMENT, LIST_MARK, token_set, tokenize

MAX_LINES = 6  # quoted units besides list items under a lead-in
BODY_BUDGET = 580  # characters of quoted units before the answer stops adding supporting evidence
SLACK = 100  # a supporting unit may overrun the budget by this much
SUPPORT_RATIO = 0.72  # supporting units must score at least this share of the best unit
OPENING_RATIO = 0.75  # a unit answering the main ask opens instead of the best one when it scores this share
ASK_RATIO = 0.6  # a unit answering an ask the others leave open may score lower
MAX_ASK_CANDIDATES = 12  # units weighed for asks of one kind that each want their own unit ...
MAX_SAME_KIND = 4  # ... and how many such asks get one
GRADE_LABEL = 40  # characters: a grade's label sentence ("Severity 1, critical.")
MAX_STEPS = 5  # numbered steps quoted for "how do I …?"
DUPLICATE_JACCARD = 0.6
SAME_FACT = 0.75  # cosine of two units of different documents that state one fact (same values), quoted once
VALUE_KINDS = ("when", "how-often")
SAME_STATEMENT = 0.5  # cosine of two sentences that state the same rule (with different values)
RIVAL_RELEVANCE = 0.9  # ... and the other one answers the question nearly as well (cosine to the question)
DISAGREE_RELEVANCE = 0.8  # a rival value is shown when its sentence answers the question this well (values comparable)
NEXT_SENTENCE = 0.9  # a prose sentence scores at least this share of the sentence before it (score_units) ...
NEXT_SENTENCE_SIMILARITY = 0.3  # ... when its own cosine to the question is at least this share of that sentence's
PART_MARGIN = 0.05  # cosine: a part of the question gets its own unit when the best one is this much closer

REGISTER_KINDS = ("row", "soa", "risk")
SOA_ROW_TAIL = " Linked risks:"  # an SoA row quoted for a question not about the SoA stops here
BARE_WORDS = 2  # own words (besides control ids) of a question about a control itself: "how is A.12.3.1 handled?"
REGISTER_LEAD = 1.2  # a register row opens a non-register answer only when it scores this much above any prose
# a retention period ("kept for 6 years"), not "keep pace with" or "keep track of"
RETENTION = re.compile(r"\b(?:kept|keeps?(?! (?:(?:pace|up|track|an eye|in mind|informed|abreast)\b|"
                       # "keeps blocking me", "it keeps crashing": doing again, not keeping
                       r"\w+ing(?: (?:me|us|it|them|my|our|the|a|on|up|out|for|about|to)\b|\s*(?:[.,;?!]|$))))|"
                       r"retain\w*|"
                       r"retention|stored?|held|delet\w*|archiv\w*|destroy\w*|dispos\w*)\b", re.I)
_CONTROL_WORD = re.compile(r"\bcontrols?\b", re.I)
# A register row's field line ("Controls: 8.1 ...", "Status: Treated.", "Risk owner: ..."), as opposed to its
# description or an SoA justification.
_REGISTER_FIELD = re.compile(r"^(?:Risk R-\S+|[A-Z][\w /-]{2,30}): (?!.*Justification:)")


@dataclass
class Line:
    """One quoted unit of the answer, with the near-duplicates (other documents) it stands for."""

    unit: Unit
    also: list[Unit] = field(default_factory=list)
    followers: list[Unit] = field(default_factory=list)


@dataclass
class Selection:
    lines: list[Line]
    missing: list[Ask]  # asks no retrieved unit answers
    disagreements: list[tuple[Ask, Unit, Unit]]  # two units giving different values for one ask


def is_control_question(analysis: QueryAnalysis) -> bool:
    """About a control (its risks, its status, what implements it): the linked risks are shown."""
    return bool(analysis.about_registers or analysis.explicit_ids
                or (analysis.controls and _CONTROL_WORD.search(analysis.question)))


def _asks_a_process(analysis: QueryAnalysis) -> bool:
    """A question that names a control but asks how something is done ("A.15.1.2 - what has to be written into a
    supplier's contract?") is answered from the documents first; "what do we do for 8.32?" may open with the SoA."""
    own = [t for t in analysis.content_tokens if len(t) > 2 and not any(ch.isdigit() for ch in t)]
    return len(own) > BARE_WORDS


def score_units(analysis: QueryAnalysis, units: list[Unit], sims: np.ndarray) -> None:
    """Similarity to the question, share of its words (weighted by how rare each is among the candidates), and the
    passage's retrieval rank. A sentence of running prose also scores at least NEXT_SENTENCE of the sentence before
    it: in long-form guidance the sentence that matches the question often only sets up the fact ("… reporting
    the message is not enough.") and the next one states it ("Telephone the Service Desk on extension 4400 …").
    A follow-up's own words weigh as much as a question's; the words of the turn it follows, half as much.
    A next sentence about something else entirely (its own cosine under NEXT_SENTENCE_SIMILARITY of the matching
    one's) inherits nothing."""
    q_words = set(analysis.content_tokens)
    exp_words = set(tokenize(analysis.expanded)) - q_words
    unit_words = [token_set(unit.text + " " + " ".join(unit.chunk.trail[-1:])) for unit in units]
    # a question word most candidate sentences share ("breach", "data") tells them apart less than a rare one
    # ("supplier"): each word weighs its inverse frequency among the candidates (expansion words half)
    own = set(tokenize(analysis.question)) if analysis.followup else q_words  # a follow-up's words over its topic's
    weight = {w: (1.0 if w in q_words and w in own else 0.5) * _rarity(w, unit_words) for w in q_words | exp_words}
    total = sum(weight.values()) or 1.0
    for i, unit in enumerate(units):
        lex = sum(weight[w] for w in unit_words[i] & weight.keys()) / total
        prior = 1.0 / (1 + unit.hit_rank)
        unit.score = 0.45 * float(sims[i]) + 0.40 * lex + 0.15 * prior
    own = [unit.score for unit in units]
    for i in range(1, len(units)):
        before, unit = units[i - 1], units[i]
        related = float(sims[i]) >= NEXT_SENTENCE_SIMILARITY * float(sims[i - 1])
        if (before.chunk.id == unit.chunk.id and unit.position == before.position + 1
                and not unit.is_item and not before.is_item and related):
            unit.score = max(unit.score, NEXT_SENTENCE * own[i - 1])


def _rarity(word: str, unit_words: list[frozenset[str]]) -> float:
    return math.log(1 + (len(unit_words) + 1) / (1 + sum(word in words for words in unit_words)))


def _words(unit: Unit) -> frozenset[str]:
    return token_set(LIST_MARK.sub("", unit.text))


def _duplicate(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a and b) and len(a & b) / len(a | b) > DUPLICATE_JACCARD


class _Builder:
    def __init__(self, units: list[Unit], question_words: frozenset[str], wants_list: bool,
                 vectors: np.ndarray | None = None) -> None:
        self.question_words = question_words
        self.wants_list = wants_list
        self.by_chunk: dict[str, list[Unit]] = {}
        self.know(units)
        self.lines: list[Line] = []
        self.used: set[int] = set()
        self.words: list[frozenset[str]] = []
        # sentence vectors by unit: two documents stating one fact in other words collapse into one line
        self.vectors: dict[int, np.ndarray] = {id(u): vectors[i] for i, u in enumerate(units)} if vectors is not None \
            else {}
        self.chars = 0

    def know(self, units: list[Unit]) -> None:
        """Make the passages of `units` known (each unit's neighbours are its passage's other units)."""
        new: dict[str, list[Unit]] = {}
        for unit in units:
            if unit.chunk.id not in self.by_chunk:
                new.setdefault(unit.chunk.id, []).append(unit)
        self.by_chunk.update(new)

    def covered(self) -> list[Unit]:
        return [u for line in self.lines for u in (line.unit, *line.followers)]

    def label(self, unit: Unit, label: Unit) -> None:
        """Put a short label sentence ("Severity 1, critical.") over the quoted line of `unit`, where that line stands."""
        at = next((i for i, line in enumerate(self.lines) if line.unit is unit), None)
        if at is None or id(label) in self.used:
            return
        line = self.lines[at]
        self.lines[at] = Line(label, also=line.also, followers=[unit, *line.followers])
        self.words[at] = _words(label)
        self.used.add(id(label))
        self.chars += len(label.text)

    def add(self, unit: Unit) -> bool:
        """Quote `unit` (with its list items); a near-duplicate of a quoted unit only adds a citation. A
        table row is quoted with its table: the header row, then the rows (for a question that does not ask for
        the items, the rows it names and the row quoted)."""
        row = unit
        unit = table_header(unit, self.by_chunk[unit.chunk.id])
        if id(unit) in self.used:
            return False
        words = _words(unit)
        vector = self.vectors.get(id(unit))
        for line, seen in zip(self.lines, self.words, strict=True):
            other = self.vectors.get(id(line.unit))
            same = (vector is not None and other is not None and float(vector @ other) >= SAME_FACT
                    and all(values(k, unit.text) == values(k, line.unit.text) for k in VALUE_KINDS))
            if _duplicate(words, seen) or (same and unit.chunk.source != line.unit.chunk.source):
                self.used.add(id(unit))
                if unit.chunk.source != line.unit.chunk.source and all(
                        u.chunk.id != unit.chunk.id for u in line.also):
                    line.also.append(unit)
                return False
            if any(id(unit) == id(f) for f in line.followers):
                return False
        items = [f for f in followers(unit, self.by_chunk[unit.chunk.id], self.question_words) if id(f) not in self.used]
        if items and not self.wants_list and not introduces(unit, self.question_words):
            items = []  # "The following is logged:" at the end of a paragraph about something else
        if items and not self.wants_list and " | " in unit.text:
            # the rows the question names ("High" availability, a "DBS" check); all of them when it names none
            named = {id(f) for f in items if self.question_words & (_words(f) - words)}
            items = [f for f in items if id(f) in named or f is row] if named else items
        lead = None if items else lead_in(unit, self.by_chunk[unit.chunk.id], any_length=self.wants_list)
        quoted = next((line for line in self.lines if line.unit is lead), None) if lead is not None else None
        if lead is not None and (quoted is not None or id(lead) not in self.used):
            # "This plan does not cover the following:" — an item means little without it
            if quoted is not None:
                quoted.followers.append(unit)
                quoted.followers.sort(key=lambda f: f.position)
            elif self.wants_list:  # "what details do I give?" and one item of the list: the list is the answer
                return self.add(lead)
            else:
                self.lines.append(Line(lead, followers=[unit]))
                self.words.append(_words(lead))
                self.used.add(id(lead))
                self.chars += len(lead.text) // 2  # context for the item, counted like list items
            self.used.add(id(unit))
            self.chars += len(unit.text)
            return True
        self.lines.append(Line(unit, followers=items))
        self.words.append(words)
        self.used.add(id(unit))
        self.used.update(id(f) for f in items)
        self.chars += len(unit.text) + sum(len(f.text) for f in items) // 2
        return True


def select(analysis: QueryAnalysis, units: list[Unit], sims: np.ndarray,
           part_sims: np.ndarray | None = None, vectors: np.ndarray | None = None,
           nearby: tuple[list[Unit], np.ndarray] | None = None, query_vector: np.ndarray | None = None,
           naming: Sequence[Unit] = ()) -> Selection:
    """The lines of a grounded answer: main ask first, one unit per other ask, then short support.

    `part_sims` (parts × units): similarity of each unit to each part of a question that asks several
    things; every part then gets its best unit unless a quoted unit already serves it. `vectors` are the
    units' sentence vectors; `nearby` more units (with vectors) from passages beyond the hits that state
    nearly the same as the evidence or answer a part of the question: an ask the hits leave open may be
    answered from them, and a different time limit or frequency is looked for among them. `naming`: for a question that
    asks for a name or contact detail (assistant/answer/identity.py), the units giving it; the answer opens with one."""
    score_units(analysis, units, sims)
    register_question = analysis.about_registers
    asks = detect_asks(analysis.question)
    if not register_question and not any(a.kind == "who" for a in asks):
        _trim_soa_rows(units)
    pool = _answer_pool(analysis, units, any(a.kind == "who" for a in asks))
    ranked = sorted(pool, key=lambda u: u.score, reverse=True)
    if not ranked:
        return Selection([], [], [])
    builder = _Builder(units, frozenset(analysis.content_tokens), any(a.kind == "list" for a in asks), vectors)
    documents = [u for u in ranked if u.chunk.kind not in REGISTER_KINDS] or ranked
    # a register row opens an answer about the SoA or risks, or about a control when no document comes close;
    # a staff question that only names a topic (a control's catalogue name) opens with the documents
    about_the_control = is_control_question(analysis) and not _asks_a_process(analysis)
    openers = ranked if register_question or about_the_control else documents
    best = openers[0].score  # a register row the catalogue's words lift sets no bar for a staff answer
    opening = documents[0]
    if register_question or openers[0].score >= REGISTER_LEAD * opening.score:
        opening = openers[0]
    keeps_asked = bool(RETENTION.search(analysis.question))
    lead_asked = bool(LEAD_TIME_QUESTION.search(analysis.question))
    told_us_asked = bool(TOLD_US_QUESTION.search(analysis.question))

    def fits(kind: str, unit: Unit) -> bool:
        """"how long do we keep …?" wants a retention period, "how far ahead …?" a lead time, not a deadline, "how
        fast must they tell us?" the time another party has to notify us"""
        if not answers(kind, unit.text):
            return False
        if kind != "when":
            return True
        return (not (keeps_asked and not _keeps(unit, builder)) and not (lead_asked and not LEAD_TIME.search(unit.text))
                and not (told_us_asked and not TOLD_US.search(unit.text)))

    factual = [a for a in asks if a.kind not in ("list", "steps")]  # prose may tell how it is done too
    if asks and asks[0].kind == "list":  # "what requirements must my laptop meet (OS, encryption, …)?": the list
        lead = _best_list(ranked, builder, best)
        opening = lead or opening
    elif factual and not fits(factual[0].kind, opening):
        better = next((u for u in openers if u.score >= OPENING_RATIO * best and fits(factual[0].kind, u)), None)
        opening = better or opening
    if naming:  # "who is our DPO?" opens with the sentence that names her
        opening = next((u for u in ranked if any(u is n for n in naming)), opening)
    builder.add(opening)
    neighbours = None
    extra_units, extra_vectors = nearby if nearby is not None else ([], None)
    # the nearby units' cosine to the question, computed once: for open asks and for disagreements
    extra_relevance = extra_vectors @ query_vector if extra_vectors is not None and query_vector is not None else None
    if extra_relevance is not None and len(extra_units):
        neighbours = (extra_units, extra_relevance, RIVAL_RELEVANCE * float(sims.max()))
    similarity = {id(u): float(sims[i]) for i, u in enumerate(units)}
    floor = RIVAL_RELEVANCE * max(similarity[id(u)] for u in pool)
    close = {id(u) for u in pool if similarity[id(u)] >= floor}  # near the best cosine: they mean the question
    missing = _answer_asks(asks, ranked, best, builder, fits, neighbours, close)
    if factual and not naming and not fits(factual[0].kind, opening):
        _open_with_the_answer(factual[0], openers, builder, fits)
    if part_sims is not None and len(part_sims) > 1:
        _answer_parts(units, pool, part_sims, builder)
    disagreements: list[tuple[Ask, Unit, Unit]] = []
    if vectors is not None:
        all_vectors = np.vstack([vectors, extra_vectors]) if extra_vectors is not None else vectors
        relevance = sims if extra_relevance is None else np.concatenate([sims, extra_relevance])
        relevance = relevance if query_vector is not None else None
        disagreements = _disagreements(asks, units + extra_units, all_vectors, relevance, builder)
    for unit in ranked:
        if len(builder.lines) >= MAX_LINES or builder.chars >= BODY_BUDGET or unit.score < SUPPORT_RATIO * best:
            break
        if builder.chars + len(unit.text) > BODY_BUDGET + SLACK:
            continue
        builder.add(unit)
    # an ask is said to be left open only when no quoted line carries that kind of fact at all: "within 72 hours"
    # quoted for "how long have we got to tell the regulator?" answers it in other words ("ICO")
    missing = [a for a in missing if not any(answers(a.kind, u.text) for u in builder.covered())]
    return Selection(_ordered(builder.lines), missing, disagreements)


def _open_with_the_answer(ask: Ask, openers: list[Unit], builder: _Builder,
                          fits: Callable[[str, Unit], bool]) -> None:
    """The opening line does not answer the main ask: the line found for that ask opens instead (a register row
    only where one may open)."""
    may_open = {id(u) for u in openers}
    answer = next((line for line in builder.lines[1:] if id(line.unit) in may_open
                   and answers_ask(ask, line.unit.text) and fits(ask.kind, line.unit)), None)
    if answer is not None:
        builder.lines.remove(answer)
        builder.lines.insert(0, answer)


def _trim_soa_rows(units: list[Unit]) -> None:
    """An SoA row quoted for a question not about the SoA (nor "who …?": the tail ends with the control owner)
    stops before "Linked risks: … Implementing documents: …": the linked-risks line and the implementing documents'
    own sentences say that. The quote stays a verbatim prefix of the row."""
    for unit in units:
        cut = unit.text.find(SOA_ROW_TAIL) if unit.chunk.kind == "soa" else -1
        if cut > 0:
            unit.text = unit.text[:cut]


def _answer_pool(analysis: QueryAnalysis, units: list[Unit], asks_who: bool = False) -> list[Unit]:
    """The units an answer may quote. Register rows may open an answer about the SoA or risks; they support one
    about a named control (by id, title or alias) with their text, not their fields ("Status: ..."); a staff
    process answer quotes the documents only. A sentence about the document itself is never quoted."""
    register_question = analysis.about_registers
    prose = [u for u in units if u.chunk.kind not in REGISTER_KINDS] or units
    pool = units if register_question else prose
    if analysis.controls and not register_question:
        # a risk's description answers a question about the control ("what risks sit behind 8.13?"), not a staff
        # question that only names its topic ("if a restore test fails, what happens next?")
        skip = () if is_control_question(analysis) else ("risk",)
        pool = prose + [u for u in units if u.chunk.kind in REGISTER_KINDS and not _REGISTER_FIELD.match(u.text)
                        and u.chunk.kind not in skip]
    if analysis.about_document_record:  # a document register row says when a document is next reviewed
        pool = pool + [u for u in units if u.chunk.register_kind == "document_register" and u not in pool]
    elif not asks_who:  # "Next review: April 2027, or earlier after a failed restore test" answers no process question
        pool = [u for u in pool if not RECORD_FIELD.search(u.text)] or pool
    # "This procedure explains how … within set times" names the topic; it answers nothing
    return [u for u in pool if not ABOUT_DOCUMENT.search(u.text)] or pool


Neighbours = tuple[list[Unit], np.ndarray, float]  # units near the evidence, their relevance, the relevance floor


def _answer_asks(asks: list[Ask], ranked: list[Unit], best: float, builder: _Builder,
                 fits: Callable[[str, Unit], bool], neighbours: Neighbours | None,
                 close: set[int] | None = None) -> list[Ask]:
    """One unit per ask the quoted lines leave open (a lead-in with its items for a list ask); the asks no
    unit answers. A unit may answer an ask when it scores ASK_RATIO of the best or when it is `close` (its cosine
    to the question near the best one's): "and who do I tell?" is answered by the Service Desk sentence that
    means the question even when a sentence sharing its words scores higher."""
    missing: list[Ask] = []
    close = close or set()
    answerable = [u for u in ranked if u.score >= ASK_RATIO * best or id(u) in close]  # in ranked order
    _one_unit_per_ask(asks, answerable, builder, fits)
    for ask in asks:
        if ask.kind == "list":
            lead = None if any(line.followers for line in builder.lines) else _best_list(ranked, builder, best, ask)
            if lead is not None:
                builder.add(lead)
            continue
        if ask.kind == "steps":  # prose may tell the steps too: no numbered list is no open ask
            _add_steps(ask, answerable, best, builder)
            continue
        if any(answers_ask(ask, u.text) and fits(ask.kind, u) for u in builder.covered()):
            continue
        if ask.kind == "level":  # grade words are common ("high", "low"): a grade not found is no open ask
            _add_graded(ask, answerable, builder)
            continue
        unit = next((u for u in answerable if answers_ask(ask, u.text) and fits(ask.kind, u)), None)
        if unit is None and neighbours is not None:  # the passages nearest the evidence may answer it
            unit = _from_neighbours(ask, *neighbours, fits, builder)
        if unit is None:
            missing.append(ask)
        else:
            builder.add(unit)
    return missing


def _add_graded(ask: Ask, answerable: list[Unit], builder: _Builder) -> None:
    """"What severity is ransomware?": the sentence about the question's topic that names its grade, or that stands
    under a short grade label ("Severity 1, critical." then "… or ransomware is active on our network."), quoted
    with its label."""
    for unit in answerable:
        if answers_ask(ask, unit.text):
            builder.add(unit)
            return
        passage = builder.by_chunk[unit.chunk.id]
        label = passage[unit.position - 1] if unit.position > 0 else None
        if (label is not None and len(label.text) <= GRADE_LABEL and answers("level", label.text)
                and shared_words(ask, unit.text)):
            builder.add(unit)
            builder.label(unit, label)
            return


def _add_steps(ask: Ask, answerable: list[Unit], best: float, builder: _Builder) -> None:
    """"How do I …?" / "what happens to …?": the numbered steps around the best step, in order, while the answer
    stays short (the step, then the ones after it, then the ones before). The step must score like supporting
    evidence, and each step it brings like an answer to an ask: a numbered list of rules about something else
    brings nothing. A step whose list brings nothing new gives way to the next best step."""
    relevant = {id(u) for u in answerable}
    for anchor in (u for u in answerable if u.score >= SUPPORT_RATIO * best and answers_ask(ask, u.text)):
        run = [u for u in numbered_steps(anchor, builder.by_chunk[anchor.chunk.id])
               if id(u) in relevant and id(u) not in builder.used]
        if not run:
            continue
        after = [u for u in run if u.position >= anchor.position]
        before = [u for u in run if u.position < anchor.position][::-1]
        for unit in [*after, *before][:MAX_STEPS]:
            if builder.chars + len(unit.text) <= BODY_BUDGET + SLACK:
                builder.add(unit)
        return


def _one_unit_per_ask(asks: list[Ask], answerable: list[Unit], builder: _Builder,
                      fits: Callable[[str, Unit], bool]) -> None:
    """Asks of one kind, each about its own thing, get a unit each (asks.one_sentence_each), from the quoted units
    and the ones that may answer an ask."""
    for kind in dict.fromkeys(a.kind for a in asks if a.kind != "list"):
        group = [a for a in asks if a.kind == kind][:MAX_SAME_KIND]  # the assignment grows as candidates ** asks
        if len(group) < 2:
            continue
        candidates = [u for u in builder.covered() if fits(kind, u)]
        quoted = {id(u) for u in candidates}
        candidates += [u for u in answerable if fits(kind, u) and id(u) not in quoted]
        for i in one_sentence_each(group, [u.text for u in candidates[:MAX_ASK_CANDIDATES]]):
            if i is not None:
                builder.add(candidates[i])


def _best_list(ranked: list[Unit], builder: _Builder, best: float, ask: Ask | None = None) -> Unit | None:
    """The lead-in (or table) whose list answers a question asking for the items, when it scores well enough; for
    a list asked in its own part of the question ("…, and what has to be in each recovery plan?"), a lead-in about
    that part when there is one."""
    leads = [(list_score(u, builder.by_chunk[u.chunk.id]), i) for i, u in enumerate(ranked)]
    if ask is not None and ask.words:
        own = [(score, i) for score, i in leads if score and shared_words(ask, ranked[i].text)]
        leads = own or leads
    score, i = max(leads, default=(0.0, 0))
    return ranked[i] if ranked and score >= ASK_RATIO * best else None


def _from_neighbours(ask: Ask, units: list[Unit], relevance: np.ndarray, floor: float,
                     fits: Callable[[str, Unit], bool], builder: _Builder) -> Unit | None:
    """The unit of another passage near the evidence that answers an ask the retrieved passages leave open
    ("how long do we keep training records?" — the retention table of another document), when it answers the
    question about as well as the best retrieved sentence."""
    builder.know(units)
    found = [(float(relevance[i]), u) for i, u in enumerate(units)
             if relevance[i] >= floor and answers_ask(ask, u.text) and fits(ask.kind, u)]
    return max(found, key=lambda ru: ru[0])[1] if found else None


def _answer_parts(units: list[Unit], pool: list[Unit], part_sims: np.ndarray, builder: _Builder) -> None:
    index = {id(u): i for i, u in enumerate(units)}
    allowed = [index[id(u)] for u in pool]
    for row in part_sims:
        # a unit quoted from a passage beyond the retrieved ones (an ask answered by a neighbour) has no row here
        quoted = [index[id(u)] for line in builder.lines for u in (line.unit, *line.followers, *line.also)
                  if id(u) in index]
        top = max(allowed, key=lambda i: row[i])
        if quoted and row[top] - max(row[i] for i in quoted) < PART_MARGIN:
            continue  # a quoted unit serves this part about as well as the best one
        builder.add(units[top])


def _disagreements(asks: list[Ask], units: list[Unit], vectors: np.ndarray, relevance: np.ndarray | None,
                   builder: _Builder) -> list[tuple[Ask, Unit, Unit]]:
    """Time limits or frequencies that differ: for a question asking how long / how often, a unit of another
    document that states nearly the same (sentence vectors), answers the question nearly as well and gives
    another value is quoted too, so the answer shows both."""
    kinds = [a for a in asks if a.kind in VALUE_KINDS]
    # the question's words besides those of the ask and the value: "Security Operations decide within 2 working
    # days" is no other version of "the supplier is given 10 working days to respond" (they share only the value's
    # words), for a question about a supplier's breach that neither names
    topic = builder.question_words - ASK_WORDS - VALUE_WORDS
    index = {id(u): i for i, u in enumerate(units)}
    builder.know(units)
    out: list[tuple[Ask, Unit, Unit]] = []
    for ask in kinds:
        quoted = [u for line in builder.lines for u in (line.unit, *line.followers) if values(ask.kind, u.text)]
        if not quoted:
            continue
        # the quoted value that answers the question best (a line quoted for another ask is no reference)
        first = max(quoted, key=lambda u: relevance[index[id(u)]]) if relevance is not None else quoted[0]
        stated = values(ask.kind, first.text)
        closeness = vectors @ vectors[index[id(first)]]
        floor = DISAGREE_RELEVANCE * relevance[index[id(first)]] if relevance is not None else -1.0
        retention = _keeps(first, builder)
        lead = bool(LEAD_TIME.search(first.text))
        first_topic = topic & token_set(first.text)
        first_heading = topic & _heading_words(first)
        first_subject = first_topic | first_heading
        rivals = [(float(closeness[i]), u) for i, u in enumerate(units)
                  if u.chunk.source != first.chunk.source and u.chunk.kind not in REGISTER_KINDS
                  and closeness[i] >= SAME_STATEMENT and (relevance is None or relevance[i] >= floor)
                  and (other := values(ask.kind, u.text)) and not other & stated and comparable(stated, other)
                  and _keeps(u, builder) == retention  # "kept for 6 years" is no rival to "complete within 2 weeks"
                  and bool(LEAD_TIME.search(u.text)) == lead  # nor "8 days before the start" to "30 days from it"
                  and first_topic & token_set(u.text)  # both about the question's topic ...
                  and _same_subject(first_heading, first_subject, topic & (token_set(u.text) | _heading_words(u)))]
        rival = max(rivals, key=lambda cu: cu[0])[1] if rivals else None
        if rival is not None and not any(f is first and r is rival for _, f, r in out):  # two time asks, one pair
            builder.add(rival)
            out.append((ask, first, rival))
    return out


def _heading_words(unit: Unit) -> frozenset[str]:
    """The words of a unit's document title and heading trail: what its passage is about."""
    return token_set(" ".join([unit.chunk.title, *unit.chunk.trail]))


def _same_subject(first_heading: frozenset[str], first: frozenset[str], rival: frozenset[str]) -> bool:
    """Is a rival value about what the first is about? Not when the first's document or section is named by a
    question word the rival lacks and the rival holds no question word the first lacks: for "how often is the risk
    register reviewed?", "the register" of the Legal Requirements document (reviewed six-monthly) is another
    register than the one of the Risk Assessment Methodology (quarterly). A word of the first's own sentence
    ("laptop") proves nothing: the rival may say "device"."""
    return not (first_heading - rival) or bool(rival - first)


def _keeps(unit: Unit, builder: _Builder) -> bool:
    """Does the unit state how long something is kept (a retention period), rather than a deadline? A table row
    is read with its table's first row ("Record | Retention")."""
    header = table_header(unit, builder.by_chunk.get(unit.chunk.id, [unit]))
    return bool(RETENTION.search(unit.text) or (header is not unit and RETENTION.search(header.text)))


def _ordered(lines: list[Line]) -> list[Line]:
    """The opening line first; the rest grouped by passage (the opening line's passage first, then by first
    appearance), document order inside one passage, so numbered steps stay in order. A lead-in quoted after its
    own list or table is joined to it."""
    lines = _join_lead_ins(lines)
    if len(lines) <= 2:
        return lines
    head, rest = lines[0], lines[1:]
    # the opening line's own passage continues right after it (the sentence after it often completes it)
    passages = dict.fromkeys([head.unit.chunk.id, *(line.unit.chunk.id for line in rest)])
    chunk_rank = {cid: i for i, cid in enumerate(passages)}
    rest.sort(key=lambda line: (chunk_rank[line.unit.chunk.id], line.unit.position))
    return [head, *rest]


def _join_lead_ins(lines: list[Line]) -> list[Line]:
    """"The analyst gives it a severity:" quoted apart from the table right after it (the table answered
    another ask first) becomes that table's lead-in line, where the table's line stood."""
    out = list(lines)
    for lead in lines:
        if lead.followers or not lead.unit.text.rstrip().endswith(":"):
            continue
        listed = next((m for m in out if m is not lead and m.unit.chunk.id == lead.unit.chunk.id
                       and m.unit.position == lead.unit.position + 1), None)
        if listed is None:
            continue
        out.remove(lead)
        out[out.index(listed)] = Line(lead.unit, also=[*lead.also, *listed.also],
                                      followers=[listed.unit, *listed.followers])
    return out


def disagreement_text(ask: Ask, first: Unit, second: Unit, n_first: int, n_second: int) -> str:
    a = ", ".join(value_phrases(ask.kind, first.text)[:2])
    b = ", ".join(value_phrases(ask.kind, second.text)[:2])
    return (f"The documents disagree on {ask.label}: {first.chunk.title} says {a} [{n_first}], "
            f"{second.chunk.title} says {b} [{n_second}]; check which applies.")
