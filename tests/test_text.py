"""Text rules (assistant/text.py): control and risk ids, sentence and list-item splitting, tokenize.

The examples are real lines of the sample corpus (each is checked to still be in its document)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.text import (
    ABOUT_DOCUMENT,
    ANSWER_BULLET,
    ANSWER_ID_BARE,
    ANSWER_ID_EXPLICIT,
    ANSWER_SENTENCE_END,
    CHUNK_SENTENCE_SPLIT,
    CLAUSE_CONTEXT,
    CONTROL_ID_2013,
    CONTROL_ID_2022,
    LIST_ITEM_LINE,
    LIST_MARK,
    LOOKUP_ID_2013,
    LOOKUP_ID_2022,
    QUESTION_ID_2013,
    QUESTION_ID_2013_BLANK,
    QUESTION_ID_2022,
    REGISTER_RISK_ID,
    RISK_ID,
    SENTENCE_SPLIT,
    closest_word,
    contains_id,
    passage_units,
    sentences,
    stem,
    token_set,
    tokenize,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def from_corpus(path: str, text: str) -> str:
    assert text in (CORPUS / path).read_text(encoding="utf-8"), f"{text[:40]!r} is no longer in {path}"
    return text


LEGAL = from_corpus(
    "governance/legal-regulatory-contractual-requirements.md",
    "It supports Annex A 5.31 (legal, statutory, regulatory and contractual requirements), 5.32 (intellectual "
    "property rights), 5.33 (protection of records) and 5.34 (privacy and protection of PII).")
AUDIT = from_corpus(
    "governance/internal-audit-procedure.md",
    "The procedure also covers independent review of information security (A.18.2.1 in the 2013 numbering, "
    "now 5.35) and protection of systems during audit testing (A.12.7.1, now 8.34).")
CLAUSE = from_corpus(
    "governance/document-control-procedure.md",
    "It covers the documented information required by ISO/IEC 27001:2022 clause 7.5.")
RISKS = from_corpus(
    "governance/risk-assessment-methodology.md", "Each risk has an id (R-001, R-002, ...), a description")
CRYPTO = from_corpus("policies/cryptography-policy.md", "| Symmetric encryption | AES-256 (GCM preferred) |")
PRIVILEGED = from_corpus(
    "procedures/privileged-access-procedure.md",
    "Privileged access means any access that can administer a system, change its security settings or read "
    "data across customer tenants. It includes:\n\n"
    "1. AWS production, staging and DR accounts (administrator, database and key administration permission sets);\n"
    "2. Okta super and org administrators;\n")
REVIEWS = from_corpus(
    "registers/risk-register.csv",
    "Quarterly and six-monthly access reviews may not catch this for several months.")


# ---------------------------------------------------------------------------------------------- control ids
@pytest.mark.parametrize("written", ["5.15", "A.5.15", "Annex A 5.15", "A 5.15", "a.5.15"])
def test_the_readme_forms_of_a_2022_id_are_read_in_documents_and_questions(written: str) -> None:
    sentence = f"Access rights follow {written} and are reviewed."
    assert CONTROL_ID_2022.findall(sentence) == [("5", "15")]
    assert QUESTION_ID_2022.findall(sentence) == [("5", "15")]
    assert LOOKUP_ID_2022.match(written.lower().replace(" ", "").replace("annexa", "")).groups() == ("5", "15")


def test_ids_in_a_corpus_sentence() -> None:
    assert CONTROL_ID_2022.findall(LEGAL) == [("5", "31"), ("5", "32"), ("5", "33"), ("5", "34")]
    assert CONTROL_ID_2022.search(LEGAL).group(0) == "Annex A 5.31"


def test_2013_ids_and_the_2022_ids_beside_them() -> None:
    assert CONTROL_ID_2013.findall(AUDIT) == [("18", "2", "1"), ("12", "7", "1")]
    assert CONTROL_ID_2022.findall(CONTROL_ID_2013.sub(" ", AUDIT)) == [("5", "35"), ("8", "34")]
    assert CONTROL_ID_2022.findall(AUDIT) == [("5", "35"), ("8", "34")]  # never a piece of "A.12.7.1"
    assert LOOKUP_ID_2013.match("a.18.2.1").groups() == ("18", "2", "1")


def test_a_clause_number_is_recognised_by_the_words_before_it() -> None:
    m = CONTROL_ID_2022.search(CLAUSE)
    assert m is not None and m.group(0) == "7.5"
    assert CLAUSE_CONTEXT.search(CLAUSE[:m.start()])
    assert not CLAUSE_CONTEXT.search(LEGAL[:LEGAL.index("5.32")])


def test_questions_are_read_more_tolerantly_than_documents() -> None:
    assert QUESTION_ID_2013.findall("what replaced 9.2.5?") == [("9", "2", "5")]
    assert CONTROL_ID_2013.findall("what replaced 9.2.5?") == []  # in a document, "9.2.5" is a section
    assert QUESTION_ID_2022.search("AnnexA5.15").group(0) == "AnnexA5.15"
    assert CONTROL_ID_2022.search("AnnexA5.15") is None
    assert QUESTION_ID_2022.search("A .5.15") is None and CONTROL_ID_2022.search("A .5.15")
    # the blanking pattern has no look-ahead (kept as it was: it also blanks the start of a longer number)
    assert QUESTION_ID_2013.findall("1.2.345") == [] and QUESTION_ID_2013_BLANK.sub(" ", "1.2.345") == " 5"


def test_answer_ids_explicit_and_bare() -> None:
    text = "Reviews follow control 5.18 and 5.15; A.9.9 is not a control; the fee is £5.50 or 5.5%."
    assert ANSWER_ID_EXPLICIT.findall(text) == [("5", "18", ""), ("9", "9", "")]
    assert ANSWER_ID_BARE.findall(ANSWER_ID_EXPLICIT.sub(" ", text)) == [("5", "15")]


def test_contains_id_needs_whole_ids() -> None:
    assert contains_id("5.35", AUDIT)
    assert contains_id("8.34", AUDIT)
    # after "A." the dot reads as part of a longer id: answer/verify.py finds prefixed ids with
    # ingest/metadata.py `detect_controls` instead
    assert not contains_id("18.2.1", AUDIT)
    assert not contains_id("5.3", AUDIT)  # not inside 5.35
    assert not contains_id("2.1", AUDIT)  # not inside 18.2.1


# ---------------------------------------------------------------------------------------------- risk ids
def test_risk_ids_in_text_and_in_register_cells() -> None:
    assert RISK_ID.findall(RISKS) == ["R-001", "R-002"]
    assert RISK_ID.findall(CRYPTO) == []
    assert REGISTER_RISK_ID.fullmatch("RSK-01") and REGISTER_RISK_ID.fullmatch("R-001")
    assert not RISK_ID.fullmatch("RSK-01")
    assert REGISTER_RISK_ID.findall(CRYPTO) == ["AES-256"]  # why free text keeps the strict form


# ---------------------------------------------------------------------------------------------- splitting
def test_a_list_with_its_lead_in_line_splits_into_sentences_and_whole_items() -> None:
    chunk_text = "\n".join(line for line in PRIVILEGED.split("\n") if line.strip())  # as the chunker joins blocks
    assert passage_units(chunk_text) == [
        ("Privileged access means any access that can administer a system, change its security settings or "
         "read data across customer tenants.", False),
        ("It includes:", False),
        ("1. AWS production, staging and DR accounts (administrator, database and key administration "
         "permission sets);", True),
        ("2. Okta super and org administrators;", True),
    ]
    assert passage_units(chunk_text, whole_lines=True)[0] == (chunk_text.split("\n")[0], True)
    assert [bool(LIST_ITEM_LINE.match(line)) for line in PRIVILEGED.split("\n") if line] == [False, True, True]
    assert LIST_MARK.sub("", "2. Okta super and org administrators;") == "Okta super and org administrators;"


def test_table_rows_are_one_unit_and_short_pieces_are_dropped() -> None:
    assert passage_units(CRYPTO) == [(CRYPTO, True)]
    assert sentences("Yes. Keys are rotated every year.") == ["Keys are rotated every year."]


def test_the_sentence_splitters_differ_only_where_documented() -> None:
    text = "Backups run daily. 30 days of copies are kept. “Restores” are tested."
    assert SENTENCE_SPLIT.split(text) == ["Backups run daily. 30 days of copies are kept. “Restores” are tested."]
    assert CHUNK_SENTENCE_SPLIT.split(text) == ["Backups run daily.", "30 days of copies are kept. “Restores” are tested."]


def test_llm_answer_lines_split_after_their_citations() -> None:
    line = "Access is reviewed quarterly [1, 2]. Leavers are removed within 5 working days [3]."
    ends = [m.end() for m in ANSWER_SENTENCE_END.finditer(line)]
    assert [line[:ends[0]], line[ends[0]:].strip()] == [
        "Access is reviewed quarterly [1, 2].", "Leavers are removed within 5 working days [3]."]
    assert ANSWER_BULLET.match("- Access is reviewed [1]") and not ANSWER_BULLET.match("a) Access is reviewed")


# ---------------------------------------------------------------------------------------------- tokenizing
def test_tokenize_a_corpus_sentence() -> None:
    assert tokenize(REVIEWS) == ["quarter", "six-monthly", "six", "month", "access", "review", "catch",
                                 "several", "month"]
    assert token_set(REVIEWS) == frozenset(tokenize(REVIEWS))


def test_tokenize_keeps_ids_whole_and_stems_words() -> None:
    # an id is one token plus its parts (the stop word "a" dropped); a plain number is not split
    assert tokenize("See A.5.15 and 8.2") == ["see", "a.5.15", "5", "15", "8.2"]
    assert [stem(w) for w in ("reviews", "reviewed", "reviewing", "policies", "access")] == [
        "review", "review", "review", "policy", "access"]
    # "-ly" is an adverb's ending only: "monthly" is "month", but "apply" is not "app" (an app) nor "reply" "rep"
    assert [stem(w) for w in ("monthly", "immediately", "apply", "reply", "supply", "daily", "assembly")] == [
        "month", "immediate", "apply", "reply", "supply", "daily", "assembly"]


def test_a_mistyped_word_stands_for_the_corpus_word_it_is_closest_to() -> None:
    vocabulary = {"password", "passport", "length", "minimum", "okta"}
    assert [closest_word(w, vocabulary) for w in ("pasword", "lenght", "minimun")] == ["password", "length", "minimum"]
    assert closest_word("password", vocabulary) is None  # known
    assert closest_word("otka", vocabulary) is None  # too short to guess
    assert closest_word("banana", vocabulary) is None  # nothing close
    # a real word one letter from a document word is no typo: "doctor's note" must not search for "door"
    documents = {"door", "confidence", "partial", "change", "threat", "staff", "send", "patent", "charge",
                 "inventory", "coordinat"}
    for word in ("doctor", "conference", "parental", "thread", "stuff", "spend", "parent"):
        assert closest_word(word, documents) is None, word
    assert closest_word("inventroy", documents) == "inventory"  # two letters swapped
    # the stemmer's forms of one word: "charged" → "charg", "coordinates" → "coordinate"
    assert closest_word("charg", documents) == "charge" and closest_word("coordinate", documents) == "coordinat"
    assert tokenize("whats the minimum, and dont I need it?") == ["minimum", "need"]  # typed without apostrophes


def test_lexical_search_forgives_a_typo_in_the_question() -> None:
    from assistant.index.lexical import LexicalIndex
    from assistant.models import Chunk

    text = (CORPUS / "standards" / "authentication-and-password-standard.md").read_text(encoding="utf-8")
    rule = next(line for line in text.splitlines() if "**14 characters**" in line)  # "Passwords must be at least …"
    chunks = [Chunk(id=str(i), source="s.md", title="T", doc_type="standard", trail=[], text=part, start=1, end=1,
                    span_unit="line", classification="internal", class_rank=0)
              for i, part in enumerate([rule, "Laptops lock after 5 minutes of inactivity.",
                                        "Visitors sign in at reception."])]
    index = LexicalIndex(chunks)
    found = index.search("minimum pasword lenght", max_rank=0, k=3)
    assert [chunk.id for chunk, _ in found] == ["0"]
    assert index.corrected("pasword", 0) == "password"  # the correction the question's words are read with too


def test_a_typo_is_never_corrected_to_a_word_only_a_hidden_document_uses() -> None:
    from assistant.index.lexical import LexicalIndex
    from assistant.models import Chunk

    def chunk(i: str, text: str, rank: int) -> Chunk:
        return Chunk(id=i, source=f"{i}.md", title="T", doc_type="record", trail=[], text=text, start=1, end=1,
                     span_unit="line", classification="restricted" if rank else "internal", class_rank=rank)

    index = LexicalIndex([chunk("a", "Visitors sign in at reception.", 0),
                          chunk("b", "Operation Bluebell: the hearing is set for March.", 3)])
    assert index.corrected("bluebel", 0) == "bluebel"  # staff: no hint that the word exists
    assert index.corrected("bluebel", 3) == "bluebell"


@pytest.mark.parametrize(("sentence", "about"), [
    ("This procedure explains how Halden Analytics finds technical vulnerabilities, rates them, fixes them within "
     "set times, and protects its systems against malware.", True),
    ("This data classification policy defines the requirements to ensure that information is protected.", True),
    ("This guide is for anyone who has just become a line manager at Halden Analytics.", True),
    ("The purpose of this policy is to set the rules for remote work.", True),
    ("Line managers make sure their team understands this policy.", False),
    ("Exceptions to this policy are approved by the Head of Information Security.", False),
    ("It covers Annex A 8.15 Logging, 8.16 Monitoring activities and 8.17 Clock synchronisation.", True),
    ("It covers all company laptops and phones.", False),
    ("Suppliers handling customer data must be ISO 27001 certified.", False),
])
def test_a_sentence_about_the_document_itself(sentence: str, about: bool) -> None:
    assert bool(ABOUT_DOCUMENT.search(sentence)) is about
