"""The people side of the `Assistant` facade: sign-in and sessions (`assistant.users`), single sign-on
(`assistant.oidc`), the audit trail (`assistant.audit`) and feedback on answers (`assistant.feedback`).

A part of the facade kept in its own file (mixed into `assistant.service.Assistant`, which provides
`settings`, `index`, `clearance` and `is_admin`); callers only ever see `Assistant`.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.answer.types import Answer
from assistant.config import Settings
from assistant.errors import TooManySignIns
from assistant.models import User

if TYPE_CHECKING:
    from assistant.audit import AuditEvent, AuditTrail
    from assistant.feedback import FeedbackRecord, FeedbackStore
    from assistant.service import LoadedIndex


class PeopleOperations:
    """Sign-in, sessions, single sign-on, the audit trail and feedback; every report within the reader's clearance."""

    settings: Settings

    @property
    def index(self) -> LoadedIndex:  # provided by Assistant
        raise NotImplementedError

    def clearance(self, role: str) -> int:  # provided by Assistant
        raise NotImplementedError

    def is_admin(self, role: str) -> bool:  # provided by Assistant
        raise NotImplementedError

    # -- sign-in against a users file (assistant.users), roles checked against the configured ones
    def check_users_file(self, users_file: Path) -> None:
        """UsersFileError when the users file is missing or invalid."""
        from assistant.users import load_users

        load_users(users_file, set(self.settings.roles))

    def sign_in(self, users_file: Path, username: str, password: str) -> User | None:
        """The user, or None for a wrong name or password; TooManySignIns while the name is locked out."""
        from assistant.users import load_users, sign_in

        users = load_users(users_file, set(self.settings.roles))
        try:
            user = sign_in(users, username, password)
        except TooManySignIns:
            self.record_event("sign_in_failed", user=username, role="", detail="locked out")
            raise
        if user is None:
            self.record_event("sign_in_failed", user=username, role="", detail="wrong user name or password")
        else:
            self.record_event("sign_in", user=user.username, role=user.role, detail="users file")
        return user

    def session_token(self, users_file: Path, user: User) -> str:
        """A signed token that keeps `user` signed in across reloads for ISMS_SESSION_HOURS."""
        from assistant.users import make_session_token, session_secret

        secret = session_secret(users_file, self.settings.session_secret)
        return make_session_token(user.username, secret, self.settings.session_hours)

    def user_from_session(self, users_file: Path, token: str) -> User | None:
        """The user a session token names, if it is valid, unexpired and the user is still in the users file."""
        from assistant.users import load_users, read_session_token, session_secret

        secret = session_secret(users_file, self.settings.session_secret)
        return read_session_token(token, secret, load_users(users_file, set(self.settings.roles)))

    # -- the audit trail (assistant.audit): written in the background, never fails what it logs
    @cached_property
    def audit_trail(self) -> AuditTrail:
        from assistant.audit import AuditTrail

        return AuditTrail.for_settings(self.settings)

    def record_event(self, event: str, *, user: str, role: str, detail: str = "", sources: list[str] | None = None,
                     max_class_rank: int = 0, once: object = None) -> None:
        """Log a sign-in, sign-out, SoA edit/approval/export (questions are logged by `ask`); with `once`, only
        the first event of that key in this process."""
        from assistant.audit import AuditEvent

        self.audit_trail.record(AuditEvent(user=user, role=role, event=event, detail=detail,
                                           sources=sources or [], max_class_rank=max_class_rank), once=once)

    def _audit_answer(self, answer: Answer, user: str | None, role: str) -> None:
        if self.settings.audit_trail:
            from assistant.audit import question_event

            event = question_event(answer, user or self.settings.ui_user, role, self.index.generation.by_id)
            self.audit_trail.record(event)

    def audit_events(self, role: str, *, since: datetime | None = None, user: str | None = None,
                     event: str | None = None) -> list[AuditEvent]:
        """The audit trail, newest first; only for the highest clearance (PermissionError otherwise)."""
        if not self.is_admin(role):
            raise PermissionError(f"the audit trail is for the ISMS lead; role {role!r} may not read it")
        self.audit_trail.flush(2.0)  # include what this process queued a moment ago
        return self.audit_trail.events(self.clearance(role), since=since, user=user, event=event)

    def audit_csv(self, events: list[AuditEvent]) -> str:
        from assistant.audit import events_csv

        return events_csv(events)

    def oidc_user(self, claims: dict[str, Any]) -> User:
        """The user an identity provider's ID token claims name, with the role its role claim maps to."""
        from assistant.oidc import user_from_claims

        return user_from_claims(claims, self.settings)

    def record_oidc_sign_in(self, user: User, claims: dict[str, Any]) -> None:
        """Log a single sign-on once per ID token (a reload resumes the session with the same `iat`)."""
        self.record_event("sign_in", user=user.username, role=user.role, once=(user.username, claims.get("iat")),
                          detail=f"single sign-on ({claims.get('iss', 'identity provider')})")

    # -- feedback on answers (assistant.feedback), reported within the reader's clearance
    @cached_property
    def _feedback(self) -> FeedbackStore:
        from assistant.feedback import FeedbackStore

        return FeedbackStore.for_settings(self.settings)

    def record_feedback(self, answer: Answer, *, user: str, role: str, rating: int | None = None) -> int:
        """Store an answer (rated, or abstained) with who and when and the highest classification it shows."""
        from assistant.feedback import answer_class_rank

        return self._feedback.record(user=user, role=role, answer=answer, rating=rating,
                                     max_class_rank=answer_class_rank(answer, self.index.generation.by_id))

    def rate_answer(self, feedback_id: int, *, user: str, rating: int | None, comment: str = "") -> None:
        self._feedback.rate(feedback_id, user=user, rating=rating, comment=comment)

    def feedback_report(self, role: str, *, problems_only: bool = True) -> list[FeedbackRecord]:
        return self._feedback.report(self.clearance(role), problems_only=problems_only)

    def feedback_counts(self, role: str) -> dict[str, int]:
        return self._feedback.counts(self.clearance(role))
