"""Control references in a register cell, in any format an organization writes them.

`5.15`, `A.5.15`, `A 5.17 A 8.5`, `Annex A 8.13`, 2013 ids (`A.9.2.5`, mapped through the catalogue),
control names, and free text ("EDR on all laptops, MFA on admin accounts, offline backups") linked by
catalogue titles and aliases with the matched words kept as evidence. Only an id-shaped reference that is
not a control is reported as unknown: free text that names no control is not an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.catalogue import Catalogue
from assistant.text import CELL_ID_2013

# An id inside a cell: optional "A", "A." or "Annex A" prefix, two or three dotted numbers.
CELL_CONTROL_REF = re.compile(
    r"(?<![\w.])(annex\s*a\s*\.?\s*|a\s*\.?\s*)?(\d{1,2}\s*\.\s*\d{1,2}(?:\s*\.\s*\d{1,2})?)(?![\w]|\.\d)", re.I)
# What may sit between ids in an id-only item ("A 5.17 A 8.5", "5.15 & 8.2", "8.1 / 8.24 and 8.5").
_CONNECTORS = re.compile(r"^(?:[\s&/+|()\-–]|and|or)*$", re.I)
ITEM_SPLIT = re.compile(r"[;,\n]+")


@dataclass
class ControlCell:
    ids: list[str] = field(default_factory=list)  # 2022 ids, in order of appearance
    legacy: list[str] = field(default_factory=list)  # 2013 ids as written
    evidence: dict[str, str] = field(default_factory=dict)  # 2022 id → words of free text that named it ("; ")
    unknown: list[str] = field(default_factory=list)  # id-shaped references that are no control
    free_text: bool = False  # an item says more than control ids or a control's title ("call-back check on …")

    def add(self, control_id: str) -> None:
        if control_id not in self.ids:
            self.ids.append(control_id)

    def add_named(self, control_id: str, words: str) -> None:
        """A control named in free text: kept with the words that named it, unless also written as an id."""
        if control_id in self.ids and control_id not in self.evidence:
            return
        phrases = self.evidence.get(control_id, "").split("; ") if control_id in self.evidence else []
        if words not in phrases:
            self.evidence[control_id] = "; ".join([*phrases, words])
        self.add(control_id)


def split_items(cell: str) -> list[str]:
    return [p.strip() for p in ITEM_SPLIT.split(cell or "") if p.strip()]


def _add_id(token: str, cell: ControlCell, catalogue: Catalogue) -> None:
    found = catalogue.lookup(token)
    if not found:
        cell.unknown.append(token.strip())
        return
    if CELL_ID_2013.match(token.strip().upper().replace(" ", "")):
        cell.legacy.append(token.strip())
    for control in found:
        cell.add(control.id)


def _free_text(item: str, cell: ControlCell, catalogue: Catalogue) -> None:
    """Prefixed ids ("A.8.13", "Annex A 8.7") and control names/aliases inside prose; bare numbers in prose
    ("TLS 1.2", ".NET 8.0.11") are not ids."""
    for m in CELL_CONTROL_REF.finditer(item):
        if m.group(1):
            _add_id(m.group(0), cell, catalogue)
    for control_id, words in catalogue.name_matches(CELL_CONTROL_REF.sub(" ", item)):
        cell.add_named(control_id, words)


def parse_control_cell(text: str, catalogue: Catalogue) -> ControlCell:
    """Every control a register cell refers to (see the module docstring)."""
    cell = ControlCell()
    for item in split_items(text):
        refs = list(CELL_CONTROL_REF.finditer(item))
        rest = CELL_CONTROL_REF.sub(" ", item)
        if refs and _CONNECTORS.match(rest):
            for m in refs:
                _add_id(m.group(0), cell, catalogue)
            continue
        whole = catalogue.lookup(item)
        if whole:  # a control title or alias written as the whole item
            for control in whole:
                cell.add_named(control.id, item)
            continue
        cell.free_text = True
        _free_text(item, cell, catalogue)
    return cell
