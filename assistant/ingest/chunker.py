"""Structure-aware chunking: sections keep their heading trail; list items and numbered steps stay whole
and stay with their heading."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.ingest.loaders import Block
from assistant.text import CHUNK_SENTENCE_SPLIT


@dataclass
class Section:
    trail: list[str]  # headings from the top, excluding the document title when it is the first heading
    blocks: list[Block]


@dataclass
class ChunkDraft:
    trail: list[str]
    text: str
    start: int
    end: int


def build_sections(blocks: list[Block], title: str) -> list[Section]:
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    current: list[Block] = []

    def close() -> None:
        if current:
            sections.append(Section(trail=[t for _, t in stack], blocks=list(current)))
            current.clear()

    for block in blocks:
        if block.kind == "heading":
            close()
            if block.text.strip() == title.strip() and not stack:
                continue  # the document title heading adds nothing to the trail
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, block.text.strip()))
        else:
            current.append(block)
    close()
    return sections


def split_long_text(text: str, limit: int) -> list[str]:
    """Split an over-long paragraph at sentence ends, then hard-wrap what is still too long."""
    pieces: list[str] = []
    buf = ""
    for sentence in CHUNK_SENTENCE_SPLIT.split(text):
        start = 0  # walk an over-long sentence by offset (re-slicing the rest was quadratic on 10 MB lines)
        while len(sentence) - start > limit:
            piece = sentence[start:start + limit]
            pieces.append((buf + " " + piece).strip() if buf else piece)
            buf = ""
            start += limit
        sentence = sentence[start:]
        if buf and len(buf) + len(sentence) + 1 > limit:
            pieces.append(buf)
            buf = sentence
        else:
            buf = f"{buf} {sentence}".strip()
    if buf:
        pieces.append(buf)
    return pieces


def chunk_sections(sections: list[Section], limit: int) -> list[ChunkDraft]:
    """Pack each section's blocks into chunks of at most ~`limit` characters, never across sections.

    A list keeps its lead-in line: a list that fits in one chunk moves there whole with its lead-in (text
    or a list item ending with ":"); a longer one is split, and each later chunk repeats a short lead-in
    paragraph so numbered steps are never cut from their context.
    """
    chunks: list[ChunkDraft] = []
    for section in sections:
        units: list[Block] = []
        for block in section.blocks:
            if len(block.text) > limit:
                units.extend(Block(block.kind, part, block.start, block.end) for part in split_long_text(block.text, limit))
            else:
                units.append(block)
        buf: list[Block] = []
        lead: Block | None = None
        lead_at: int | None = None  # where in `buf` the lead-in of the list being filled sits
        size = 0
        for unit in units:
            if buf and size + len(unit.text) + 1 > limit:
                kept = sum(len(b.text) + 1 for b in buf[lead_at:]) if lead_at else 0
                if unit.kind == "item" and lead_at and kept + len(unit.text) + 1 <= limit:
                    # the list would be cut from its lead-in: the lead-in and its items move to the next chunk
                    chunks.append(_make_chunk(section.trail, buf[:lead_at]))
                    buf, size, lead_at = buf[lead_at:], kept, 0
                else:
                    chunks.append(_make_chunk(section.trail, buf))
                    buf = [lead] if lead is not None and unit.kind == "item" and len(lead.text) < limit // 4 else []
                    size = sum(len(b.text) + 1 for b in buf)
                    lead_at = 0 if buf else None
            if unit.text.rstrip().endswith(":"):
                lead, lead_at = unit, len(buf)
            elif unit.kind != "item":
                lead, lead_at = None, None
            buf.append(unit)
            size += len(unit.text) + 1
        if buf:
            chunks.append(_make_chunk(section.trail, buf))
    return chunks


def _make_chunk(trail: list[str], blocks: list[Block]) -> ChunkDraft:
    return ChunkDraft(
        trail=list(trail),
        text="\n".join(b.text for b in blocks),
        start=min(b.start for b in blocks),
        end=max(b.end for b in blocks),
    )
