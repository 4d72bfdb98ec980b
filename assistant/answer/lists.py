"""Lead-ins and their list items, and table rows, inside one passage's answer units: which items a lead-in
("… must include the following:") brings, which lead-in an item stands under, and a table's header row."""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.answer.units import Unit, split_units
from assistant.text import LIST_MARK, LIST_MARKER, SENTENCE_SPLIT, token_set

MAX_FOLLOWERS = 8
LEAD_IN_MAX = 80  # characters: a list item quoted alone brings a lead-in up to this long
FOLLOWER_BUDGET = 900
_MARKER = re.compile(rf"^\s*({LIST_MARKER})\s+")


def _marker(text: str) -> str:
    m = _MARKER.match(text)
    return m.group(1) if m else ""


def _number(marker: str) -> int | None:
    digits = marker.rstrip(".)")
    return int(digits) if digits.isdigit() else None


def _sibling(lead: str, other: str, previous: str = "") -> bool:
    """Is `other` an item of the lead's own level rather than one of its sub-items? ("-" / "-", "a." / "b.";
    "a." / "i." is not). Numbers: the lead's numbering continuing ("2." → "3."), unless the sub-items are
    numbered themselves and `other` continues them (the indent that said so is gone from the text)."""
    if not lead or not other:
        return False
    lead_n, other_n, previous_n = _number(lead), _number(other), _number(previous)
    if lead_n is not None and other_n is not None:
        if previous_n is not None and other_n == previous_n + 1:
            return False  # "2. ... must:" "1." "2." "3." — the sub-list goes on
        return other_n == lead_n + 1
    if lead[0].isalpha() and other[0].isalpha():
        return other[0] == lead[0] or ord(other[0]) == ord(lead[0]) + 1
    return lead[0] == other[0]


def followers(unit: Unit, chunk_units: list[Unit], wanted: frozenset[str] = frozenset()) -> list[Unit]:
    """The list items a lead-in introduces: the items right after it, up to the next item of its own level. A
    table brings its rows; when they are more than an answer holds, the rows sharing most `wanted` words."""
    text = unit.text.rstrip()
    if " | " in text:
        return _table_rows(unit, chunk_units, wanted)
    lead_marker = _marker(text) if unit.is_item else ""
    short_heading = unit.is_item and len(LIST_MARK.sub("", text)) < 60 and not text.endswith((".", "!", "?"))
    if not (text.endswith(":") or short_heading):
        return []
    out: list[Unit] = []
    size = 0
    previous = ""
    for other in chunk_units[unit.position + 1:]:
        marker = _marker(other.text)
        if not other.is_item or _sibling(lead_marker, marker, previous):
            break
        previous = marker
        if len(out) >= MAX_FOLLOWERS or size + len(other.text) > FOLLOWER_BUDGET:
            break
        out.append(other)
        size += len(other.text)
    return out


def lead_in(item: Unit, chunk_units: list[Unit], any_length: bool = False) -> Unit | None:
    """The lead-in ("… the following types of incidents:") a list item stands under, when the item is not a table
    row: the nearest unit before it, past its sibling items and their sub-items, that ends with ":". A lead-in
    longer than LEAD_IN_MAX is a statement of its own, not context the item needs; it is not added, unless
    `any_length` (the question asks for the items: the list is the answer, its lead-in says what it lists)."""
    if not item.is_item or " | " in item.text or not _marker(item.text):
        return None
    marker = _marker(item.text)
    for other in reversed(chunk_units[max(0, item.position - MAX_FOLLOWERS):item.position]):
        other_marker = _marker(other.text) if other.is_item else ""
        if other.text.rstrip().endswith(":") and not _sibling(other_marker, marker):
            if not any(f is item for f in followers(other, chunk_units)):
                return None  # "4. Within 5 days …:" then its sub-items, then "7." — 7 is not one of them
            return other if any_length or len(other.text) <= LEAD_IN_MAX else None
        if not other.is_item:
            return None
    return None


