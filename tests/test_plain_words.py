"""Everyday words searched with the documents' words, only where the documents don't use them."""

from __future__ import annotations

from assistant.retrieval.plain_words import formal_words
from assistant.text import tokenize


def frequencies(text: str) -> dict[str, int]:
    return {token: 1 for token in tokenize(text)}


def test_an_everyday_phrase_the_documents_never_use_is_searched_in_their_words() -> None:
    documents = frequencies("USB storage devices are blocked. Removable media must be encrypted.")
    assert formal_words("can I put the files on a memory stick?", documents) == ["removable media USB"]
    assert formal_words("someone might sue us, who stops the deletion?", documents) == ["litigation legal hold"]
    assert formal_words("what sensitivity levels do we sort data into?", documents) == ["classification levels"]


def test_a_phrase_the_documents_use_themselves_adds_nothing() -> None:
    documents = frequencies("Never copy client files to a memory stick; the stick is blocked.")
    assert formal_words("can I put the files on a memory stick?", documents) == []
    assert formal_words("what is the canteen menu today?", {}) == []

