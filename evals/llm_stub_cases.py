"""The LLM-path cases of the HTTP protocol stub (tests/llm_stub.py), for before/after figures:

    python evals/llm_stub_cases.py INDEX_DIR

1 a stream whose second sentence invents control 5.99: is it shown? 2 a refusal while the composer answered;
3 a whole-answer call with a 1 s limit on a server that needs 8 s: how long the caller waits and when the server
stops; 4 an HTTP 400 naming a 2,048-token window; 5 does the answer's JSON carry the notice.
"""

import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the protocol stub
from llm_stub import Reply, StubLLM  # noqa: E402

from assistant.config import Settings  # noqa: E402
from assistant.llm.client import LLMClient, LLMConfig, LLMError  # noqa: E402
from assistant.service import Assistant  # noqa: E402

IDX = sys.argv[1]
Q = "How often are privileged access rights reviewed?"
PASS = re.compile(r"<<<PASSAGE (\d+) (\w+)>>>\nSource: (.*?) \| Section: (.*?)\n(.*?)\n<<<END PASSAGE \1 \2>>>", re.S)
def sentence(body: dict, word: str) -> tuple[int, str]:
    for m in PASS.finditer(body["messages"][-1]["content"]):
        for line in m.group(5).split("\n"):
            line = re.sub(r"^\s*(?:\d+[.)]|[-*])\s+", "", line).replace("**", "")
            for s in re.split(r"(?<=[.!?])\s+", line):
                if word in s.lower():
                    return int(m.group(1)), s.rstrip(".")
out = {}
with StubLLM() as stub:
    a = Assistant(Settings(index_dir=IDX, llm_base_url=stub.url, llm_timeout=3.0, llm_model="stub"))
    def invented(body: dict) -> Reply:
        n, s = sentence(body, "quarterly")
        return Reply(text=f"{s} [{n}]. This follows control 5.99 [{n}].", chunk_chars=5)
    stub.script(invented)
    items = list(a.ask_stream(Q, llm=True))
    out["1 invented sentence shown while streaming"] = "5.99" in "".join(i for i in items if isinstance(i, str))
    stub.script(Reply(text="I don't know based on the ISMS documents provided."))
    r = a.ask(Q, llm=True)
    out["2 refusal: answerer / abstained / fallback_reason"] = (r.answerer, r.abstained, r.fallback_reason)
    gen = 8.0  # the server needs 8 s to generate the answer
    stub.script(lambda body: Reply(text="x" * 80, chunk_chars=1, chunk_delay=gen / 80) if body.get("stream")
                else Reply(text="x" * 80, delay=gen))
    stub.disconnects.clear()
    c = LLMClient(LLMConfig(base_url=stub.url, model="m", api_key=None, timeout=1.0, configured=True))
    t0 = time.monotonic()
    kind = "none"
    try:
        c.complete([{"role": "user", "content": "hi"}])
    except LLMError as e:
        kind = e.kind
    end = time.monotonic()
    time.sleep(gen + 1)
    lag = round(stub.disconnects[0] - end, 2) if stub.disconnects else None
    out["3 complete() with a 1.0 s limit, 8 s generation: seconds / error / server stopped after / request"] = (
        round(end - t0, 2), kind, lag, "stream" if stub.requests[0].stream else "non-stream")
    llama = "request (2545 tokens) exceeds the available context size (2048 tokens), try increasing it"
    def cited(body: dict) -> Reply:
        n, s = sentence(body, "quarterly")
        return Reply(text=f"{s} [{n}].")
    stub.script(Reply(status=400, body=json.dumps({"error": {"code": 400, "message": llama}})), cited)
    r = a.ask(Q, llm=True)
    out["4 HTTP 400 naming a 2048 window: answerer / requests / notice"] = (r.answerer, len(stub.requests), r.notice)
    stub.script(Reply(status=500))
    r = a.ask(Q, llm=True)
    out["5 ask --json carries notice"] = "notice" in r.to_dict()
print(json.dumps(out, indent=1))
