"""Who is using the app, and with which role (the role decides the clearance everywhere).

Three modes, chosen with ``ISMS_AUTH_MODE`` (or ``auth_mode`` in the ``ISMS_CONFIG_FILE`` TOML file):

- ``none`` (default): a single local user (``ISMS_UI_USER``, default ``local``) with the role
  ``ISMS_UI_ROLE`` (default: the configured ``default_role``, ``staff``). For a demo on one's own machine;
  with ``ISMS_UI_ROLE_SWITCH=true`` a sidebar picker changes the role (local evaluation only).
- ``users``: sign-in against a YAML users file (``ISMS_USERS_FILE``) holding scrypt password hashes
  and roles. The file's format, the hashing, the lockout after failed sign-ins and the command that adds
  users (``python -m assistant.users add-user USERS_FILE USERNAME ROLE``) are in ``assistant/users.py``;
  this module is the Streamlit side: the sign-in form and the session.

- ``oidc``: single sign-on with the organization's identity provider through Streamlit's ``st.login``; the
  role comes from a claim mapped by ``ISMS_OIDC_ROLE_MAP`` (``assistant/oidc.py``; start with
  ``isms-assistant ui``, which writes the ``[auth]`` secrets Streamlit reads).

A sign-in survives a reload for ``ISMS_SESSION_HOURS`` (default 12): the browser keeps a signed token (HMAC-SHA256,
``assistant/users.py``) in a cookie; the sidebar's Sign out removes it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from assistant.config import Settings
from assistant.errors import TooManySignIns, UsersFileError
from assistant.models import User
from assistant.service import Assistant

AuthSettings = Settings  # the auth fields live in the one settings object
SESSION_COOKIE = "isms_session"  # `users` mode: a signed token (assistant.users) so a reload keeps the sign-in
PENDING_COOKIE = "auth_cookie_pending"
SIGNED_OUT = "auth_signed_out"
ROLE_CHOICE = "ui_role_choice"  # the role picked (read by current_user)
ROLE_PICKER = "ui_role_picker"  # the picker widget


def role_switch_enabled() -> bool:
    settings = AuthSettings()
    return settings.auth_mode == "none" and settings.ui_role_switch


def role_picker(user: User, roles: list[str]) -> None:
    """`none` mode with ISMS_UI_ROLE_SWITCH=true: pick the role to try the app as (the chat page starts a new
    chat for another role)."""
    def chosen() -> None:  # kept apart from the widget's own state, which Streamlit drops when it is not drawn
        st.session_state[ROLE_CHOICE] = st.session_state[ROLE_PICKER]

    st.selectbox("Try the app as (local evaluation)", roles, index=roles.index(user.role), key=ROLE_PICKER,
                 on_change=chosen, help="ISMS_UI_ROLE_SWITCH=true; unset it to fix the role to ISMS_UI_ROLE")


def current_user(assistant: Assistant) -> User | None:
    """The signed-in user; in `users` mode shows the sign-in form (and returns None) until signed in."""
    known_roles = set(assistant.settings.roles)
    auth = AuthSettings()
    if auth.auth_mode == "none":
        role = auth.ui_role or assistant.settings.default_role
        if auth.ui_role_switch and st.session_state.get(ROLE_CHOICE) in known_roles:
            role = st.session_state[ROLE_CHOICE]  # the sidebar's role picker (ISMS_UI_ROLE_SWITCH=true)
        if role not in known_roles:
            st.error(f"ISMS_UI_ROLE={role!r} is not a configured role ({', '.join(sorted(known_roles))}).")
            st.stop()
        return User(auth.ui_user, auth.ui_user, role, auth.ui_job)
    if auth.auth_mode == "oidc":
        return _oidc_user(assistant)
    user = st.session_state.get("auth_user")
    if isinstance(user, User):
        token = st.session_state.pop(PENDING_COOKIE, None)
        if token:  # just signed in: the browser keeps the signed token, so a reload keeps the user signed in
            _set_session_cookie(token, int(auth.session_hours * 3600))
        return user
    if auth.users_file is None:
        st.error("Authentication mode is 'users' but ISMS_USERS_FILE is not set.")
        st.stop()
    try:
        assistant.check_users_file(auth.users_file)
    except UsersFileError as exc:
        st.error(str(exc))
        st.stop()
    if st.session_state.get(SIGNED_OUT):
        _set_session_cookie("", 0)  # sign-out also forgets the browser's token
    else:
        token = st.context.cookies.get(SESSION_COOKIE)
        restored = assistant.user_from_session(auth.users_file, token) if token else None
        if restored is not None:
            st.session_state["auth_user"] = restored
            return restored
    _login_form(assistant, auth.users_file)
    return None


def _oidc_user(assistant: Assistant) -> User | None:
    """`oidc` mode: Streamlit's st.login with the organization's identity provider; the role comes from a claim
    (assistant/oidc.py). Streamlit's own signed cookie keeps the sign-in across reloads."""
    if not st.user.is_logged_in:
        st.title("ISMS Assistant")
        st.caption("Sign in with your organization's account to ask questions about the ISMS.")
        st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login, key="oidc_sign_in")
        return None
    claims = st.user.to_dict()
    user = assistant.oidc_user(claims)
    if st.session_state.get("oidc_seen") != user.username:  # once per browser session, not per rerun
        st.session_state["oidc_seen"] = user.username
        assistant.record_oidc_sign_in(user, claims)
    return user


def _set_session_cookie(token: str, max_age: int) -> None:
    """Set (or, with max_age 0, remove) the session cookie in the browser. The component's frame has the page's
    origin; the token holds only URL-safe characters and dots."""
    import streamlit.components.v1 as components

    components.html(f"<script>window.parent.document.cookie = '{SESSION_COOKIE}={token}; Path=/; "
                    f"Max-Age={max_age}; SameSite=Strict';</script>", height=0)


def _login_form(assistant: Assistant, users_file: Path) -> None:
    st.title("ISMS Assistant")
    st.caption("Sign in to ask questions about the ISMS.")
    with st.form("login", border=True):
        username = st.text_input("User name", key="login_user").strip()
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    try:
        user = assistant.sign_in(users_file, username, password)
    except TooManySignIns as exc:
        st.error(str(exc))
        return
    if user is None:
        st.error("Wrong user name or password.")
        return
    for key in list(st.session_state.keys()):
        del st.session_state[key]  # nothing from before sign-in survives into the session
    st.session_state["auth_user"] = user
    st.session_state[PENDING_COOKIE] = assistant.session_token(users_file, user)
    st.rerun()


def logout() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if AuthSettings().auth_mode == "oidc":
        st.logout()  # queues the browser's redirect to sign out (Streamlit's cookie, then the provider)
        st.stop()  # end this run so the redirect is sent (a rerun now could drop it)
    st.session_state[SIGNED_OUT] = True  # this session ignores the cookie it started with


def auth_mode() -> str:
    return AuthSettings().auth_mode
