"""The MCP server (`isms-assistant mcp`): the ISMS as tools for AI assistants and IDEs, on the official `mcp`
Python SDK.

Over stdio the role is fixed when the server starts (`--role`, else ISMS_MCP_ROLE, else the default role). Over
streamable HTTP (`--transport http`) every request needs a bearer token of the API's tokens file; the token's
role decides the clearance, as in the HTTP API. Each tool result carries its citations (source, section, quote).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from assistant.api_tokens import TokenStore
from assistant.doors import payloads
from assistant.errors import ISMSError

if TYPE_CHECKING:
    from assistant.answer.types import Answer
    from assistant.service import Assistant

ROLE_SCOPE = "role:"
INSTRUCTIONS = (
    "Answers questions about this organization's information security management system (ISO/IEC 27001): its "
    "policies, procedures, risk register and Statement of Applicability. Every answer quotes the documents and "
    "cites them; when the documents do not cover a question it says so. Controls follow from risks: "
    "get_control shows the risks behind a control and the process that implements it."
)


class TokenVerifier:
    """Bearer tokens of the API's tokens file; the role travels as the scope `role:<role>`."""

    def __init__(self, tokens: TokenStore, roles: set[str]) -> None:
        self.tokens, self.roles = tokens, roles

    async def verify_token(self, token: str) -> AccessToken | None:
        holder = self.tokens.holder(token)
        if holder is None or holder.role not in self.roles:
            return None
        return AccessToken(token=token, client_id=holder.name, scopes=[ROLE_SCOPE + holder.role])


def answer_result(answer: Answer) -> dict[str, Any]:
    """An answer with each citation's source, section, span and the words quoted from it."""
    return {
        "answer": answer.answer, "abstained": answer.abstained, "controls": answer.controls, "risks": answer.risks,
        "citations": [{"n": c.n, "source": c.source, "section": c.section, "span": c.span,
                       "quote": " … ".join(c.quotes) or c.text} for c in answer.citations],
        **({"closest": answer.closest} if answer.closest else {}),
    }


def build_server(assistant: Assistant, role: str | None = None, *, http: bool = False, host: str = "127.0.0.1",
                 port: int = 8801) -> MCPServer:
    """The MCP server over one facade. `role`: the stdio role; with `http`, roles come from bearer tokens."""
    settings = assistant.settings
    fixed_role = role or settings.mcp_role or settings.default_role
    settings.clearance_for(fixed_role)  # an unknown role fails here, before any client connects
    auth: dict[str, Any] = {}
    if http:
        base = f"http://{host}:{port}"
        auth = {"token_verifier": TokenVerifier(TokenStore(settings.tokens_path()), set(settings.roles)),
                "auth": AuthSettings(issuer_url=base, resource_server_url=f"{base}/mcp")}
    server: MCPServer = MCPServer("isms-assistant", instructions=INSTRUCTIONS, **auth)

    def caller() -> tuple[str, str]:
        """(who, role) of the request: the bearer token's name and role over http, else the fixed role."""
        if not http:
            return "mcp-stdio", fixed_role
        token = get_access_token()
        scopes = [s for s in (token.scopes if token else []) if s.startswith(ROLE_SCOPE)]
        if token is None or not scopes:
            raise PermissionError("no bearer token with a role")  # the SDK's auth refuses such requests first
        return token.client_id or "mcp", scopes[0].removeprefix(ROLE_SCOPE)

    async def run(work: Callable[[str, str], Any]) -> Any:
        """work(who, role) off the event loop; who and role are read in the request's context first."""
        name, role_now = caller()
        try:
            return await anyio.to_thread.run_sync(lambda: work(name, role_now))
        except (ISMSError, ValueError) as exc:  # a bad question or control id, an SoA above the role's clearance
            raise ToolError(str(exc)) from exc

    @server.tool()
    async def ask_isms(question: str) -> dict[str, Any]:
        """Ask a question about the ISMS; the answer quotes the documents and cites each source."""
        return await run(lambda who, r: answer_result(assistant.ask(question, role=r, llm=False, user=who)))

    @server.tool()
    async def search_isms(query: str, k: int = 8) -> dict[str, Any]:
        """Ranked passages from the ISMS documents and registers for a query (k between 1 and 50)."""
        return await run(lambda _who, r: payloads.search(assistant, query, k, r))

    @server.tool()
    async def get_control(control: str) -> dict[str, Any]:
        """An Annex A control (2022 id such as 5.15, 2013 id such as A.9.2.5, or name): its SoA entry, the risks
        behind it, the documents that implement it and the process steps, with citations."""
        return await run(lambda _who, r: payloads.control_card(assistant, control, r))

    @server.tool()
    async def draft_soa_justification(control: str) -> dict[str, Any]:
        """Draft the Statement of Applicability justification of one control, citing its risks and documents."""
        return await run(lambda _who, r: payloads.soa_drafts(assistant, [control], r)[0])

    @server.tool()
    async def check_soa() -> dict[str, Any]:
        """Check the Statement of Applicability as an auditor would; findings with quotes and fixes."""
        return await run(lambda _who, r: payloads.soa_check(assistant, r))

    return server


def run_server(assistant: Assistant, role: str | None, transport: str, host: str, port: int) -> None:
    """Serve over stdio (default) or streamable HTTP at http://host:port/mcp until interrupted."""
    if transport == "stdio":
        build_server(assistant, role).run("stdio")
    elif transport == "http":
        build_server(assistant, http=True, host=host, port=port).run("streamable-http", host=host, port=port)
    else:
        raise ValueError(f"unknown transport {transport!r}: use stdio or http")


__all__ = ["TokenVerifier", "answer_result", "build_server", "run_server"]
