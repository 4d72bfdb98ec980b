"""Single sign-on with the organization's identity provider (OpenID Connect), ``ISMS_AUTH_MODE=oidc``.

The app signs people in with Streamlit's built-in ``st.login`` (Authlib underneath); this module holds what
is not Streamlit: the ``[auth]`` secrets Streamlit reads, written from our settings, and the mapping from
the identity provider's claims to a user of the product.

Settings: ``ISMS_OIDC_ISSUER`` (the provider's issuer URL; its ``/.well-known/openid-configuration`` is
read), ``ISMS_OIDC_CLIENT_ID``, ``ISMS_OIDC_CLIENT_SECRET``, ``ISMS_OIDC_REDIRECT_URI`` (default
``http://localhost:<port>/oauth2callback``, register it with the provider), ``ISMS_OIDC_ROLE_CLAIM``
(default ``groups``) and ``ISMS_OIDC_ROLE_MAP``, a JSON object from claim values to the product's roles,
e.g. ``{"isms-leads": "isms-lead", "managers": "manager"}``. A user whose claim maps to no role gets the
role with the lowest clearance; one in several mapped groups gets the highest of their roles.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assistant.config import Settings, classification_rank
from assistant.models import User

SECRETS_FOLDER = ".streamlit-auth"
COOKIE_SECRET_FILE = "cookie-secret"
NAME_CLAIMS = ("preferred_username", "email", "sub")


def lowest_role(roles: Mapping[str, str]) -> str:
    return min(roles, key=lambda r: (classification_rank(roles[r]), r))


def role_from_claims(claims: Mapping[str, Any], claim: str, role_map: Mapping[str, str],
                     roles: Mapping[str, str]) -> str:
    """The product role for an identity provider's claims: the highest-clearance role that a value of `claim`
    (a string or a list of strings) maps to; the lowest-clearance role when none maps."""
    value = claims.get(claim)
    values = [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
    mapped = [role_map[v] for v in values if role_map.get(v) in roles]
    if not mapped:
        return lowest_role(roles)
    return max(mapped, key=lambda r: classification_rank(roles[r]))


def user_from_claims(claims: Mapping[str, Any], settings: Settings) -> User:
    """A signed-in user from the ID token's claims (user name: preferred_username, else email, else sub)."""
    username = next(str(claims[c]) for c in NAME_CLAIMS if claims.get(c))
    role = role_from_claims(claims, settings.oidc_role_claim, settings.oidc_role_map, settings.roles)
    return User(username, str(claims.get("name") or username), role, "")


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cookie_secret(folder: Path, configured: str | None) -> str:
    """``ISMS_SESSION_SECRET`` if set, else a random key kept in `folder` (so sign-ins survive a restart)."""
    if configured:
        return configured
    path = folder / COOKIE_SECRET_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        os.chmod(path, 0o600)
    return path.read_text(encoding="utf-8").strip()


def write_streamlit_secrets(settings: Settings, port: int) -> Path:
    """Write the ``[auth]`` section ``st.login`` reads to ``<index>/.streamlit-auth/secrets.toml`` (mode 0600);
    returns its path for ``streamlit run --secrets.files``. ValueError names a missing setting."""
    missing = [name for name in ("oidc_issuer", "oidc_client_id", "oidc_client_secret") if not getattr(settings, name)]
    if missing:
        raise ValueError("ISMS_AUTH_MODE=oidc needs " + ", ".join(f"ISMS_{m.upper()}" for m in missing))
    folder = Path(settings.index_dir) / SECRETS_FOLDER
    issuer = str(settings.oidc_issuer).rstrip("/")
    values = {
        "redirect_uri": settings.oidc_redirect_uri or f"http://localhost:{port}/oauth2callback",
        "cookie_secret": cookie_secret(folder, settings.session_secret),
        "client_id": str(settings.oidc_client_id),
        "client_secret": str(settings.oidc_client_secret),
        "server_metadata_url": f"{issuer}/.well-known/openid-configuration",
    }
    text = "[auth]\n" + "".join(f"{key} = {_toml_string(value)}\n" for key, value in values.items())
    path = folder / "secrets.toml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    return path
