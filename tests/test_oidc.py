"""Single sign-on without the browser: the role an identity provider's claims map to, and the [auth] secrets
written for Streamlit's st.login (the browser flow is in test_sso_browser.py)."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from assistant.config import DEFAULT_ROLES, Settings
from assistant.oidc import role_from_claims, user_from_claims, write_streamlit_secrets

ROLE_MAP = {"isms-leads": "isms-lead", "managers": "manager", "ghosts": "no-such-role"}


@pytest.mark.parametrize(("claim", "role"), [
    (["everyone"], "staff"),  # unknown group: the lowest clearance
    (["everyone", "managers"], "manager"),
    (["managers", "isms-leads"], "isms-lead"),  # several: the highest of the mapped roles
    ("isms-leads", "isms-lead"),  # a single string claim
    (None, "staff"),  # no claim at all
    (["ghosts"], "staff"),  # a mapping to a role that is not configured counts as unmapped
])
def test_role_from_the_groups_claim(claim: object, role: str) -> None:
    claims = {"sub": "x"} if claim is None else {"sub": "x", "groups": claim}
    assert role_from_claims(claims, "groups", ROLE_MAP, DEFAULT_ROLES) == role


def test_user_name_and_role_from_claims() -> None:
    settings = Settings(oidc_role_map=ROLE_MAP)
    user = user_from_claims({"sub": "abc123", "email": "lena@example.org", "name": "Lena Lead",
                             "groups": ["isms-leads"]}, settings)
    assert (user.username, user.name, user.role) == ("lena@example.org", "Lena Lead", "isms-lead")
    assert user_from_claims({"sub": "abc123"}, settings).username == "abc123"


def test_streamlit_secrets_from_settings(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path, oidc_issuer="http://localhost:9400/", oidc_client_id="isms",
                        oidc_client_secret='se"cret')
    path = write_streamlit_secrets(settings, 8600)
    auth = tomllib.loads(path.read_text())["auth"]
    assert auth["server_metadata_url"] == "http://localhost:9400/.well-known/openid-configuration"
    assert auth["redirect_uri"] == "http://localhost:8600/oauth2callback" and auth["client_secret"] == 'se"cret'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = tomllib.loads(write_streamlit_secrets(settings, 8600).read_text())["auth"]
    assert again["cookie_secret"] == auth["cookie_secret"] and len(auth["cookie_secret"]) >= 32  # kept
    with pytest.raises(ValueError, match="ISMS_OIDC_CLIENT_SECRET"):
        write_streamlit_secrets(settings.model_copy(update={"oidc_client_secret": None}), 8600)
