"""What the documents assign to a job role: duties (with frequencies), owned controls and risks, each cited.

Used by the "My responsibilities" and "Controls" pages through the service facade, which hands in a
`Library`: the live generation's passages and register links, retrieval limited to the reader's
clearance, and that clearance. Retrieval ranks the documents that talk about the role; the duties
themselves are verbatim sentences or list items that name the role (or say "you" inside a section
written for that role), so every line can be cited to its document section. Only passages within the
reader's clearance are used.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from assistant.actors import DUTY_CUE, YOU, RoleReader
from assistant.catalogue import Control, normalise
from assistant.knowledge import Knowledge
from assistant.models import Chunk, Duty, OwnedItem, Responsibilities
from assistant.text import ABOUT_DOCUMENT, LIST_MARK, NUMBERED_STEP, sentences

_FREQUENCY = re.compile(
    r"\b(daily|weekly|fortnightly|monthly|quarterly|annually|yearly|half[- ]yearly|bi-?annually|"
    r"every (?:\w+ )?(?:working )?(?:day|week|month|quarter|year|hour)s?|each (?:day|week|month|quarter|year)|"
    r"once a (?:day|week|month|quarter|year)|twice a (?:day|week|month|year)|"
    r"(?:at least )?(?:once )?(?:per|a) (?:day|week|month|quarter|year)|"
    r"within \d+ (?:working |business |calendar )?(?:minutes?|hours?|days?|weeks?)|"
    r"by the end of (?:the|their|your) [\w ]{3,25}?day|on (?:day one|joining|leaving|the first day)|"
    r"on (?:the|their|your) last (?:working )?day|"
    r"before (?:they|you|the person) start\w*|immediately)\b",
    re.I,
)
_FIRST_WEEK = re.compile(r"\b(first (?:day|week|month)|day one|on joining|before (?:they|you|the person) start\w*|"
                         r"induction)\b", re.I)
_RECURRING = re.compile(r"\b(daily|weekly|fortnightly|monthly|quarterly|annually|yearly|half[- ]yearly|bi-?annually|"
                        r"every|each (?:day|week|month|quarter|year)|once a|twice a|per (?:day|week|month|quarter|year))\b",
                        re.I)
_ASK = re.compile(r"\b(ask (?:the|your|a|an) (?!self\b)\w+|contact (?:the|your)|speak to|talk to|check with)\b", re.I)
_NOISE_PREFIXES = ("aws ", "apple ", "microsoft ", "google ", "azure ")
ALIASES: dict[str, list[str]] = {
    "dpo": ["data protection officer"],
    "data protection officer": ["dpo"],
    "cab": ["change advisory board"],
    "change advisory board": ["cab"],
    "all staff": ["employees", "staff", "everyone", "all employees"],
    "employees": ["all staff", "staff", "everyone"],
    "hr": ["people team", "head of people"],
    "people team": ["hr"],
    "service desk": ["service desk lead"],
    "security operations": ["security operations lead", "secops"],
}
MAX_DUTIES = 60
MIN_OVERLAP_CHARS = 40  # a duty inside a longer one is a repeat only when both are this long (not "Approve access")

SearchFn = Callable[[str, int], list[Chunk]]  # (query, top_k) → ranked passages within the reader's clearance


@dataclass(frozen=True)
class Library:
    """What the functions below read, for one reader (built by the facade)."""

    chunks: list[Chunk]  # every passage of the live generation (filtered here by `max_rank`)
    links: Knowledge
    search: SearchFn
    max_rank: int  # the reader's clearance


def clean_role(role: str) -> str:
    text = " ".join(role.split("\n")[0].split()).strip().lower()
    return text[4:] if text.startswith("the ") else text


def known_roles(chunks: list[Chunk], max_rank: int, min_count: int = 3) -> list[str]:
    """Job roles the visible documents mention, most mentioned first."""
    counts: Counter[str] = Counter()
    for chunk in chunks:
        if chunk.class_rank > max_rank:
            continue
        for raw in chunk.roles:
            role = clean_role(raw)
            if role and not role.startswith(_NOISE_PREFIXES):
                counts[role] += 1
    return [r for r, n in counts.most_common() if n >= min_count]


def _all_roles(chunks: list[Chunk]) -> list[str]:
    return sorted({clean_role(raw) for chunk in chunks for raw in chunk.roles} - {""}, key=len, reverse=True)


def _role_pattern(role: str) -> re.Pattern[str]:
    names = [role, *ALIASES.get(role, [])]
    parts = [r"\s+".join(re.escape(w) for w in name.split()) + r"(?:s|es)?" for name in names if name]
    return re.compile(r"\b(?:" + "|".join(parts) + r")\b", re.I)


def _units(chunk: Chunk) -> list[str]:
    out: list[str] = []
    for block in chunk.text.split("\n"):
        block = block.strip()
        if not block or ABOUT_DOCUMENT.search(block):
            continue
        if LIST_MARK.match(block) or chunk.kind != "section":
            out.append(LIST_MARK.sub("", block))
        else:
            out.extend(sentences(block))
    return out


def duty_group(text: str, frequency: str) -> str:
    """When a duty comes up: first week, recurring, when it happens (a deadline after an event), ask someone."""
    if _FIRST_WEEK.search(frequency) or _FIRST_WEEK.search(text):
        return "first week"
    if _RECURRING.search(frequency):
        return "recurring"
    if frequency:
        return "when it happens"
    return "ask someone" if _ASK.search(text) else "other"


def find_responsibilities(library: Library, role: str) -> Responsibilities:
    """Duties, owned controls/risks and related controls for a job `role`, within the reader's clearance."""
    role = clean_role(role)
    result = Responsibilities(role=role)
    if not role:
        return result
    max_rank = library.max_rank
    pattern = _role_pattern(role)
    reader = RoleReader.for_role(pattern, [r for r in _all_roles(library.chunks) if not pattern.fullmatch(r)])
    hits = library.search(f"responsibilities and duties of the {role}", 25)
    rank = {chunk.id: i for i, chunk in enumerate(hits)}

    candidates: list[Chunk] = list(hits)
    candidates += [c for c in library.chunks
                   if c.kind == "section" and c.class_rank <= max_rank and c.id not in rank
                   and (pattern.search(c.text) or pattern.search(c.section))]
    seen: set[str] = set()
    duties: list[tuple[int, Duty]] = []
    for chunk in candidates:
        if chunk.kind != "section" or chunk.class_rank > max_rank:
            continue
        written_for_role = bool(pattern.search(chunk.section))
        for unit in _units(chunk):
            names_role = bool(pattern.search(unit))
            if not (names_role or (written_for_role and YOU.search(unit))):
                continue
            if not DUTY_CUE.search(unit):
                continue
            duty = reader.duty(unit, written_for_role)
            if duty is None:
                continue
            text, timing = duty
            key = normalise(text)
            if key in seen or (len(key) > MIN_OVERLAP_CHARS and any(
                    key in other or other in key for other in seen if len(other) > MIN_OVERLAP_CHARS)):
                continue  # the same duty again, or one a longer quote already holds
            seen.add(key)
            # the step's own label says when ("Line manager, on the last working day:"), else its text may
            frequency = (frequency_of(timing) or timing.lower()) if timing else frequency_of(text)
            order = rank.get(chunk.id, len(rank) + 1) * 2 - (1 if names_role else 0)
            plain = text in unit and not timing and not unit.startswith("**") and " | " not in unit
            quote = text if plain else unit  # an answer quotes the role's own sentences, or the step with its label
            duties.append((order, Duty(text, frequency, chunk, duty_group(text, frequency), quote=quote)))
    duties.sort(key=lambda od: od[0])
    result.duties = [d for _, d in duties[:MAX_DUTIES]]

    knowledge = library.links
    for cid, entry in sorted(knowledge.soa.items(), key=lambda kv: tuple(int(p) for p in kv[0].split("."))):
        chunk = knowledge.soa_chunks.get(cid)
        if chunk is None or chunk.class_rank > max_rank or not entry.owner or not pattern.search(entry.owner):
            continue
        detail = ", ".join(p for p in ("applicable" if entry.applicable else "excluded" if entry.applicable is False
                                       else "", entry.status) if p)
        result.owned.append(OwnedItem("control", cid, entry.title, detail, chunk))
    for rid, risk in sorted(knowledge.risks.items()):
        chunk = knowledge.risk_chunks.get(rid)
        if chunk is None or chunk.class_rank > max_rank or not risk.owner or not pattern.search(risk.owner):
            continue
        detail = ", ".join(p for p in (risk.level, risk.treatment, risk.status) if p)
        result.owned.append(OwnedItem("risk", rid, risk.title, detail, chunk))

    counts: Counter[str] = Counter(c for d in result.duties for c in d.chunk.controls)
    result.controls = counts.most_common(12)
    return result


