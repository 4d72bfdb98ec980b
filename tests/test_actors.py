"""Who acts in a unit of text: the role's own duties are kept, other teams' steps are not."""

from __future__ import annotations

import re

import pytest

from assistant.actors import RoleReader

LINE_MANAGER = RoleReader.for_role(re.compile(r"\b(?:line\s+manager(?:s|es)?)\b", re.I),
                                   ["people team", "service desk", "system owner"])


@pytest.mark.parametrize("unit", [
    "The People team records the leaving date in HiBob as soon as it is known; this raises a **Leaver** ticket for "
    "the Service Desk, Facilities and the line manager.",
    "System owners approve access to their systems (second approval after the line manager), define role-based "
    "access profiles and run access reviews on schedule.",
    "Requester | Any user or their line manager | Raises the request",
    "O6 | Tight control of access | Head of Information Security | Escalation to line managers | Ongoing",
    "**People team, as soon as the contract is signed:** create the joiner record and tell the line manager.",
])
def test_another_teams_step_is_not_the_roles_duty(unit: str) -> None:
    assert LINE_MANAGER.duty(unit, written_for_role=False) is None


@pytest.mark.parametrize(("unit", "duty"), [
    ("The Service Portal routes the request to the **line manager** for approval. The line manager approves or "
     "rejects it **within 2 working days**.", None),
    ("Security Operations runs the review campaign; system owners and line managers attest to each entitlement.",
     None),
    ("Exceptions must be approved by the Head of Engineering and the line manager.", None),
    ("Line manager | The user's line manager (sponsor for contractors) | Confirms business need",
     "Line manager: The user's line manager (sponsor for contractors); Confirms business need"),
    # the sentence about another team is cut; the role's own sentence is kept word for word
    ("The requester raises an Access Request in the Service Portal. The line manager confirms the role profile on "
     "that ticket within 2 working days.", "The line manager confirms the role profile on that ticket within 2 "
     "working days."),
])
def test_the_roles_own_duty_is_kept_verbatim(unit: str, duty: str | None) -> None:
    found = LINE_MANAGER.duty(unit, written_for_role=False)
    assert found is not None and found[0] == (duty or unit)
    assert " | " in unit or found[0] in unit  # a table row is shown as "cell: cell; cell", any other unit verbatim


def test_a_section_written_for_the_role_keeps_its_instructions() -> None:
    unit = ("Contractor accounts expire after a maximum of 90 days. The Service Portal reminds you 10 working days "
            "before expiry. If the work is continuing, raise an extension request.")
    assert LINE_MANAGER.duty(unit, written_for_role=True) == (unit, "")
    assert LINE_MANAGER.duty("Runs the access reviews and reports to the line manager.", written_for_role=False) is None


def test_a_titled_step_belongs_to_the_role_in_its_brackets() -> None:
    step = "**Review coverage (Line manager, quarterly).** Review the detection rules with the team."
    assert LINE_MANAGER.duty(step, written_for_role=False) == (step, "quarterly")
    other = "**Approval (Service Desk, December).** The plan is approved and sent to the line manager."
    assert LINE_MANAGER.duty(other, written_for_role=False) is None
