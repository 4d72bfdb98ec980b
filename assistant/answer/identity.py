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
from functools import lru_cache

from assistant.answer.asks import STANDARD_NAMES
from assistant.text import token_set

# "who's the fire warden on our floor?", "who is our data protection officer?": the party is the noun after it
_WHO_IS = re.compile(
    r"\bwho(?:'s|’s|s|\s+(?:actually\s+|really\s+|currently\s+)?(?:is|are))\s+(?:actually\s+|really\s+)?(?:our|the|my)\s+"
    r"(?P<party>[a-z][a-z -]{1,40}?)"
    r"(?=\s+(?:on|at|in|for|of|here|now|currently|these days|and|with|that|who)\b|\s*[?,.;!]|$)", re.I)
# "which company does our yearly pen test?", "which certification body are we with?"
_PARTY_NOUNS = (r"(?:company|firm|provider|vendor|supplier|contractor|body|bank|insurer|agency|auditors?|consultancy|"
                r"app|software|product)")
_WHICH_PARTY = re.compile(rf"\bwhich (?P<party>(?:(?!of\b)[\w-]+ ){{0,2}}?{_PARTY_NOUNS})\b", re.I)
# "what vpn software do we use?", "what cloud provider are we on?"
_WHAT_PARTY = re.compile(rf"\bwhat (?P<party>(?:[\w-]+ ){{0,2}}?{_PARTY_NOUNS}) (?:do|does|did|are|is) (?:we|our|they|it)\b",
                         re.I)
# "what's the name of the company that shreds our paper?", "the name and address of our EU rep", "what's that text
# message system called?": the party is everything named after it; a document's name is no such question
_NAME_OF = re.compile(
    r"\bnames?(?: and [\w ]{1,20}?)? of (?:the |our |their |that )?(?P<party>(?!(?:[\w-]+ )?(?:policy|procedure|document|"
    r"form|standard|template|plan|guide)\b)[a-z][\w -]{1,60}?)(?=\s*[?,.;!]|$)|"
    r"\bwhat(?:'s|’s| is|s) (?:that|the|this|our) (?P<called>[a-z][\w -]{1,40}?) called\b", re.I)
# "what's the actual email address i send a security incident report to?", "what is the phone number for …?"
_WHAT_CONTACT = re.compile(
    # "what's the info security lead's direct phone number?", "whats raj patel's mobile number?"
    r"\bwhat(?:'s|’s| is|s)?\s+(?:the |our |their |his |her )?(?:(?P<whose>(?:[\w&-]+ ){0,3}[\w-]+)(?:'s|’s|s') )?"
    r"(?:actual |exact |direct |office |work )?"
    r"(?P<contact>e-?mail(?: address)?|(?:tele)?phone(?: number)?|mobile(?: number)?|extension|url|web ?site|"
    r"web address|"
    # "what's the guest wifi password?", "what's the code to set the alarm?", not "what's the minimum password length?"
    r"(?:[\w-]+ ){0,2}(?:password|code|pin)(?! (?:policy|length|rules?|requirements?|manager|complexity|expiry|reset|"
    r"change|of)))\b", re.I)

# "head of IT & security", "director of operations": a title goes on after "of"
_TITLES = frozenset({"head", "director", "chief", "vp"})
_TITLE_OF = re.compile(r"\s+of\s+[\w&/ -]{1,40}?(?=\s*[?,.;!]|\s+(?:and|like|these|now|currently)\b|$)", re.I)
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
    "password": re.compile(r"\b(?:password|code|pin)\s*(?:is|:)\s*\S", re.I),
}
# the word asked for → the kind of detail that answers it
_CONTACT_KINDS = (("mail", "email"), ("phone", "phone"), ("mobile", "phone"), ("extension", "phone"), ("url", "url"),
                  ("web", "url"), ("password", "password"), ("code", "password"), ("pin", "password"))

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
              r"\s+(?:by|with)\s+(?:the\s+)?|"
              r"\)?\s*\|\s*")  # a table row: "| Network (VPN) | OpenVPN |"
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
    asked_words: frozenset[str] = frozenset()  # a name the question itself uses ("the DBS checks") is not the answer
    # The party's own words: "vpn software" of "which vpn software do we use?", the whole title of "who is our
    # facilities manager?"; the words of what it does ("does our pen test") sit near many names that are not the
    # party's (tools, systems), so a passage read beyond the usual ones must name the party by its own words
    own_words: frozenset[str] = frozenset()

    def answered_by(self, text: str, own_words_only: bool = False) -> bool:
        """Does this sentence name the party (`own_words_only`: tied to a mention of its own words), or give the
        contact detail?"""
        if self.contact:
            detail, mention = _CONTACT_EVIDENCE[self.contact], _mention_pattern(self.party, "")
            if mention is None:
                return bool(detail.search(text))
            # "the service desk's email": the address right after the service desk's mention ("Service Desk: ext
            # 4400, servicedesk@…"), not the next party's ("Information Security Lead: security@…")
            return any(detail.search(text, m.end(), m.end() + _WINDOW) for m in mention.finditer(text))
        party = self.own_words if own_words_only else self.party
        return any(_tied_name(text, m.start(), m.end(), self.asked_words) for m in self._party_mentions(text, party))

    def contact_of_named_party(self) -> bool:
        """A contact detail of a party the question names ("the service desk's email"), not just any address."""
        return bool(self.contact) and _mention_pattern(self.party, "") is not None

    def _party_mentions(self, text: str, party: frozenset[str]) -> list[re.Match[str]]:
        pattern = _mention_pattern(party, self.acronym)
        return list(pattern.finditer(text)) if pattern else []


