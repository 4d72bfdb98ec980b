"""A real local HTTP server speaking the OpenAI chat-completions protocol, scripted per test.

Runs on 127.0.0.1 (ephemeral port) in a daemon thread. Each POST to ``/v1/chat/completions`` takes
the next scripted `Reply` (or the last one again when the script is exhausted); a reply can also be
computed from the request by a callable. Requests are recorded for assertions.

Non-streaming requests get one ``chat.completion`` JSON object; ``"stream": true`` requests get
Server-Sent Events: ``data: {chat.completion.chunk}\\n\\n`` ... ``data: [DONE]\\n\\n``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted response."""

    text: str = ""  # the assistant message content (200 replies)
    status: int = 200
    delay: float = 0.0  # seconds to sleep before answering (simulate a hung server)
    garbage: bool = False  # 200 with a body that is not the protocol
    empty_choices: bool = False  # 200 with "choices": []
    chunk_chars: int = 12  # streaming: characters per SSE chunk
    chunk_delay: float = 0.0  # streaming: seconds between chunks
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # raw body for error statuses (default: an OpenAI-style error object)


Responder = Callable[[dict[str, Any]], Reply]


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    def message_text(self, role: str) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == role)


class StubLLM:
    """Start with `start()` (or use as a context manager); `script(...)` sets the replies."""

    def __init__(self, model: str = "stub-model") -> None:
        self.model = model
        self.requests: list[Request] = []
        self._script: list[Reply | Responder] = [Reply(text="I don't know.")]
        self._lock = threading.Lock()
        self._served = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.disconnects: list[float] = []  # time.monotonic() when the stub found the client gone (it stops there)

    # ------------------------------------------------------------------ control
    def script(self, *replies: Reply | Responder) -> None:
        """Replace the script; the requests log is cleared too."""
        with self._lock:
            self._script = list(replies) or [Reply(text="I don't know.")]
            self._served = 0
            self.requests.clear()
            self.disconnects.clear()

    @property
    def url(self) -> str:
        assert self._server is not None, "stub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> StubLLM:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                return

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                if self.path.rstrip("/").endswith("/models"):
                    stub._send_json(self, 200, {"object": "list", "data": [{"id": stub.model, "object": "model"}]})
                else:
                    stub._send_json(self, 404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    stub._send_json(self, 400, {"error": {"message": "invalid JSON"}})
                    return
                if not self.path.rstrip("/").endswith("/v1/chat/completions"):  # as OpenAI and llama.cpp route it
                    stub._send_json(self, 404, {"error": {"message": f"no route {self.path}"}})
                    return
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = stub._next_reply(request)
                stub._respond(self, request, reply)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, name="stub-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StubLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ serving
    def _next_reply(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            item = self._script[min(self._served, len(self._script) - 1)]
            self._served += 1
        return item(request.body) if callable(item) else item

    def _send_json(self, handler: BaseHTTPRequestHandler, status: int, payload: Any,
                   headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._send_raw(handler, status, data, "application/json", headers)

    def _send_raw(self, handler: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        try:
            handler.wfile.write(data)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            self.disconnects.append(time.monotonic())

    def _respond(self, handler: BaseHTTPRequestHandler, request: Request, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status != 200:
            body = reply.body if reply.body is not None else json.dumps(
                {"error": {"message": f"stub error {reply.status}", "type": "stub_error", "code": reply.status}})
            self._send_raw(handler, reply.status, body.encode(), "application/json", reply.headers)
            return
        if reply.garbage:
            junk = b"<html><body>502 Bad Gateway from a proxy {not json"
            if request.stream:
                junk = b"data: {this is not json\n\ndata: [DONE]\n\n"
                self._send_raw(handler, 200, junk, "text/event-stream", reply.headers)
            else:
                self._send_raw(handler, 200, junk, "application/json", reply.headers)
            return
        created = int(time.time())
        if not request.stream:
            choices = [] if reply.empty_choices else [{
                "index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": reply.text},
            }]
            self._send_json(handler, 200, {
                "id": "chatcmpl-stub", "object": "chat.completion", "created": created, "model": self.model,
                "choices": choices,
                "usage": {"prompt_tokens": 10, "completion_tokens": max(1, len(reply.text) // 4),
                          "total_tokens": 10 + max(1, len(reply.text) // 4)},
            }, reply.headers)
            return
        self._stream(handler, reply, created)

    def _stream(self, handler: BaseHTTPRequestHandler, reply: Reply, created: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        for key, value in reply.headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.close_connection = True

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": created,
                     "model": self.model, "choices": [] if reply.empty_choices else
                     [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(chunk)}\n\n".encode()

        try:
            handler.wfile.write(event({"role": "assistant", "content": ""}))
            step = max(1, reply.chunk_chars)
            for i in range(0, len(reply.text), step):
                if reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
                handler.wfile.write(event({"content": reply.text[i:i + step]}))
                handler.wfile.flush()
            handler.wfile.write(event({}, "stop"))
            handler.wfile.write(b"data: [DONE]\n\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client closed the stream: generation stops here
            self.disconnects.append(time.monotonic())
