"""Statement of Applicability: justification drafting with citations, auditor-style checks, exports."""
