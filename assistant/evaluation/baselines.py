"""Baselines run on the same corpus and questions as the product (see evals/README.md).

- ``tutorial``: LangChain's RAG tutorial pipeline: the corpus files' extracted text split by
  RecursiveCharacterTextSplitter(1000, 200), embedded with HuggingFaceEmbeddings (the packaged model)
  into a throw-away langchain_chroma.Chroma, similarity_search top-k. It never abstains. LangChain comes
  with the `eval` extra (`pip install -e '.[eval]'`), not with the app: it is imported only when this
  baseline is built.
- ``bm25`` / ``dense``: our hybrid retriever in lexical-only / dense-only mode, without the composer.

All are retrieval-only: the "answer" is the top passages' text, each cited; they never abstain. Every
baseline honours the role's clearance inside retrieval, like the product.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from assistant.answer.types import Answer, Citation
from assistant.config import Settings, classification_rank
from assistant.errors import LoadError
from assistant.evaluation.metrics import distinct
from assistant.ingest.loaders import load_file
from assistant.ingest.metadata import detect_classification
from assistant.ingest.pipeline import iter_corpus
from assistant.registers import table_row_text

ANSWER_CHUNKS = 3  # passages shown (and cited) as the answer
RANK_CHUNKS = 10  # passages retrieved for the ranked source list
EVAL_EXTRA_MISSING = ("the 'tutorial' baseline needs LangChain, which comes with the eval extra: "
                      "pip install -e '.[eval]'")


def passages_answer(question: str, passages: list[tuple[str, str, str, float]]) -> Answer:
    """Answer made of the top passages verbatim: (source, section, text, score) in rank order."""
    citations = [
        Citation(n=i + 1, source=source, section=section, text=text, score=score, quotes=[text])
        for i, (source, section, text, score) in enumerate(passages[:ANSWER_CHUNKS])
    ]
    answer = "\n\n".join(f"{c.text} [{c.n}]" for c in citations)
    return Answer(question=question, answer=answer, abstained=False, citations=citations,
                  retrieved_sources=distinct(p[0] for p in passages))


class TutorialBaseline:
    """LangChain tutorial pipeline over the corpus (built in a temporary Chroma folder; call close())."""

    name = "tutorial"

    def __init__(self, corpus_dir: Path, settings: Settings, k: int = RANK_CHUNKS,
                 persist_dir: Path | None = None) -> None:
        import chromadb.config

        try:
            from langchain_chroma import Chroma
            from langchain_core.documents import Document
            from langchain_huggingface import HuggingFaceEmbeddings
            from langchain_text_splitters import RecursiveCharacterTextSplitter
        except ImportError as exc:
            raise ImportError(f"{EVAL_EXTRA_MISSING} ({exc.name or exc} is not installed)") from exc

        self.settings = settings
        self.k = k
        docs: list[Document] = []
        for path, source, skip in iter_corpus(Path(corpus_dir)):
            if skip is not None:
                continue
            try:
                loaded = load_file(path)
            except LoadError:
                continue
            if loaded.table is not None:
                text = "\n".join(t for t in (table_row_text(r) for r in loaded.table) if t)
                classification = "internal"  # as the product's ingest treats tables
            else:
                text = loaded.text
                classification = detect_classification(loaded.front_matter, text)
            if text.strip():
                docs.append(Document(page_content=text, metadata={
                    "source": source, "class_rank": classification_rank(classification)}))
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        self.chunks = splitter.split_documents(docs)
        self._owned_dir = persist_dir is None
        self.persist_dir = Path(persist_dir or tempfile.mkdtemp(prefix="isms-tutorial-"))
        embeddings = HuggingFaceEmbeddings(model_name=settings.resolved_model_path())
        self.store = Chroma(
            collection_name="tutorial", embedding_function=embeddings, persist_directory=str(self.persist_dir),
            client_settings=chromadb.config.Settings(anonymized_telemetry=False),
        )
        self.store.add_documents(self.chunks)

    def __call__(self, question: str, role: str | None = None) -> Answer:
        max_rank = self.settings.clearance_for(role or self.settings.default_role)
        found = self.store.similarity_search_with_score(question, k=self.k,
                                                        filter={"class_rank": {"$lte": max_rank}})
        passages = [
            (doc.metadata["source"], f"{doc.metadata['source']} @ char {doc.metadata.get('start_index', 0)}",
             doc.page_content, float(distance))
            for doc, distance in found
        ]
        return passages_answer(question, passages)

    def close(self) -> None:
        if self._owned_dir:
            shutil.rmtree(self.persist_dir, ignore_errors=True)


class RetrieverBaseline:
    """Our retriever in one mode ("lexical" = BM25 only, "dense" = embeddings only), no composer."""

    def __init__(self, assistant: Any, mode: str, k: int = RANK_CHUNKS) -> None:
        if mode not in ("lexical", "dense"):
            raise ValueError(f"mode must be lexical or dense, not {mode!r}")
        self.assistant = assistant  # assistant.service.Assistant
        self.mode = mode
        self.k = k
        self.name = "bm25" if mode == "lexical" else "dense"

    def __call__(self, question: str, role: str | None = None) -> Answer:
        _, result = self.assistant.retrieve(question, role=role, mode=self.mode, top_k=self.k)
        passages = [(h.chunk.source, h.chunk.section, h.chunk.text,
                     h.lexical if self.mode == "lexical" else h.dense) for h in result.hits]
        return passages_answer(question, passages)
