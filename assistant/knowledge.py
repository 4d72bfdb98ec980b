"""Control ↔ risk ↔ SoA links of one index generation: which risks list a control, each risk's and each
SoA row's record and chunk. Built once per generation; read by the answerer (linked risks) and the SoA
drafting and checks."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.models import Chunk
from assistant.registers import RegisterResult, RiskRecord, SoAEntry


@dataclass
class Knowledge:
    """Control ↔ risk ↔ SoA ↔ document links, built once per index generation."""

    risks: dict[str, RiskRecord]
    risk_chunks: dict[str, Chunk]
    soa: dict[str, SoAEntry]
    soa_chunks: dict[str, Chunk]
    risks_by_control: dict[str, list[str]]

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
        risk_chunks = {c.risks[0]: c for c in chunks if c.kind == "risk" and c.risks}
        soa_chunks = {c.controls[0]: c for c in chunks if c.kind == "soa" and c.controls}
        by_control: dict[str, list[str]] = {}
        for r in risks.values():
            for cid in r.controls:
                by_control.setdefault(cid, []).append(r.risk_id)
        return cls(risks, risk_chunks, soa, soa_chunks, by_control)

    def linked_risks(self, control_ids: list[str], max_rank: int) -> list[tuple[RiskRecord, Chunk]]:
        out: list[tuple[RiskRecord, Chunk]] = []
        for cid in control_ids:
            for rid in self.risks_by_control.get(cid, []):
                chunk = self.risk_chunks.get(rid)
                if chunk is None or chunk.class_rank > max_rank or any(r.risk_id == rid for r, _ in out):
                    continue
                out.append((self.risks[rid], chunk))
        return sorted(out, key=lambda rc: -(rc[0].score or 0))
