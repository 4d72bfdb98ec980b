"""The HTTP API (`isms-assistant serve`): FastAPI over the service facade.

Every route but /healthz needs `Authorization: Bearer <token>`; the token's role decides the clearance, as a
signed-in user's role does in the app (tokens: `assistant.api_tokens`). Errors are JSON
`{"error": {"status": 401, "message": "..."}}`. Limits: request bodies over ISMS_API_MAX_REQUEST_BYTES → 413,
more than ISMS_API_RATE_PER_MINUTE requests per token in a minute → 429 with Retry-After. OpenAPI at
/openapi.json and /docs.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.answer.types import Answer
from assistant.api_tokens import TokenHolder, TokenStore
from assistant.doors import payloads
from assistant.errors import IndexNotReady, ISMSError, QuestionTooLong, SoAAccessError, UnknownControl

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.retrieval.query import Conversation
    from assistant.service import Assistant

MAX_CONVERSATIONS = 1000  # kept per (token, conversation id), least recently used dropped first


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class AskRequest(BaseModel):
    question: str = Field(description="the question, as a user would ask it")
    conversation_id: str | None = Field(default=None, max_length=100,
                                        description="follow-ups with the same id read against the previous turn")
    llm: bool | None = Field(default=None, description="true: the LLM answerer; false: grounded only; null: as configured")
    stream: bool = Field(default=False, description="answer as server-sent events (delta…, then answer)")


class SearchRequest(BaseModel):
    query: str
    k: int = Field(default=8, ge=1, le=payloads.MAX_SEARCH_K)


class DraftRequest(BaseModel):
    controls: list[str] = Field(default_factory=list, max_length=200,
                                description="2022 ids, 2013 ids or names; empty = all 93 controls")
    llm: bool | None = None


class RateLimiter:
    """At most `per_minute` requests per key in any 60 s window."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, key: str) -> float:
        """0 when the request may go ahead (and counts it); else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and now - seen[0] >= 60.0:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return 60.0 - (now - seen[0])
            seen.append(now)
            return 0.0


class Conversations:
    """Follow-up state per token and conversation id (a token never reads another token's conversation)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self._items: OrderedDict[tuple[str, str], Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, holder: TokenHolder, conversation_id: str | None) -> Conversation | None:
        if not conversation_id:
            return None
        key = (holder.name, conversation_id)
        with self._lock:
            conversation = self._items.pop(key, None) or self.assistant.new_conversation()
            self._items[key] = conversation
            while len(self._items) > MAX_CONVERSATIONS:
                self._items.popitem(last=False)
            return conversation


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status, headers=headers)


_ISMS_STATUS: tuple[tuple[type[ISMSError], int], ...] = (
    (SoAAccessError, 403), (UnknownControl, 404), (IndexNotReady, 503), (QuestionTooLong, 413),
)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class Gate:
    """The bearer-token check of every route but /healthz: who is calling, with which role, within the rate."""

    def __init__(self, settings: Settings, tokens: TokenStore) -> None:
        self.settings, self.tokens = settings, tokens
        self.limiter = RateLimiter(settings.api_rate_per_minute)

    def __call__(self, request: Request) -> TokenHolder:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing bearer token (Authorization: Bearer <token>; "
                                "`isms-assistant api-token add NAME ROLE` makes one)", {"WWW-Authenticate": "Bearer"})
        holder = self.tokens.holder(token)
        if holder is None:
            raise ApiError(401, "unknown or revoked token", {"WWW-Authenticate": "Bearer"})
        if holder.role not in self.settings.roles:
            raise ApiError(403, f"the token's role {holder.role!r} is not a configured role")
        wait = self.limiter.wait_seconds(holder.name)
        if wait:
            raise ApiError(429, f"more than {self.settings.api_rate_per_minute} requests a minute for this token "
                                "(ISMS_API_RATE_PER_MINUTE)", {"Retry-After": str(max(1, round(wait)))})
        return holder


