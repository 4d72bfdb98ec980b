"""Deterministic citation verification of an LLM answer, and the fallback to the grounded composer.

After generation, the answer is split into units (sentences; list items and lines) and each unit is
checked against the passages the model was given:

* every ``[n]`` must name a passage that was given;
* control ids (``5.15``, ``A.5.15``, ``Annex A 5.15``, 2013 ``A.9.2.5``), risk ids (``R-004``) and role
  names in the unit must appear in the passages it cites, or, for control ids, be a catalogue control
  that those passages (or the question) are about; an id the catalogue doesn't know and the passages
  don't contain is invented;
* the cited passages must support the unit: at least `MIN_SUPPORT` of its content words (stemmed,
  stop words out) and every number in it must occur in them (a valid-looking citation on an invented
  claim is not a valid citation);
* units that repeat the system prompt or the passage fences are dropped;
* units without a valid citation are dropped (short lead-ins ending in ``:`` are kept when the item
  after them is kept).

When too little survives (no cited claim left, or under `MIN_KEPT_FRACTION` of the claim text), the
grounded composer's answer is returned instead with ``answerer="grounded"`` and a ``fallback_reason``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.answer.grounded import ranked_sources
from assistant.answer.types import Answer, Citation
from assistant.catalogue import Catalogue, normalise
from assistant.ingest.metadata import detect_controls, detect_roles
from assistant.models import Chunk
from assistant.retrieval.query import QueryAnalysis
from assistant.retrieval.search import Hit
from assistant.text import (
    ANSWER_BULLET,
    ANSWER_ID_BARE,
    ANSWER_ID_EXPLICIT,
    ANSWER_SENTENCE_END,
    RISK_ID,
    contains_id,
    tokenize,
)

MIN_KEPT_FRACTION = 0.5  # of the claim characters; below this the grounded answer is shown instead
MIN_SUPPORT = 0.5  # share of a claim's content words that its cited passages must contain
MAX_PASSAGE_CHARS = 1500

# fallback_reason codes (the JSON contract carries the code; `notice` carries the human sentence)
REASON_NOT_CONFIGURED = "llm_not_configured"
REASON_VERIFICATION = "verification_failed"
REASON_REFUSED = "llm_refused"  # the model declined although the grounded composer answered

_CITE_GROUP = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
_HEADING = re.compile(r"^\s*(?:#{1,6}\s+.*|\*\*[^*]{1,80}\*\*:?|[A-Z][^.!?\[\]]{0,60}:)\s*$")
_REFUSAL = re.compile(
    r"\b(?:i\s+(?:do\s+not|don'?t|cannot|can'?t)\s+(?:know|answer|tell|find)|not\s+(?:covered|mentioned|stated|"
    r"addressed|specified)\s+in\s+the\s+(?:passages|documents|isms)|(?:passages|documents)\s+(?:do\s+not|don'?t)\s+"
    r"(?:cover|say|mention|contain|address|specify))",
    re.I,
)
# Audience words the role detector also finds; paraphrasing them ("staff" → "employees") is no claim.
GENERIC_ROLES = {"employees", "all staff", "contractors", "third parties", "hr", "people team", "facilities",
                 "service desk", "help desk", "top management"}
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
ROLE_ALIASES = {
    "dpo": ["data protection officer"], "data protection officer": ["dpo"],
    "ciso": ["chief information security officer", "head of information security"],
    "chief information security officer": ["ciso", "head of information security"],
    "isms manager": ["head of information security"], "cab": ["change advisory board"],
    "change advisory board": ["cab"],
}


@dataclass
class Passage:
    """A retrieved chunk as shown to the model, numbered from 1."""

    n: int
    chunk: Chunk
    score: float = 0.0

    @property
    def text(self) -> str:
        text = self.chunk.text
        return text if len(text) <= MAX_PASSAGE_CHARS else text[:MAX_PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"

    @property
    def haystack(self) -> str:
        return f"{self.chunk.section}\n{self.text}"


@dataclass
class Unit:
    text: str  # as written by the model (citation groups normalised to [n][m]), without a list marker
    line: int
    marker: str = ""  # the list marker of its line ("- ", "1. "), if any
    citations: list[int] = field(default_factory=list)
    structural: bool = False  # heading or lead-in ("... are:"); no claim of its own
    kept: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class Verification:
    units: list[Unit]
    refusal: bool
    kept_text: str
    cited: list[int]  # passage numbers cited by kept units, in order of first use
    kept_fraction: float
    problems: list[str]

    @property
    def claims(self) -> list[Unit]:
        return [u for u in self.units if not u.structural]

    @property
    def kept_claims(self) -> list[Unit]:
        return [u for u in self.claims if u.kept]

    @property
    def dropped(self) -> list[Unit]:
        return [u for u in self.claims if not u.kept]

    @property
    def sufficient(self) -> bool:
        return bool(self.kept_claims) and self.kept_fraction >= MIN_KEPT_FRACTION


# ---------------------------------------------------------------------------------------------- splitting
def _normalise_citations(text: str) -> str:
    return _CITE_GROUP.sub(lambda m: "".join(f"[{int(n)}]" for n in re.split(r"\s*[,;]\s*", m.group(1))), text)


def split_units(text: str) -> list[Unit]:
    units: list[Unit] = []
    for line_no, raw in enumerate(text.replace("\r\n", "\n").split("\n")):
        line = _normalise_citations(raw.strip())
        if not line:
            continue
        bullet = ANSWER_BULLET.match(line)
        marker = bullet.group(0).strip() + " " if bullet else ""
        line = line[bullet.end():] if bullet else line
        pieces, start = [], 0
        for m in ANSWER_SENTENCE_END.finditer(line):
            pieces.append(line[start:m.end()].strip())
            start = m.end()
        pieces.append(line[start:].strip())
        for piece in pieces:
            if not piece:
                continue
            cites = [int(n) for n in re.findall(r"\[(\d{1,3})\]", piece)]
            structural = not cites and not marker and bool(_HEADING.match(piece))
            units.append(Unit(piece, line_no, marker, cites, structural))
    return units


# ---------------------------------------------------------------------------------------------- checks
def _ids_in(text: str) -> list[tuple[str, bool]]:
    """Control-like ids in text: ('5.15', explicit) / ('A.9.2.5', explicit) as written, normalised."""
    found: list[tuple[str, bool]] = []
    for m in ANSWER_ID_EXPLICIT.finditer(text):
        a, b, c = m.group(1), m.group(2), m.group(3)
        key = f"A.{int(a)}.{int(b)}.{int(c)}" if c else f"{int(a)}.{int(b)}"
        found.append((key, True))
    stripped = ANSWER_ID_EXPLICIT.sub(" ", text)
    for m in ANSWER_ID_BARE.finditer(stripped):
        found.append((f"{m.group(1)}.{int(m.group(2))}", False))
    return list(dict.fromkeys(found))


def _literal_in(token: str, haystack: str) -> bool:
    bare = token[2:] if token.startswith("A.") else token
    return contains_id(bare, haystack)


def _control_ok(key: str, cited: list[Passage], linked: set[str], catalogue: Catalogue) -> str | None:
    """None when the id is supported; otherwise the problem."""
    if any(_literal_in(key, p.haystack) for p in cited):
        return None
    if key.count(".") == 3:  # 2013 id
        targets = [c.id for c in catalogue.from_legacy(key)]
        if not targets:
            return f"invented control id {key}"
        if any(t in linked for t in targets) or any(key in p.chunk.legacy_controls for p in cited):
            return None
        return f"control {key} is not in the cited passages"
    if key not in catalogue:
        return f"invented control id {key}"
    if key in linked:
        return None
    return f"control {key} is not in the cited passages"


def _role_ok(role: str, cited_norm: str, question_roles: set[str]) -> bool:
    names = [role, *ROLE_ALIASES.get(role, [])]
    return any(f" {normalise(n)} " in cited_norm or n in question_roles for n in names)


def content_words(text: str) -> set[str]:
    return {NUMBER_WORDS.get(t, t) for t in tokenize(text.replace("**", ""))}


def _support_problem(claim: str, cited: list[Passage], question: str) -> str | None:
    ids_out = RISK_ID.sub(" ", ANSWER_ID_BARE.sub(" ", ANSWER_ID_EXPLICIT.sub(" ", claim)))  # ids: own checks
    words = content_words(ids_out)
    available = content_words(" ".join(p.haystack for p in cited))
    numbers = {w for w in words if w.isdigit()} - available - content_words(question)
    if numbers:
        return "numbers not in the cited passages: " + ", ".join(sorted(numbers))
    if len(words) >= 2 and len(words & available) / len(words) < MIN_SUPPORT:
        return f"the cited passages don't support it ({len(words & available)} of {len(words)} content words)"
    return None


def check_unit(unit: Unit, passages: dict[int, Passage], analysis: QueryAnalysis, catalogue: Catalogue,
               forbidden: list[str]) -> None:
    """Fill `unit.problems`; the unit is kept when there are none and it cites a passage."""
    lowered = normalise(unit.text)
    if any(f in lowered for f in forbidden) or "<<<" in unit.text or ">>>" in unit.text:
        unit.problems.append("repeats the instructions or the passage fences")
    bad = [n for n in unit.citations if n not in passages]
    if bad:
        unit.problems.append("cites passages that were not given: " + ", ".join(f"[{n}]" for n in bad))
    cited = [passages[n] for n in dict.fromkeys(unit.citations) if n in passages]
    if not unit.citations:
        unit.problems.append("no citation")
    claim = _CITE_GROUP.sub(" ", unit.text)
    if cited:
        support_problem = _support_problem(claim, cited, analysis.question)
        if support_problem:
            unit.problems.append(support_problem)
    linked = set(analysis.controls)
    for p in cited:
        linked.update(p.chunk.controls)
        linked.update(p.chunk.doc_controls)
        linked.update(detect_controls(p.haystack, catalogue, names=False)[0])
    for key, _explicit in _ids_in(claim):
        problem = _control_ok(key, cited, linked, catalogue)
        if problem:
            unit.problems.append(problem)
    cited_risks = {r for p in cited for r in p.chunk.risks} | {r for p in cited for r in RISK_ID.findall(p.haystack)}
    for rid in dict.fromkeys(RISK_ID.findall(claim)):
        if rid not in cited_risks:
            unit.problems.append(f"risk {rid} is not in the cited passages")
    cited_norm = " " + " ".join(normalise(p.haystack) for p in cited) + " "
    question_roles = set(analysis.roles)
    for role in detect_roles(claim):
        if role in GENERIC_ROLES:
            continue
        if not _role_ok(role, cited_norm, question_roles):
            unit.problems.append(f"role '{role}' is not in the cited passages")


def shingles(text: str, size: int = 6) -> list[str]:
    words = normalise(text).split()
    return [" ".join(words[i:i + size]) for i in range(max(0, len(words) - size + 1))]


def verify(text: str, passages: list[Passage], analysis: QueryAnalysis, catalogue: Catalogue,
           system_prompt: str = "") -> Verification:
    by_n = {p.n: p for p in passages}
    # Phrases of the system prompt that the passages don't also contain: repeating them is a leak.
    passage_norm = " ".join(normalise(p.haystack) for p in passages)
    forbidden = [s for s in shingles(system_prompt) if s not in passage_norm]
    units = split_units(text)
    for unit in units:
        if unit.structural:
            continue
        check_unit(unit, by_n, analysis, catalogue, forbidden)
        unit.kept = not unit.problems
    # A lead-in ("Access is approved by:") stays when the next claim is kept; headings go.
    for i, unit in enumerate(units):
        if unit.structural:
            following = next((u for u in units[i + 1:] if not u.structural), None)
            unit.kept = (unit.text.endswith(":") and following is not None and following.kept
                         and not _ids_in(unit.text) and not RISK_ID.search(unit.text)
                         and not [r for r in detect_roles(unit.text) if r not in GENERIC_ROLES]
                         and not any(f in normalise(unit.text) for f in forbidden))
    claims = [u for u in units if not u.structural]
    total = sum(len(u.text) for u in claims) or 1
    kept_chars = sum(len(u.text) for u in claims if u.kept)
    cited: list[int] = []
    for u in units:
        if u.kept:
            cited.extend(n for n in u.citations if n not in cited)
    refusal = not any(u.citations for u in units) and bool(_REFUSAL.search(text))
    problems = [f"{u.text[:60]!r}: {'; '.join(u.problems)}" for u in claims if u.problems]
    return Verification(units=units, refusal=refusal, kept_text=render(units), cited=cited,
                        kept_fraction=kept_chars / total, problems=problems)


def complete_prefix(text: str) -> str:
    """The part of a streamed answer whose units are complete: whole lines, and the sentences of the last line
    that the next sentence already follows (their citations cannot grow any more)."""
    head, newline, last = text.rpartition("\n")
    end = 0
    for m in ANSWER_SENTENCE_END.finditer(last):
        if last[m.end():].strip():
            end = m.end()
    return head + newline + last[:end]


def render(units: list[Unit]) -> str:
    lines: list[str] = []
    current_line = -1
    for unit in units:
        if not unit.kept:
            continue
        if unit.line == current_line and lines:
            lines[-1] += " " + unit.text
        else:
            lines.append(unit.marker + unit.text)
            current_line = unit.line
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- answers
def fallback(grounded: Answer, reason: str, notice: str) -> Answer:
    """The grounded composer's answer, marked as a fallback from the LLM path."""
    grounded.answerer = "grounded"
    grounded.fallback_reason = reason
    grounded.notice = notice
    return grounded


