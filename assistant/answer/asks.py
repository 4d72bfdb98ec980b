"""The asks of a question (who, how often, by when, where, which items) and the evidence that answers each.

A question often asks two or three things at once ("who approves access and how often are rights
reviewed?"). The composer answers each ask with the best sentence that carries that kind of fact: a role
for *who*, a frequency for *how often*, a time limit or period for *by when / how long*, a place or tool
for *where*, the list items under a lead-in for *which items*, an escalation or sanction for *what happens
if it is not done*, numbered steps for *how is it done*, a named grade for *what severity*. Detection is by
wording, so it works on any organization's documents; nothing here knows a corpus.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.retrieval.query import DOCUMENT_RECORD_QUESTION
from assistant.text import NUMBERED_STEP, token_set

_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|fifteen|twenty|thirty|"
                 r"forty|sixty|ninety|twenty[- ]four|forty[- ]eight|seventy[- ]two|a|an")
# what "every …" / "each …" counts in: "every quarter", "every night" (a daily run), "each working day"
_PERIOD_WORD = r"(?:day|night|evening|morning|weekday|week|month|quarter|year|hour)"
_UNIT = r"(?:minutes?|hours?|(?:business |working |calendar )?days?|weeks?|months?|years?|quarters?)"
_AMOUNT = rf"(?:\d+|{_NUMBER_WORDS})(?:\s*\(\d+\))?"
_COUNT = rf"(?:\d+|{_NUMBER_WORDS.removesuffix('|a|an')})(?:\s*\(\d+\))?"  # a value: "1 hour", not "a minute"

# A retention word ("the retention periods", "kept"): a time ask alone, the topic beside another ask (detect_asks)
_RETENTION_ASK = r"\bretain\w*|\bretention\b|\bkept\b"
# A lead time ("how far ahead do I raise the change?", "how much notice do customers get?"), answered by a value
# before something; "how long before we have to tell them?" is a plain deadline
_LEAD_TIME_ASK = (r"\bhow (?:far|long|many \w+) (?:ahead|in advance)\b|\bhow far before(?:hand)?\b|\bhow much notice\b|"
                  r"\bhow early\b")

_CONSEQUENCE_WORDS = r"\bconsequences?\b|\bpenalt(?:y|ies)\b"

# Standards, laws and regulators every ISMS names: no system a thing is done in, nobody's own name
STANDARD_NAMES = ("ISO", "IEC", "ISMS", "GDPR", "SOC", "PCI", "DSS", "NIST", "HMRC", "ICO")

_REDONE = r"(?:re-?done|repeated|renewed|refreshed|re-?checked|re-?run|re-?tested|re-?reviewed)"
# What each kind of ask looks like in a question.
QUESTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "who": re.compile(
        r"\bwho(?:m|se)?\b|\bwhich (?:team|person|role|department|group|manager)|\bapprov\w*|\bsigns? off|"
        # "do I have to tell anyone?" asks who; "how fast must they tell us?" names who is told
        r"\b(?:tell|notify|inform|contact|escalate)\b(?!\s+(?:us|me)\b)|\bto whom\b|\breport (?:it |this )?to\b",
        re.I),
    # "does it ever get redone?" asks how often it is repeated
    "how-often": re.compile(r"\bhow (?:often|frequently|regularly)\b|\bfrequency\b|\binterval\b|\bhow many times\b|"
                            rf"\bever (?:gets? |be |been )?{_REDONE}\b|\b{_REDONE} (?:ever|again|later|periodically)\b",
                            re.I),
    "when": re.compile(
        # "how long do my passwords need to be?" asks a length, not a time
        r"\bhow (?:long(?![^?,.;]*\bbe\s*(?:[?,.;]|$))|quickly|soon|fast|much time)\b|"
        r"\bhow many (?:minutes|hours|days|weeks|months|years)\b|"
        rf"\bwithin (?:what|how|which)\b|\bdeadline\b|\bby when\b|\btime ?(?:limit|frame)\b|{_RETENTION_ASK}|"
        r"\bwhen (?:exactly |roughly |usually |normally |actually )?"
        r"(?:must|should|do|does|is|are|will|has|have|can)\b|\b(?:by )?what time\b|"
        rf"\btime ?lines?\b|\btimescales?\b|\bdeadlines?\b|\bsla\b|{_LEAD_TIME_ASK}", re.I),
    "where": re.compile(r"\bwhere\b(?! (?:are|is) (?:we|things|it) (?:with|at|on)\b)|\b(?:which|what) (?:tool(?:s|ing)?|systems?|portal|form|address|channels?|site|platforms?|software|products?)\b",
                        re.I),
    "if-not": re.compile(
        r"\bwhat (?:happens|if)\b.{0,40}?\b(?:not|don'?t|doesn'?t|didn'?t|miss\w*|fail\w*|forget|ignore|late|overdue)|"
        r"\bif (?:i|we|you|they|someone|he|she) (?:just )?(?:don'?t|do not|doesn'?t|miss|fail|forget|ignore)\b|"
        + _CONSEQUENCE_WORDS, re.I),
    "record": DOCUMENT_RECORD_QUESTION,
    # a grade on a scale: "what severity would that be?", "which priority is a lost laptop?"
    "level": re.compile(r"\b(?:what|which) (?:severity|priority)\b|\bhow (?:serious|severe)\b", re.I),
    # a number or amount: "how many reviewers does a pull request need?", "how much storage do the sticks have?"
    # ("how many days …?", "how much notice …?" ask a time)
    "amount": re.compile(r"\bhow (?:many|much)\b(?!\s+(?:times|notice|time|longer|later|sooner|earlier|ahead|"
                         r"before|minutes|hours|days|weeks|months|years|working|business|calendar)\b)", re.I),
    # what is done, in order: "how do I get in today?", "what happens to an old laptop before it is reissued?"
    "steps": re.compile(r"\bhow (?:do|does|should|can|must|would|will) (?:i|we|you|they|someone|people|staff|one)\b|"
                        r"\bwhat happens (?:now|next|then|to|when|after|before|first)\b|"
                        r"\bwhat (?:do|should|must|shall) (?:i|we) do\b|\bwhat(?:'s| is| are) the (?:process|procedure|steps?)\b|"
                        r"\b(?:first|next) steps?\b", re.I),
    "list": re.compile(
        r"\b(?:requirements|levels|types|categories|rules|criteria|conditions|classes|kinds|elements|checks)\b|"
        r"\band so on\b|\betc\b|\blist\b|\([^)]*,[^)]*\)|"
        r"\bwhat (?:has|have|needs?|must|should) (?:to )?(?:be |go )?(?:in|into|included|covered)\b|"
        r"\bwhat (?:goes|must go|should go) (?:in|into)\b|"
        # "what details am i meant to give them?", "what fields does the inventory need to have?"
        r"\bwhat (?:details|fields|particulars|information|info)\b(?=[^?.;]{0,40}\b(?:give|include|provide|put|"
        r"supply|state|mention|have|contain|record)\b)", re.I),
}

# What a sentence that answers each kind of ask carries.
EVIDENCE_PATTERNS: dict[str, re.Pattern[str]] = {
    "who": re.compile(
        r"\b(?:manager|officer|owner|team(?! members?\b)|lead|head|director|ciso|cio|ceo|cto|coo|cfo|ism|hr|human resources|"
        r"service desk|help ?desk|committee|board|administrator|supervisor|dpo|counsel|department|engineering|"
        r"reception(?:ist)?|"
        r"approv\w*|responsible|accountable|security@\S*)\b", re.I),
    "how-often": re.compile(
        rf"\b(?:annual(?:ly)?|yearly|quarterly|monthly|weekly|daily|nightly|hourly|fortnightly|bi-?annual\w*|"
        rf"semi-annual\w*|every\s+(?:\w+\s+)?{_PERIOD_WORD}s?|every {_AMOUNT} {_UNIT}|"
        rf"each (?:working |business )?{_PERIOD_WORD}|(?:once|twice) (?:a|per|every|each)|per (?:day|week|month|quarter|"
        rf"year)|\d+ times|(?:on|at) an? (?:\w+ )?(?:annual|quarterly|monthly|weekly|daily) basis|at least once)\b",
        re.I),
    "when": re.compile(
        # "within" with a period after it ("within 5 working days", "within the hour"), not "within the organization"
        rf"\b(?:within(?=[^.;:]{{0,30}}?\b(?:{_UNIT}|hour|day|week|month|year)\b)|no later than|immediately|"
        rf"promptly|without delay|same (?:business |working )?day|"
        rf"next (?:business |working )?day|by the end of|{_AMOUNT}[\s-]*{_UNIT}|"
        rf"(?:by|before|until|at) \d{{1,2}}(?::\d{{2}}|\s*[ap]\.?m\b)|on (?:their|the|your|his|her) last (?:working )?day)\b",
        re.I),
    "if-not": re.compile(
        r"\b(?:escalat\w*|reminders?|overdue|suspend\w*|disabled?|revoked?|withdrawn|disciplinary|consequences?|"
        r"not (?:attested|completed|done|approved|returned|renewed|met)|(?:closed|removed) automatically|"
        r"fails? to|failure to)\b", re.I),
    # a document control field with its value: "Next review | 30 April 2027", "Version: 2.4"
    "record": re.compile(r"\b(?:next review|review date|last review\w*|reviewed on|version|approved on|date approved|"
                         r"approval date|effective date)\b\W{0,4}[^\n;|]{0,12}\d", re.I),
    # a named grade: "Severity 1, critical.", "P3 Medium", "a high-priority incident"
    "level": re.compile(r"\b(?:severity|sev|priority|level|tier|category)[\s-]*(?:\d|[A-E]\b|one|two|three|four)|"
                        r"\bP[0-4]\b|\b(?:critical|high|medium|low|major|minor)\b", re.I),
    # a count or amount: "two reviewers", "at most four", "£100,000", "18 staff" (a year, a standard's or control's
    # number and a section number are none: see `answers`)
    "amount": re.compile(rf"\b\d[\d,]*(?:\.\d+)?\b|£|\$|€|\b(?:{_NUMBER_WORDS.removesuffix('|a|an')}|fifty|hundred|"
                         rf"thousand|million|dozen)\b", re.I),
    # a numbered step ("3. The Service Desk disables the account …")
    "steps": NUMBERED_STEP,
    "where": re.compile(
        r"@|https?://|\b(?:portal|form|tool|service ?desk|help ?desk|ticket\w*|e-?mail|intranet|sharepoint|jira|"
        r"servicenow|slack|teams|hotline|phone|repository|password manager|vpn)\b|"
        r"\b(?:defined|set out|described|documented|recorded|kept|held|stored|listed|logged|tracked|raised|saved|"
        r"filed|entered|uploaded|posted) (?:in|into|on|to|through|via)\b|"
        # a named system it is done in: "signs this policy in BreatheHR", "raised through ServiceNow" (a word with a
        # capital inside it, or an acronym), matched with case
        rf"(?-i:\b(?:in|into|through|via|using) (?:the |our )?"
        rf"(?:[A-Z][a-z]+[A-Z]\w*|(?!(?:{'|'.join(STANDARD_NAMES)})\b)[A-Z]{{3,}}[a-z]*)\b)", re.I),
}

_RETENTION_WORD = re.compile(_RETENTION_ASK, re.I)
_WHAT_IS_KEPT = re.compile(r"\b(?:what|which)\b[^?,;]{0,40}\b(?:kept|retained)\b", re.I)
_CONSEQUENCE = re.compile(rf"\bwhat (?:happens|if)\b|{_CONSEQUENCE_WORDS}|\bin trouble\b", re.I)
LEAD_TIME_QUESTION = re.compile(_LEAD_TIME_ASK, re.I)

ASK_LABELS: dict[str, str] = {
    "who": "who does it or approves it",
    "how-often": "how often",
    "when": "the time limit or period",
    "where": "where or with which tool",
    "list": "the individual items",
    "record": "the document's review date or version",
    "if-not": "what happens when it is not done",
    "steps": "the steps",
    "level": "the severity or priority",
    "amount": "the number or amount",
}

# Values of a time limit or frequency, for telling when two sentences disagree ("1 hour" vs "same day").
_VALUES: dict[str, re.Pattern[str]] = {
    "when": re.compile(rf"\b(?:{_COUNT}[\s-]*{_UNIT}|immediately|same (?:business |working )?day|"
                       rf"next (?:business |working )?day)\b", re.I),
    "how-often": re.compile(r"\b(?:(?:six|three|two|half|semi|bi)-)?(?:annual(?:ly)?|yearly|quarterly|monthly|weekly|"
                            r"daily|nightly|hourly)\b|\b(?:once|twice) a \w+\b|"
                            rf"\b(?:every\s+(?:\w+\s+)?|each ){_PERIOD_WORD}s?\b", re.I),
}
_DAYS_A_MONTH = 30.4375
_PERIOD_MONTHS = {"hour": 1 / 24 / _DAYS_A_MONTH, "day": 1 / _DAYS_A_MONTH, "week": 7 / _DAYS_A_MONTH, "month": 1,
                  "quarter": 3, "year": 12}
# The words of a value itself ("within 5 working days", "at least every month"): no topic of a question either
VALUE_WORDS = token_set(" ".join(["minutes", *(f"{unit}s" for unit in _PERIOD_MONTHS)]) +
                        " working business calendar within least every each once twice same next")
_ADVERB_PERIOD = {"annual": "year", "annually": "year", "yearly": "year", "quarterly": "quarter", "monthly": "month",
                  "weekly": "week", "daily": "day", "nightly": "day", "hourly": "hour"}
# a time of day that recurs is a daily frequency: "every night" is "every day"
_DAILY = {"night": "day", "evening": "day", "morning": "day", "weekday": "day"}
_PREFIX_COUNT = {"six": 6, "three": 3, "two": 2, "bi": 2}
_COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "six": 6, "twelve": 12, "other": 2}
_PAREN_NUMBER = re.compile(r"\s*\(\d+\)")

# Where a question with several asks splits into its parts: "..., and who approves it?", "...; how often ...".
_CLAUSE_BREAK = re.compile(
    r"[?;]\s*|,?\s+and\s+(?=(?:how|who|whom|what|when|where|which|within|to whom|is|are|do|does|must|should|can|could|"
    r"will|may|has|have|did)\b)|,\s+(?=(?:how|who|what|when|where|which)\b)", re.I)


# Inside a part: where a second ask may start ("…, and after someone uses one how fast …")
_SOFT_BREAK = re.compile(r",\s*(?:(?:and|but|then|or)\s+)?|\s+and\s+", re.I)


# Words that say what kind of fact is asked, or that name nobody in particular: no topic of a part of the question
# ("how quickly does someone have to get on it?" has none, so any time limit near the rest of the question answers it)
ASK_WORDS = token_set("quickly fast soon long often frequently regularly time deadline when where who whom "
                      "someone somebody anyone anybody get got need needs look looks take takes severity priority many much "
                      "supposed meant tell")


# A part that asks the previous part's question again about something else: "…, and what about the photos?"
_SAME_ASK_AGAIN = re.compile(r"^\s*(?:and\s+)?(?:(?:what|how) about|what of|same for)\b", re.I)


@dataclass(frozen=True)
class Ask:
    kind: str  # who | how-often | when | where | list | if-not | record | steps | level
    words: frozenset[str] = frozenset()  # words of its own part of the question (not shared with the others)

    @property
    def label(self) -> str:
        return ASK_LABELS[self.kind]


# Where a part's context ends and its question starts: "a customer wants to push files over sftp - do they log in
# with a password"
_CONTEXT_BREAK = re.compile(r"\s+[-–—:]\s+(?=(?:do|does|is|are|can|could|will|would|should|must|has|have|how|who|what|"
                            r"when|where|which|whats)\b)", re.I)


def question_parts(question: str) -> list[str]:
    """The parts of a question that asks several things (one part for a simple question); of a part that sets out
    its context first and then asks, the ask, so that it is not drowned by the context."""
    clauses = [_CONTEXT_BREAK.split(clause)[-1] for clause in _clauses(question)]
    parts = [p.strip(" ,") for p in clauses if p and len(token_set(p)) >= 2]
    return parts or [question]


def _clauses(question: str) -> list[str]:
    """The question split where a new ask starts: at "…, and how …", "…; who …", and also inside a part that holds
    two asks with a comma or an "and" between them ("how often do we check X, and after someone uses one how fast
    …?"): each ask keeps the words of its own clause."""
    out: list[str] = []
    for part in _CLAUSE_BREAK.split(question):
        if not part:
            continue
        starts = sorted(m.start() for kind, pattern in QUESTION_PATTERNS.items()
                        if kind not in ("list", "record") and (m := pattern.search(part)))
        cut = 0
        for first, second in zip(starts, starts[1:], strict=False):
            breaks = list(_SOFT_BREAK.finditer(part, first, second))
            if breaks and breaks[-1].start() > cut:
                out.append(part[cut:breaks[-1].start()])
                cut = breaks[-1].end()
        out.append(part[cut:])
    return out


def detect_asks(question: str) -> list[Ask]:
    """The asks of a question in the order they are written: each kind once per part of the question
    ("how long is it kept, and how long is it archived?" has two time asks)."""
    parts = [p for p in _clauses(question) if p and p.strip()]
    part_words = [token_set(p) for p in parts]
    asks: list[Ask] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    previous: list[tuple[int, str]] = []
    for i, part in enumerate(parts):
        others = frozenset().union(*(w for j, w in enumerate(part_words) if j != i))
        own = part_words[i] - others - ASK_WORDS if len(parts) > 1 else frozenset()
        found = sorted((m.start(), kind) for kind, pattern in QUESTION_PATTERNS.items()
                       if (m := pattern.search(part)))
        if len(found) > 1 and not QUESTION_PATTERNS["when"].search(_RETENTION_WORD.sub(" ", part)):
            # "I've changed the retention periods - who needs to approve it?" names the retention, asks who
            found = [(at, kind) for at, kind in found if kind != "when"]
        if _WHAT_IS_KEPT.search(part) and not QUESTION_PATTERNS["when"].search(_RETENTION_WORD.sub(" ", part)):
            # "what has to be kept just inside the door?" asks what, not for how long
            found = [(at, kind) for at, kind in found if kind != "when"]
        if any(kind == "record" for _, kind in found):  # "when is it due for review?" wants a date, not a time limit
            found = [(at, kind) for at, kind in found if kind != "when"]
        if len(found) > 1 and not _CONSEQUENCE.search(part):
            # "how long before it locks itself if i forget?": "if I forget" is the condition of the time ask
            found = [(at, kind) for at, kind in found if kind != "if-not"]
        if not found and _SAME_ASK_AGAIN.match(part):
            found = previous  # "how long do we keep GPS tracks, and what about the photos?": a time ask again
        previous = found or previous
        for _, kind in found:
            key = (kind, own if any(a.kind == kind for a in asks) else frozenset())
            if key in seen:
                continue
            seen.add(key)
            asks.append(Ask(kind, own))
    return asks


# A value before something ("at least 10 working days before the meeting", "5 days' notice"): a lead time, not a
# deadline after it ("within 20 working days of becoming aware")
LEAD_TIME = re.compile(rf"\b{_AMOUNT}[\s-]*{_UNIT}'?\s+(?:of\s+)?(?:notice|before|ahead|in advance|prior)\b|"
                       rf"\bnotice of (?:at least )?{_AMOUNT}[\s-]*{_UNIT}", re.I)


# "How fast must a supplier tell us?" asks how soon another party notifies us: the sentence that answers it says
# so ("notify us", "notification to us", "within 24 hours of the supplier becoming aware"), not our own deadline
# to tell a regulator or customers ("within 72 hours of our becoming aware")
_TELL_US = r"\b(?:tell|notify|inform|alert|warn|update)\s+us\b|\blet us know\b"
TOLD_US_QUESTION = re.compile(rf"{_TELL_US}|\breport (?:it |this |that )?(?:back )?to us\b", re.I)
TOLD_US = re.compile(rf"{_TELL_US}|\bnotif\w*\s+(?:to\s+)?us\b|\breport\w*\s+(?:it\s+)?to\s+us\b|"
                     r"\b(?:their|its|the (?:supplier|vendor|provider|processor|contractor|partner)s?)\s+becoming aware\b",
                     re.I)


# "issued within the last 12 months" looks back: it is no time limit for doing something
_LOOKBACK = re.compile(rf"\b(?:within|in|during|over|for) the (?:last|past|previous) (?:{_AMOUNT}[\s-]*)?{_UNIT}", re.I)


def answers(kind: str, text: str) -> bool:
    """Does `text` carry the kind of fact the ask wants? ("list" is answered by list items, not wording.)"""
    pattern = EVIDENCE_PATTERNS.get(kind)
    if kind == "when":
        text = _LOOKBACK.sub(" ", text)
    if kind == "amount":
        text = _NOT_AN_AMOUNT.sub(" ", text)
    return bool(pattern and pattern.search(text))


AMOUNT_WINDOW = 6  # words between a number and a word of the question for the number to be the amount asked


def states_amount_of(words: frozenset[str], text: str) -> bool:
    """Does `text` give a number right next to one of `words` (the question's own words): "limited to at most four
    people" for "how many people can be key administrators?", not "returned within 30 days" for "how much storage
    do the IronKeys have?" (the number is the loan's, far from "storage")."""
    stems = {w[:5] for w in words}
    tokens = re.findall(r"[\w£$€,.]+", _NOT_AN_AMOUNT.sub(" ", text))
    numbers = [i for i, t in enumerate(tokens) if EVIDENCE_PATTERNS["amount"].match(t)]
    near = [i for i, t in enumerate(tokens) if t.lower().strip(",.")[:5] in stems]
    return any(abs(i - j) <= AMOUNT_WINDOW for i in numbers for j in near)


# Numbers that count nothing: a section or list number opening the text ("6.2 Agency workers …"), a year, a
# standard's number (ISO/IEC 27001) and a control or clause id ("A.5.15", "8.13")
_NOT_AN_AMOUNT = re.compile(r"^\W*\d+(?:\.\d+)*\.?\s|\b(?:19|20)\d\d\b|\b\d{4,5}(?=[:-]\d{4}\b)|\b(?:ISO|IEC)[\s/]*"
                            r"(?:IEC\s*)?\d+|\b[A-Z]?\.?\d+\.\d+(?:\.\d+)*\b", re.I)


def answers_ask(ask: Ask, text: str) -> bool:
    """`answers` for one part of the question: the sentence also shares a word with that part, when the part
    has words of its own."""
    if not answers(ask.kind, text):
        return False
    if not ask.words or ask.kind == "if-not":  # "… and what happens if I don't?" has no topic words of its own
        return True
    return shared_words(ask, text) > 0


def shared_words(ask: Ask, text: str) -> int:
    """How many of the ask's own words the sentence carries ("approves" / "approved" stem apart; their first
    letters agree)."""
    stems = {w[:5] for w in token_set(text)}
    return len({w[:5] for w in ask.words} & stems)


def one_sentence_each(asks: Sequence[Ask], texts: Sequence[str]) -> list[int | None]:
    """For asks of one kind ("how often is the procedure reviewed, how often is it tested, and how often are the
    logs read?"): a different sentence for each ask, so that "the logs are reviewed once per month" does not stand
    for the procedure's review too. The choice shares the most of the asks' own words in all; ties go to the
    sentences earlier in `texts`. Per ask, the index of its sentence (None: no sentence answers it)."""
    options = [[i for i, text in enumerate(texts) if ask.words and answers_ask(ask, text)] + [None] for ask in asks]
    shared = {(a, i): shared_words(asks[a], texts[i]) for a, found in enumerate(options) for i in found
              if i is not None}
    best: tuple[int, int] = (0, 0)
    choice: list[int | None] = [None] * len(asks)
    for combo in itertools.product(*options):
        chosen = [i for i in combo if i is not None]
        if len(set(chosen)) < len(chosen):
            continue
        key = (sum(shared[(a, i)] for a, i in enumerate(combo) if i is not None), -sum(chosen))
        if key > best:
            best, choice = key, list(combo)
    return choice


def values(kind: str, text: str) -> frozenset[str]:
    """The time limits ("when") or frequencies ("how-often") a sentence states, normalized
    ("five (5) days" → "five days")."""
    pattern = _VALUES.get(kind)
    if pattern is None:
        return frozenset()
    normal = _normal_frequency if kind == "how-often" else _normal_value
    return frozenset(normal(m.group(0)) for m in pattern.finditer(text))


def _normal_frequency(phrase: str) -> str:
    """"annually", "every year", "once a year" → "every 12 months"; "six-monthly", "every 6 months", "half-yearly",
    "bi-annual" → "every 6 months": one spelling per frequency, so two documents that say the same thing in other
    words are no disagreement."""
    words = phrase.lower().replace("-", " ").split()
    if words[0] in ("once", "twice") and words[-1] in _PERIOD_MONTHS:
        months = _PERIOD_MONTHS[words[-1]] / (1 if words[0] == "once" else 2)
    elif words[0] in ("every", "each"):
        count = words[1] if len(words) > 2 else "1"
        number = int(count) if count.isdigit() else _COUNT_WORDS.get(count)
        unit = words[-1].removesuffix("s")
        period = _PERIOD_MONTHS.get(_DAILY.get(unit, unit))
        if number is None or period is None:
            return " ".join(words)
        months = number * period
    else:
        period = _PERIOD_MONTHS.get(_ADVERB_PERIOD.get(words[-1], ""))
        if period is None:
            return " ".join(words)
        halved = words[0] in ("half", "semi") or (words[0] == "bi" and period == 12)  # "bi-annual": twice a year
        months = period / 2 if halved else period * _PREFIX_COUNT.get(words[0], 1)
    return f"every {round(months, 3):g} months"


def _normal_value(phrase: str) -> str:
    """"Five (5) business days", "30-day" → "five business day", "30 day": one spelling per value."""
    words = _PAREN_NUMBER.sub("", phrase).lower().replace("-", " ").split()
    if len(words) > 1 and words[-1].endswith("s") and not words[-1].endswith("ss"):
        words[-1] = words[-1][:-1]
    return " ".join(words)


_WORD_HOURS = {"immediately": 0.25, "same business day": 8.0, "same working day": 8.0, "same day": 8.0,
               "next business day": 24.0, "next working day": 24.0, "next day": 24.0}
_UNIT_HOURS = {"minute": 1 / 60} | {unit: months * 24 * _DAYS_A_MONTH for unit, months in _PERIOD_MONTHS.items()}
_NUMBERS = _COUNT_WORDS | {"five": 5, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "fourteen": 14,
                           "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "sixty": 60, "ninety": 90,
                           "twenty four": 24, "forty eight": 48, "seventy two": 72}
COMPARABLE_RATIO = 30.0  # two values this far apart state different rules, not two versions of one rule


def _hours(value: str) -> float | None:
    """The length of a normalized value ("30 day", "every 3 months", "same working day") in hours."""
    if value in _WORD_HOURS:
        return _WORD_HOURS[value]
    words = value.removeprefix("every ").split()
    if not words:
        return None
    unit = _UNIT_HOURS.get(words[-1].removesuffix("s"))
    count = " ".join(w for w in words[:-1] if w not in ("business", "working", "calendar"))
    number = float(count) if count.replace(".", "", 1).isdigit() else _NUMBERS.get(count, 1.0 if not count else None)
    return number * unit if unit is not None and number is not None else None


def comparable(first: frozenset[str], second: frozenset[str]) -> bool:
    """Could two sets of values be two versions of one rule? "1 hour" and "same working day" could; "1 hour" and
    "12 months" state different things (a reporting deadline, a review cycle). Unknown lengths count as
    comparable."""
    lengths = [[h for v in values_ if (h := _hours(v)) is not None] for values_ in (first, second)]
    if not lengths[0] or not lengths[1]:
        return True
    return any(max(a, b) <= COMPARABLE_RATIO * min(a, b) for a in lengths[0] for b in lengths[1] if min(a, b) > 0)


def value_phrases(kind: str, text: str) -> list[str]:
    """The verbatim value phrases of a sentence, in order (for quoting a disagreement)."""
    pattern = _VALUES.get(kind)
    return list(dict.fromkeys(m.group(0) for m in pattern.finditer(text))) if pattern else []
