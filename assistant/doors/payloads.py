"""The JSON every door returns, built from the facade (the same shapes as the CLI's --json output): an answer,
ranked passages, a control with its risks, documents and process, SoA drafts and the SoA check."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from assistant.catalogue import Control
from assistant.errors import SoAAccessError, UnknownControl
from assistant.models import Chunk

if TYPE_CHECKING:
    from assistant.service import Assistant

MAX_SEARCH_K = 50


def control_for(assistant: Assistant, reference: str) -> Control:
    """The control a 2022 id, 2013 id, title or alias names; UnknownControl otherwise."""
    try:
        return assistant.catalogue.resolve(reference.strip())
    except ValueError as exc:
        raise UnknownControl(str(exc)) from exc


def passage(chunk: Chunk, rank: int, score: float) -> dict[str, Any]:
    """One retrieved passage with where it comes from (the reader's clearance was applied by the search)."""
    return {"rank": rank, "chunk_id": chunk.id, "source": chunk.source, "title": chunk.title,
            "section": chunk.section, "span": chunk.span, "classification": chunk.classification,
            "kind": chunk.kind, "controls": list(chunk.controls), "score": round(score, 4), "text": chunk.text}


def search(assistant: Assistant, query: str, k: int, role: str) -> dict[str, Any]:
    """Ranked passages for a query, within the role's clearance (hybrid retrieval, as answers use)."""
    query = query.strip()
    if not query:
        raise ValueError("empty query")
    if not 1 <= k <= MAX_SEARCH_K:
        raise ValueError(f"k must be between 1 and {MAX_SEARCH_K}")
    _, result = assistant.retrieve(query, role=role, top_k=k)
    return {"query": query, "role": role,
            "results": [passage(h.chunk, i, h.score) for i, h in enumerate(result.hits[:k], start=1)]}


def control_card(assistant: Assistant, reference: str, role: str) -> dict[str, Any]:
    """A control as the Controls page shows it: catalogue facts, the SoA entry with its linked risks and
    implementing documents (null when the role may not see the SoA), and the process steps that carry it out."""
    control = control_for(assistant, reference)
    card: dict[str, Any] = {
        "id": control.id, "title": control.title, "theme": control.theme, "legacy_ids": list(control.legacy_ids),
        "new_in_2022": control.new_in_2022,
        "attributes": {"control_type": list(control.control_type), "properties": list(control.properties),
                       "concepts": list(control.concepts), "capabilities": list(control.capabilities),
                       "domains": list(control.domains)},
    }
    sources: list[str] = []
    try:
        draft = assistant.draft_soa([control.id], role=role, llm=False)[0]
        card["soa"] = draft.to_dict()
        sources = [d.source for d in draft.documents]
    except SoAAccessError:
        card["soa"] = None
    card["process"] = [
        {"source": ps.chunk.source, "section": ps.chunk.section, "span": ps.chunk.span,
         "steps": [{"frequency": freq, "step": step} for freq, step in ps.step_frequencies()]}
        for ps in assistant.process_steps(control.id, sources, role)
    ]
    return card


def soa_drafts(assistant: Assistant, controls: list[str], role: str, llm: bool | None = None) -> list[dict[str, Any]]:
    """SoA drafts of the named controls (all 93 when empty), as `soa draft --format json` prints them."""
    for reference in controls:
        control_for(assistant, reference)  # an unknown id is a clear error before any drafting
    return [d.to_dict() for d in assistant.draft_soa(controls or None, role=role, llm=llm)]


def soa_check(assistant: Assistant, role: str, as_of: date | None = None) -> dict[str, Any]:
    """The auditor's checks of the SoA, as `soa check --json` prints them."""
    return assistant.check_soa(role, as_of=as_of).to_dict()


__all__ = ["MAX_SEARCH_K", "control_card", "control_for", "passage", "search", "soa_check", "soa_drafts"]
