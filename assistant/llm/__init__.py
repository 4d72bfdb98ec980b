"""LLM access through any OpenAI-compatible chat-completions endpoint (optional; grounded answers need none)."""

from assistant.llm.client import ChatStream, Completion, LLMClient, LLMConfig, LLMError

__all__ = ["ChatStream", "Completion", "LLMClient", "LLMConfig", "LLMError"]
