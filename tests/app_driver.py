"""Drive the Streamlit app headless (streamlit.testing.v1.AppTest) on a given index, as a given local role."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
APP = str(REPO / "ui" / "app.py")
TIMEOUT = 180


def app_test(monkeypatch: pytest.MonkeyPatch, index: Path, tmp_path: Path, role: str = "staff",
             corpus: Path = CORPUS, **env: str):  # noqa: ANN201 - AppTest
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ISMS_INDEX_DIR", str(index))
    monkeypatch.setenv("ISMS_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("ISMS_UI_ROLE", role)
    monkeypatch.setenv("ISMS_DATABASE_URL", f"sqlite:///{tmp_path / 'feedback.db'}")
    monkeypatch.delenv("ISMS_AUTH_MODE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
