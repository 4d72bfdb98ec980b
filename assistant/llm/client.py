"""The one client for OpenAI-compatible chat-completions endpoints (OpenAI, Azure OpenAI's v1 API,
Ollama, vLLM, llama.cpp's server, LM Studio ...). Used by the LLM answerer and by SoA drafting.

* Settings come from `config.Settings` (``ISMS_LLM_BASE_URL``, ``ISMS_LLM_MODEL``, ``ISMS_LLM_API_KEY``,
  ``ISMS_LLM_TIMEOUT``, ``ISMS_LLM_MAX_TOKENS``, ``ISMS_LLM_TEMPERATURE``), falling back to the standard
  ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``.
* ``ISMS_LLM_TIMEOUT`` is the **total deadline of one call**, retries and streaming included: the caller
  never waits longer. The HTTP work runs in a daemon worker thread; the caller waits on a queue with
  the remaining time, so even a server that trickles bytes cannot make a call hang.
* Retries (at most `max_retries`, exponential backoff with jitter, ``Retry-After`` honoured) only where
  safe: connection failures, 429 and 5xx, and only before any text has been streamed. Read timeouts,
  401/403/4xx and malformed responses are not retried.
* Every failure surfaces as one `LLMError` with a `kind` and a one-line message (no secrets in it).
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from assistant.config import Settings

if TYPE_CHECKING:  # the SDK is imported on first use (about 1 s): grounded-only runs never pay for it
    import openai

# LLMError kinds
NOT_CONFIGURED = "not_configured"
CONNECTION = "connection"
TIMEOUT = "timeout"
AUTH = "auth"
RATE_LIMIT = "rate_limit"
SERVER = "server_error"
HTTP = "http_error"
BAD_RESPONSE = "bad_response"
EMPTY = "empty"
CONTEXT = "context_exceeded"  # HTTP 400: the prompt and max_tokens do not fit the server's context window

Message = dict[str, str]


class LLMError(Exception):
    """A failed LLM call. `kind` is one of the module constants; str(error) is a one-line message."""

    def __init__(self, kind: str, message: str, status: int | None = None, retry_after: float | None = None,
                 context_tokens: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.context_tokens = context_tokens  # the server's context window, when its error states it

    @property
    def retryable(self) -> bool:
        return self.kind in (CONNECTION, RATE_LIMIT, SERVER)


@dataclass(frozen=True)
class LLMConfig:
    base_url: str | None
    model: str
    api_key: str | None
    timeout: float = 30.0  # total deadline per call (seconds)
    max_tokens: int = 600
    temperature: float = 0.1
    context_tokens: int | None = None  # the server's context window, when known (ISMS_LLM_CONTEXT_TOKENS)
    max_retries: int = 2
    backoff: float = 0.5  # first retry delay (seconds); doubles each retry
    configured: bool = False  # an endpoint was configured on purpose (enables the LLM path by default)

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> LLMConfig:
        """ISMS_LLM_* settings first, then OPENAI_BASE_URL / OPENAI_API_KEY.

        The LLM path is on by default only when an endpoint was chosen on purpose: ISMS_LLM_BASE_URL,
        OPENAI_BASE_URL or ISMS_LLM_API_KEY. An OPENAI_API_KEY alone (often set for other tools) does
        not send ISMS passages anywhere unless `--llm` asks for it.
        """
        env = os.environ if environ is None else environ
        base_url = settings.llm_base_url or env.get("OPENAI_BASE_URL") or None
        api_key = settings.llm_api_key or env.get("OPENAI_API_KEY") or None
        return cls(
            base_url=base_url.rstrip("/") if base_url else None,
            model=settings.llm_model,
            api_key=api_key,
            timeout=max(0.1, float(settings.llm_timeout)),
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            context_tokens=settings.llm_context_tokens,
            configured=bool(base_url or settings.llm_api_key),
        )

    @property
    def usable(self) -> bool:
        """Enough to make a call: an endpoint, or an API key for the default OpenAI endpoint."""
        return bool(self.base_url or self.api_key)

    @property
    def endpoint(self) -> str:
        """Host of the endpoint, for messages (never the key)."""
        if not self.base_url:
            return "api.openai.com"
        parts = urlsplit(self.base_url)
        return parts.netloc or self.base_url


@dataclass
class Completion:
    text: str
    model: str = ""
    finish_reason: str | None = None
    attempts: int = 1
    seconds: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)


class ChatStream:
    """Iterate to get text pieces as they arrive; afterwards `text`, `finish_reason`, `attempts` are set.

    Raises `LLMError` from the iteration (timeout, HTTP errors, malformed events). Closing it early
    (or abandoning it) cancels the worker.
    """

    def __init__(self, client: LLMClient, messages: list[Message], max_tokens: int, temperature: float) -> None:
        self._client = client
        self._messages = messages
        self._max_tokens = max_tokens
        self._temperature = temperature
        self.text = ""
        self.finish_reason: str | None = None
        self.attempts = 0
        self.seconds = 0.0
        self._iterated = False

    def __iter__(self) -> Iterator[str]:
        if self._iterated:
            raise RuntimeError("a ChatStream can be iterated once")
        self._iterated = True
        run = self._client._start(self._messages, self._max_tokens, self._temperature)
        try:
            for kind, value in run.events():
                if kind == "delta":
                    self.text += value
                    yield value
                elif kind == "done":
                    self.finish_reason = value
        finally:
            run.cancel()
            self.attempts = run.attempts
            self.seconds = run.elapsed


class _Run:
    """One call in a worker thread; events go through a queue the caller reads with a deadline."""

    def __init__(self, client: LLMClient, messages: list[Message], max_tokens: int, temperature: float) -> None:
        self.client = client
        self.messages = messages
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.started = time.monotonic()
        self.deadline = self.started + client.config.timeout
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.cancelled = threading.Event()
        self.attempts = 0
        self.produced = False  # text already streamed: a retry would repeat it, so none is made
        self.thread = threading.Thread(target=self._work, name="llm-call", daemon=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def cancel(self) -> None:
        self.cancelled.set()

    def events(self) -> Iterator[tuple[str, Any]]:
        """('delta', text) ..., then ('done', finish_reason); raises LLMError."""
        cfg = self.client.config
        while True:
            remaining = self.remaining()
            if remaining <= 0:
                self.cancel()
                raise LLMError(TIMEOUT, f"LLM endpoint {cfg.endpoint} did not finish within {cfg.timeout:g} s")
            try:
                kind, value = self.queue.get(timeout=remaining)
            except queue.Empty:
                continue  # loop re-checks the deadline and raises
            if kind == "error":
                raise value
            yield kind, value
            if kind == "done":
                return

    # ------------------------------------------------------------------ worker thread
    def _work(self) -> None:
        cfg = self.client.config
        attempt = 0
        while not self.cancelled.is_set():
            attempt += 1
            self.attempts = attempt
            try:
                self._attempt()
                return
            except LLMError as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - anything the SDK raises ends as one LLMError
                error = classify(exc, cfg)
            can_retry = error.retryable and not self.produced and attempt <= cfg.max_retries
            delay = error.retry_after if error.retry_after is not None else cfg.backoff * 2 ** (attempt - 1)
            delay += random.uniform(0, cfg.backoff / 4)
            if not can_retry or delay >= self.remaining() - 0.05:
                self.queue.put(("error", error))
                return
            if self.cancelled.wait(delay):
                return

    def _attempt(self) -> None:
        """One streamed HTTP request; events go to the queue. Raises on failure. Every call streams, even for a
        caller that wants the whole text: closing a stream stops the generation on llama.cpp, vLLM and OpenAI,
        so a call abandoned at its deadline does not keep the server busy."""
        cfg = self.client.config
        sdk = self.client.sdk  # imported and created here, inside the call's deadline
        remaining = self.remaining()
        if remaining <= 0:
            raise LLMError(TIMEOUT, f"LLM endpoint {cfg.endpoint} did not finish within {cfg.timeout:g} s")
        timeout = httpx.Timeout(remaining, connect=min(remaining, 10.0))
        finish: str | None = None
        stream = sdk.chat.completions.create(model=cfg.model, messages=self.messages, max_tokens=self.max_tokens,
                                             temperature=self.temperature, timeout=timeout, stream=True)
        try:
            for chunk in stream:
                if self.cancelled.is_set():
                    return
                choices = getattr(chunk, "choices", None)
                if choices is None:
                    raise LLMError(BAD_RESPONSE, f"LLM endpoint {cfg.endpoint} sent an event that is not a "
                                                 "chat.completion.chunk")
                if not choices:
                    continue  # e.g. a final usage-only chunk
                delta = choices[0].delta
                piece = getattr(delta, "content", None) if delta is not None else None
                if piece:
                    self.produced = True
                    self.queue.put(("delta", piece))
                if choices[0].finish_reason:
                    finish = choices[0].finish_reason
        finally:
            stream.close()  # also when cancelled: the server sees the disconnect and stops generating
        if not self.produced:
            raise LLMError(EMPTY, f"LLM endpoint {cfg.endpoint} streamed no text")
        self.queue.put(("done", finish))


class LLMClient:
    """Chat completions with a total deadline, safe retries and one error type. Thread-safe."""

    def __init__(self, config: LLMConfig, sdk: openai.OpenAI | None = None) -> None:
        self.config = config
        self._sdk = sdk
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClient:
        return cls(LLMConfig.from_settings(settings))

    @property
    def sdk(self) -> openai.OpenAI:
        with self._lock:
            if self._sdk is None:
                import openai

                if not self.config.usable:
                    raise LLMError(NOT_CONFIGURED, "no LLM endpoint configured (set ISMS_LLM_BASE_URL, or "
                                                   "OPENAI_API_KEY for api.openai.com)")
                # Local servers (Ollama, vLLM, llama.cpp) need no key, but the SDK wants a non-empty one.
                self._sdk = openai.OpenAI(base_url=self.config.base_url, api_key=self.config.api_key or "not-needed",
                                          max_retries=0, timeout=self.config.timeout)
            return self._sdk

    def _start(self, messages: list[Message], max_tokens: int | None, temperature: float | None) -> _Run:
        if not self.config.usable:
            raise LLMError(NOT_CONFIGURED, "no LLM endpoint configured (set ISMS_LLM_BASE_URL, or "
                                           "OPENAI_API_KEY for api.openai.com)")
        run = _Run(self, messages, max_tokens or self.config.max_tokens,
                   self.config.temperature if temperature is None else temperature)  # the deadline starts here
        run.thread.start()
        return run

    def complete(self, messages: list[Message], *, max_tokens: int | None = None,
                 temperature: float | None = None) -> Completion:
        """The whole answer of one call (streamed underneath and joined); raises LLMError."""
        run = self._start(messages, max_tokens, temperature)
        text, finish = "", None
        try:
            for kind, value in run.events():
                if kind == "delta":
                    text += value
                elif kind == "done":
                    finish = value
        finally:
            run.cancel()
        return Completion(text=text, model=self.config.model, finish_reason=finish, attempts=run.attempts,
                          seconds=run.elapsed)

    def stream(self, messages: list[Message], *, max_tokens: int | None = None,
               temperature: float | None = None) -> ChatStream:
        """A streaming completion (Server-Sent Events); iterate it for text pieces."""
        return ChatStream(self, messages, max_tokens or self.config.max_tokens,
                          self.config.temperature if temperature is None else temperature)


MAX_SERVER_MESSAGE = 2000  # a server's error message is shown whole (up to this many characters)
_CONTEXT_WORDS = re.compile(r"context (?:size|length|window)|maximum context|too many tokens|exceeds? the", re.I)
# "exceeds the available context size (2048 tokens)" (llama.cpp), "maximum context length is 2048 tokens"
# (vLLM, OpenAI), "exceeds context size (2048)", "n_ctx: 2048", "context window of 2048 tokens"
_WINDOW = re.compile(r"(?:context (?:size|length|window)(?: is| of)?|maximum context length is|n_ctx\W{0,3})\D{0,12}(\d{3,7})",
                     re.I)


def context_window(message: str) -> int | None:
    """The context window (tokens) a server's 400 message states, if it states one."""
    m = _WINDOW.search(message)
    return int(m.group(1)) if m else None


