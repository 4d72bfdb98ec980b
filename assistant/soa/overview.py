"""One row per Annex A control as one reader may see it: the SoA row (when within the reader's clearance)
with the stored edits and approvals on top. The SoA workbench's table and the Audit readiness coverage
chart are both drawn from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant.catalogue import Catalogue
from assistant.models import Chunk
from assistant.registers import SoAEntry
from assistant.soa.store import SoAStore


@dataclass(frozen=True)
class ControlOverview:
    control_id: str
    title: str
    theme: str
    applicable: bool | None  # stored edit first, else the SoA row (None: not stated, or no visible row)
    status: str  # implementation status; "Not stated" when neither an edit nor the SoA row gives one
    owner: str
    text: str  # state of the justification: generated | edited | approved
    by: str  # who edited or approved it ("" while generated)
    # the Audit readiness category: Implemented, Partially implemented, Planned / other, Status not stated,
    # Excluded or Missing from the SoA
    coverage: str

    @property
    def applicability(self) -> str:
        return {True: "Applicable", False: "Excluded", None: "Not stated"}[self.applicable]


def visible_entry(soa: dict[str, SoAEntry], soa_chunks: dict[str, Chunk], control_id: str,
                  clearance: int) -> SoAEntry | None:
    """The control's SoA row, or None when there is none or its passage is above the clearance."""
    entry = soa.get(control_id)
    chunk = soa_chunks.get(control_id)
    if entry is None or chunk is None or chunk.class_rank > clearance:
        return None
    return entry


def coverage(entry: SoAEntry | None, fields: dict[str, Any]) -> str:
    """The coverage category of a control from its visible SoA row and its stored edit's fields."""
    applicable = fields.get("applicable", entry.applicable if entry else None)
    status = (fields.get("status") or (entry.status if entry else "") or "").strip()
    if entry is None and not fields:
        return "Missing from the SoA"
    if applicable is False:
        return "Excluded"
    if status.lower().startswith("partial"):
        return "Partially implemented"
    if status.lower().startswith(("implemented", "in place", "operational")):
        return "Implemented"
    return "Planned / other" if status else "Status not stated"


def control_overview(catalogue: Catalogue, soa: dict[str, SoAEntry], soa_chunks: dict[str, Chunk],
                     store: SoAStore, clearance: int) -> list[ControlOverview]:
    """Every Annex A control in catalogue order (93 rows)."""
    stored = set(store.controls())  # controls with any stored version (one query)
    rows: list[ControlOverview] = []
    for cid, control in catalogue.controls.items():
        entry = visible_entry(soa, soa_chunks, cid, clearance)
        latest = store.latest(cid) if cid in stored else None
        edited = latest is not None and latest.state != "generated"
        fields = latest.fields if latest is not None and edited else {}
        rows.append(ControlOverview(
            control_id=cid, title=control.title, theme=control.theme,
            applicable=fields.get("applicable", entry.applicable if entry else None),
            status=fields.get("status", entry.status if entry else "") or "Not stated",
            owner=fields.get("owner", entry.owner if entry else ""),
            text=latest.state if latest is not None else "generated",
            by=latest.by if latest is not None and edited else "",
            coverage=coverage(entry, fields),
        ))
    return rows