# ---------------------------------------------------------------------------- process steps behind a control


@dataclass
class ProcessSection:
    chunk: Chunk
    steps: list[str]  # verbatim list items (markers removed), in document order

    def step_frequencies(self) -> list[tuple[str, str]]:
        """(how often or how fast, "" when not stated; the step) for each step."""
        return [(frequency_of(step), step) for step in self.steps]


def process_steps(library: Library, control: Control, sources: list[str],
                  max_sections: int = 4) -> list[ProcessSection]:
    """Sections with step lists (numbered or bulleted) that carry out a control, from its implementing
    documents and the procedures retrieval finds for it; only passages within the clearance."""
    control_id = control.id
    max_rank = library.max_rank
    hits = library.search(f"{control.title} procedure steps who does what", 15)
    rank = {chunk.id: i for i, chunk in enumerate(hits)}
    wanted_sources = list(dict.fromkeys([*sources, *(c.source for c in hits
                                                      if c.doc_type == "procedure" and control_id in c.controls)]))
    names = set(normalise(" ".join([control.title, *control.aliases])).split())
    scored: list[tuple[float, ProcessSection]] = []
    for chunk in library.chunks:
        if chunk.kind != "section" or chunk.source not in wanted_sources or chunk.class_rank > max_rank:
            continue
        lines = [ln.strip() for ln in chunk.text.split("\n") if ln.strip()]
        items = [ln for ln in lines if LIST_MARK.match(ln) and " | " not in ln]
        numbered = sum(bool(NUMBERED_STEP.match(ln)) for ln in items)
        if numbered < 2 and len(items) < 3:
            continue
        score = 2.0 * (control_id in chunk.controls) + 1.0 * (control_id in chunk.doc_controls)
        score += 1.0 * (chunk.doc_type == "procedure") + 1.5 * (numbered >= 2)
        score += 1.5 / (1 + rank[chunk.id]) if chunk.id in rank else 0.0
        score += 0.5 * len(names & set(normalise(" ".join(chunk.trail)).split()))
        if chunk.trail and re.match(r"^\d*\s*(purpose|scope|references|related documents|document control|review)\b",
                                    chunk.trail[-1], re.I):
            score -= 2.0
        scored.append((score, ProcessSection(chunk, [LIST_MARK.sub("", ln) for ln in items])))
    scored.sort(key=lambda s: -s[0])
    top = [ps for score, ps in scored[:max_sections] if score > 0]
    order = {s: i for i, s in enumerate(wanted_sources)}
    return sorted(top, key=lambda ps: (order.get(ps.chunk.source, 99), ps.chunk.start))


