"""The service facade: what the CLI, the Streamlit app and the evals call. No business logic elsewhere."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.answer.grounded import UnitVectors, abstain, compose
from assistant.answer.register_lists import register_list_answer
from assistant.answer.types import Answer
from assistant.catalogue import Catalogue, get_catalogue
from assistant.config import Settings, classification_rank, get_settings
from assistant.errors import QuestionTooLong
from assistant.index import store
from assistant.index.collection import DenseSearch, VectorStore
from assistant.index.encoders import QueryEncoder, get_document_encoder, get_query_encoder
from assistant.index.lexical import LexicalIndex
from assistant.knowledge import Knowledge
from assistant.llm.client import LLMClient
from assistant.models import Chunk
from assistant.registers import RiskRecord
from assistant.retrieval.plain_words import formal_words
from assistant.retrieval.query import Conversation, QueryAnalysis, analyse, may_continue
from assistant.retrieval.search import HybridRetriever, SearchResult
from assistant.service_people import PeopleOperations

if TYPE_CHECKING:
    from datetime import date

    from assistant.ingest.pipeline import IngestSummary, ProgressFn  # imported on use: `ask` never needs it
    from assistant.soa.checks import CheckReport
    from assistant.soa.context import SoAContext
    from assistant.soa.store import SoAStore
    from assistant.soa.types import SoADraft

if TYPE_CHECKING:  # the app's operations (end of `Assistant`)
    from collections.abc import Sequence

    from assistant.catalogue import Control
    from assistant.documents import DocumentView, IndexedDocument
    from assistant.models import Responsibilities
    from assistant.responsibilities import Library, ProcessSection
    from assistant.soa.overview import ControlOverview
    from assistant.soa.store import SoAEvent
    from assistant.uploads import SavedUpload


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
        self.knowledge = Knowledge.build(self.generation.registers, self.generation.chunks)
        self.unit_vectors = UnitVectors(embedder, store.gen_dir(root, self.generation.number))
        self.dense = DenseSearch(self.collection, self.generation.by_id, settings.dense_overfetch)
        self.retriever = HybridRetriever(self.dense, self.lexical, embedder, settings)


class Assistant(PeopleOperations):
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
        # generated SoA drafts per (index generation, role, LLM on/off, day); stored edits are overlaid on copies
        self._draft_cache: dict[tuple[int, str, str], dict[str, SoADraft]] = {}

    def warm(self) -> None:
        """Load now what the first page and the first question would wait for: the index, the question
        encoder and the lexical model of each role's clearance."""
        if not self.has_index():
            return
        self.query_encoder.encode_query("warm up")
        for rank in sorted({self.clearance(role) for role in self.settings.roles}):
            self.index.lexical.search("warm up", rank, 1)

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

    def status(self, role: str | None = None) -> dict[str, Any]:
        """The index's state. With a role, every count is of what that role may see (how many documents lie
        above a clearance is itself information), and skipped files and register problems only for admins."""
        gen = self.index.generation
        m = gen.manifest
        files = m.get("files", {})
        skipped, register_errors = m.get("skipped", {}), m.get("register_errors", {})
        chunks = len(gen.chunks)
        if role is not None:
            from assistant.documents import visible_documents

            clearance = self.clearance(role)
            files = {d.source: files[d.source] for d in visible_documents(files, clearance)}
            chunks = sum(1 for c in gen.chunks if c.class_rank <= clearance)
            if not self.is_admin(role):
                skipped, register_errors = {}, {}
        return {
            "index": str(self.settings.index_dir), "corpus": m.get("corpus"), "generation": gen.number,
            "created": m.get("created"), "files": len(files), "chunks": chunks,
            "skipped": skipped, "register_errors": register_errors, "model": m.get("model"),
        }

    # ------------------------------------------------------------------ questions
    def clearance(self, role: str) -> int:
        return self.settings.clearance_for(role)

    def analyse(self, question: str, conversation: Conversation | None = None,
                as_followup: bool = False) -> QueryAnalysis:
        return analyse(question, self.catalogue, conversation, as_followup)

    def retrieve(self, question: str, role: str | None = None, conversation: Conversation | None = None,
                 mode: str = "hybrid", top_k: int | None = None) -> tuple[QueryAnalysis, SearchResult]:
        max_rank = self.clearance(role or self.settings.default_role)
        analysis = self._analysis_for(question, conversation, max_rank)
        result = self.index.retriever.search(analysis, max_rank, top_k=top_k, mode=mode)
        return analysis, result

    def _analysis_for(self, question: str, conversation: Conversation | None, max_rank: int,
                      as_followup: bool = False) -> QueryAnalysis:
        """The question read against the conversation, with the SoA's implementing documents of the
        controls it names by id (retrieval prefers them)."""
        analysis = self.analyse(question, conversation, as_followup)
        analysis.documents = self.index.knowledge.implementing_documents(analysis.explicit_ids, max_rank)
        lexical = self.index.lexical
        known = lexical.document_frequencies(max_rank)[0]
        # a mistyped word is read as the documents' word it stands for ("pasword lenght" → "password length"), the
        # one correction the lexical search uses too, so the answer's sentences are chosen by it as well
        analysis.content_tokens = list(dict.fromkeys(lexical.corrected(t, max_rank) for t in analysis.content_tokens))
        plain = formal_words(question, known, lambda tokens: lexical.uses_phrase(tokens, max_rank))
        if plain:  # "memory stick" searched as "removable media" too, where the documents never say "stick"
            analysis.expanded = " ".join([analysis.expanded, *plain])
        return analysis

    def _compose(self, analysis: QueryAnalysis, result: SearchResult, linked: list[tuple[RiskRecord, Chunk]],
                 max_rank: int) -> Answer:
        loaded = self.index
        return compose(
            analysis, result.hits, result.query_vector, loaded.unit_vectors, self.catalogue,
            linked, self.settings.abstain_weights, loaded.lexical.document_frequencies(max_rank),
            neighbours=lambda vector: self._sentence_neighbours(loaded, vector, max_rank),
            passage_at=lambda chunk, step: loaded.generation.passage_at(chunk, step, max_rank),
            dense_peak=result.dense_peak, rank_agreement=result.rank_agreement,
        )

    def _followup_reading(self, question: str, conversation: Conversation | None, max_rank: int,
                          ) -> tuple[QueryAnalysis, SearchResult, list[tuple[RiskRecord, Chunk]], Answer] | None:
        """A refused question that points back to an answered turn ("pretty sure it's the tool being wrong, how do
        I flag that?") read as its follow-up; kept only when that reading is answered (the refusal model decides,
        without the exemption an elliptical follow-up has)."""
        analysis = self._analysis_for(question, conversation, max_rank, as_followup=True)
        result = self.index.retriever.search(analysis, max_rank)
        if not result.hits:
            return None
        linked = self.index.knowledge.linked_risks(analysis.controls, max_rank)
        answer = self._compose(analysis, result, linked, max_rank)
        return None if answer.abstained else (analysis, result, linked, answer)

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
            llm: bool | None = None, *, user: str | None = None) -> Answer:
        """Answer with citations. `llm`: True = LLM answerer (grounded fallback on any failure),
        False = grounded composer only, None = the LLM when an endpoint is configured. `user` is who asked,
        for the audit trail (default: ISMS_UI_USER)."""
        answer: Answer | None = None
        for item in self._answer(question, role, conversation, llm, stream=False, user=user):
            if isinstance(item, Answer):
                answer = item
        if answer is None:  # _answer always ends with an Answer
            raise RuntimeError("no answer produced")
        return answer

    def ask_stream(self, question: str, role: str | None = None, conversation: Conversation | None = None,
                   llm: bool | None = None, *, user: str | None = None) -> Iterator[str | Answer]:
        """Like `ask()`, for live display: yields the LLM's text pieces as they arrive (none on the
        grounded path), then exactly one final, verified `Answer` with its citations resolved. The
        final text can differ from the streamed one (unsupported sentences removed, or a fallback):
        show `answer.answer` (and `answer.notice`) when it does."""
        yield from self._answer(question, role, conversation, llm, stream=True, user=user)

    def _answer(self, question: str, role: str | None, conversation: Conversation | None, llm: bool | None,
                stream: bool, user: str | None = None) -> Iterator[str | Answer]:
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
        analysis = self._analysis_for(question, conversation, max_rank)
        analysis_ms = (time.perf_counter() - t) * 1000
        loaded = self.index
        result = loaded.retriever.search(analysis, max_rank)
        retrieve_ms = (time.perf_counter() - t0) * 1000
        t = time.perf_counter()
        linked = loaded.knowledge.linked_risks(analysis.controls, max_rank) if result.hits else []
        duties = self._role_answer(question, role) if not analysis.followup else None
        rows = register_list_answer(question, loaded.knowledge, max_rank) if duties is None else None
        if duties is not None:
            answer, llm = duties, False  # the duties are the answer; an LLM would only paraphrase them
        elif rows is not None:
            answer, llm = rows, False  # the register rows asked for, each quoted and cited
        elif result.hits:
            answer = self._compose(analysis, result, linked, max_rank)
        else:
            answer = abstain(analysis, [])
        if answer.abstained and not analysis.followup and may_continue(question, conversation):
            retry = self._followup_reading(question, conversation, max_rank)
            if retry is not None:
                analysis, result, linked, answer = retry
        if self.use_llm(llm):
            from assistant.answer.llm import llm_answer

            for item in llm_answer(self.llm_client, self.catalogue, analysis, result.hits, linked, answer,
                                   conversation, stream=stream):
                if isinstance(item, Answer):
                    answer = item
                else:
                    yield item
        # the documents retrieval ranked for the question, cited first (the app lists the uncited ones as related)
        answer.retrieved_sources = list(dict.fromkeys([*answer.retrieved_sources, *result.documents]))
        answer.timings_ms = {"analysis": analysis_ms, **result.timings_ms, "retrieve": retrieve_ms,
                             **answer.timings_ms, "answer": (time.perf_counter() - t) * 1000,
                             "total": (time.perf_counter() - t0) * 1000}
        if conversation is not None:
            conversation.update(question, answer.controls or analysis.controls, analysis.topic, not answer.abstained)
        self._audit_answer(answer, user, role)
        yield answer

    @staticmethod
    def _sentence_neighbours(loaded: LoadedIndex, vector: Any, max_rank: int, k: int = 6) -> list[Chunk]:
        """The passages the reader may see holding the sentences nearest to `vector`."""
        by_id = loaded.generation.by_id
        ids = loaded.unit_vectors.nearest_chunks(
            vector, lambda cid: cid in by_id and by_id[cid].class_rank <= max_rank, k)
        return [by_id[cid] for cid in ids]

    def _role_answer(self, question: str, role: str) -> Answer | None:
        """A responsibilities question ("what am I responsible for as a line manager?") answered with the
        role's cited duties; None when it is not one or the documents give the role too few duties."""
        from assistant.answer.roles import asked_role, may_ask_role, role_answer

        if not may_ask_role(question):
            return None
        job = asked_role(question, self.known_roles(role))
        return role_answer(question, self.responsibilities(job, role)) if job else None

    # ------------------------------------------------------------------ Statement of Applicability
    def soa_context(self, role: str | None = None) -> SoAContext:
        """SoA data of the live index for one role: retrieval and citations limited to its clearance."""
        from assistant.soa.context import SoAContext

        role = role or self.settings.default_role
        clearance = self.clearance(role)

        def search(query: str, top_k: int) -> list[Chunk]:
            return [h.chunk for h in self.retrieve(query, role=role, top_k=top_k)[1].hits]

        def passages(query: str, top_k: int) -> list[tuple[Chunk, float]]:
            return [(h.chunk, h.dense) for h in self.retrieve(query, role=role, top_k=top_k, mode="dense")[1].hits]

        loaded = self.index
        return SoAContext.from_index(loaded.generation, loaded.knowledge, self.catalogue, clearance, search, passages)

    def soa_store(self) -> SoAStore:
        """Edits and approvals of SoA drafts (``ISMS_DATABASE_URL``, else an SQLite file next to the index;
        survives re-ingests)."""
        from assistant.soa.store import SoAStore

        return SoAStore.for_settings(self.settings)

    def draft_soa(self, controls: list[str] | None = None, role: str | None = None, *, llm: bool | None = None,
                  history: bool = True) -> list[SoADraft]:
        """SoA drafts (all 93 controls when `controls` is empty; ids, 2013 ids or names; unknown → ValueError).
        Grounded with citations; rewritten by the LLM when one is configured (or `llm=True`) and its text
        passes verification; stored edits/approvals overlaid when `history`. Grounded drafts are cached per
        index generation, role and day (the LLM rewrite is asked on every call); the history is read on every
        call, so an edit or approval shows at once and a re-ingest (new generation) drafts afresh. Each call
        returns private copies."""
        import copy

        from assistant.database import database_exists
        from assistant.soa.rewrite import llm_rewrite
        from assistant.soa.store import SoAStore

        wanted = [self.catalogue.resolve(c).id for c in controls] if controls else list(self.catalogue.controls)
        cached = self._grounded_drafts(list(dict.fromkeys(wanted)), role)
        drafts = [copy.deepcopy(cached[cid]) for cid in dict.fromkeys(wanted)]
        if self.use_llm(llm):
            ctx = self.soa_context(role)
            drafts = [llm_rewrite(ctx, d, self.llm_client) for d in drafts]
        if history and database_exists(SoAStore.url_for(self.settings)):  # else nothing stored: no empty file made
            drafts = [self._soa_history.apply(d) for d in drafts]
        elif history:
            for d in drafts:
                d.provenance.version = 0  # read with nothing stored: a save checks nobody stored one since
        return drafts

    def _grounded_drafts(self, control_ids: list[str], role: str | None) -> dict[str, SoADraft]:
        """The cached grounded drafts of this generation and role, drafting the missing ones in one pass."""
        from datetime import date

        from assistant.soa.draft import draft_controls
        role = role or self.settings.default_role
        key = (self.index_generation(), role, date.today().isoformat())
        with self._lock:
            for old in [k for k in self._draft_cache if k[0] != key[0] or k[2] != key[2]]:
                del self._draft_cache[old]  # an older generation or day is never served again
            cache = self._draft_cache.setdefault(key, {})
        missing = [cid for cid in control_ids if cid not in cache]
        if missing:
            ctx = self.soa_context(role)
            fresh = draft_controls(ctx, missing)
            cache.update({d.control_id: d for d in fresh})
        return cache

    def check_soa(self, role: str | None = None, *, as_of: date | None = None) -> CheckReport:
        """Auditor-style findings on the SoA, risk register and documents (evidence within the role's clearance)."""
        from assistant.soa.checks import run_checks

        return run_checks(self.soa_context(role), as_of=as_of)

    # ------------------------------------------------------------------ the app's operations
    # The Streamlit pages pass the signed-in role and render what comes back: every clearance decision of
    # the app is made here or below.
    def is_admin(self, role: str) -> bool:
        """Admins (corpus upload, re-ingest, SoA approval, feedback report) hold the highest configured clearance."""
        top = max(classification_rank(level) for level in self.settings.roles.values())
        return self.clearance(role) >= top

    def index_generation(self) -> int:
        """Number of the live index generation (it changes when an ingest publishes a new one)."""
        return self.index.generation.number

    def new_conversation(self) -> Conversation:
        """An empty conversation for `ask` / `ask_stream`: follow-up questions keep its topic."""
        return Conversation()

    def visible_documents(self, role: str) -> list[IndexedDocument]:
        """The documents of the live index the role may see, by path."""
        from assistant.documents import visible_documents

        return visible_documents(self.index.generation.manifest.get("files", {}), self.clearance(role))

    def document_view(self, source: str, role: str) -> DocumentView | None:
        """A whole document for the document view (its passages, record and original file), or None when the
        role may not see it or it is not indexed."""
        from assistant.documents import document_view

        generation = self.index.generation
        return document_view(generation.manifest.get("files", {}), generation.chunks, self.settings.corpus_dir,
                             source, self.clearance(role))

    def find_controls(self, query: str) -> list[Control]:
        """Annex A controls for a search box: the control of a 2022 id, 2013 id, title or alias; else those whose
        names occur in the query; else those whose label contains every word of it."""
        catalogue = self.catalogue
        matches = catalogue.lookup(query) or [catalogue.controls[c] for c in catalogue.search_names(query)]
        if not matches:
            words = query.lower().split()
            matches = [c for c in catalogue.controls.values() if all(w in c.label.lower() for w in words)]
        return matches

    # -- uploads into the corpus folder (assistant.uploads), within the configured limits
    def upload_types(self) -> list[str]:
        """File types the ingest reads (suffixes without the dot)."""
        from assistant.ingest.loaders import SUPPORTED_SUFFIXES

        return sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES)

    def upload_folders(self) -> list[str]:
        from assistant.uploads import corpus_folders

        return corpus_folders(self.settings.corpus_dir)

    def check_upload_batch(self, names_and_sizes: Sequence[tuple[str, int]]) -> None:
        """UploadRejected for a batch over ISMS_MAX_UPLOADS_PER_BATCH files or with a file over ISMS_MAX_FILE_MB."""
        from assistant.uploads import check_batch

        check_batch(names_and_sizes, self.settings.max_uploads_per_batch, self.settings.max_file_mb)

    def save_upload(self, folder: str, file_name: str, data: bytes, replace: bool = False) -> SavedUpload:
        """Validate and write one upload (UploadRejected says why not)."""
        from assistant.uploads import save_upload

        return save_upload(self.settings.corpus_dir, folder, file_name, data, self.settings.max_file_mb, replace)

    # -- what the documents assign to a job role (assistant.responsibilities)
    def _library(self, role: str) -> Library:
        from assistant.responsibilities import Library

        loaded = self.index

        def search(query: str, top_k: int) -> list[Chunk]:
            return [h.chunk for h in self.retrieve(query, role=role, top_k=top_k)[1].hits]

        return Library(loaded.generation.chunks, loaded.knowledge, search, self.clearance(role))

    def known_roles(self, role: str) -> list[str]:
        """Job roles the documents the role may see mention, most mentioned first."""
        from assistant.responsibilities import known_roles

        return known_roles(self.index.generation.chunks, self.clearance(role))

    def role_labels(self, roles: list[str], role: str) -> dict[str, str]:
        """Job roles as the documents the role may see write them ("IT operations manager")."""
        from assistant.responsibilities import role_labels

        return role_labels(self.index.generation.chunks, self.clearance(role), roles)

    def export_responsibilities(self, found: Responsibilities, label: str) -> dict[str, str]:
        """A newcomer's checklist to keep: {"md": Markdown checklist, "csv": the same rows}."""
        from assistant.responsibilities import checklist_markdown, duties_csv

        return {"md": checklist_markdown(found, label), "csv": duties_csv(found)}

    def job_role(self, job: str) -> str:
        """A job title as `known_roles` names roles (one line, lower case, no leading "the")."""
        from assistant.responsibilities import clean_role

        return clean_role(job)

    def responsibilities(self, job: str, role: str) -> Responsibilities:
        """Duties, owned controls and risks of a job, from what `role` may see."""
        from assistant.responsibilities import find_responsibilities

        return find_responsibilities(self._library(role), job)

    def process_steps(self, control_id: str, sources: list[str], role: str) -> list[ProcessSection]:
        """Step lists that carry out a control, from `sources` and the procedures found for it."""
        from assistant.responsibilities import process_steps

        return process_steps(self._library(role), self.catalogue.controls[control_id], sources)

    # -- the SoA workbench and audit readiness (assistant.soa)
    @cached_property
    def _soa_history(self) -> SoAStore:
        return self.soa_store()

    def soa_overview(self, role: str) -> list[ControlOverview]:
        """Every Annex A control: its SoA row within the role's clearance, stored edits and approvals on top."""
        from assistant.soa.overview import control_overview

        knowledge = self.index.knowledge
        return control_overview(self.catalogue, knowledge.soa, knowledge.soa_chunks, self._soa_history,
                                self.clearance(role))

    def with_soa_history(self, draft: SoADraft) -> SoADraft:
        """The draft with the latest stored edit or approval of its control overlaid."""
        return self._soa_history.apply(draft)

    def soa_history_version(self) -> int:
        """Changes with every stored edit or approval (0 while nothing is stored): a prepared export of
        drafts is current only while the index generation and this number stay the same."""
        from assistant.database import database_exists
        from assistant.soa.store import SoAStore

        if not database_exists(SoAStore.url_for(self.settings)):
            return 0
        return self._soa_history.last_event_id()

    def soa_history(self, control_id: str) -> list[SoAEvent]:
        """Every stored version of the control's text, oldest first."""
        return self._soa_history.history(control_id)

    def save_soa_edit(self, draft: SoADraft, by: str, *, justification: str, applicability: str, status: str,
                      owner: str, reasons: list[str], note: str = "", approve: bool = False,
                      role: str = "") -> list[str]:
        """Store a person's edit of `draft` (when it changes anything), and approve it with `approve`; returns
        what verification found wrong with the text. ValueError (nothing stored) when the store refuses."""
        from assistant.soa.workbench import SoAEdit, save_edit

        edit = SoAEdit(justification, applicability, status, owner, reasons, note)
        changed = edit.changes(draft)
        problems = save_edit(self._soa_history, self.catalogue, draft, edit, by, approve=approve)
        for event, done in (("soa_edit", changed), ("soa_approve", approve)):
            if done:
                self.record_event(event, user=by, role=role, sources=[draft.control_id],
                                  detail=f"{draft.control_id} {'approved' if event == 'soa_approve' else 'edited'}")
        return problems

    def export_soa(self, drafts: list[SoADraft], *, user: str = "", role: str = "") -> dict[str, bytes]:
        """The drafts as downloads: {"xlsx": …, "csv": …, "md": …}."""
        from assistant.soa.workbench import export_files

        files = export_files(drafts)
        self.record_event("soa_export", user=user or self.settings.ui_user, role=role,
                          detail=f"{len(drafts)} controls (xlsx, csv, md)",
                          max_class_rank=self.clearance(role) if role else 0)
        return files


_SHARED: dict[tuple[str, str], Assistant] = {}
_SHARED_LOCK = threading.Lock()


def shared_assistant(index_dir: str = "", corpus_dir: str = "") -> Assistant:
    """One facade per process and (index, corpus) folder pair ("" = the configured one): the app's sessions share
    it, and the app server builds and warms it while Streamlit starts (assistant/app_server.py)."""
    key = (index_dir, corpus_dir)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Assistant(index_dir=Path(index_dir) if index_dir else None,
                                     corpus_dir=Path(corpus_dir) if corpus_dir else None)
        return _SHARED[key]
