"""The app's users file: scrypt password hashes, roles, sign-in with a per-name lockout, and its command line.

With ``ISMS_AUTH_MODE=users`` the app signs people in against a YAML users file (``ISMS_USERS_FILE``)
holding scrypt password hashes and roles::

    users:
      alice:
        name: Alice Example
        role: staff
        job: line manager        # optional: preselects "My responsibilities"
        password: scrypt$16384$8$1$<salt>$<hash>

Create entries with ``python -m assistant.users add-user USERS_FILE USERNAME ROLE`` (asks for the password).

Passwords are hashed with ``hashlib.scrypt`` (standard library; N=2^14, r=8, p=1, 16-byte salt) and
compared in constant time. After MAX_FAILED_LOGINS failed sign-ins within LOCKOUT_SECONDS a user name
is refused for the rest of that time (per server process).
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

from assistant.config import get_settings
from assistant.errors import TooManySignIns, UsersFileError
from assistant.models import User

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MAX_FAILED_LOGINS = 5
LOCKOUT_SECONDS = 60.0


@dataclass(frozen=True)
class UserRecord:
    username: str
    name: str
    role: str
    password_hash: str
    job: str = ""


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
            raise UsersFileError(f"user {username!r}: password must be a scrypt hash (python -m assistant.users hash)")
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


# ---------------------------------------------------------------------------- sign-in with a lockout
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


def sign_in(users: dict[str, UserRecord], username: str, password: str) -> User | None:
    """The user for a correct name and password, else None (and the failure counts towards the lockout).
    TooManySignIns while the name is locked out, without checking the password."""
    if recent_failures(username) >= MAX_FAILED_LOGINS:
        raise TooManySignIns(f"Too many failed sign-ins for this user. Wait {LOCKOUT_SECONDS:.0f} seconds and try again.")
    user = authenticate(users, username, password)
    if user is None:
        _note_failure(username)
    return user


# ---------------------------------------------------------------------------- command line
# ---------------------------------------------------------------------------- sessions that survive a reload
def session_secret(users_file: Path, configured: str | None = None) -> bytes:
    """The key that signs session cookies: ISMS_SESSION_SECRET, else a random key kept beside the users file
    (`<users file>.session-key`, mode 600, made on first use)."""
    if configured:
        return configured.encode("utf-8")
    key_file = users_file.with_name(users_file.name + ".session-key")
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip().encode("utf-8")


def make_session_token(username: str, secret: bytes, hours: float, now: float | None = None) -> str:
    """`username.expiry.signature` (HMAC-SHA256): proves a sign-in until it expires."""
    expires = int((time.time() if now is None else now) + hours * 3600)
    payload = f"{_b64(username.encode())}.{expires}"
    return f"{payload}.{_b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())}"


def read_session_token(token: str, secret: bytes, users: dict[str, UserRecord], now: float | None = None) -> User | None:
    """The user a valid, unexpired token names, as the users file has them now (a removed user or a changed role
    applies at once); None for anything else."""
    try:
        name_part, expires, signature = token.split(".")
        payload = f"{name_part}.{expires}"
        expected = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature) or int(expires) < (time.time() if now is None else now):
            return None
        record = users.get(_unb64(name_part).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return None if record is None else User(record.username, record.name, record.role, record.job)


def main(argv: list[str]) -> int:
    import getpass

    usage = ("usage: python -m assistant.users hash\n"
             "       python -m assistant.users add-user USERS_FILE USERNAME ROLE [DISPLAY NAME]")
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
    roles = set(get_settings().roles)
    if argv[3] not in roles:
        print(f"unknown role {argv[3]!r}; configured roles: {', '.join(sorted(roles))}", file=sys.stderr)
        return 2
    add_user(Path(argv[1]), argv[2], argv[3], password, " ".join(argv[4:]))
    print(f"user {argv[2]} ({argv[3]}) written to {argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
