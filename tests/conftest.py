"""Shared fixtures: one real ingest of the sample corpus per test session (real model, real Chroma)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from evals.pg_server import PostgresServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# the ingest exports the ONNX query encoder once per cache folder: one per test session, never the user's cache
os.environ.setdefault("ISMS_ONNX_CACHE_DIR", tempfile.mkdtemp(prefix="isms-onnx-test-"))

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Index folder holding an ingest of the sample corpus. Treat it as read-only."""
    from assistant.config import Settings
    from assistant.ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("sample-index")
    settings = Settings(corpus_dir=CORPUS, index_dir=root)
    run_ingest(settings)
    return root


@pytest.fixture(scope="session")
def assistant(sample_index: Path):  # noqa: ANN201 - assistant.service.Assistant
    from assistant.config import Settings
    from assistant.service import Assistant

    return Assistant(Settings(corpus_dir=CORPUS, index_dir=sample_index))


@pytest.fixture(scope="session")
def second_org(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - assistant.service.Assistant
    """The second sample organization (tests/data/second-org) ingested once, its test fixtures left out."""
    from assistant.config import Settings
    from assistant.ingest.pipeline import run_ingest
    from assistant.service import Assistant

    root = tmp_path_factory.mktemp("second-org")
    corpus = root / "corpus"
    shutil.copytree(REPO / "tests" / "data" / "second-org", corpus,
                    ignore=shutil.ignore_patterns("EXPECTED.md", "expected.json"))
    settings = Settings(corpus_dir=corpus, index_dir=root / "index")
    run_ingest(settings)
    return Assistant(settings)


@pytest.fixture(scope="session")
def third_org(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - assistant.service.Assistant
    """The third sample organization (tests/data/third-org: long-form prose guidance, no front matter, no
    registers) ingested once."""
    from assistant.config import Settings
    from assistant.ingest.pipeline import run_ingest
    from assistant.service import Assistant

    root = tmp_path_factory.mktemp("third-org")
    settings = Settings(corpus_dir=REPO / "tests" / "data" / "third-org", index_dir=root / "index")
    run_ingest(settings)
    return Assistant(settings)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private, writable copy of the sample corpus."""
    dest = tmp_path / "corpus"
    shutil.copytree(CORPUS, dest)
    return dest


@dataclass
class ApiServer:
    """`isms-assistant serve` on a copy of the sample index: its URL and one bearer token per role."""

    url: str
    index: Path
    tokens: dict[str, str]  # name → token: staff, manager, isms-lead, guest (public clearance), burst (rate test)


API_ROLES = '{"staff": "internal", "manager": "confidential", "isms-lead": "restricted", "guest": "public"}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, seconds: float = 180.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


@pytest.fixture(scope="session")
def api_server(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A real uvicorn server started as a user would (`isms-assistant serve`), tokens made with the CLI's code."""
    from assistant.api_tokens import add_token

    work = tmp_path_factory.mktemp("api")
    index = work / "index"
    shutil.copytree(sample_index, index, ignore=shutil.ignore_patterns("ingest.lock"))
    tokens_file = work / "tokens.json"
    roles = {"staff", "manager", "isms-lead", "guest"}
    tokens = {role: add_token(tokens_file, role, role, roles) for role in sorted(roles)}
    tokens["burst"] = add_token(tokens_file, "burst", "staff", roles)
    port = free_port()
    env = dict(os.environ, ISMS_INDEX_DIR=str(index), ISMS_API_TOKENS_FILE=str(tokens_file), ISMS_ROLES=API_ROLES,
               ISMS_API_RATE_PER_MINUTE="100000", ISMS_API_MAX_REQUEST_BYTES="8192",
               ISMS_LLM_BASE_URL="", ISMS_DATABASE_URL=f"sqlite:///{work / 'app.db'}")
    log = open(work / "serve.log", "wb")  # noqa: SIM115 - closed after the process ends
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", proc)
        yield ApiServer(url, index, tokens)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (Debian's initdb/pg_ctl in a temporary folder). CI installs the
    binaries (.ci/install-postgres.sh) and fails without them; elsewhere the PostgreSQL tests skip."""
    from evals.pg_server import start_postgres

    server = start_postgres()
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries (initdb, pg_ctl) not found: run .ci/install-postgres.sh")
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not installed")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: an SQLite file, then a new database on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("postgres_server").new_database()
