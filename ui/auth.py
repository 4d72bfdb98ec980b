"""Who is using the app, and with which role (the role decides the clearance everywhere).

Two modes, chosen with ``ISMS_AUTH_MODE`` (or ``auth_mode`` in the ``ISMS_CONFIG_FILE`` TOML file):

- ``none`` (default): a single local user (``ISMS_UI_USER``, default ``local``) with the role
  ``ISMS_UI_ROLE`` (default: the configured ``default_role``, ``staff``). For a demo on one's own machine.
- ``users``: sign-in against a YAML users file (``ISMS_USERS_FILE``) holding scrypt password hashes
  and roles::

      users:
        alice:
          name: Alice Example
          role: staff
          job: line manager        # optional: preselects "My responsibilities"
          password: scrypt$16384$8$1$<salt>$<hash>

  Create entries with ``python ui/auth.py add-user USERS_FILE USERNAME ROLE`` (asks for the password).

Passwords are hashed with ``hashlib.scrypt`` (standard library; N=2^14, r=8, p=1, 16-byte salt) and
compared in constant time. A session is signed out by closing the tab or with the sidebar button.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from assistant.config import Settings

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MAX_FAILED_LOGINS = 5
LOCKOUT_SECONDS = 60.0


AuthSettings = Settings  # the auth fields live in the one settings object


@dataclass(frozen=True)
class User:
    username: str
    name: str
    role: str
    job: str = ""  # job title as the documents name it (e.g. "line manager"); preselects My responsibilities


@dataclass(frozen=True)
class UserRecord:
    username: str
    name: str
    role: str
    password_hash: str
    job: str = ""


class UsersFileError(ValueError):
    pass


# ---------------------------------------------------------------------------- passwords
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (URL-safe base64, no padding)."""
    if not password:
        raise ValueError("empty password")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected), maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY_HASH = hash_password("not-a-real-password", salt=b"0" * 16)


# ---------------------------------------------------------------------------- users file
def load_users(path: Path, known_roles: set[str]) -> dict[str, UserRecord]:
    """Read and validate the users file; a clear UsersFileError says what is wrong."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UsersFileError(f"users file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise UsersFileError(f"users file {path} is not valid YAML: {exc}") from None
    entries = data.get("users") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise UsersFileError(f"users file {path} needs a top-level 'users:' mapping")
    users: dict[str, UserRecord] = {}
    for username, entry in entries.items():
        username = str(username)
        if not USERNAME.match(username):
            raise UsersFileError(f"user {username!r}: names may use letters, digits and . _ @ - only")
        if not isinstance(entry, dict):
            raise UsersFileError(f"user {username!r}: expected name, role and password")
        role = str(entry.get("role", "")).strip()
        if role not in known_roles:
            raise UsersFileError(f"user {username!r}: unknown role {role!r} (configured: {', '.join(sorted(known_roles))})")
        password = str(entry.get("password", ""))
        if not password.startswith("scrypt$"):
            raise UsersFileError(f"user {username!r}: password must be a scrypt hash (python ui/auth.py hash)")
        users[username] = UserRecord(username, str(entry.get("name") or username), role, password,
                                     str(entry.get("job") or ""))
    return users


def authenticate(users: dict[str, UserRecord], username: str, password: str) -> User | None:
    record = users.get(username.strip())
    # Verify against a dummy hash for unknown users, so timing does not reveal which names exist.
    ok = verify_password(password, record.password_hash if record else _DUMMY_HASH)
    if record is None or not ok:
        return None
    return User(record.username, record.name, record.role, record.job)


def add_user(path: Path, username: str, role: str, password: str, name: str = "") -> None:
    """Add or replace one user in a users file (created if missing)."""
    if not USERNAME.match(username):
        raise UsersFileError("user names may use letters, digits and . _ @ - only")
    data: dict = {}
    if path.exists():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    users = data.setdefault("users", {})
    users[username] = {"name": name or username, "role": role, "password": hash_password(password)}
    path.write_text(yaml.safe_dump(data, sort_keys=True, allow_unicode=True), encoding="utf-8")
    os.chmod(path, 0o600)


# ---------------------------------------------------------------------------- Streamlit
def current_user(known_roles: set[str], default_role: str) -> User | None:
    """The signed-in user; in `users` mode shows the sign-in form (and returns None) until signed in."""
    import streamlit as st

    auth = AuthSettings()
    if auth.auth_mode == "none":
        role = auth.ui_role or default_role
        if role not in known_roles:
            st.error(f"ISMS_UI_ROLE={role!r} is not a configured role ({', '.join(sorted(known_roles))}).")
            st.stop()
        return User(auth.ui_user, auth.ui_user, role, auth.ui_job)
    user = st.session_state.get("auth_user")
    if isinstance(user, User):
        return user
    if auth.users_file is None:
        st.error("Authentication mode is 'users' but ISMS_USERS_FILE is not set.")
        st.stop()
    try:
        users = load_users(auth.users_file, known_roles)
    except UsersFileError as exc:
        st.error(str(exc))
        st.stop()
    _login_form(users)
    return None


_failed_logins: dict[str, list[float]] = {}  # per user name, for this server process
_failed_lock = threading.Lock()


def recent_failures(username: str) -> int:
    now = time.time()
    with _failed_lock:
        recent = [t for t in _failed_logins.get(username, []) if now - t < LOCKOUT_SECONDS]
        _failed_logins[username] = recent
        return len(recent)


def _note_failure(username: str) -> None:
    with _failed_lock:
        _failed_logins.setdefault(username, []).append(time.time())


def _login_form(users: dict[str, UserRecord]) -> None:
    import streamlit as st

    st.title("ISMS Assistant")
    st.caption("Sign in to ask questions about the ISMS.")
    with st.form("login", border=True):
        username = st.text_input("User name", key="login_user").strip()
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    if recent_failures(username) >= MAX_FAILED_LOGINS:
        st.error(f"Too many failed sign-ins for this user. Wait {LOCKOUT_SECONDS:.0f} seconds and try again.")
        return
    user = authenticate(users, username, password)
    if user is None:
        _note_failure(username)
        st.error("Wrong user name or password.")
        return
    for key in list(st.session_state.keys()):
        del st.session_state[key]  # nothing from before sign-in survives into the session
    st.session_state["auth_user"] = user
    st.rerun()


def logout() -> None:
    import streamlit as st

    for key in list(st.session_state.keys()):
        del st.session_state[key]


def auth_mode() -> str:
    return AuthSettings().auth_mode


# ---------------------------------------------------------------------------- command line
def _main(argv: list[str]) -> int:
    import getpass

    usage = ("usage: python ui/auth.py hash\n"
             "       python ui/auth.py add-user USERS_FILE USERNAME ROLE [DISPLAY NAME]")
    if not argv or argv[0] not in ("hash", "add-user"):
        print(usage, file=sys.stderr)
        return 2
    password = os.environ.get("ISMS_NEW_PASSWORD") or getpass.getpass("Password: ")
    if argv[0] == "hash":
        print(hash_password(password))
        return 0
    if len(argv) < 4:
        print(usage, file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from assistant.config import get_settings

    roles = set(get_settings().roles)
    if argv[3] not in roles:
        print(f"unknown role {argv[3]!r}; configured roles: {', '.join(sorted(roles))}", file=sys.stderr)
        return 2
    add_user(Path(argv[1]), argv[2], argv[3], password, " ".join(argv[4:]))
    print(f"user {argv[2]} ({argv[3]}) written to {argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