@lru_cache(maxsize=256)
def _mention_pattern(party: frozenset[str], acronym: str) -> re.Pattern[str] | None:
    """The party's words as they may stand in a sentence (built once per question, read for every sentence)."""
    words = {w for w in party if len(w) > 2 and w not in _COMMON} | ({acronym} if acronym else set())
    if not words:
        return None
    # a short word as it is ("fire", not "firewall"); a long one by its first letters ("insurer", "insurance")
    forms = "|".join(re.escape(w) + r"(?:s|d|ed)?" if len(w) <= 4 else re.escape(w[:5]) + r"\w*"
                     for w in sorted(words))
    return re.compile(rf"\b(?:{forms})\b", re.I)


def identity_ask(question: str) -> IdentityAsk | None:
    """The name or contact detail `question` asks for, if it asks for one."""
    if m := _WHAT_CONTACT.search(question):
        asked = m.group("contact").lower()
        whose = token_set(m.group("whose") or "")  # "raj patel's mobile", "the service desk's email"
        return IdentityAsk(party=whose, contact=next(kind for word, kind in _CONTACT_KINDS if word in asked),
                           own_words=whose)
    if m := _WHO_IS.search(question):
        party, end = m.group("party"), m.end("party")
        title = _TITLE_OF.match(question, end) if party.split()[-1].lower() in _TITLES else None
        if title:  # "who is our head of IT & security?" asks for a name, "who is the owner of X?" a role
            party, end = party + title.group(0), title.end()
        words = token_set(party)
        if not words or words & _NOBODY or re.match(r"\s+of\b", question[end:]):
            return None
        raw = party.split()
        acronym = "".join(w[0] for w in raw).lower() if len(raw) > 2 and not title else ""
        return IdentityAsk(party=words, acronym=acronym, asked_words=token_set(question), own_words=words)
    if m := _NAME_OF.search(question):
        named = m.group("party") or m.group("called")
        own = re.split(r"\s+(?:that|who|which|whose|we|to|for|at|in|on)\s+", named, maxsplit=1)[0]  # "the company"
        return IdentityAsk(party=token_set(named), asked_words=token_set(question), own_words=token_set(own))
    if m := _WHICH_PARTY.search(question) or _WHAT_PARTY.search(question):
        # the party is named by what it does for us: "which company does our yearly pen test?" → "pen test"
        rest = re.split(r"[?.;,!]", question[m.end():], maxsplit=1)[0]
        own = token_set(m.group("party"))
        return IdentityAsk(party=token_set(rest) | own, asked_words=token_set(question), own_words=own)
    return None


def _tied_name(text: str, start: int, end: int, asked_words: frozenset[str] = frozenset()) -> bool:
    """A name within a short distance of the party's mention, tied to it by "is", a comma, a bracket or "by"."""
    left = max(0, start - _WINDOW)
    before, after = text[left:start], text[end:end + _WINDOW]
    mention = text[start:end]
    for m in _NAME.finditer(after):
        gap = after[:m.start()]
        tied = re.fullmatch(_TIE_AFTER, gap) or (mention.endswith("ed") and re.fullmatch(_TIE_AFTER_VERB, gap))
        # in a table, the name is the whole next cell: "| Network (VPN) | OpenVPN |"
        whole_cell = "|" not in gap or re.match(r"\s*(?:\||$)", after[m.end():])
        # "the Felixstowe depot, the Daventry distribution depot": a list of such parties, not one named
        listed = re.match(rf"(?:\s+[\w-]+){{0,2}}\s+{re.escape(mention)}\b", after[m.end():], re.I)
        tied = tied and not listed
        if tied and whole_cell and _is_name(m.group(0), text[:end + m.start()]) and not _asked(m.group(0), asked_words):
            return True
    for m in _NAME.finditer(before):
        gap = before[m.end():]
        # "National Insurance numbers": a capitalized mention is part of the name before it, not tied to it
        adjacent = gap == " " and mention[:1].islower() and _COMPOUND_NAME.fullmatch(m.group(0))
        # "Microsoft Azure hosts the platform" names the host (a name, the party's verb, its object); "SaaS providers
        # holding payroll data", "your Tollgate laptop is", "Cyber Essentials Plus certification" a kind of thing
        if adjacent and not re.match(r"\s+(?:the|our|a|an|all|its|their)\b", text[end:]):
            adjacent = None
        # "Hiscox, our cyber insurer": "is our" or a comma and "our" tie even a name that opens the sentence
        if ((re.fullmatch(_TIE_BEFORE, gap) or adjacent) and not token_set(m.group(0)) <= _NOT_NAMES
                and not _asked(m.group(0), asked_words)):
            return True
    return False


def _asked(name: str, asked_words: frozenset[str]) -> bool:
    return bool(asked_words) and token_set(name) <= asked_words


def _is_name(candidate: str, preceding: str) -> bool:
    """A name, not a common word: one capitalized word opening a sentence or a table cell ("Penetration test
    findings …", "| Keep certification") is none."""
    if token_set(candidate) <= _NOT_NAMES:
        return False
    opens_sentence = re.search(r"(?:^|[.!?:|])[\s*_#>-]*$", preceding)
    return not (opens_sentence and re.fullmatch(r"[A-Z][a-z]+", candidate))
