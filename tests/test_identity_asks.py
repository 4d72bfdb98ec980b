"""Questions that ask for a name or a contact detail ("who is our DPO?", "which company does our pen test?",
"what's the email address …?"): answered by the sentence that names the party, refused when no retrieved
sentence does (fast rules, then the sample and second organizations)."""

from __future__ import annotations

import pytest

from assistant.answer.identity import identity_ask
from assistant.service import Assistant


@pytest.mark.parametrize("question", [
    "who is our data protection officer?",
    "who's the fire warden on our floor in the London office?",
    "who's our cyber insurance provider? a customer questionnaire wants the insurer name",
    "which company does our yearly pen test?",
    "when's our next surveillance audit and which certification body are we with?",
    "whats the actual email address i send a security incident report to?",
    "what is the phone number of the out of hours line?",
    "whats the guest wifi password at the temple quay office? got a visitor coming in",
    # in other words: an adverb, "whos", a title going on after "of", "the name of", "what's X called", a possessive
    "who actually is our data protection lead, like the person's name?",
    "whos the internal audit lead these days?",
    "who actually is our head of IT & security? like their name",
    "what's the name of the company that does our confidential waste shredding?",
    "what's that text message system called that warns everyone?",
    "which umbrella body do we go through for the DBS checks?",
    "what vpn software do we use?",
    "whats raj patel's mobile number so i can ring him?",
    "what's the service desk's email address? not urgent",
    "im last one out of the leeds office tonight, whats the code to set the alarm?",
])
def test_a_question_asking_for_a_name_or_contact_is_recognised(question: str) -> None:
    assert identity_ask(question) is not None


@pytest.mark.parametrize("question", [
    "who approves access requests?",
    "who do I tell if I lose my laptop?",
    "who is responsible for backups?",
    "who is the person I should tell?",
    "who is the owner of the risk register?",  # a role question: the owner's role answers it
    "who are the members of the steering group?",
    "what's the process for leavers?",
    "what is the minimum password length?",
    "what's the password policy?",
    "what's the name of the policy that covers laptops?",  # a document's name
    "which of our suppliers hold customer data?",
    "what's the code of conduct say about gifts?",
    "what is the process for changing my phone number?",
])
def test_a_role_or_process_question_is_no_identity_question(question: str) -> None:
    assert identity_ask(question) is None


@pytest.mark.parametrize("question, sentence", [
    ("who is our data protection officer?", "Amara Nwosu is our DPO and is registered with the ICO as our contact."),
    ("who is our data protection officer?", "The Data Protection Officer (Amara Nwosu) assessed the event."),
    ("who's our cyber insurance provider?", "Hiscox, our cyber insurance provider, must be told."),
    ("who's our cyber insurance provider?", "Our cyber insurer is Hiscox."),
    ("which company does our yearly pen test?", "The annual pen test is carried out by NCC Group."),
    ("which company hosts our platform?", "Microsoft Azure hosts the platform."),
    ("which provider hosts our production systems?", "Customer data is hosted in AWS eu-west-2 (London)."),
    ("which company shreds our paper?", "The consoles are emptied by our shredding contractor, ShredSure, every week."),
    ("what's the email address for incidents?", "Report it to security@marlowfinch.co.uk straight away."),
    ("what's the phone number for the service desk?", "Service Desk: extension 4400, 0121 496 0400."),
    ("whats the guest wifi password?", "The guest wifi password is on the card at reception."),
    ("what vpn software do we use?", "| Network (VPN) | OpenVPN | | |"),
    ("whos the internal audit lead these days?", "The Internal Audit Lead (Oliver Grant) reports to the CFO."),
    ("what's the service desk's email address?", "Service Desk: extension 4400, 0121 496 0400, "
                                                 "servicedesk@marlowfinch.co.uk (07:30 to 18:00)"),
])
def test_a_sentence_naming_the_party_answers(question: str, sentence: str) -> None:
    ask = identity_ask(question)
    assert ask is not None and ask.answered_by(sentence)


