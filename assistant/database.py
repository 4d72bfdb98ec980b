"""Where the app's databases live, and the one declarative base of their tables.

``ISMS_DATABASE_URL`` (any SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host/isms``; read from the
settings or, at call time, the environment) holds every store. Without it each store keeps an SQLite
file in the index folder, which survives re-ingests: answer feedback in ``app.db``, SoA edits and
approvals in ``soa-history.sqlite``, the audit trail in ``app.db``. Several app processes share one PostgreSQL
database (evals/pg_server.py starts one as the deployment does).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Integer, create_engine, insert, select, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from assistant.config import Settings
from assistant.errors import DatabaseSchemaError

FEEDBACK_FILE = "app.db"
SOA_HISTORY_FILE = "soa-history.sqlite"
# The tables' layout. Tables are created with `create_all` (each store only adds tables of its own); a
# change to an existing table's columns raises this number and brings its upgrade step with it.
SCHEMA_VERSION = 1
SCHEMA_LOCK_KEY = 0x15A5_0001  # PostgreSQL advisory lock held while tables are created
_OPEN_LOCK = threading.Lock()  # the same within one process (SQLite has no such lock)


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


class SchemaVersionRow(Base):
    """One row: the version of the tables' layout this database holds."""

    __tablename__ = "isms_schema_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


def open_engine(url: str, rows: Sequence[type[Base]]) -> Engine:
    """An engine for the URL, with the tables of the given row classes created when missing (and an SQLite
    file's folder), and the schema version checked: DatabaseSchemaError when the database was written by a
    newer layout than this code knows. On PostgreSQL an advisory lock makes processes starting together
    create the tables one at a time."""
    path = _sqlite_file(make_url(url))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True, pool_pre_ping=True)
    tables = [Base.metadata.tables[row.__tablename__] for row in (SchemaVersionRow, *rows)]
    with _OPEN_LOCK, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        Base.metadata.create_all(conn, tables=tables)
        stored = conn.execute(select(SchemaVersionRow.version).where(SchemaVersionRow.id == 1)).scalar()
        if stored is None:
            conn.execute(insert(SchemaVersionRow).values(id=1, version=SCHEMA_VERSION))
        elif stored > SCHEMA_VERSION:
            raise DatabaseSchemaError(
                f"the database at {make_url(url).render_as_string(hide_password=True)} has schema version "
                f"{stored}; this ISMS Assistant knows up to {SCHEMA_VERSION}: upgrade the app before using it")
    return engine
