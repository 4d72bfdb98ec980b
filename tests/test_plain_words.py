"""Everyday words searched with the documents' words, only where the documents don't use them."""

from __future__ import annotations

from assistant.index.lexical import LexicalIndex
from assistant.models import Chunk
from assistant.retrieval.plain_words import formal_words
from assistant.text import tokenize


def frequencies(text: str) -> dict[str, int]:
    return {token: 1 for token in tokenize(text)}


def test_an_everyday_phrase_the_documents_never_use_is_searched_in_their_words() -> None:
    documents = frequencies("USB storage devices are blocked. Removable media must be encrypted.")
    assert formal_words("can I put the files on a memory stick?", documents) == ["removable media USB"]
    assert formal_words("someone might sue us, who stops the deletion?", documents) == ["litigation legal hold"]
    assert formal_words("what sensitivity levels do we sort data into?", documents) == ["classification levels"]
    # "binned" is how people say deleted: "any request to delete a customs record early is referred to …"
    assert formal_words("a customer wants theirs binned early, who do i send that to?", documents) == [
        "disposal deletion wipe"]
    # "left my phone on the train" is how people say they lost it; "left the door open" is not
    assert "lost stolen" in formal_words("I left my work phone on the train, what now?", documents)
    assert "lost stolen" not in formal_words("someone left the door open at the depot", documents)


def test_someone_who_left_on_a_day_is_a_leaver_not_a_lost_thing() -> None:
    documents = frequencies("Laptops must never be left unattended. Access is revoked on termination.")
    leaver = "leaver termination offboarding revoke access"
    assert leaver in formal_words("my report left on friday - what happens to their mailbox?", documents)
    assert leaver in formal_words("someone on my team has left the company, who removes their access?", documents)
    # a thing left somewhere is lost, and a thing "left unattended" is still ours: neither is a leaver
    assert leaver not in formal_words("I left my work phone on the train, what now?", documents)
    assert leaver not in formal_words("can a laptop be left unattended in the car?", documents)


def test_an_idiom_is_judged_as_a_whole_not_by_the_word_its_particle_leaves() -> None:
    # the tokenizer keeps "finish" of "finishing up" and "switch" of "switched off"; documents that "finish the
    # goods-in" or have MFA "switched on" do not speak of leavers or disabled accounts
    documents = frequencies("Finish the goods-in first. MFA is switched on for every account.")
    found = formal_words("one of my team is finishing up on friday, when is their login switched off?", documents)
    assert "leaver termination offboarding revoke access" in found and "disabled revoked" in found
    # a phrase whose dropped word is no particle is still judged by its words: the documents say "allowed"
    assert formal_words("who is allowed to approve it?", frequencies("Nobody is allowed to share a password.")) == []


def test_a_phrase_the_documents_use_themselves_adds_nothing() -> None:
    documents = frequencies("Never copy client files to a memory stick; the stick is blocked.")
    assert formal_words("can I put the files on a memory stick?", documents) == []
    assert formal_words("what is the canteen menu today?", {}) == []



def test_words_the_documents_use_but_never_as_that_phrase_are_searched_in_their_words() -> None:
    chunk = Chunk(id="1", source="p.md", title="Privacy", doc_type="policy", trail=[], start=1, end=1,
                  text="Keep a copy of the contract. Everything Halden holds is classified. The DPO holds the key.",
                  span_unit="line", classification="internal", class_rank=0)
    lexical = LexicalIndex([chunk])
    documents = lexical.document_frequencies(0)[0]
    question = "if I ask for a copy of everything halden holds on me, how long do they get to reply?"
    assert formal_words(question, documents) == []  # each word is in the documents
    assert formal_words(question, documents, lambda tokens: lexical.uses_phrase(tokens, 0)) == [
        "subject access request"]  # but never "copy of everything … holds on me"
    assert lexical.uses_phrase(tokenize("a copy of the contract"), 0)
