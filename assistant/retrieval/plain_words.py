"""Everyday words people ask with, and the words security documents use for the same thing.

Staff ask "I left my work phone on the train" or "can I put the files on a memory stick?"; policies say
"lost or stolen mobile device" and "removable media". A phrase is searched with the documents' words only
when the documents never use one of its own words: where they say "memory stick" themselves, nothing is
added. The list is general security vocabulary (no organization's names or terms), so it holds for any
document set.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.text import tokenize

# everyday phrase (regex, whole words) -> the words documents tend to use
PLAIN_TO_FORMAL: list[tuple[str, str]] = [
    (r"memory sticks?|thumb ?drives?|pen ?drives?|flash drives?|usb sticks?|usb keys?", "removable media USB"),
    (r"(?:work |company |my )?(?:phone|mobile|smartphone|tablet|ipad)s?", "mobile device"),
    (r"laptops?|notebooks?|computers?|pcs?|macbooks?", "laptop endpoint device"),
    (r"misplaced|nicked|went missing|gone missing|can't find|left (?:it|them|my [\w ]{0,20}?) (?:on|in|at) (?:the|a|my)",
     "lost stolen"),
    (r"log ?ins?|sign ?ins?|accounts?|credentials", "account access"),
    (r"(?:switch|turn|shut|cut)(?:s|ed|ing)? off|kill(?:s|ed)?|blocked", "disabled revoked"),
    (r"passwords?|passcodes?|pins?", "password authentication"),
    (r"leav(?:es|ing)|leaver|quits?|quitting|fired|last day|finishing up|moving on|resign(?:s|ed|ing)?|"
     r"left (?:the (?:company|business|firm|organi[sz]ation)|us|on \w+day|last \w+|yesterday|recently)",
     "leaver termination offboarding revoke access"),
    (r"new (?:starters?|joiners?|hires?|staff)|starting|first (?:day|week)|onboard(?:ing)?", "joiner onboarding"),
    (r"hack(?:ed|s)?|breach(?:ed|es)?|compromised?|something (?:bad|wrong)|suspicious", "security incident"),
    (r"dodgy|scam|fake|phish(?:y|ing)?", "phishing suspicious email"),
    (r"holes?|bugs?|flaws?|weakness(?:es)?", "vulnerability"),
    (r"fix(?:ed|ing)?|patch(?:ed|ing)?", "remediate patch"),
    (r"wipe(?:d)?|erase(?:d)?|shred(?:ded)?|get rid of|throw (?:away|out)|bin(?:s|ned)?", "disposal deletion wipe"),
    (r"keep|hang on to|hold on to|store(?:d)? for|how long .{0,30}(?:kept|stored)", "retention period retain"),
    (r"sue[sd]?|lawsuit|court|legal (?:action|claim)", "litigation legal hold"),
    (r"home|from my (?:parents|house|flat)|abroad|overseas|coffee shop|caf[eé]|train|hotel", "remote working"),
    (r"visitors?|guests?|contractors? on site|electricians?|cleaners?|engineers? on site", "visitor escort"),
    (r"boss|line manager|my manager", "manager approval"),
    (r"sign(?:ed)? off|allowed to|permission|let me", "approval authorised"),
    (r"cloud (?:app|tool|service)s?|online tools?|saas|web apps?|apps?", "cloud service approval"),
    (r"vendors?|third parties|third-party|outsourc\w+|contractors?", "supplier"),
    (r"customer data|client (?:data|files)|personal (?:data|info\w*)|customers? details", "personal data"),
    (r"email(?:ed|ing)? (?:it|them|files?)|send(?:ing)? (?:it|them|files?)|share|sharing|transfer",
     "information transfer"),
    (r"backups?|copies|restore", "backup restore"),
    (r"(?:copy|list) of (?:all )?(?:everything|the data|the info\w*|what)\b.{0,30}\b(?:holds?|has|keeps?|have) on (?:me|them|him|her)|"
     r"(?:see|get) (?:all )?(?:my|their) (?:own )?(?:personal )?data", "subject access request"),
    (r"outage|goes down|went down|disaster|fire|flood", "disaster recovery continuity"),
    (r"risk scores?|scores? \d+|how risky", "risk assessment likelihood impact"),
    (r"exceptions?|exemptions?|waivers?|bypass|work ?around", "policy exception"),
    (r"tell|report|who do i (?:call|contact|ring)", "report"),
    (r"door codes?|badges?|fobs?|swipe cards?|building pass(?:es)?", "physical access"),
    (r"screens?|desks?|walk(?:ing)? away", "clear desk clear screen lock"),
    (r"training|course|e-?learning|awareness", "security awareness training"),
    (r"encrypt\w*|scrambled", "encryption"),
    (r"sensitivity (?:levels?|labels?|categor\w*|tiers?)|how (?:sensitive|secret|confidential)|"
     r"(?:sort|label|mark|tag) (?:our |the |my )?(?:info\w*|data|documents?|files?)", "classification levels"),
    (r"reverted|rolled back|roll ?back|undo(?:ne)?", "rollback backout"),
]

# a particle or preposition that makes a phrase an idiom ("finishing up", "switched off", "get rid of", "log in"),
# which the tokenizer drops
_PARTICLE = re.compile(r"\s(?:up|off|out|down|away|back|over|in|on|of)\b", re.I)
_COMPILED = [(re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE), formal) for pattern, formal in PLAIN_TO_FORMAL]


def formal_words(question: str, document_frequencies: dict[str, int],
                 uses_phrase: Callable[[list[str]], bool] | None = None) -> list[str]:
    """The documents' words for the everyday phrases in `question` that the documents (token → number of
    passages using it) do not use themselves; each once, in list order. A phrase of several words counts as
    used only when the documents use it as a phrase (`uses_phrase`): "a copy of everything Halden holds on me"
    is no phrase of theirs even though each word is. An idiom the tokenizer reads as one word ("finishing up" as
    "finish", "get rid of" as "rid") is always searched in the documents' words too: their "finish the goods-in"
    is another sense."""
    out: list[str] = []
    for pattern, formal in _COMPILED:
        for match in pattern.finditer(question):
            tokens = tokenize(match.group(0))
            if len(tokens) == 1 and _PARTICLE.search(match.group(0)):
                unused = True
            elif len(tokens) > 1 and uses_phrase is not None:
                unused = not uses_phrase(tokens)
            else:
                unused = any(document_frequencies.get(t, 0) == 0 for t in tokens)
            if formal not in out and unused:
                out.append(formal)
    return out
