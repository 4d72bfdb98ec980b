"""Plain types of SoA drafting, shared by drafting, checks, exports, the history store and the UI: the
draft of one control with its numbered citations, linked risks, implementing documents and provenance,
the reason codes, the export columns, and the error raised when a role may not see the registers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Reason codes (ISO 27001 6.1.3 practice).
RISK_TREATMENT = "Risk treatment"
LEGAL = "Legal/regulatory"
CONTRACTUAL = "Contractual"
BUSINESS = "Business requirement"
BEST_PRACTICE = "Best practice"
OTHER = "Other"  # a recorded management or board decision stated as the reason
REASON_CODES: tuple[str, ...] = (RISK_TREATMENT, LEGAL, CONTRACTUAL, BUSINESS, BEST_PRACTICE, OTHER)


@dataclass
class Evidence:
    """One numbered citation: a risk-register row, an SoA row, a document section, or a whole register."""

    n: int
    kind: str  # risk | soa | section | register
    source: str  # path relative to the corpus root
    section: str  # "Title > heading > ..."
    text: str  # the cited passage (or the quoted sentence for sections)
    span: str = ""
    chunk_id: str = ""
    risk_id: str = ""
    quote: str = ""  # the exact sentence the justification quotes (sections)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        return f"[{self.n}] {self.source} — {self.section}"


@dataclass
class RiskLink:
    risk_id: str
    title: str
    level: str
    score: int | None
    treatment: str
    owner: str
    status: str
    n: int  # citation number of the risk-register row

    @property
    def label(self) -> str:
        details = ", ".join(p for p in (self.level, self.treatment) if p)
        return f"{self.risk_id} {self.title}" + (f" ({details})" if details else "")


@dataclass
class DocumentLink:
    source: str
    title: str
    sections: list[str]  # headings (trail) of the cited sections
    citations: list[int]
    listed_in_soa: bool
    classification: str = ""
    review_date: str = ""
    link: str = ""  # how it was linked: SoA reference (and how the id resolved), named in the SoA, cites the control…

    @property
    def label(self) -> str:
        where = "; ".join(self.sections)
        return f"{self.source}" + (f" ({where})" if where else "") + (f" — {self.link}" if self.link else "")


@dataclass
class Provenance:
    state: str = "generated"  # generated | edited | approved
    by: str = "isms-assistant"
    at: str = ""  # ISO 8601 UTC
    generator: str = "grounded"  # grounded | llm:<model>
    evidence_ids: list[str] = field(default_factory=list)  # chunk ids and risk ids
    index_generation: int | None = None
    note: str = ""
    version: int | None = None  # the stored event this text comes from (0 = nothing stored; None = not looked up)

    @property
    def label(self) -> str:
        text = f"{self.state} {self.at} by {self.by}"
        if self.state == "generated":
            text += f" ({self.generator})"
        return text


@dataclass
class SoADraft:
    control_id: str
    title: str
    theme: str
    legacy_ids: list[str]
    applicable: bool | None
    reasons: list[str]
    status: str
    owner: str
    justification: str
    citations: list[Evidence] = field(default_factory=list)
    risks: list[RiskLink] = field(default_factory=list)
    documents: list[DocumentLink] = field(default_factory=list)
    provenance: Provenance = field(default_factory=Provenance)
    soa_justification: str = ""  # what the SoA currently says
    reason_origins: dict[str, str] = field(default_factory=dict)  # reason → "soa" | "evidence"
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.control_id} {self.title}"

    @property
    def applicability(self) -> str:
        return {True: "Applicable", False: "Excluded", None: "Not stated"}[self.applicable]

    def citation(self, n: int) -> Evidence | None:
        return next((c for c in self.citations if c.n == n), None)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["applicability"] = self.applicability
        return out

    def to_row(self) -> dict[str, str]:
        """One flat row (exports): every cell a string."""
        return {
            "Control ID": self.control_id,
            "Control title": self.title,
            "Theme": self.theme,
            "2013 ids": "; ".join(self.legacy_ids),
            "Applicability": self.applicability,
            "Reasons": "; ".join(self.reasons),
            "Implementation status": self.status,
            "Justification": self.justification,
            "Citations": "\n".join(c.label for c in self.citations),
            "Linked risks": "\n".join(r.label for r in self.risks),
            "Implementing documents": "\n".join(d.label for d in self.documents),
            "Owner": self.owner,
            "Provenance": self.provenance.label,
            "Evidence ids": "; ".join(self.provenance.evidence_ids),
            "Warnings": "\n".join(self.warnings),
        }


EXPORT_COLUMNS: tuple[str, ...] = tuple(SoADraft("", "", "", [], None, [], "", "", "").to_row())