def _install_errors(app: FastAPI, max_request_bytes: int) -> None:
    """Every error as JSON {"error": {"status", "message"}}; bodies over the limit refused before parsing."""
    too_big = f"request body over {max_request_bytes} bytes (ISMS_API_MAX_REQUEST_BYTES)"

    @app.middleware("http")
    async def limit_request_size(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_request_bytes):
            return _error(413, too_big)
        if length is None and request.method in ("POST", "PUT", "PATCH") and len(await request.body()) > max_request_bytes:
            return _error(413, too_big)
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', '')}"
                             for e in exc.errors())
        return _error(422, f"invalid request: {problems}")

    @app.exception_handler(ISMSError)
    async def isms_error(_request: Request, exc: ISMSError) -> JSONResponse:
        return _error(next((code for kind, code in _ISMS_STATUS if isinstance(exc, kind)), 422), str(exc))

    @app.exception_handler(ValueError)
    async def value_error(_request: Request, exc: ValueError) -> JSONResponse:
        return _error(422, str(exc))


def create_app(assistant: Assistant, tokens: TokenStore | None = None) -> FastAPI:
    """The API app for one facade; tokens from the settings' tokens file unless given."""
    settings = assistant.settings
    gate = Gate(settings, tokens or TokenStore(settings.tokens_path()))
    caller = Depends(gate)  # every route below but /healthz
    conversations = Conversations(assistant)
    app = FastAPI(title="ISMS Assistant API", version="1",
                  description="Grounded, cited answers over the organization's ISO/IEC 27001 ISMS, within the "
                              "clearance of the bearer token's role.")
    _install_errors(app, settings.api_max_request_bytes)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        if not assistant.has_index():
            return _error(503, "no index yet: run `isms-assistant ingest`")
        return JSONResponse({"status": "ok", "index_generation": assistant.index_generation()})

    @app.post("/v1/ask", response_model=None)
    def ask(body: AskRequest, holder: TokenHolder = caller) -> JSONResponse | StreamingResponse:
        conversation = conversations.get(holder, body.conversation_id)
        if not body.stream:
            answer = assistant.ask(body.question, role=holder.role, conversation=conversation, llm=body.llm,
                                   user=holder.name)
            return JSONResponse(answer.to_dict())
        pieces = assistant.ask_stream(body.question, role=holder.role, conversation=conversation, llm=body.llm,
                                      user=holder.name)
        first = next(pieces)  # errors in the question (empty, too long) surface as JSON errors, not a stream

        def events() -> Iterator[str]:
            try:
                for item in itertools.chain([first], pieces):
                    if isinstance(item, Answer):
                        yield _sse("answer", item.to_dict())
                    else:
                        yield _sse("delta", {"text": item})
            except ISMSError as exc:
                yield _sse("error", {"status": 500, "message": str(exc)})

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/search")
    def search(body: SearchRequest, holder: TokenHolder = caller) -> dict[str, Any]:
        return payloads.search(assistant, body.query, body.k, holder.role)

    @app.post("/v1/soa/draft")
    def soa_draft(body: DraftRequest, holder: TokenHolder = caller) -> list[dict[str, Any]]:
        return payloads.soa_drafts(assistant, body.controls, holder.role, body.llm)

    @app.get("/v1/soa/check")
    def soa_check(holder: TokenHolder = caller, as_of: date | None = None) -> dict[str, Any]:
        return payloads.soa_check(assistant, holder.role, as_of)

    @app.get("/v1/controls/{reference}")
    def control(reference: str, holder: TokenHolder = caller) -> dict[str, Any]:
        return payloads.control_card(assistant, reference, holder.role)

    return app


def serve(assistant: Assistant, host: str, port: int) -> None:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(assistant), host=host, port=port, log_level="info")


__all__ = ["RateLimiter", "create_app", "serve"]
