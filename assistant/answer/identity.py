"""Questions that ask for a name or a contact detail, and the sentences that give one.

"Who is our data protection officer?", "which company does our yearly pen test?", "what's the email address I
send an incident report to?", "what's the guest wifi password?" are answered only by a sentence that names the
party ("Amara Nwosu is our DPO") or carries the address, number or password. A sentence about the role's duties,
or one that mentions "our cyber insurer" without naming it, does not answer them: when no retrieved sentence
does, the question is not covered by the documents and the composer says so instead of quoting the role's
duties. Detection is by wording; nothing here knows a corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.answer.asks import STANDARD_NAMES
from assistant.text import token_set

# "who's the fire warden on our floor?", "who is our data protection officer?": the party is the noun after it
_WHO_IS = re.compile(
    r"\bwho(?:'s|’s| is| are)\s+(?:our|the|my)\s+(?P<party>[a-z][a-z -]{1,40}?)"
    r"(?=\s+(?:on|at|in|for|of|here|now|currently|these days|and|with|that|who)\b|\s*[?,.;!]|$)", re.I)
# "which company does our yearly pen test?", "which certification body are we with?"
_WHICH_PARTY = re.compile(
    r"\bwhich (?P<party>(?:certification |audit |law |security )?(?:company|firm|provider|vendor|body|bank|insurer|"
    r"agency|auditors?|consultancy))\b", re.I)
# "what's the actual email address i send a security incident report to?", "what is the phone number for …?"
_WHAT_CONTACT = re.compile(
    r"\bwhat(?:'s|’s| is|s)?\s+(?:the |our |their |his |her )?(?:actual |exact |direct )?"
    r"(?P<contact>e-?mail(?: address)?|(?:tele)?phone(?: number)?|extension|url|web ?site|web address|"
    # "what's the guest wifi password?", not "what's the minimum password length?"
    r"(?:[\w-]+ ){0,2}password(?! (?:policy|length|rules?|requirements?|manager|complexity|expiry|reset|change)))\b",
    re.I)

# A person who is nobody in particular, or the asker's own colleague: "who is the person I tell?" asks a role
_NOBODY = token_set("person people one right best someone contact responsible member")
# Words too common in security documents to place the party: "data" of "data protection officer"
_COMMON = token_set("data information security service services system systems management manager team")

_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_PHONE = r"\+?\d[\d ()-]{6,}\d|\bext(?:ension|\.)?\s*\d{3,}"
_URL = r"https?://\S+|\bwww\.\S+"
_CONTACT_EVIDENCE = {
    "email": re.compile(_EMAIL),
    "phone": re.compile(_PHONE, re.I),
    "url": re.compile(_URL, re.I),
    "password": re.compile(r"\bpassword\s*(?:is|:)\s*\S", re.I),
}
# the word asked for → the kind of detail that answers it
_CONTACT_KINDS = (("mail", "email"), ("phone", "phone"), ("extension", "phone"), ("url", "url"), ("web", "url"),
                  ("password", "password"))

# A name: a capitalized word or an acronym ("Amara Nwosu", "NCC Group", "BSI", "Hiscox"), not a word any sentence
# may start with or a standard, law or body every ISMS names
_NAME = re.compile(r"\b(?:[A-Z][a-z]+[A-Z]\w*|[A-Z]{2,}[a-z]*\d*|[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*)\b")
_NOT_NAMES = token_set("the a an our we it this that these those if when where who all each every any staff "
                       "uk eu annex i " + " ".join(STANDARD_NAMES))
# The words that tie a name to the party: "the DPO is X", "our DPO (X)", "the pen test is carried out by X" after
# the party; "X is our DPO", "X, our cyber insurer" before it
_TIE_AFTER = (r"(?:\s+[\w-]+)?\s*[,:(–-]\s*(?:the\s+|our\s+)?|(?:\s+[\w-]+){0,2}?\s+(?:is|are)\s+(?:the\s+|our\s+)?|"
              r"\s+(?:is|are|was|were)\s+(?:\w+\s+){0,2}?(?:by|with|from)\s+(?:the\s+)?|"
              # "insured with Hiscox", "tested by NCC Group"
              r"\s+(?:by|with)\s+(?:the\s+)?")
_TIE_AFTER_VERB = r"\s+(?:in|on)\s+(?:the\s+)?"  # "hosted in AWS": after a verb of the party's ("hosts")
_TIE_BEFORE = r"(?:\s+(?:is|are|acts as|serves as)\s+|\s*[,(–-]\s*)(?:our|the|a|an|its)\s+(?:[\w-]+\s+){0,2}"
# ... and "Microsoft Azure hosts the platform": a name of two words or an acronym right before the party's word
_COMPOUND_NAME = re.compile(r"[A-Z]\w+[ -][A-Z]\w+.*|[A-Z]{2,}\w*|[A-Z][a-z]+[A-Z]\w*")
_WINDOW = 60  # characters between the party's word and the name it is tied to


@dataclass(frozen=True)
class IdentityAsk:
    """What a question wants named: `party` words ("data protection officer") or a `contact` kind ("email")."""

    party: frozenset[str] = frozenset()
    acronym: str = ""
    contact: str = ""

    def answered_by(self, text: str) -> bool:
        """Does this sentence name the party, or give the contact detail?"""
        if self.contact:
            pattern = _CONTACT_EVIDENCE[self.contact]
            return bool(pattern.search(text))
        return any(_tied_name(text, m.start(), m.end()) for m in self._party_mentions(text))

    def _party_mentions(self, text: str) -> list[re.Match[str]]:
        words = {w for w in self.party if len(w) > 2 and w not in _COMMON} | ({self.acronym} if self.acronym else set())
        if not words:
            return []
        # a short word as it is ("fire", not "firewall"); a long one by its first letters ("insurer", "insurance")
        forms = "|".join(re.escape(w) + r"(?:s|d|ed)?" if len(w) <= 4 else re.escape(w[:5]) + r"\w*"
                         for w in sorted(words))
        return list(re.finditer(rf"\b(?:{forms})\b", text, re.I))


def identity_ask(question: str) -> IdentityAsk | None:
    """The name or contact detail `question` asks for, if it asks for one."""
    if m := _WHAT_CONTACT.search(question):
        asked = m.group("contact").lower()
        return IdentityAsk(contact=next(kind for word, kind in _CONTACT_KINDS if word in asked))
    if m := _WHO_IS.search(question):
        words = token_set(m.group("party"))
        if not words or words & _NOBODY or re.match(r"\s+of\b", question[m.end():]):  # "the owner of X": a role
            return None
        raw = m.group("party").split()
        acronym = "".join(w[0] for w in raw).lower() if len(raw) > 2 else ""
        return IdentityAsk(party=words, acronym=acronym)
    if m := _WHICH_PARTY.search(question):
        # the party is named by what it does for us: "which company does our yearly pen test?" → "pen test"
        rest = re.split(r"[?.;,!]", question[m.end():], maxsplit=1)[0]
        return IdentityAsk(party=token_set(rest) | token_set(m.group("party")))
    return None


def _tied_name(text: str, start: int, end: int) -> bool:
    """A name within a short distance of the party's mention, tied to it by "is", a comma, a bracket or "by"."""
    left = max(0, start - _WINDOW)
    before, after = text[left:start], text[end:end + _WINDOW]
    mention = text[start:end]
    for m in _NAME.finditer(after):
        gap = after[:m.start()]
        tied = re.fullmatch(_TIE_AFTER, gap) or (mention.endswith("ed") and re.fullmatch(_TIE_AFTER_VERB, gap))
        if tied and _is_name(m.group(0), text[:end + m.start()]):
            return True
    for m in _NAME.finditer(before):
        gap = before[m.end():]
        # "National Insurance numbers": a capitalized mention is part of the name before it, not tied to it
        adjacent = gap == " " and mention[:1].islower() and _COMPOUND_NAME.fullmatch(m.group(0))
        # "Hiscox, our cyber insurer": "is our" or a comma and "our" tie even a name that opens the sentence
        if (re.fullmatch(_TIE_BEFORE, gap) or adjacent) and not token_set(m.group(0)) <= _NOT_NAMES:
            return True
    return False


def _is_name(candidate: str, preceding: str) -> bool:
    """A name, not a common word: one capitalized word opening a sentence or a table cell ("Penetration test
    findings …", "| Keep certification") is none."""
    if token_set(candidate) <= _NOT_NAMES:
        return False
    opens_sentence = re.search(r"(?:^|[.!?:|])[\s*_#>-]*$", preceding)
    return not (opens_sentence and re.fullmatch(r"[A-Z][a-z]+", candidate))