def frequency_of(text: str) -> str:
    found = _FREQUENCY.search(text)
    return found.group(1).lower() if found else ""


def role_labels(chunks: list[Chunk], max_rank: int, roles: list[str]) -> dict[str, str]:
    """Each role as the visible documents write it most often ("IT operations manager", "CISO"), first letter
    capitalised; the role itself when no document writes it out."""
    forms: dict[str, Counter[str]] = {role: Counter() for role in roles}
    patterns = {role: re.compile(r"\b" + r"\s+".join(re.escape(w) for w in role.split()) + r"\b", re.I)
                for role in roles}
    for chunk in chunks:
        if chunk.class_rank > max_rank:
            continue
        lowered = chunk.text.lower()
        for role in roles:
            if role.split()[0] in lowered:
                forms[role].update(" ".join(m.group(0).split()) for m in patterns[role].finditer(chunk.text))
    labels: dict[str, str] = {}
    for role in roles:
        written = forms[role].most_common(1)[0][0] if forms[role] else role
        labels[role] = written[0].upper() + written[1:]
    return labels


def checklist_markdown(found: Responsibilities, label: str) -> str:
    """A checklist a newcomer can keep: recurring duties with how often, the others, owned controls and risks,
    each with where the documents say it."""
    def item(d: Duty) -> str:
        when = f"**{d.frequency}**: " if d.frequency else ""
        return f"- [ ] {when}{d.text} _({d.chunk.section}; {d.source}, {d.chunk.span})_"

    lines = [f"# My responsibilities: {label}", ""]
    for group, duties in found.grouped().items():
        lines += [f"## {group[0].upper() + group[1:]}", "", *(item(d) for d in duties), ""]
    if found.owned:
        lines += ["## Controls and risks I own", "",
                  *(f"- [ ] {o.id} {o.title}: {o.detail} _({o.chunk.source}, {o.chunk.span})_" for o in found.owned), ""]
    return "\n".join(lines)


def duties_csv(found: Responsibilities) -> str:
    """The same as CSV rows: kind, frequency, duty, section, source, span."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["kind", "frequency", "duty", "section", "source", "span"])
    for d in found.duties:
        writer.writerow([d.group, d.frequency, d.text, d.chunk.section, d.source, d.chunk.span])
    for o in found.owned:
        writer.writerow([f"owned {o.kind}", "", f"{o.id} {o.title}: {o.detail}", o.chunk.section, o.chunk.source,
                         o.chunk.span])
    return out.getvalue()
