"""Checks a SoA justification (the grounded draft, a person's edit, or an LLM rewrite) against its
draft's evidence: 2–5 sentences, each citing valid evidence, only the draft's risks, control ids that
the evidence gives, quotes verbatim from the cited passage."""

from __future__ import annotations

import re

from assistant.catalogue import Catalogue
from assistant.soa.sentences import clean_text, explicit_id, split_sentences
from assistant.soa.types import SoADraft
from assistant.text import RISK_ID, SOA_CONTROL_ID

_CITE = re.compile(r"\[(\d{1,3})\]")


def verify_justification(text: str, draft: SoADraft, catalogue: Catalogue) -> list[str]:
    """Problems with a justification (empty list = valid): 2–5 sentences, each citing valid evidence;
    risk ids among the draft's risks; control ids the control itself or present in the cited evidence;
    quotes verbatim from the cited passage."""
    problems: list[str] = []
    sentences = split_sentences(text)
    if not 2 <= len(sentences) <= 5:
        problems.append(f"{len(sentences)} sentences (expected 2–5)")
    valid = {c.n for c in draft.citations}
    risk_ids = {r.risk_id for r in draft.risks}
    for sentence in sentences:
        nums = [int(n) for n in _CITE.findall(sentence)]
        if not nums and not (RISK_ID.findall(sentence) and set(RISK_ID.findall(sentence)) <= risk_ids):
            problems.append(f"sentence without a citation: {sentence[:80]!r}")
        for n in nums:
            if n not in valid:
                problems.append(f"citation [{n}] points to no evidence")
        cited_text = " ".join(clean_text(draft.citation(n).text) for n in nums if draft.citation(n))
        for quote in re.findall(r"“([^”]+)”", sentence):
            if nums and clean_text(quote) not in cited_text:
                problems.append(f"quote not found in the cited passage: {quote[:60]!r}")
    for rid in RISK_ID.findall(text):
        if rid not in risk_ids:
            problems.append(f"risk {rid} is not linked to {draft.control_id}")
    all_cited = " ".join(c.text + " " + c.section for c in draft.citations)
    for m in SOA_CONTROL_ID.finditer(text):
        cid = f"{m.group(1)}.{int(m.group(2))}"
        if cid != draft.control_id and (cid not in catalogue or not explicit_id(all_cited, catalogue.controls[cid])):
            problems.append(f"control {cid} does not appear in the evidence")
    return list(dict.fromkeys(problems))
