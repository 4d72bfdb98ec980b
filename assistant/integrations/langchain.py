"""`ISMSRetriever`: the ISMS as a LangChain retriever, so `retriever | prompt | llm` chains work.

Needs langchain-core (`pip install 'isms-assistant[langchain]'`). Passages come from the product's hybrid
retrieval within the clearance of `role`; each Document carries source, section, span, classification,
chunk id, title and score in its metadata.

    from assistant.integrations.langchain import ISMSRetriever
    retriever = ISMSRetriever(role="staff", k=4)
    docs = retriever.invoke("who approves access requests?")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from assistant.doors import payloads

if TYPE_CHECKING:
    from assistant.service import Assistant


class ISMSRetriever(BaseRetriever):
    """Ranked ISMS passages for a query, as LangChain Documents, within the role's clearance."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    role: str = "staff"
    k: int = Field(default=4, ge=1, le=payloads.MAX_SEARCH_K)
    assistant: Any = None  # an `assistant.service.Assistant`; default: one on the configured index

    def _facade(self) -> Assistant:
        if self.assistant is None:
            from assistant.service import Assistant

            self.assistant = Assistant()
        return self.assistant

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        found = payloads.search(self._facade(), query, self.k, self.role)
        return [Document(page_content=p.pop("text"), metadata={**p, "role": self.role}) for p in found["results"]]


__all__ = ["ISMSRetriever"]
