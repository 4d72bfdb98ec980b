"""The other doors into the ISMS: the HTTP API (real uvicorn servers, real HTTP), the MCP server (driven by the
SDK's own client over stdio and streamable HTTP) and the LangChain retriever (inside a runnable chain with a fake
chat model). Each applies the caller's clearance through the facade; the leak suite for all three lives in
test_access_leaks.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.api_tokens import TokensFileError, TokenStore, add_token, token_hash
from assistant.doors.http_api import RateLimiter

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------- tokens (unit)
def test_tokens_are_shown_once_and_stored_as_hashes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = add_token(path, "service-desk-bot", "staff", {"staff", "isms-lead"})
    stored = path.read_text(encoding="utf-8")
    assert token not in stored and token_hash(token) in stored
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    store = TokenStore(path)
    assert store.holder(token).role == "staff" and store.holder(token).name == "service-desk-bot"
    assert store.holder(token + "x") is None and store.holder("") is None
    with pytest.raises(TokensFileError, match="exists already"):
        add_token(path, "service-desk-bot", "staff", {"staff"})
    with pytest.raises(TokensFileError, match="unknown role"):
        add_token(path, "other", "admin", {"staff"})
    second = add_token(path, "portal", "isms-lead", {"staff", "isms-lead"})
    assert store.holder(second).role == "isms-lead"  # the store re-reads a changed file: no restart


def test_tokens_file_in_toml_and_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    token = add_token(path, "bot", "manager", {"manager"})
    assert "[[tokens]]" in path.read_text(encoding="utf-8")
    assert TokenStore(path).holder(token).role == "manager"
    broken = tmp_path / "broken.json"
    broken.write_text('{"tokens": [{"name": "x"}]}', encoding="utf-8")
    with pytest.raises(TokensFileError, match="name, role and sha256"):
        TokenStore(broken).holder("anything")


def test_rate_limiter_counts_a_sliding_minute_per_key() -> None:
    limiter = RateLimiter(3)
    assert [limiter.wait_seconds("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert 59 < limiter.wait_seconds("a") <= 60
    assert limiter.wait_seconds("b") == 0.0


# ---------------------------------------------------------------------------------------------- HTTP API
def _post(server: Any, path: str, body: dict[str, Any], who: str | None = "staff", **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.tokens[who]}"} if who else {}
    return httpx.post(f"{server.url}{path}", json=body, headers=headers, timeout=120, **kw)


def _get(server: Any, path: str, who: str | None = "staff") -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.tokens[who]}"} if who else {}
    return httpx.get(f"{server.url}{path}", headers=headers, timeout=120)


@pytest.mark.integration
def test_api_refuses_without_a_valid_token_and_errors_are_json(api_server: Any) -> None:
    assert httpx.get(f"{api_server.url}/healthz").json()["status"] == "ok"
    missing = _post(api_server, "/v1/ask", {"question": "who approves access?"}, who=None)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "bearer token" in missing.json()["error"]["message"]
    wrong = httpx.post(f"{api_server.url}/v1/ask", json={"question": "x"}, headers={"Authorization": "Bearer isms_nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "unknown or revoked token"
    invalid = _post(api_server, "/v1/search", {"query": "backups", "k": 500})
    assert invalid.status_code == 422 and "k" in invalid.json()["error"]["message"]
    assert _get(api_server, "/v1/nothing-here").json()["error"]["status"] == 404
    paths = httpx.get(f"{api_server.url}/openapi.json").json()["paths"]
    assert {"/v1/ask", "/v1/search", "/v1/soa/draft", "/v1/soa/check", "/v1/controls/{reference}", "/healthz"} <= set(paths)


@pytest.mark.integration
def test_api_ask_returns_what_ask_json_prints(api_server: Any) -> None:
    question = "How often are access rights reviewed?"
    over_http = _post(api_server, "/v1/ask", {"question": question, "llm": False})
    assert over_http.status_code == 200
    env = dict(os.environ, ISMS_INDEX_DIR=str(api_server.index), ISMS_LLM_BASE_URL="")
    cli = subprocess.run([sys.executable, "-m", "assistant.cli", "ask", question, "--json", "--role", "staff"],
                         env=env, capture_output=True, text=True, timeout=300, check=True)
    api, printed = over_http.json(), json.loads(cli.stdout)
    assert api.keys() == printed.keys() and api["timings_ms"].keys() == printed["timings_ms"].keys()
    for key in ("question", "answer", "abstained", "citations", "controls", "risks", "answerer"):
        assert api[key] == printed[key], key
    assert "quarterly" in api["answer"] and api["citations"]


@pytest.mark.integration
def test_api_follow_ups_stay_within_one_tokens_conversation(api_server: Any) -> None:
    first = _post(api_server, "/v1/ask", {"question": "What do I do if I lose my laptop?", "conversation_id": "c1"})
    follow = _post(api_server, "/v1/ask", {"question": "and who do I tell?", "conversation_id": "c1"})
    assert first.status_code == follow.status_code == 200
    assert "Service Desk" in follow.json()["answer"]
    other = _post(api_server, "/v1/ask", {"question": "and who do I tell?", "conversation_id": "c1"}, who="manager")
    assert other.json()["answer"] != follow.json()["answer"]  # another token never reads staff's conversation


@pytest.mark.integration
def test_api_search_controls_and_soa_routes(api_server: Any) -> None:
    found = _post(api_server, "/v1/search", {"query": "restore test of backups", "k": 3}).json()
    assert len(found["results"]) == 3 and found["results"][0]["source"] == "procedures/backup-and-restore-procedure.md"
    assert {"source", "section", "span", "classification", "text", "score", "rank"} <= set(found["results"][0])
    control = _get(api_server, "/v1/controls/A.9.2.5").json()
    assert control["id"] == "5.18" and control["soa"]["control_id"] == "5.18" and control["process"]
    assert _get(api_server, "/v1/controls/backup").json()["id"] == "8.13"
    unknown = _get(api_server, "/v1/controls/9.99")
    assert unknown.status_code == 404 and "unknown control" in unknown.json()["error"]["message"]
    drafts = _post(api_server, "/v1/soa/draft", {"controls": ["5.15", "A.12.3.1"]}, who="isms-lead").json()
    assert [d["control_id"] for d in drafts] == ["5.15", "8.13"] and all(d["citations"] for d in drafts)
    check = _get(api_server, "/v1/soa/check", who="isms-lead").json()
    assert check["counts"]["total"] == len(check["findings"]) > 0
    refused = _get(api_server, "/v1/soa/check", who="guest")  # public clearance: the internal SoA is above it
    assert refused.status_code == 403 and "clearance" in refused.json()["error"]["message"]
    assert _post(api_server, "/v1/soa/draft", {"controls": ["5.15"]}, who="guest").status_code == 403
    assert _get(api_server, "/v1/controls/5.15", who="guest").json()["soa"] is None


@pytest.mark.integration
def test_api_refuses_a_request_body_over_the_limit(api_server: Any) -> None:
    big = _post(api_server, "/v1/ask", {"question": "backups " * 2000})  # ~16 kB, the server's limit is 8 kB
    assert big.status_code == 413 and "ISMS_API_MAX_REQUEST_BYTES" in big.json()["error"]["message"]
    chunked = httpx.post(f"{api_server.url}/v1/ask", headers={"Authorization": f"Bearer {api_server.tokens['staff']}",
                                                           "Content-Type": "application/json"},
                         content=iter([b'{"question": "', b"x" * 9000, b'"}']))  # no Content-Length
    assert chunked.status_code == 413


@pytest.mark.integration
def test_api_streams_the_answer_as_server_sent_events(api_server: Any) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream("POST", f"{api_server.url}/v1/ask", json={"question": "who approves access?", "stream": True},
                      headers={"Authorization": f"Bearer {api_server.tokens['staff']}"}, timeout=120) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in resp.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((event, json.loads(line.removeprefix("data: "))))
    assert events[-1][0] == "answer" and events[-1][1]["citations"]
    assert set(events[-1][1]) >= {"question", "answer", "abstained", "citations", "answerer"}


@pytest.fixture
def slow_rate_server(sample_index: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A second uvicorn server, in this process, allowing 3 requests a minute per token."""
    import socket

    import uvicorn

    from assistant.config import Settings
    from assistant.doors.http_api import create_app
    from assistant.service import Assistant

    tokens_file = tmp_path / "tokens.json"
    token = add_token(tokens_file, "bot", "staff", {"staff"})
    app = create_app(Assistant(Settings(index_dir=sample_index, api_rate_per_minute=3)), TokenStore(tokens_file))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.integration
