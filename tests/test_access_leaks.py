"""Access-control leak suite: for staff and manager, questions aimed at every document above their clearance
(by title, quoted phrases, control ids, section headings and follow-ups) through the facade, the CLI and
SoA drafts/exports must never return any of those documents' text, titles or paths.

"Fingerprints" of a forbidden document are its lines and sentences (>= 40 characters), its path, its title
and its distinctive phrases, each only when it occurs in no document the role may see (the internal SoA,
for one, names the paths of confidential implementing documents). Any fingerprint in any output is a leak,
and so is any citation, closest document or retrieved source the role may not see. (UI leak checks live in the UI's AppTest file.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.answer.types import Answer
from assistant.config import DEFAULT_ROLES, classification_rank
from assistant.index import store
from assistant.index.collection import ChunkCollection, DenseSearch
from assistant.retrieval.query import Conversation
from assistant.service import Assistant

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
ROLES = ("staff", "manager")
PHRASES = ["Operation Bluebell", "Cobalt Ridge", "INC-2026-014", "E-1187", "HR-INV-2026-003", "CRS-HAL-2603",
           "Grace Whitfield", "personal Gmail", "adm-firstname.lastname", "Vault recovery key", "Tenant data keys"]


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@dataclass
class Forbidden:
    source: str
    title: str
    classification: str
    controls: list[str]
    headings: list[str]
    fingerprints: list[str] = field(default_factory=list)  # normalised strings that must never appear


@dataclass
class RoleView:
    role: str
    clearance: int
    allowed: set[str]
    forbidden: list[Forbidden]


def _pieces(text: str) -> list[str]:
    out = []
    for line in text.split("\n"):
        out.append(line)
        out.extend(re.split(r"(?<=[.!?])\s+", line))
    return [p.strip(" |-") for p in out if len(p.strip(" |-")) >= 40]


@pytest.fixture(scope="module")
def views(sample_index: Path) -> dict[str, RoleView]:
    gen = store.load_generation(sample_index)
    files = gen.manifest["files"]
    out: dict[str, RoleView] = {}
    for role in ROLES:
        clearance = classification_rank(DEFAULT_ROLES[role])
        allowed = {s for s, f in files.items() if classification_rank(f["classification"]) <= clearance}
        visible = norm(" ".join(c.text + " " + c.title + " " + " ".join(c.trail)
                                for c in gen.chunks if c.class_rank <= clearance))
        forbidden = []
        for source, f in sorted(files.items()):
            if source in allowed:
                continue
            chunks = [c for c in gen.chunks if c.source == source]
            assert chunks and all(c.class_rank > clearance for c in chunks)
            headings = list(dict.fromkeys(t for c in chunks for t in c.trail))
            doc = Forbidden(source, f["title"], f["classification"], list(f.get("doc_controls") or []), headings)
            candidates = {norm(p) for c in chunks for p in _pieces(c.text)}
            candidates |= {norm(f["title"])} | {norm(p) for p in PHRASES if norm(p) in norm(" ".join(c.text for c in chunks))}
            # the path too, unless a visible document names it (the internal SoA lists implementing documents)
            candidates.add(source.lower())
            doc.fingerprints = sorted(c for c in candidates if c not in visible)
            forbidden.append(doc)
        assert forbidden, f"the sample corpus should hold documents above {role}'s clearance"
        out[role] = RoleView(role, clearance, allowed, forbidden)
    assert {"records/hr-investigation-note-2026-003.md"} == {d.source for d in out["manager"].forbidden}
    assert len(out["staff"].forbidden) >= 5
    return out


def questions_for(doc: Forbidden) -> list[str]:
    qs = [doc.title, f"What does the {doc.title} say?", f"Summarise {doc.source}",
          f"Show me the {doc.classification} document about {doc.title.lower()}"]
    body = " ".join(doc.headings)
    qs += [f'What is "{p}"?' for p in PHRASES if p.lower() in (body + " " + " ".join(doc.fingerprints)).lower()]
    qs += [f"How do we implement control {cid}?" for cid in doc.controls[:4]]
    qs += [f"{h}?" for h in doc.headings[:4]]
    return list(dict.fromkeys(qs))


def leaks(view: RoleView, text: str, question: str = "") -> list[str]:
    """Fingerprints of forbidden documents in `text` (the echoed question itself excluded)."""
    blob = norm(text.replace(question, " ")) if question else norm(text)
    return [f"{d.source}: {fp[:70]!r}" for d in view.forbidden for fp in d.fingerprints if fp in blob]


def answer_leaks(view: RoleView, answer: Answer) -> list[str]:
    problems = [f"cited {c.source}" for c in answer.citations if c.source not in view.allowed]
    problems += [f"closest {c['source']}" for c in answer.closest if c["source"] not in view.allowed]
    problems += [f"retrieved {s}" for s in answer.retrieved_sources if s not in view.allowed]
    parts = [answer.answer, answer.notice or "", answer.fallback_reason or ""]
    parts += [f"{c.source} {c.section} {c.span} {c.text} {' '.join(c.quotes)}" for c in answer.citations]
    parts += [" ".join(c.values()) for c in answer.closest]
    return problems + leaks(view, "\n".join(parts))


@pytest.mark.parametrize("role", ROLES)
def test_facade_ask_and_retrieve_never_leak(assistant: Assistant, views: dict[str, RoleView], role: str) -> None:
    view = views[role]
    problems: list[str] = []
    asked = 0
    for doc in view.forbidden:
        for question in questions_for(doc):
            answer = assistant.ask(question, role=role, llm=False)
            asked += 1
            problems += [f"{question!r}: {p}" for p in answer_leaks(view, answer)]
            for mode in ("hybrid", "dense", "lexical"):
                _, result = assistant.retrieve(question, role=role, mode=mode, top_k=30)
                problems += [f"{question!r} {mode}: hit {h.chunk.source}" for h in result.hits
                             if h.chunk.source not in view.allowed or h.chunk.class_rank > view.clearance]
    report("facade", view, asked, "questions (each asked and retrieved in 3 modes)", problems, 4 * len(view.forbidden))


@pytest.mark.parametrize("role", ROLES)
def test_follow_up_conversations_never_leak(assistant: Assistant, views: dict[str, RoleView], role: str) -> None:
    view = views[role]
    problems: list[str] = []
    for doc in view.forbidden:
        conversation = Conversation()
        turns = [f"Tell me about {doc.title}", "and who owns it?", "what did it find?", "tell me more about that",
                 *(f"what about {cid}?" for cid in doc.controls[:2]), "and the named people in it?"]
        for question in turns:
            answer = assistant.ask(question, role=role, conversation=conversation, llm=False)
            problems += [f"{doc.source} {question!r}: {p}" for p in answer_leaks(view, answer)]
    assert not problems, "\n".join(problems[:40])


def report(door: str, view: RoleView, count: int, what: str, problems: list[str], minimum: int) -> None:
    """Print the door's leak-suite count (figures for the closing note) and fail on any leak."""
    print(f"\nleak suite, {door} ({view.role}): {count} {what} aimed at {len(view.forbidden)} documents above the "
          f"clearance: {len(problems)} leaks")
    assert count >= minimum
    assert not problems, "\n".join(problems[:40])