def introduces(unit: Unit, question_words: frozenset[str]) -> bool:
    """Is a lead-in unit's list wanted? Yes when the unit is the lead-in sentence alone, or when its last
    sentence (the one ending with ":") shares two words with the question."""
    parts = SENTENCE_SPLIT.split(LIST_MARK.sub("", unit.text))
    return len(parts) == 1 or len(question_words & token_set(parts[-1])) >= 2


def table_header(unit: Unit, chunk_units: list[Unit]) -> Unit:
    """The first row of the table `unit` is a row of (the unit itself when it is no table row)."""
    if " | " not in unit.text:
        return unit
    position = unit.position
    while position > 0 and " | " in chunk_units[position - 1].text:
        position -= 1
    return chunk_units[position]


def _table_rows(header: Unit, chunk_units: list[Unit], wanted: frozenset[str] = frozenset()) -> list[Unit]:
    """The rows under a table's first row (a table row that follows another row introduces nothing), in order. When
    they do not all fit, the rows that share most `wanted` words (the question's) are kept: "is there training just
    for customer success?" keeps the Customer Success row of a long training table."""
    if header.position > 0 and " | " in chunk_units[header.position - 1].text:
        return []
    rows: list[Unit] = []
    for other in chunk_units[header.position + 1:]:
        if " | " not in other.text:
            break
        rows.append(other)
    header_words = token_set(header.text)
    by_interest = sorted(rows, key=lambda r: -len(wanted & (token_set(r.text) - header_words))) if wanted else rows
    out: list[Unit] = []
    size = 0
    for row in by_interest:
        if len(out) >= MAX_FOLLOWERS or size + len(row.text) > FOLLOWER_BUDGET:
            if wanted:
                continue  # a shorter row of less interest may still fit
            break
        out.append(row)
        size += len(row.text)
    return sorted(out, key=lambda r: r.position)


def list_score(unit: Unit, chunk_units: list[Unit]) -> float:
    """How well a lead-in and its list answer a question that asks for the items: the lead-in sentence (it
    says what the list is) more than the list's best line; a table by its best row."""
    items = followers(unit, chunk_units)
    if not items:
        return 0.0
    best_item = max(f.score for f in items)
    if " | " in unit.text:
        return max(unit.score, best_item)  # a table's header row names columns, not what the table is about
    return 0.6 * unit.score + 0.4 * best_item


def items_beyond(lead: Unit, items: list[Unit],
                 passage_units: Callable[[int], list[Unit]]) -> tuple[list[Unit], list[Unit]]:
    """The items of `lead`'s list in the passages just before and after its own (`passage_units(-1 | +1)`), when
    the chunker split the list (it repeats a short lead-in at the start of the passage that continues a list): the
    earlier items when `lead` opens its passage and the passage before holds the same lead-in, the later ones when
    `items` run to the end of the passage and the next one opens with the same lead-in. A passage is read only
    when its side can continue the list."""
    earlier: list[Unit] = []
    if lead.position == 0:
        before = passage_units(-1)
        same = next((u for u in before if u.text == lead.text), None)
        earlier = followers(same, before) if same is not None else []
    later: list[Unit] = []
    if items and items[-1].position == len(split_units(lead.chunk)) - 1:
        after = passage_units(1)
        later = followers(after[0], after) if after and after[0].text == lead.text else []
    return earlier, later


def numbered_steps(item: Unit, chunk_units: list[Unit]) -> list[Unit]:
    """The numbered steps `item` is one of, in order: the items before and after it whose numbers run on from
    its own ("3." between "2." and "4."); sub-items and other lists end the run. Empty when `item` is no numbered
    step."""
    own = _number(_marker(item.text)) if item.is_item else None
    if own is None:
        return []
    run = [item]
    for step in (-1, 1):
        position, number = item.position + step, own + step
        while 0 <= position < len(chunk_units) and chunk_units[position].is_item \
                and _number(_marker(chunk_units[position].text)) == number:
            run.append(chunk_units[position])
            position, number = position + step, number + step
    return sorted(run, key=lambda u: u.position)