def test_api_rate_limit_answers_429_with_retry_after(slow_rate_server: tuple[str, str]) -> None:
    url, token = slow_rate_server
    headers = {"Authorization": f"Bearer {token}"}
    codes = [httpx.post(f"{url}/v1/search", json={"query": "backups", "k": 1}, headers=headers).status_code
             for _ in range(3)]
    assert codes == [200, 200, 200]
    limited = httpx.post(f"{url}/v1/search", json={"query": "backups", "k": 1}, headers=headers)
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    assert "ISMS_API_RATE_PER_MINUTE" in limited.json()["error"]["message"]


# ---------------------------------------------------------------------------------------------- MCP
TOOLS = {"ask_isms", "search_isms", "get_control", "draft_soa_justification", "check_soa"}


def _mcp_env(index: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, ISMS_INDEX_DIR=str(index), ISMS_LLM_BASE_URL="", **extra)


async def _stdio_session_calls(index: Path) -> dict[str, Any]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "assistant.cli", "mcp", "--role", "staff"],
                                   env=_mcp_env(index), cwd=str(REPO))
    out: dict[str, Any] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        out["tools"] = {t.name for t in (await session.list_tools()).tools}
        for name, args in (("ask_isms", {"question": "How often are access rights reviewed?"}),
                           ("search_isms", {"query": "restore test of backups", "k": 3}),
                           ("get_control", {"control": "A.9.2.5"}),
                           ("draft_soa_justification", {"control": "5.15"}),
                           ("check_soa", {}),
                           ("get_control:bad", {"control": "9.99"})):
            result = await session.call_tool(name.split(":")[0], args)
            out[name] = (result.is_error, result.structured_content, [getattr(c, "text", "") for c in result.content])
    return out