@pytest.mark.parametrize("question, sentence", [
    # the role's duties, a name elsewhere in the sentence, a placeholder address
    ("who's the DPO here?", "The DPO drafts the notice, Legal Counsel approves it."),
    ("who's our cyber insurance provider?", "The Head of Information Security contacts the NCSC, and tells our cyber "
                                            "insurer, when Legal Counsel advises it."),
    ("who's our cyber insurance provider?", "Payroll data patterns (National Insurance numbers) are blocked."),
    ("who's our cyber insurance provider?", "the threat of ransomware against SaaS providers holding payroll data."),
    ("who's the fire warden on our floor?", "Fire or a power failure damages the firewall in the London comms room."),
    ("which company does our yearly pen test?", "An external penetration test is carried out every year."),
    ("which company does our yearly pen test?", "Penetration test findings are retested by the testing firm."),
    ("which certification body are we with?", "O2 | Keep certification: ISO/IEC 27001 surveillance audit"),
    ("whats the email address i send an incident report to?", "Send an email to <insert email address here>."),
    ("whats the guest wifi password?", "Passwords are at least 12 characters, unique to each system and kept in Keeper."),
    # the name the question itself uses is not the answer; a table cell that only starts with a name is no name
    ("which umbrella body do we go through for the DBS checks?", "Staff have their basic DBS check repeated every 3 "
                                                                 "years."),
    ("which company does our DBS checks?", "| Basic DBS check | People team, via our umbrella body | Everyone |"),
    # a name before the party's word is a kind of thing unless a verb and its object follow ("X hosts the platform")
    ("which recycling company picks up our old laptops?", "Your Tollgate laptop is for Tollgate work."),
    ("which certification body is doing our ISO 27001 audit?", "We keep our Cyber Essentials Plus certification."),
    # a list of such parties names none of them as the one asked for
    ("what's the name of the security firm that guards the depots?", "Our three sites: the Felixstowe port-side "
                                                                     "depot, the Daventry distribution depot."),
    # a named party's contact detail: an address of someone else, or the next party's in a contact list, is not it
    ("what's the service desk's email address?", "You can also email security@marlowfinch.co.uk, but email is for "
                                                 "things that can wait an hour or two."),
    ("what's the info security lead's direct phone number?", "Service Desk: extension 4400, 0121 496 0400, "
                                                             "servicedesk@mf.co.uk Information Security Lead: "
                                                             "security@mf.co.uk Data Protection Lead: dp@mf.co.uk"),
])
def test_a_sentence_that_names_nobody_for_the_party_does_not_answer(question: str, sentence: str) -> None:
    ask = identity_ask(question)
    assert ask is not None and not ask.answered_by(sentence)


@pytest.mark.integration
def test_who_is_our_dpo_opens_with_the_sentence_naming_her(assistant: Assistant) -> None:
    answer = assistant.ask("who's the DPO here?", llm=False)
    assert not answer.abstained
    assert answer.answer.startswith("- Amara Nwosu is our DPO")


@pytest.mark.integration
def test_a_name_in_a_later_retrieved_passage_answers(assistant: Assistant) -> None:
    """The role's own section lists duties; the sentence naming the Facilities Manager is in a later passage."""
    answer = assistant.ask("who's our facilities manager? the badge reader on our floor keeps flashing red",
                           llm=False)
    assert not answer.abstained
    assert answer.answer.startswith("- Report broken locks or badge readers to Tom Becker, the Facilities Manager.")


@pytest.mark.integration
@pytest.mark.parametrize("question", [
    "a german customer's DPO is asking for the name and address of our EU rep under article 27 GDPR - who is it?",
    "im last one out of the leeds office tonight, whats the code to set the alarm?",
    # a later passage names a tool next to the words of what the party does ("restore test (Veeam)"): not read
    "which company did this year's pen test and what did they find?",
    "who's our cyber insurance provider? a customer security questionnaire wants the insurer name",
    "who's the fire warden on our floor in the London office?",
])
def test_a_party_the_documents_never_name_is_not_covered(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question, llm=False)
    assert answer.abstained
    assert "don't cover this" in answer.answer


@pytest.mark.integration
def test_which_company_is_answered_when_the_documents_name_it(second_org: Assistant) -> None:
    answer = second_org.ask("which company hosts our platform?", llm=False)
    assert not answer.abstained
    assert "Microsoft Azure" in answer.answer
    refused = second_org.ask("which company does our yearly pen test? i want to ask them about the findings", llm=False)
    assert refused.abstained


@pytest.mark.integration
def test_a_named_partys_contact_detail_is_found_beyond_the_retrieved_passages(third_org: Assistant) -> None:
    """The passages retrieved for "the service desk's email" give the security@ address; the Service Desk's own is in
    the guide's contact list, found by its sentence vector."""
    answer = third_org.ask("what's the service desk's email address? not urgent so don't want to phone", llm=False)
    assert not answer.abstained
    assert answer.answer.startswith("- Service Desk: extension 4400, 0121 496 0400, servicedesk@marlowfinch.co.uk")
