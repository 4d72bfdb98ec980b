"""Statement of Applicability: justification drafting with citations, auditor-style checks, exports."""

from assistant.soa.checks import KINDS, CheckReport, Finding, run_checks
from assistant.soa.draft import (
    EXPORT_COLUMNS,
    REASON_CODES,
    Evidence,
    Provenance,
    SoAContext,
    SoADraft,
    draft_control,
    draft_controls,
    llm_rewrite,
    verify_justification,
)

__all__ = [
    "CheckReport", "EXPORT_COLUMNS", "Evidence", "Finding", "KINDS", "Provenance", "REASON_CODES", "SoAContext",
    "SoADraft", "draft_control", "draft_controls", "llm_rewrite", "run_checks", "verify_justification",
]
