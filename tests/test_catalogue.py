"""Catalogue lookups: all 93 ids, 2013 ids, names, aliases, tolerance to case and punctuation."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from assistant.catalogue import get_catalogue

REFERENCE = Path(__file__).resolve().parents[1] / "assistant" / "data" / "iso27001_2022_annex_a.csv"


def reference_rows() -> list[dict[str, str]]:
    with open(REFERENCE, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_catalogue_has_93_controls_in_four_themes() -> None:
    cat = get_catalogue()
    assert len(cat) == 93
    themes = {c.theme for c in cat.controls.values()}
    assert themes == {"Organizational", "People", "Physical", "Technological"}
    assert sum(c.theme == "Technological" for c in cat.controls.values()) == 34
    assert len(cat.clauses) == 41 and cat.clauses["6.1.3"].title == "Information security risk treatment"


@pytest.mark.parametrize("row", reference_rows(), ids=lambda r: r["id"])
def test_every_control_resolves_by_id_prefix_and_title(row: dict[str, str]) -> None:
    cat = get_catalogue()
    cid = row["id"]
    for form in (cid, f"A.{cid}", f"Annex A {cid}", f"a.{cid}", f" {cid} "):
        assert [c.id for c in cat.lookup(form)] == [cid], form
    assert cat.lookup(row["title"])[0].id == cid
    assert cat.lookup(row["title"].upper().replace(" ", "-"))[0].id == cid


@pytest.mark.parametrize(
    "legacy, expected",
    [("A.9.2.5", "5.18"), ("a.9.2.6", "5.18"), ("9.4.2", "8.5"), ("A.12.3.1", "8.13"), ("A.12.4.1", "8.15"),
     ("A.5.1.1", "5.1"), ("A.18.1.4", "5.34"), ("A.14.2.2", "8.32")],
)
def test_2013_ids_map_to_2022(legacy: str, expected: str) -> None:
    assert expected in [c.id for c in get_catalogue().lookup(legacy)]


@pytest.mark.parametrize(
    "alias, expected",
    [("MFA", "8.5"), ("multi-factor authentication", "8.5"), ("joiners movers leavers", "5.18"),
     ("Joiners, movers & leavers", "5.18"), ("DLP", "8.12"), ("backups", "8.13"), ("CCTV", "7.4"),
     ("pen test", "8.29"), ("change management", "8.32"), ("GDPR", "5.34"), ("threat intel", "5.7")],
)
def test_aliases(alias: str, expected: str) -> None:
    assert get_catalogue().lookup(alias)[0].id == expected


@pytest.mark.parametrize("bad", ["5.99", "A.9.9.9", "9.1", "4.38", "", "banana", "8.35"])
def test_unknown_ids_resolve_to_nothing_and_resolve_raises(bad: str) -> None:
    cat = get_catalogue()
    assert cat.lookup(bad) == []
    with pytest.raises(ValueError, match="unknown control"):
        cat.resolve(bad)


def test_every_2013_id_in_reference_maps_back() -> None:
    cat = get_catalogue()
    for row in reference_rows():
        for legacy in filter(None, row["iso27001_2013_ids"].split(";")):
            assert row["id"] in [c.id for c in cat.from_legacy(legacy)]


def test_search_names_finds_titles_in_free_text() -> None:
    cat = get_catalogue()
    found = cat.search_names("How do we do information backup and clock synchronization here?")
    assert "8.13" in found and "8.17" in found