def _server_message(exc: Any) -> str:
    """The server's own error text: the JSON error message, else the body, else the SDK's message."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return body["message"]
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            return response.text or str(getattr(exc, "message", exc))
        except Exception:  # noqa: BLE001 - a streamed body that was not read
            pass
    return str(getattr(exc, "message", exc))


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def classify(exc: BaseException, config: LLMConfig) -> LLMError:
    """Map an SDK / transport exception to an LLMError with a one-line message."""
    import openai

    where = f"LLM endpoint {config.endpoint}"
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return LLMError(TIMEOUT, f"{where} timed out (limit {config.timeout:g} s)")
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        cause = exc.__cause__ or exc
        return LLMError(CONNECTION, f"{where} unreachable ({type(cause).__name__})")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in (401, 403):
            return LLMError(AUTH, f"{where} refused the credentials (HTTP {status}); check ISMS_LLM_API_KEY",
                            status)
        if status == 429:
            return LLMError(RATE_LIMIT, f"{where} is rate limiting (HTTP 429)", status,
                            _retry_after(exc.response))
        if status >= 500:
            return LLMError(SERVER, f"{where} failed (HTTP {status})", status, _retry_after(exc.response))
        message = " ".join(_server_message(exc).split())[:MAX_SERVER_MESSAGE]
        if status == 404:
            hint = "" if (config.base_url or "").rstrip("/").endswith("/v1") else " Does the URL need /v1?"
            return LLMError(HTTP, f"{where} has no /chat/completions (HTTP 404: {message}).{hint} "
                                  f"ISMS_LLM_BASE_URL is {config.base_url or 'not set'}", status)
        window = context_window(message) if status == 400 else None
        if window is not None or (status == 400 and _CONTEXT_WORDS.search(message)):
            return LLMError(CONTEXT, f"{where} says the prompt does not fit its context window (HTTP 400): {message}",
                            status, context_tokens=window)
        return LLMError(HTTP, f"{where} rejected the request (HTTP {status}): {message}", status)
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError | ValueError | TypeError
                  | AttributeError | KeyError):
        return LLMError(BAD_RESPONSE, f"{where} sent a malformed response ({type(exc).__name__})")
    return LLMError(BAD_RESPONSE, f"{where}: unexpected {type(exc).__name__}: {str(exc)[:120]}")
