"""Who acts in a passage: is a sentence, list item or table row a duty of one job role, or another team's?

"The People team records the leaving date in HiBob; this raises a Leaver ticket for the Service Desk and the line
manager" names the line manager but gives them nothing to do. "The line manager collects the leaver's equipment"
does. The My responsibilities page and the chat's role answers keep only the role's own units, verbatim. The
reading is deliberately shallow (no parser): the role is who acts when it is followed by a verb, when it stands
before the first duty verb of a clause, or when it is the agent of a passive ("approved by the line manager");
another actor acts when the words before that verb name one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.text import sentences

DUTY_CUE = re.compile(
    r"\b(must|shall|should|will|is responsible|are responsible|responsible for|accountable|approves?|"
    r"reviews?|owns?|ensures?|runs?|signs?|checks?|maintains?|reports?|notif\w+|decides?|chairs?|attests?|"
    r"agrees?|keeps?|raises?|confirms?|removes?|revokes?|disables?|records?|escalates?|sponsors?|authori[sz]es?)\b",
    re.I,
)
YOU = re.compile(r"\b(you|your)\b", re.I)
_WE = re.compile(r"\bwe\b", re.I)
# "**People team, as soon as the contract is signed:** create …": a step labelled with who does it and when
ACTOR_LABEL = re.compile(r"^\*\*([^*:]{2,160}?):\*\*\s*")
# "**Review coverage (Security Operations Lead, quarterly).** Review all detection rules …"
_TITLED_LABEL = re.compile(r"^\*\*([^*()]{2,80})\(([^()]{2,120})\)\.?\*\*")
_ROW_ID = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[A-Z]{1,4}-?\d+)$")  # "3", "4.2", "O6", "R-12"
_CLAUSE_SPLIT = re.compile(r";\s+|:\s+|,\s+(?:and|but)\s+")
_PRONOUN_SUBJECT = re.compile(r"^\W*(?:this|that|which|it|these|those)\W*$", re.I)
# words that name someone who acts, besides the roles the documents themselves name
_ACTOR_WORDS = (r"team|owner|manager|lead|desk|officer|committee|board|group|department|requester|user|visitor|"
                r"supplier|vendor|contractor|employee|staff|administrator|admin|auditor|organi[sz]ation|company|"
                r"hr|it|ism|ciso|cto|ceo|dpo|facilities|legal|finance|portal|system|partner|customer")
_VERB_AFTER = r"(?:\*\*)?\s+(?:must|should|will|shall|may|can|is|are|has|have|\w+s)\b"


@dataclass(frozen=True)
class RoleReader:
    """Reads units for one role. `role` matches the role's names; `others` the other actors the corpus names;
    `acts` the role followed by a verb; `agent` the role as the agent of a passive; `leads` a cell that starts with
    the role."""

    role: re.Pattern[str]
    others: re.Pattern[str]
    acts: re.Pattern[str]
    agent: re.Pattern[str]
    leads: re.Pattern[str]

    @classmethod
    def for_role(cls, role: re.Pattern[str], other_roles: list[str]) -> RoleReader:
        names = [r"\s+".join(re.escape(w) for w in name.split()) for name in other_roles if name]
        alternatives = "|".join([*names, _ACTOR_WORDS])
        named = r"(?:" + role.pattern + r")"
        return cls(role, re.compile(r"\b(?:" + alternatives + r")s?\b", re.I),
                   acts=re.compile(named + _VERB_AFTER, re.I),
                   agent=re.compile(r"\bby\b[^.;]{0,60}?" + named, re.I),
                   leads=re.compile(r"(?:the\s+)?" + named, re.I))

    def duty(self, unit: str, written_for_role: bool) -> tuple[str, str] | None:
        """(the duty as the reader should see it, the timing its label states), or None when the unit is another
        team's step or a table row that does not concern the role. A plain unit's duty is a verbatim part of it
        (its sentences where the role acts); a labelled step loses its label, a table row reads "cell: cell"."""
        label = ACTOR_LABEL.match(unit)
        if label:
            actor, _, timing = label.group(1).partition(",")
            if not self.role.search(actor):
                return None  # "People team, …:" — a step of another team in a shared procedure
            return unit[label.end():].strip(), timing.strip()
        titled = _TITLED_LABEL.match(unit)
        if titled:  # "**Report (Head of Information Security, March).**", "**Security Operations Lead (Raj Patel)**"
            actor, _, timing = titled.group(2).partition(",")
            return (unit, timing.strip()) if self.role.search(actor) or self.role.search(titled.group(1)) else None
        if " | " in unit:
            return self._row(unit, written_for_role)
        own = self._own_sentences(unit, written_for_role)
        return (own, "") if own else None

    def _row(self, unit: str, written_for_role: bool) -> tuple[str, str] | None:
        cells = [c.strip(" *") for c in unit.split(" | ") if c.strip(" *")]
        named = [c for c in cells if not _ROW_ID.match(c)]  # the cells after a row number or id
        if len(cells) < 2 or not named:
            return None
        who = named[1] if len(named) > 1 else ""
        if not (self.role.search(named[0]) or self.leads.match(who) or written_for_role):
            return None  # "O6 | Tight control of access | … line managers", "Requester | Any user or their line
            # manager | Raises the request": the role is not who the row is about
        return f"{cells[0]}: {'; '.join(cells[1:])}", ""

    def clause_verdict(self, clause: str, written_for_role: bool) -> bool | None:
        """True when the role (or "you", in a section written for the role) acts in the clause, False when another
        actor does, None when the clause does not concern the role."""
        if not (self.role.search(clause) or (written_for_role and YOU.search(clause))):
            return None
        if self.acts.search(clause):
            return True  # "Security Operations exports the entitlements", "the line manager confirms"
        if self.agent.search(clause):
            return True  # "must be approved by the Head of Engineering and the Head of Information Security"
        cue = DUTY_CUE.search(clause)
        if cue is None:
            return True  # "Repeated findings are raised with the line manager": something the role receives
        subject = clause[:cue.start()]
        if self.role.search(subject) or YOU.search(subject) or _WE.search(subject):
            return True
        if _PRONOUN_SUBJECT.match(subject) or self.others.search(subject):
            return False  # "The People team records …", "this raises a ticket for … the line manager"
        # "Runs the ISMS and chairs the Security Steering Group" under another role's heading: theirs, unless the
        # section is written for this role; "A password must be changed …": no one in particular
        return written_for_role and not subject.strip()

    def _own_sentences(self, unit: str, written_for_role: bool) -> str | None:
        """The unit from its first sentence where the role acts to its last one where no one else does (verbatim);
        None when the role acts in none. In a section written for the role, sentences that name nobody ("If the
        work is continuing, raise an extension") are the reader's too."""
        parts = sentences(unit)
        verdicts: list[bool | None] = []
        for sentence in parts:
            clauses = [self.clause_verdict(c, written_for_role) for c in _CLAUSE_SPLIT.split(sentence)]
            verdicts.append(True if any(clauses) else False if False in clauses else None)
        if True not in verdicts:
            return None
        first = verdicts.index(True)
        own = [s for i, (s, v) in enumerate(zip(parts, verdicts, strict=True))
               if v or (v is None and (written_for_role or i > first))]  # what follows the role's sentence explains it
        start = unit.find(own[0])
        end = unit.find(own[-1], max(start, 0)) + len(own[-1])
        return unit[start:end] if 0 <= start < end else unit