@pytest.mark.integration
def test_mcp_server_over_stdio_lists_and_runs_every_tool(sample_index: Path) -> None:
    import anyio

    calls = anyio.run(_stdio_session_calls, sample_index)
    assert calls["tools"] == TOOLS
    error, answer, _ = calls["ask_isms"]
    assert not error and "quarterly" in answer["answer"]
    assert all({"source", "section", "quote"} <= set(c) for c in answer["citations"]) and answer["citations"]
    assert calls["search_isms"][1]["results"][0]["source"] == "procedures/backup-and-restore-procedure.md"
    assert calls["get_control"][1]["id"] == "5.18" and calls["get_control"][1]["soa"]["risks"]
    draft = calls["draft_soa_justification"][1]
    assert draft["control_id"] == "5.15" and draft["citations"] and "[1]" in draft["justification"]
    assert calls["check_soa"][1]["counts"]["total"] > 0
    error, _, text = calls["get_control:bad"]
    assert error and "unknown control '9.99'" in text[0]


async def _http_search(url: str, token: str | None, query: str) -> list[str]:
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http, \
            streamable_http_client(f"{url}/mcp", http_client=http) as streams, \
            ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        result = await session.call_tool("search_isms", {"query": query, "k": 5})
        return [r["source"] for r in result.structured_content["results"]]


@pytest.mark.integration
def test_mcp_server_over_http_takes_the_role_from_the_bearer_token(api_server: Any) -> None:
    import anyio

    from tests.conftest import free_port, wait_for_http  # type: ignore[import-not-found]

    port = free_port()
    env = _mcp_env(api_server.index, ISMS_API_TOKENS_FILE=str(api_server.index.parent / "tokens.json"))
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "mcp", "--transport", "http", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(REPO))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/.well-known/oauth-protected-resource/mcp", proc)
        refused = httpx.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401
        question = "Operation Bluebell investigation personal Gmail"
        staff = anyio.run(_http_search, url, api_server.tokens["staff"], question)
        lead = anyio.run(_http_search, url, api_server.tokens["isms-lead"], question)
        assert staff and "records/hr-investigation-note-2026-003.md" not in staff
        assert lead[0] == "records/hr-investigation-note-2026-003.md"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ---------------------------------------------------------------------------------------------- LangChain
@pytest.mark.integration
def test_langchain_retriever_in_a_runnable_chain(assistant: Any) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    from assistant.integrations.langchain import ISMSRetriever

    retriever = ISMSRetriever(role="staff", k=3, assistant=assistant)
    docs = retriever.invoke("How often are access rights reviewed?")
    assert len(docs) == 3 and "quarterly" in " ".join(d.page_content for d in docs)
    assert {"source", "section", "span", "classification", "chunk_id", "title", "score", "role"} <= set(docs[0].metadata)
    prompts: list[str] = []

    def seen(prompt: Any) -> Any:
        prompts.append(prompt.to_string())
        return prompt

    prompt = ChatPromptTemplate.from_template("Answer from these passages:\n{context}\n\nQuestion: {question}")
    llm = FakeListChatModel(responses=["Quarterly, for privileged accounts."])
    chain = ({"context": retriever | (lambda ds: "\n\n".join(f"[{d.metadata['source']}] {d.page_content}" for d in ds)),
              "question": RunnablePassthrough()} | prompt | RunnableLambda(seen) | llm)
    assert chain.invoke("How often are access rights reviewed?").content == "Quarterly, for privileged accounts."
    assert "policies/access-control-policy.md" in prompts[0] and "quarterly" in prompts[0]