def test_the_checks_can_see_a_leak(assistant: Assistant, views: dict[str, RoleView]) -> None:
    """The same questions asked by the ISMS lead do return the documents: the fingerprints would catch a leak."""
    view = views["staff"]
    hr = next(d for d in view.forbidden if d.source == "records/hr-investigation-note-2026-003.md")
    answer = assistant.ask("What happened in Operation Bluebell with the personal Gmail account?", role="isms-lead",
                           llm=False)
    assert answer_leaks(view, answer), "a restricted answer must trip the leak detector"
    assert any(hr.source in p for p in answer_leaks(view, answer))


# ---------------------------------------------------------------------------------------------- CLI

def _cli_env(sample_index: Path) -> dict[str, str]:
    return dict(os.environ, ISMS_INDEX_DIR=str(sample_index), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                ISMS_LLM_BASE_URL="", NO_COLOR="1", COLUMNS="200")


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", *args]


def test_cli_ask_json_and_chat_never_leak(sample_index: Path, views: dict[str, RoleView]) -> None:
    env = _cli_env(sample_index)
    procs = []
    for role in ROLES:
        view = views[role]
        hr = next(d for d in view.forbidden if d.source.startswith("records/hr-"))
        procs.append((role, "ask", subprocess.Popen(
            _cli(["ask", f"What happened in {hr.title} (Operation Bluebell)?", "--json", "--role", role, "--no-llm"]),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        script = []
        for doc in view.forbidden:
            script += questions_for(doc)[:5] + ["and who was involved in it?", "/sources"]
        procs.append((role, "chat", subprocess.Popen(
            _cli(["chat", "--role", role, "--no-llm"]), env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        procs[-1][2].stdin.write("\n".join(script + ["/quit"]) + "\n")
        procs[-1][2].stdin.close()
    problems: list[str] = []
    for role, kind, proc in procs:
        out = proc.stdout.read()
        err = proc.stderr.read()
        assert proc.wait(timeout=300) == 0, (role, kind, err[-2000:])
        view = views[role]
        if kind == "ask":
            data = json.loads(out)
            assert data["question"] and "answer" in data
            problems += [f"{role} ask: cited {c['source']}" for c in data["citations"] if c["source"] not in view.allowed]
            out = out.replace(json.dumps(data["question"], ensure_ascii=False)[1:-1], " ")
        else:
            assert out.count("[1]") >= 1, out[:2000]  # the chat really answered something (piped: no echo)
        problems += [f"{role} {kind}: {p}" for p in leaks(view, out)]
    assert not problems, "\n".join(problems[:40])


# ---------------------------------------------------------------------------------------------- SoA

@pytest.mark.parametrize("role", ROLES)
def test_soa_drafts_exports_and_checks_never_leak(assistant: Assistant, views: dict[str, RoleView], role: str,
                                                 tmp_path: Path) -> None:
    from assistant.soa import export

    view = views[role]
    controls = sorted({cid for d in view.forbidden for cid in d.controls})
    assert controls
    drafts = assistant.draft_soa(controls, role=role, llm=False, history=False)
    assert len(drafts) == len(controls)
    outputs = {
        "json": json.dumps([d.to_dict() for d in drafts], ensure_ascii=False),
        "md": export.to_markdown(drafts),
        "csv": export.to_csv(drafts),
    }
    xlsx = export.write_xlsx(drafts, tmp_path / "soa.xlsx")
    outputs["xlsx"] = json.dumps([export.read_xlsx(xlsx), export.read_xlsx(xlsx, "Citations")], ensure_ascii=False)
    outputs["check"] = json.dumps(assistant.check_soa(role).to_dict(), ensure_ascii=False, default=str)
    problems = [f"cited {c.source} for {d.control_id}" for d in drafts for c in d.citations
                if c.source and c.source not in view.allowed]
    for name, text in outputs.items():
        problems += [f"{name}: {p}" for p in leaks(view, text)]
    assert not problems, "\n".join(problems[:40])


# ---------------------------------------------------------------------------------------------- property

@pytest.fixture(scope="module")
def vocabulary(sample_index: Path) -> list[str]:
    gen = store.load_generation(sample_index)
    words: set[str] = set()
    for c in gen.chunks:
        if c.class_rank >= 2:  # words of confidential and restricted documents: the riskiest queries
            words.update(w for w in re.findall(r"[A-Za-z][\w-]{3,}", c.text))
    return sorted(words) + PHRASES + ["5.15", "6.4", "8.24", "A.9.2.3", "R-004", "restricted", "confidential"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_retrieval_results_are_always_within_clearance(assistant: Assistant, views: dict[str, RoleView],
                                                       vocabulary: list[str], data: st.DataObject) -> None:
    words = data.draw(st.lists(st.sampled_from(vocabulary), min_size=1, max_size=12))
    role = data.draw(st.sampled_from(sorted(DEFAULT_ROLES)))
    mode = data.draw(st.sampled_from(["hybrid", "dense", "lexical"]))
    top_k = data.draw(st.integers(1, 40))
    clearance = classification_rank(DEFAULT_ROLES[role])
    allowed = views[role].allowed if role in views else None
    _, result = assistant.retrieve(" ".join(words), role=role, mode=mode, top_k=top_k)
    for hit in result.hits:
        assert hit.chunk.class_rank <= clearance, (role, hit.chunk.source)
        assert allowed is None or hit.chunk.source in allowed, (role, hit.chunk.source)
    assert allowed is None or set(result.documents) <= allowed, (role, result.documents)


class CountingCollection:
    """The real chunk collection, counting the queries Chroma filtered (a `where` on class_rank)."""

    def __init__(self, collection: ChunkCollection) -> None:
        self.collection = collection
        self.filtered = 0

    def nearest(self, vector: np.ndarray, n: int, max_rank: int | None = None) -> list[tuple[str, float]]:
        self.filtered += max_rank is not None
        return self.collection.nearest(vector, n, max_rank=max_rank)


@pytest.mark.parametrize("overfetch", [1.5, 1.0])
def test_dense_hits_match_exact_search_within_clearance(assistant: Assistant, overfetch: float) -> None:
    """Dense retrieval fetches unfiltered and filters on the chunk's classification (Chroma's `where` costs
    time linear in the collection). For every clearance it returns only visible chunks, finds the exact
    nearest visible neighbours at least as well as the filtered query it replaced, and falls back to that
    query when too few visible neighbours came back."""
    index = assistant.index
    # HNSW searched at Chroma's default breadth (100) missed exact neighbours on some graph builds
    assert index.collection.search_breadth == assistant.settings.hnsw_ef_search == 200
    counting = CountingCollection(index.collection)
    dense = DenseSearch(counting, index.generation.by_id, overfetch)  # type: ignore[arg-type]
    chunks = index.generation.chunks
    stored = index.collection.vectors([c.id for c in chunks])
    vectors = np.asarray([stored[c.id] for c in chunks])
    ranks_of = np.asarray([c.class_rank for c in chunks])
    questions = [*PHRASES, "How often are access rights reviewed?", "disciplinary investigation of an employee",
                 "encryption key escrow and recovery", "penetration test findings"]
    ranks = sorted(set(ranks_of.tolist()))
    assert len(ranks) >= 3  # public … restricted: the filter has work to do
    found = found_filtered = wanted = 0
    for question in questions:
        vector = index.embedder.encode_query(question)
        sims = vectors @ vector
        order = np.argsort(-sims)
        for rank in ranks:
            for k in (5, 30):
                exact = [i for i in order if ranks_of[i] <= rank][:k]
                floor = sims[exact[-1]] - 1e-5  # a neighbour tied with the k-th exact one counts as found
                got = dense.visible_neighbours(vector, rank, k)
                assert all(c.class_rank <= rank for c, _ in got) and len(got) == len(exact), (question, rank, k)
                filtered = index.collection.nearest(vector, len(exact), max_rank=rank)
                found += sum(sim >= floor for _, sim in got)
                found_filtered += sum(sim >= floor for _, sim in filtered)
                wanted += len(exact)
    # HNSW is approximate either way: the unfiltered search may miss a neighbour the filtered one finds on
    # one graph build and the other way round on the next (1814 vs 1815 of 1815 seen once)
    assert found >= found_filtered - 2 and found / wanted >= 0.99, (found, found_filtered, wanted)
    if overfetch == 1.0:
        assert counting.filtered > 0  # questions aimed at restricted documents needed the fallback


# ---------------------------------------------------------------------------------------------- other doors

def _strings(value: object) -> list[str]:
    """Every string inside a JSON value (keys too), so fingerprints are matched on text, not on JSON escapes."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _door_leaks(view: RoleView, question: str, data: object) -> list[str]:
    text = "\n".join(_strings(data))
    sources = {v for item in _walk(data) for k, v in item.items() if k == "source" and isinstance(v, str)}
    return [f"{question!r}: source {s}" for s in sources if s not in view.allowed] + \
           [f"{question!r}: {p}" for p in leaks(view, text, question)]


def _walk(value: object) -> list[dict[str, object]]:
    if isinstance(value, dict):
        return [value, *(d for v in value.values() for d in _walk(v))]
    if isinstance(value, list | tuple):
        return [d for v in value for d in _walk(v)]
    return []


@pytest.mark.parametrize("role", ROLES)
def test_http_api_never_leaks(api_server: object, views: dict[str, RoleView], role: str) -> None:
    import httpx

    view = views[role]
    headers = {"Authorization": f"Bearer {api_server.tokens[role]}"}  # type: ignore[attr-defined]
    url = api_server.url  # type: ignore[attr-defined]
    problems: list[str] = []
    calls = 0
    for doc in view.forbidden:
        for question in questions_for(doc):
            for path, body in (("/v1/ask", {"question": question, "llm": False}), ("/v1/search", {"query": question, "k": 20}),
                               ("/v1/ask", {"question": question, "stream": True})):
                resp = httpx.post(f"{url}{path}", json=body, headers=headers, timeout=120)
                assert resp.status_code == 200, resp.text
                data = resp.json() if not body.get("stream") else [
                    json.loads(line[6:]) for line in resp.text.splitlines() if line.startswith("data: ")]
                calls += 1
                problems += _door_leaks(view, question, data)
        for cid in doc.controls:
            for resp in (httpx.get(f"{url}/v1/controls/{cid}", headers=headers, timeout=120),
                         httpx.post(f"{url}/v1/soa/draft", json={"controls": [cid]}, headers=headers, timeout=120)):
                calls += 1
                problems += _door_leaks(view, cid, resp.json())
    check = httpx.get(f"{url}/v1/soa/check", headers=headers, timeout=300).json()
    problems += _door_leaks(view, "", check)
    report("HTTP API", view, calls + 1, "requests", problems, 3 * len(view.forbidden))


def _json_or_text(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_the_door_checks_can_see_a_leak(api_server: object, views: dict[str, RoleView]) -> None:
    """The ISMS lead's token does get the restricted note over HTTP: the door checks would catch it for staff."""
    import httpx

    question = "What happened in Operation Bluebell with the personal Gmail account?"
    resp = httpx.post(f"{api_server.url}/v1/ask", json={"question": question, "llm": False}, timeout=120,  # type: ignore[attr-defined]
                      headers={"Authorization": f"Bearer {api_server.tokens['isms-lead']}"})  # type: ignore[attr-defined]
    found = _door_leaks(views["staff"], question, resp.json())
    assert any("records/hr-investigation-note-2026-003.md" in p for p in found), found


async def _mcp_calls(index: Path, role: str, view: RoleView) -> tuple[int, list[str]]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "assistant.cli", "mcp", "--role", role],
                                   env=dict(os.environ, ISMS_INDEX_DIR=str(index), ISMS_LLM_BASE_URL=""), cwd=str(REPO))
    problems: list[str] = []
    calls = 0
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for doc in view.forbidden:
            asks = [("ask_isms", {"question": q}) for q in questions_for(doc)]
            asks += [("search_isms", {"query": q, "k": 20}) for q in questions_for(doc)]
            asks += [(tool, {"control": cid}) for cid in doc.controls for tool in ("get_control", "draft_soa_justification")]
            for tool, args in asks:
                result = await session.call_tool(tool, args)
                calls += 1
                said = next(iter(args.values()))
                texts = [getattr(c, "text", "") for c in result.content]  # the same result as JSON text: read it back
                problems += _door_leaks(view, said, [result.structured_content, [_json_or_text(t) for t in texts]])
        result = await session.call_tool("check_soa", {})
        problems += _door_leaks(view, "", result.structured_content)
    return calls + 1, problems


@pytest.mark.parametrize("role", ROLES)
def test_mcp_server_never_leaks(sample_index: Path, views: dict[str, RoleView], role: str) -> None:
    import anyio

    view = views[role]
    calls, problems = anyio.run(_mcp_calls, sample_index, role, view)
    report("MCP server over stdio", view, calls, "tool calls", problems, 2 * len(view.forbidden))


@pytest.mark.parametrize("role", ROLES)
def test_langchain_retriever_never_leaks(assistant: Assistant, views: dict[str, RoleView], role: str) -> None:
    from assistant.integrations.langchain import ISMSRetriever

    view = views[role]
    retriever = ISMSRetriever(role=role, k=30, assistant=assistant)
    problems: list[str] = []
    calls = 0
    for doc in view.forbidden:
        for question in questions_for(doc):
            found = retriever.invoke(question)
            calls += 1
            problems += _door_leaks(view, question, [{"text": d.page_content, **d.metadata} for d in found])
    report("LangChain retriever", view, calls, "queries", problems, len(view.forbidden))
