"""The service facade: what the CLI, the Streamlit app and the evals call. No business logic elsewhere."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.answer.grounded import UnitVectors, abstain, compose
from assistant.answer.types import Answer
from assistant.catalogue import Catalogue, get_catalogue
from assistant.config import Settings, get_settings
from assistant.index import store
from assistant.index.collection import DenseSearch, VectorStore
from assistant.index.encoders import QueryEncoder, get_document_encoder, get_query_encoder
from assistant.index.lexical import LexicalIndex
from assistant.llm.client import LLMClient
from assistant.models import Chunk
from assistant.registers import RiskRecord, SoAEntry
from assistant.retrieval.query import Conversation, QueryAnalysis, analyse
from assistant.retrieval.search import HybridRetriever, SearchResult

if TYPE_CHECKING:
    from datetime import date

    from assistant.ingest.pipeline import IngestSummary, ProgressFn  # imported on use: `ask` never needs it
    from assistant.soa.checks import CheckReport
    from assistant.soa.draft import SoAContext, SoADraft
    from assistant.soa.store import SoAStore


class QuestionTooLong(ValueError):
    pass


@dataclass
class Knowledge:
    """Control ↔ risk ↔ SoA ↔ document links, built once per index generation."""

    risks: dict[str, RiskRecord]
    risk_chunks: dict[str, Chunk]
    soa: dict[str, SoAEntry]
    soa_chunks: dict[str, Chunk]
    risks_by_control: dict[str, list[str]]

    @classmethod
    def build(cls, generation: store.Generation) -> Knowledge:
        risks: dict[str, RiskRecord] = {}
        soa: dict[str, SoAEntry] = {}
        for reg in generation.registers:
            for r in reg.risks:
                risks.setdefault(r.risk_id, r)
            for e in reg.soa:
                soa.setdefault(e.control_id, e)
        risk_chunks = {c.risks[0]: c for c in generation.chunks if c.kind == "risk" and c.risks}
        soa_chunks = {c.controls[0]: c for c in generation.chunks if c.kind == "soa" and c.controls}
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


class LoadedIndex:
    """One index generation in memory: chunks, lexical index, Chroma collection, knowledge links."""

    def __init__(self, settings: Settings, root: Path, embedder: QueryEncoder | None = None) -> None:
        self.generation = store.load_generation(root)
        if embedder is None:  # the model this generation's documents were embedded with (ONNX when allowed)
            embedder = get_query_encoder(settings, self.generation.manifest.get("embedding_backend", "torch"))
        self.embedder = embedder
        self.vectors = VectorStore(settings, root)
        self.collection = self.vectors.open(self.generation.number)
        self.lexical = LexicalIndex(self.generation.chunks)
        self.knowledge = Knowledge.build(self.generation)
        self.unit_vectors = UnitVectors(embedder, store.gen_dir(root, self.generation.number))
        self.dense = DenseSearch(self.collection, self.generation.by_id, settings.dense_overfetch)
        self.retriever = HybridRetriever(self.dense, self.lexical, embedder, settings)


class Assistant:
    """ISMS Assistant: ingest a corpus, answer questions with citations, SoA drafting and checks."""

    def __init__(self, settings: Settings | None = None, *, corpus_dir: Path | None = None,
                 index_dir: Path | None = None) -> None:
        settings = settings or get_settings()
        updates: dict[str, Any] = {}
        if corpus_dir is not None:
            updates["corpus_dir"] = Path(corpus_dir)
        if index_dir is not None:
            updates["index_dir"] = Path(index_dir)
        self.settings = settings.model_copy(update=updates) if updates else settings
        self.catalogue: Catalogue = get_catalogue()
        self._loaded: LoadedIndex | None = None
        self._lock = threading.Lock()
        self._llm_client: LLMClient | None = None

    # ------------------------------------------------------------------ index
    @property
    def embedder(self) -> QueryEncoder:
        """The document encoder used by the ingest (torch, or int8 ONNX with ISMS_EMBEDDING_BACKEND)."""
        return get_document_encoder(self.settings)

    @property
    def query_encoder(self) -> QueryEncoder:
        """Encoder for questions and answer sentences: the one the live index uses (the local ONNX export
        when present: no torch import; else torch; see `get_query_encoder`). Ingest uses `embedder`."""
        if self.has_index():
            return self.index.embedder
        return get_query_encoder(self.settings)

    def ingest(self, corpus_dir: Path | None = None, progress: ProgressFn | None = None) -> IngestSummary:
        from assistant.ingest.pipeline import run_ingest

        summary = run_ingest(self.settings, corpus_dir or self.settings.corpus_dir, self.settings.index_dir,
                             progress=progress, embedder=self.embedder)
        with self._lock:
            self._loaded = None
        return summary

    def has_index(self) -> bool:
        return store.read_current(self.settings.index_dir) is not None

    @property
    def index(self) -> LoadedIndex:
        """The live generation; reloaded when an ingest has flipped CURRENT (never serves a stale index)."""
        current = store.read_current(self.settings.index_dir)
        with self._lock:
            if self._loaded is None or self._loaded.generation.number != current:
                self._loaded = LoadedIndex(self.settings, self.settings.index_dir)
            return self._loaded

    def status(self) -> dict[str, Any]:
        gen = self.index.generation
        m = gen.manifest
        return {
            "index": str(self.settings.index_dir), "corpus": m.get("corpus"), "generation": gen.number,
            "created": m.get("created"), "files": len(m.get("files", {})), "chunks": len(gen.chunks),
            "skipped": m.get("skipped", {}), "register_errors": m.get("register_errors", {}),
            "model": m.get("model"),
        }

    # ------------------------------------------------------------------ questions
    def clearance(self, role: str) -> int:
        return self.settings.clearance_for(role)

    def analyse(self, question: str, conversation: Conversation | None = None) -> QueryAnalysis:
        return analyse(question, self.catalogue, conversation)

    def retrieve(self, question: str, role: str | None = None, conversation: Conversation | None = None,
                 mode: str = "hybrid", top_k: int | None = None) -> tuple[QueryAnalysis, SearchResult]:
        analysis = self.analyse(question, conversation)
        result = self.index.retriever.search(analysis, self.clearance(role or self.settings.default_role),
                                             top_k=top_k, mode=mode)
        return analysis, result

    # ------------------------------------------------------------------ LLM (optional)
    @property
    def llm_client(self) -> LLMClient:
        """The one OpenAI-compatible client (also for SoA drafting), built from the settings on first use."""
        if self._llm_client is None:
            self._llm_client = LLMClient.from_settings(self.settings)
        return self._llm_client

    def use_llm(self, llm: bool | None = None) -> bool:
        """True/False forces the choice; None = the LLM answerer when an endpoint is configured."""
        return self.llm_client.config.configured if llm is None else llm

    def ask(self, question: str, role: str | None = None, conversation: Conversation | None = None,
            llm: bool | None = None) -> Answer:
        """Answer with citations. `llm`: True = LLM answerer (grounded fallback on any failure),
        False = grounded composer only, None = the LLM when an endpoint is configured."""
        answer: Answer | None = None
        for item in self._answer(question, role, conversation, llm, stream=False):
            if isinstance(item, Answer):
                answer = item
        if answer is None:  # _answer always ends with an Answer
            raise RuntimeError("no answer produced")
        return answer

    def ask_stream(self, question: str, role: str | None = None, conversation: Conversation | None = None,
                   llm: bool | None = None) -> Iterator[str | Answer]:
        """Like `ask()`, for live display: yields the LLM's text pieces as they arrive (none on the
        grounded path), then exactly one final, verified `Answer` with its citations resolved. The
        final text can differ from the streamed one (unsupported sentences removed, or a fallback):
        show `answer.answer` (and `answer.notice`) when it does."""
        yield from self._answer(question, role, conversation, llm, stream=True)

    def _answer(self, question: str, role: str | None, conversation: Conversation | None, llm: bool | None,
                stream: bool) -> Iterator[str | Answer]:
        question = question.strip()
        if not question:
            raise ValueError("empty question")
        if len(question) > self.settings.max_question_chars:
            raise QuestionTooLong(
                f"question is {len(question)} characters; the limit is {self.settings.max_question_chars} "
                "(ISMS_MAX_QUESTION_CHARS)"
            )
        role = role or self.settings.default_role
        max_rank = self.clearance(role)
        t0 = time.perf_counter()
        t = time.perf_counter()
        analysis = self.analyse(question, conversation)
        analysis_ms = (time.perf_counter() - t) * 1000
        loaded = self.index
        result = loaded.retriever.search(analysis, max_rank)
        retrieve_ms = (time.perf_counter() - t0) * 1000
        t = time.perf_counter()
        linked = loaded.knowledge.linked_risks(analysis.controls, max_rank) if result.hits else []
        if result.hits:
            answer = compose(
                analysis, result.hits, result.query_vector, loaded.unit_vectors, self.catalogue,
                linked, self.settings.abstain_weights, loaded.lexical.document_frequencies(max_rank),
            )
        else:
            answer = abstain(analysis, [])
        if self.use_llm(llm):
            from assistant.answer.llm import llm_answer

            for item in llm_answer(self.llm_client, self.catalogue, analysis, result.hits, linked, answer,
                                   conversation, stream=stream):
                if isinstance(item, Answer):
                    answer = item
                else:
                    yield item
        answer.timings_ms = {"analysis": analysis_ms, **result.timings_ms, "retrieve": retrieve_ms,
                             **answer.timings_ms, "answer": (time.perf_counter() - t) * 1000,
                             "total": (time.perf_counter() - t0) * 1000}
        if conversation is not None:
            conversation.update(question, answer.controls or analysis.controls)
        yield answer

    # ------------------------------------------------------------------ Statement of Applicability
    def soa_context(self, role: str | None = None) -> SoAContext:
        """SoA data of the live index for one role: retrieval and citations limited to its clearance."""
        from assistant.soa.draft import SoAContext

        role = role or self.settings.default_role
        clearance = self.clearance(role)

        def search(query: str, top_k: int) -> list[Chunk]:
            return [h.chunk for h in self.retrieve(query, role=role, top_k=top_k)[1].hits]

        return SoAContext.from_index(self.index, self.catalogue, clearance, search)

    def soa_store(self) -> SoAStore:
        """Edits and approvals of SoA drafts (SQLite file next to the index; survives re-ingests)."""
        from assistant.soa.store import SoAStore

        return SoAStore(self.settings.database_url or self.settings.index_dir / "soa-history.sqlite")

    def draft_soa(self, controls: list[str] | None = None, role: str | None = None, *, llm: bool | None = None,
                  history: bool = True) -> list[SoADraft]:
        """SoA drafts (all 93 controls when `controls` is empty; ids, 2013 ids or names; unknown → ValueError).
        Grounded with citations; rewritten by the LLM when one is configured (or `llm=True`) and its text
        passes verification; stored edits/approvals overlaid when `history`."""
        from assistant.soa.draft import draft_controls, llm_rewrite

        ctx = self.soa_context(role)
        drafts = draft_controls(ctx, controls)
        if self.use_llm(llm):
            drafts = [llm_rewrite(ctx, d, self.llm_client) for d in drafts]
        if history and (self.settings.index_dir / "soa-history.sqlite").exists():
            soa_store = self.soa_store()
            drafts = [soa_store.apply(d) for d in drafts]
        return drafts

    def check_soa(self, role: str | None = None, *, as_of: date | None = None) -> CheckReport:
        """Auditor-style findings on the SoA, risk register and documents (evidence within the role's clearance)."""
        from assistant.soa.checks import run_checks

        return run_checks(self.soa_context(role), as_of=as_of)
