"""Bearer tokens for the HTTP API and the MCP server: each token maps to a name and a role, so every door
applies that role's clearance.

The file (ISMS_API_TOKENS_FILE, JSON or TOML) stores only the SHA-256 of each token; `add_token` returns the
token once. Tokens are 32 random bytes, so a plain hash is enough (no password stretching is needed for a
secret nobody chose). JSON layout:

    {"tokens": [{"name": "service-desk-bot", "role": "staff", "sha256": "…", "created": "2026-12-06T…Z"}]}

TOML layout: the same entries as `[[tokens]]` tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.errors import ISMSError

TOKEN_PREFIX = "isms_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")


class TokensFileError(ISMSError, ValueError):
    """The tokens file is unreadable or malformed, or a new token's name or role is invalid."""


@dataclass(frozen=True)
class TokenHolder:
    """Who a valid bearer token belongs to."""

    name: str
    role: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    try:
        raw = path.read_text(encoding="utf-8")
        data = tomllib.loads(raw) if path.suffix.lower() == ".toml" else json.loads(raw or "{}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TokensFileError(f"cannot read the API tokens file {path}: {exc}") from exc
    entries = data.get("tokens", []) if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and {"name", "role", "sha256"} <= set(e) for e in entries):
        raise TokensFileError(f"{path}: expected a 'tokens' list of entries with name, role and sha256")
    return [{k: str(v) for k, v in e.items()} for e in entries]


def _write(path: Path, entries: list[dict[str, str]]) -> None:
    if path.suffix.lower() == ".toml":
        text = "".join("[[tokens]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in e.items()) + "\n"
                       for e in entries)
    else:
        text = json.dumps({"tokens": entries}, indent=1) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def add_token(path: Path, name: str, role: str, known_roles: set[str]) -> str:
    """Store a new token for `name` with `role` and return it (the only time it is shown)."""
    if not _NAME.match(name):
        raise TokensFileError(f"invalid token name {name!r}: letters, digits, space, . _ @ - (up to 64)")
    if role not in known_roles:
        raise TokensFileError(f"unknown role {role!r}; configured roles: {', '.join(sorted(known_roles))}")
    entries = _read(path)
    if any(e["name"] == name for e in entries):
        raise TokensFileError(f"a token named {name!r} exists already in {path}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _write(path, [*entries, {"name": name, "role": role, "sha256": token_hash(token), "created": created}])
    return token


class TokenStore:
    """Reads the tokens file; re-reads it when it changes, so a new token works without a restart."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._by_hash: dict[str, TokenHolder] = {}

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            self._by_hash, self._stamp = {}, None
            return
        stat = self.path.stat()
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._stamp:
            self._by_hash = {e["sha256"].lower(): TokenHolder(e["name"], e["role"]) for e in _read(self.path)}
            self._stamp = stamp

    def holder(self, token: str) -> TokenHolder | None:
        """The holder of a presented token, or None when it is unknown."""
        self._load()
        return self._by_hash.get(token_hash(token.strip()))  # a hash of a random secret: no timing to exploit


__all__ = ["TOKEN_PREFIX", "TokenHolder", "TokenStore", "TokensFileError", "add_token", "token_hash"]