def to_answer(verification: Verification, passages: list[Passage], analysis: QueryAnalysis, hits: list[Hit],
              grounded: Answer, catalogue: Catalogue) -> Answer:
    """The verified LLM answer, the model's abstention, or the grounded fallback."""
    if verification.refusal:  # the composer answered (else the model is not asked): a hedge never erases that
        return fallback(grounded, REASON_REFUSED, "The LLM said the passages do not answer this; showing the answer "
                                                  "quoted from the documents.")
    if not verification.sufficient:
        kept, total = len(verification.kept_claims), len(verification.claims)
        first = verification.problems[0] if verification.problems else "no citations"
        return fallback(grounded, REASON_VERIFICATION,
                        f"LLM answer failed citation checks ({kept} of {total} sentences verified; {first}); "
                        "showing the grounded answer.")
    by_n = {p.n: p for p in passages}
    citations: list[Citation] = []
    for n in verification.cited:
        p = by_n[n]
        # no `quotes`: they promise verbatim units, and the model's sentences are its own wording
        citations.append(Citation(n=n, source=p.chunk.source, section=p.chunk.section, text=p.chunk.text,
                                  score=p.score, span=p.chunk.span, chunk_id=p.chunk.id))
    mentioned = [k for k, _ in _ids_in(_CITE_GROUP.sub(" ", verification.kept_text)) if k in catalogue]
    controls = list(dict.fromkeys([c for c in analysis.controls if c in catalogue] + mentioned))
    risks = list(dict.fromkeys(RISK_ID.findall(verification.kept_text)
                               + [r for c in citations for r in by_n[c.n].chunk.risks]))
    notice = None
    if verification.dropped:
        notice = (f"Removed {len(verification.dropped)} of {len(verification.claims)} sentences of the LLM answer "
                  "that failed the citation checks.")
    return Answer(
        question=analysis.question, answer=verification.kept_text, abstained=False, citations=citations,
        controls=controls, risks=risks, retrieved_sources=ranked_sources(citations, hits), answerer="llm",
        notice=notice,
    )
