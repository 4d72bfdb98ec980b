"""The SoA workbench's writes and downloads: a person's edit of a draft is verified, then stored (and
approved when asked) with who and when; the drafts shown become XLSX, CSV and Markdown files."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from assistant.catalogue import Catalogue
from assistant.errors import SoAConflict
from assistant.soa.export import to_csv, to_markdown, write_xlsx
from assistant.soa.store import SoAStore
from assistant.soa.types import SoADraft
from assistant.soa.verify import verify_justification

APPLICABILITY: dict[str, bool | None] = {"Applicable": True, "Excluded": False, "Not stated": None}


@dataclass(frozen=True)
class SoAEdit:
    """What a person set on the workbench form for one control."""

    justification: str
    applicability: str  # Applicable | Excluded | Not stated
    status: str
    owner: str
    reasons: list[str]
    note: str = ""  # for the history

    def changes(self, draft: SoADraft) -> bool:
        return (self.justification.strip() != draft.justification.strip() or self.applicability != draft.applicability
                or self.status != draft.status or self.reasons != draft.reasons or self.owner != draft.owner)


def save_edit(store: SoAStore, catalogue: Catalogue, draft: SoADraft, edit: SoAEdit, by: str, *,
              approve: bool = False) -> list[str]:
    """Store `edit` of `draft` when it changes anything and, with `approve`, approve the text as shown (the
    generated draft is stored first when nothing was stored yet). Returns what verification found wrong
    with the edited text: stored anyway, the person decides. ValueError (nothing stored) when the store
    refuses, e.g. an empty text or a version that changed since it was read."""
    changed = edit.changes(draft)
    problems = verify_justification(edit.justification, draft, catalogue) if changed else []
    seen = draft.provenance.version  # the stored event the person read (0 = none); None = not looked up
    if changed:
        fields = {"applicable": APPLICABILITY.get(edit.applicability), "reasons": edit.reasons,
                  "status": edit.status.strip(), "owner": edit.owner.strip()}
        version = store.save_edit(draft.control_id, edit.justification, by, fields=fields,
                                  evidence_ids=draft.provenance.evidence_ids, note=edit.note,
                                  expected_version=seen)  # SoAConflict when someone changed it since
    else:
        version = store.latest(draft.control_id)
        if version is not None and seen is not None and version.id != seen:
            raise SoAConflict(f"{draft.control_id} was changed by {version.by} at {version.at} since you opened "
                              "it; nothing was saved. Reload the control and re-read it first.")
        if version is None:
            version = store.record_generated(draft)
    if approve:
        store.approve(draft.control_id, by, version=version.id, note=edit.note)
    return problems


def export_files(drafts: list[SoADraft]) -> dict[str, bytes]:
    """The drafts as downloads: {"xlsx": …, "csv": …, "md": …}."""
    with tempfile.TemporaryDirectory() as tmp:
        xlsx = Path(write_xlsx(drafts, Path(tmp) / "soa.xlsx")).read_bytes()
    return {"xlsx": xlsx, "csv": to_csv(drafts).encode("utf-8"), "md": to_markdown(drafts).encode("utf-8")}
