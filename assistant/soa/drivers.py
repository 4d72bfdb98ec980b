"""The drivers a justification states in words, each with the span that states it.

ISO/IEC 27001 6.1.3 accepts more than risk treatment as a reason to select a control: a legal or
regulatory obligation, a contract, a business need (an insurer's conditions included). A justification
such as "UK GDPR and our client contracts (MSA schedule 3) require a written security policy" states two
drivers; "This control is applicable as ISO 27001 requires it to protect the confidentiality, integrity
and availability of our information" states none: the standard asking for the SoA is not a reason to
select a control, and generic CIA wording fits every control. Such template clauses yield no driver
(only a risk id named in them still counts), and "best practice" is not a cue.

`stated_drivers(text, risks)` splits the text into clauses (sentences, then "; " parts) and classifies
each by its cue words: risk treatment (a risk id or a risk title from the register), legal/regulatory,
contractual, business/insurer, other (a recorded management decision). Each `Driver` keeps the verbatim
clause, so a draft or a finding can quote it and cite the SoA row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from assistant.catalogue import normalise
from assistant.soa.sentences import split_sentences
from assistant.soa.types import BUSINESS, CONTRACTUAL, LEGAL, OTHER, RISK_TREATMENT
from assistant.text import REGISTER_RISK_ID

# Generic wording that states no driver, even when it names the standard.
_TEMPLATE = re.compile(
    r"confidentiality,? integrity,? (?:and|&) availability|\bCIA\b|"
    r"\b(?:ISO(?:/IEC)?\s*27001|ISO(?:/IEC)?\s*27002|Annex A|the standard)\b[^.;]{0,20}\b(?:requires?|required|mandates?|expects?)\b|"
    r"\brequired by (?:ISO(?:/IEC)?\s*2700[12]|Annex A|the standard)\b|"
    r"^\s*(?:applicable|yes|required|n/?a|tbc|tbd|see above)\.?\s*$",
    re.I,
)
_LEGAL = re.compile(
    r"\b(?:UK GDPR|EU GDPR|GDPR|PECR|NIS ?2|DORA|HIPAA|SOX|PCI[ -]DSS|DPA \d{4})\b|"
    r"\b(?:[A-Z][\w,]*\s+){1,5}Act(?:\s+\d{4})?\b|"
    r"\b(?:regulations?|the law|by law)\b"
)
# A regulator named is a driver only with what it demands ("report … to the ICO", "HMRC require"); "follows
# ICO guidance" is not one.
_REGULATOR = re.compile(
    r"(?=.*\b(?:requir\w*|oblig\w*|must|mandat\w*|deadline|notif\w*|report\w*)\b)"
    r".*?\b(ICO|HMRC|FCA|PRA|Ofcom|(?:the |our )?regulators?)\b",
    re.I,
)
_LEGAL_CI = re.compile(
    r"\b(?:regulatory|statutory|statutes?|legislation|legally (?:required|bound|obliged)|"
    r"legal (?:requirement|obligation|duty|duties)\w*|(?:employment|data protection|privacy|company|tax) law|"
    r"right[- ]to[- ]work)\b",
    re.I,
)
_CONTRACT = re.compile(
    r"(?<!employment )(?<!employee )\b(?:(?:client|customer|supplier|partner)s?\s+)?contracts?\b(?!\s+(?:developer|staff|worker|engineer|resource)s?\b)|"
    r"\bMSAs?\b|\bmaster services? agreements?\b|\b(?:client|customer|service|partner) agreements?\b|"
    r"\bSLAs?\b|\bservice levels? agreements?\b|\bdata processing agreements?\b|\bstatements? of work\b|"
    r"\b(?:the|our) lease\b|\bcontractual(?:ly)?\b|\bclient (?:due diligence|due-diligence|security schedule)\b",
    re.I,
)
_BUSINESS = re.compile(
    r"\b(?:(?:cyber |office |our )?insur(?:er|ers|ance)\b(?:'s)?|underwriter\w*|"
    r"business (?:need|needs|requirement|requirements|objective|objectives|critical)|core business|"
    r"(?:our|the) (?:main|key|critical) asset|certification (?:requirement|condition)s?)\b",
    re.I,
)
_OTHER = re.compile(
    r"\b(?:board|management|leadership|security forum|steering group)\b[^.;]{0,30}\b(?:decid\w+|decision|mandat\w+|"
    r"direct\w+|approved the use)\b",
    re.I,
)
_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (LEGAL, _LEGAL), (LEGAL, _LEGAL_CI), (LEGAL, _REGULATOR), (CONTRACTUAL, _CONTRACT), (BUSINESS, _BUSINESS), (OTHER, _OTHER),
)
_CLAUSE_SPLIT = re.compile(r";\s+")
MIN_TITLE_CHARS = 12  # a risk title shorter than this is too generic to count as named


@dataclass(frozen=True)
class Driver:
    """One stated driver: its reason code, the clause that states it and the words that made it one."""

    code: str
    quote: str  # verbatim clause of the justification
    cue: str  # the matched words (a risk id, a law, "client contracts", …)
    risks: tuple[str, ...] = ()  # risk ids named (risk treatment)

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "quote": self.quote, "cue": self.cue, "risks": list(self.risks)}


def clauses(text: str) -> list[str]:
    """Sentences of the text, each split at "; " into verbatim clauses."""
    out: list[str] = []
    for sentence in split_sentences(text or ""):
        out.extend(p.strip() for p in _CLAUSE_SPLIT.split(sentence) if p.strip())
    return out


def is_template(sentence: str) -> bool:
    """Generic wording (CIA, "ISO 27001 requires", "best practice", a bare "Applicable.")."""
    return bool(_TEMPLATE.search(sentence))


def _risk_driver(clause: str, risks: Mapping[str, str]) -> Driver | None:
    """Risk treatment: a risk id of the register, or a (specific enough) risk title, named in the clause."""
    ids = [m.group(0) for m in REGISTER_RISK_ID.finditer(clause) if m.group(0) in risks]
    if ids:
        return Driver(RISK_TREATMENT, clause, ", ".join(dict.fromkeys(ids)), tuple(dict.fromkeys(ids)))
    norm = f" {normalise(clause)} "
    for rid, title in risks.items():
        key = normalise(title)
        if len(key) >= MIN_TITLE_CHARS and " " in key and f" {key} " in norm:
            return Driver(RISK_TREATMENT, clause, title, (rid,))
    return None


def stated_drivers(text: str, risks: Mapping[str, str] | None = None) -> list[Driver]:
    """Drivers stated in a justification, in the order stated; one per (code, clause). `risks` maps the
    register's risk ids to their titles (ids not in it, such as document ids POL-001, are not risks)."""
    found: list[Driver] = []
    seen: set[tuple[str, str]] = set()
    for clause in clauses(text):
        candidates: list[Driver] = []
        risk = _risk_driver(clause, risks or {})
        if risk is not None:
            candidates.append(risk)
        if is_template(clause):
            candidates = candidates[:1]  # template wording states no driver; a named risk still does
        for code, pattern in _CUES if not is_template(clause) else ():
            m = pattern.search(clause)
            if m:
                candidates.append(Driver(code, clause, (m.group(m.lastindex) if m.lastindex else m.group(0)).strip()))
        for driver in candidates:
            if (driver.code, clause) not in seen:
                seen.add((driver.code, clause))
                found.append(driver)
    return found


def driver_codes(drivers: Iterable[Driver]) -> list[str]:
    """The distinct reason codes, in the order first stated."""
    return list(dict.fromkeys(d.code for d in drivers))


def first_by_code(drivers: Iterable[Driver]) -> dict[str, Driver]:
    """The first clause stating each code."""
    out: dict[str, Driver] = {}
    for d in drivers:
        out.setdefault(d.code, d)
    return out


__all__ = ["Driver", "clauses", "driver_codes", "first_by_code", "is_template", "stated_drivers"]
