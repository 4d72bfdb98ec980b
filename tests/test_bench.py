"""The benchmark script runs end to end on a tiny corpus (CI proves it works; figures are not asserted),
and the synthetic corpus builder makes varied documents, not copies."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evals.synth_corpus import build  # noqa: E402

STAGES = {"analysis", "embed", "dense", "lexical", "fusion", "retrieve", "answer", "total"}


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_synthetic_corpus_is_varied_and_reproducible(tmp_path: Path) -> None:
    written = build(tmp_path / "a", 60, seed=3)
    assert len(written) == 60 == len(set(written))
    texts = [(tmp_path / "a" / rel).read_text(encoding="utf-8") for rel in written]
    assert len({hashlib.sha256(t.encode()).hexdigest() for t in texts}) == 60  # no byte copies
    metas = [_front_matter(t) for t in texts]
    assert len({m["title"] for m in metas}) > 40
    assert {m["classification"] for m in metas} >= {"internal", "confidential", "restricted"}
    assert all(m["id"].startswith("SYN-") for m in metas)
    assert sum("Halden Analytics Ltd" not in t for t in texts) > 20  # company names substituted
    sample = (REPO / "corpus").rglob("*.md")
    originals = {p.read_text(encoding="utf-8") for p in sample}
    assert not originals & set(texts)
    again = build(tmp_path / "b", 60, seed=3)
    assert [(tmp_path / "b" / r).read_text(encoding="utf-8") for r in again] == texts


@pytest.mark.integration
def test_bench_tiny_runs_and_reports_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "evals" / "bench.py"), "--tiny", "--scale", "3", "--chroma-server", "--json",
         "--out", str(out), "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == report
    assert report["machine"]["tiny"] is True and len(report["machine"]["load_avg_start"]) == 3

    lat = report["latency"]
    assert lat["questions"] >= 3
    for run in ("first", "repeat"):
        assert set(lat[run]) == STAGES
        assert all(v["p50"] is not None and v["p95"] >= v["p50"] >= 0 for v in lat[run].values())
    assert lat["first"]["total"]["p50"] > 0 and lat["first"]["embed"]["p50"] > 0
    assert lat["tutorial"]["retrieve"]["p50"] > 0 and lat["tutorial"]["chunks"] > 0

    ing = report["ingest"]
    assert ing["chunks"] > 0 and ing["files"] == 3
    assert ing["chunks_per_s"] > 0 and ing["encode_only_chunks_per_s"] > 0 and ing["ratio"] > 0
    before, after = ing["encode_only_before_after_seconds"]
    assert before > 0 and after > 0 and abs(ing["encode_only_seconds"] - (before + after) / 2) <= 0.01
    assert 0 <= ing["reingest_unchanged_seconds"] < ing["ingest_seconds"]

    cold = report["cold_ask"]
    assert cold["wall_seconds"] > 0 and cold["in_process_total_ms"] > 0

    (row,) = report["scale"]
    assert row["docs"] == 3 and row["files"] == 3 and row["chunks"] > 0 and row["backend"] == "torch"
    assert row["index_mb"] > 0 and row["peak_rss_mb"] > 100 and row["query_total"]["p50"] > 0
    assert set(row["query_stages"]) == STAGES and row["query_stages"]["dense"]["p50"] > 0

    srv = report["server"]
    assert srv["server"]["dense"]["p50"] > 0 and srv["embedded"]["dense"]["p50"] > 0
