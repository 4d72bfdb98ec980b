"""Control ↔ risk ↔ SoA links of one index generation: which risks a control treats, each risk's and each
SoA row's record and chunk. Built once per generation; read by the answerer (linked risks) and the SoA
drafting and checks.

A risk is linked to a control by the risk register's control column (ids in any format, or free text
matched through control names and aliases), by the risk treatment plan's actions, and by the SoA's own
linked-risks column. Every link keeps where it came from (`RiskLink`). `risks_by_control` holds the
register side (risk register and treatment plan) and each risk in `risks` carries the controls of both,
so a risk treated only through the plan is seen as treated by that control; the SoA side stays in
`links` and in each `SoAEntry.linked_risks`, so the SoA can be checked against the registers.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.models import Chunk
from assistant.registers import RegisterResult, RiskRecord, SoAEntry

# Where a link comes from.
RISK_REGISTER = "risk_register"  # a control id (or name) in the risk register's control column
FREE_TEXT = "free_text"  # a control named in free text in the risk register's control column
TREATMENT_PLAN = "treatment_plan"  # an action of the risk treatment plan
SOA = "soa"  # the SoA's linked-risks column
REGISTER_SIDE = (RISK_REGISTER, FREE_TEXT, TREATMENT_PLAN)


@dataclass(frozen=True)
class RiskLink:
    control_id: str
    risk_id: str
    via: str  # RISK_REGISTER | FREE_TEXT | TREATMENT_PLAN | SOA
    source: str  # the register file
    row: int  # its row
    evidence: str = ""  # the matched words (free text) or the action (treatment plan)


def _register_links(registers: list[RegisterResult]) -> list[RiskLink]:
    links: list[RiskLink] = []
    for reg in registers:
        for r in reg.risks:
            for cid in r.controls:
                words = r.control_evidence.get(cid, "")
                links.append(RiskLink(cid, r.risk_id, FREE_TEXT if words else RISK_REGISTER, reg.source, r.row, words))
        for a in reg.actions:
            for cid in a.controls:
                links.append(RiskLink(cid, a.risk_id, TREATMENT_PLAN, reg.source, a.row, a.action))
        for e in reg.soa:
            for rid in e.linked_risks:
                links.append(RiskLink(e.control_id, rid, SOA, reg.source, e.row))
    return links


def _with_plan_controls(risks: dict[str, RiskRecord], links: list[RiskLink]) -> dict[str, RiskRecord]:
    """Each risk with the controls its treatment plan actions name added to its own (a copy when changed)."""
    out = dict(risks)
    for link in links:
        risk = out.get(link.risk_id)
        if link.via == TREATMENT_PLAN and risk is not None and link.control_id not in risk.controls:
            out[link.risk_id] = risk.model_copy(update={"controls": [*risk.controls, link.control_id]})
    return out


@dataclass
class Knowledge:
    """Control ↔ risk ↔ SoA ↔ document links, built once per index generation."""

    risks: dict[str, RiskRecord]
    risk_chunks: dict[str, Chunk]
    soa: dict[str, SoAEntry]
    soa_chunks: dict[str, Chunk]
    risks_by_control: dict[str, list[str]]  # register side: risk register (ids, free text) and treatment plan
    links: list[RiskLink] | None = None  # every link with its origin, the SoA's included

    @classmethod
    def build(cls, registers: list[RegisterResult], chunks: list[Chunk]) -> Knowledge:
        """From one generation's typed register records and its chunks (one chunk per register row)."""
        risks: dict[str, RiskRecord] = {}
        soa: dict[str, SoAEntry] = {}
        for reg in registers:
            for r in reg.risks:
                risks.setdefault(r.risk_id, r)
            for e in reg.soa:
                soa.setdefault(e.control_id, e)
        links = _register_links(registers)
        risks = _with_plan_controls(risks, links)
        risk_chunks = {c.risks[0]: c for c in chunks if c.kind == "risk" and c.risks}
        soa_chunks = {c.controls[0]: c for c in chunks if c.kind == "soa" and c.controls}
        by_control: dict[str, list[str]] = {}
        for link in links:
            if link.via in REGISTER_SIDE and link.risk_id in risks:
                ids = by_control.setdefault(link.control_id, [])
                if link.risk_id not in ids:
                    ids.append(link.risk_id)
        return cls(risks, risk_chunks, soa, soa_chunks, by_control, links)

    def links_for(self, control_id: str, via: tuple[str, ...] = (*REGISTER_SIDE, SOA)) -> list[RiskLink]:
        """Every link of one control (by default from every register), in register order."""
        return [link for link in self.links or [] if link.control_id == control_id and link.via in via]

    def implementing_documents(self, control_ids: list[str], max_rank: int) -> list[str]:
        """The documents the SoA names as implementing these controls (from SoA rows the clearance may see)."""
        out: list[str] = []
        for cid in control_ids:
            entry, chunk = self.soa.get(cid), self.soa_chunks.get(cid)
            if entry is None or chunk is None or chunk.class_rank > max_rank:
                continue
            out.extend(d for d in entry.documents if d not in out)
        return out

    def linked_risks(self, control_ids: list[str], max_rank: int) -> list[tuple[RiskRecord, Chunk]]:
        out: list[tuple[RiskRecord, Chunk]] = []
        for cid in control_ids:
            for rid in self.risks_by_control.get(cid, []):
                chunk = self.risk_chunks.get(rid)
                if chunk is None or chunk.class_rank > max_rank or any(r.risk_id == rid for r, _ in out):
                    continue
                out.append((self.risks[rid], chunk))
        return sorted(out, key=lambda rc: -(rc[0].score or 0))
