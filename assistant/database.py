"""Where the app's databases live, and the one declarative base of their tables.

``ISMS_DATABASE_URL`` (any SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host/isms``; read from the
settings or, at call time, the environment) holds every store. Without it each store keeps an SQLite
file in the index folder, which survives re-ingests: answer feedback in ``app.db``, SoA edits and
approvals in ``soa-history.sqlite``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import DeclarativeBase

from assistant.config import Settings

FEEDBACK_FILE = "app.db"
SOA_HISTORY_FILE = "soa-history.sqlite"


class Base(DeclarativeBase):
    """Declarative base of the stores' tables (each store creates only its own tables)."""


def configured_url(settings: Settings) -> str:
    """``ISMS_DATABASE_URL`` from the settings or the environment; "" when neither sets it."""
    return (settings.database_url or os.environ.get("ISMS_DATABASE_URL", "")).strip()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def database_url(settings: Settings, default_file: str) -> str:
    """``ISMS_DATABASE_URL`` if set, else the SQLite file `default_file` inside the index folder."""
    return configured_url(settings) or sqlite_url(Path(settings.index_dir) / default_file)


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def database_exists(url: str) -> bool:
    """False only for an SQLite file that is not there yet (opening a store would create it, empty)."""
    path = _sqlite_file(make_url(url))
    return path is None or path.exists()


def open_engine(url: str, rows: Sequence[type[Base]]) -> Engine:
    """An engine for the URL, with the tables of the given row classes created when missing (and an SQLite
    file's folder)."""
    path = _sqlite_file(make_url(url))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[row.__tablename__] for row in rows])
    return engine
